//! The builder's refusals.

use std::time::Duration;

use steadfast::ConfigError;
use steadfast::messaging::{Consumer, Message, WorkSignal};

use crate::fake::FakeQueue;
use crate::secs;

fn setting(result: Result<impl Sized, ConfigError>) -> &'static str {
    match result {
        Err(ConfigError::Invalid { setting, .. }) => setting,
        Err(other) => panic!("unexpected {other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn invalid_lease_settings_are_refused_at_build_time() {
    let build = || {
        Consumer::builder(FakeQueue::new(), |_m: Message, _s: WorkSignal| async {
            Ok::<(), std::io::Error>(())
        })
    };
    assert_eq!(
        setting(build().visibility(Duration::ZERO).build()),
        "visibility"
    );
    assert_eq!(
        setting(build().visibility(secs(13 * 3600)).build()),
        "visibility"
    );
    assert_eq!(
        setting(build().visibility(secs(30)).extend_every(secs(30)).build()),
        "extend_every"
    );
    assert_eq!(
        setting(build().extend_every(Duration::ZERO).build()),
        "extend_every"
    );
    assert_eq!(setting(build().max_receives(0).build()), "max_receives");
    assert_eq!(setting(build().wait(Duration::MAX).build()), "wait");
    let err = build().visibility(Duration::ZERO).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "visibility is 0ns, expected more than zero and at most 12 hours"
    );
    assert!(
        build()
            .visibility(secs(30))
            .extend_every(secs(29))
            .build()
            .is_ok()
    );
}
