use std::error::Error;
use std::fmt;

use steadfast::classify::{Classify, DefaultClassifier, Outcome, is_own_error, outcome_of};
use steadfast::{BoxError, DeadlineExceeded};

/// A user's error that wraps one of ours as its source.
#[derive(Debug)]
struct Wrapper(BoxError);

impl fmt::Display for Wrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wrapped")
    }
}

impl Error for Wrapper {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

/// The default classifier's verdict on one of our errors in every shape it may arrive in.
fn own_errors_in_every_shape() -> Vec<(&'static str, Outcome)> {
    let c = DefaultClassifier;
    let chained: BoxError = Box::new(Wrapper(Box::new(DeadlineExceeded::new())));
    let dyn_error: Box<dyn Error> = Box::new(DeadlineExceeded::new());
    vec![
        ("bare", c.classify(&Err::<(), _>(DeadlineExceeded::new()))),
        (
            "boxed",
            c.classify(&Err::<(), BoxError>(DeadlineExceeded::new().into())),
        ),
        (
            "io",
            c.classify(&Err::<(), std::io::Error>(DeadlineExceeded::new().into())),
        ),
        ("source chain", c.classify(&Err::<(), _>(chained))),
        ("box dyn error", c.classify(&Err::<(), _>(dyn_error))),
        (
            "io error inside a box",
            c.classify(&Err::<(), BoxError>(Box::new(std::io::Error::from(
                DeadlineExceeded::new(),
            )))),
        ),
        (
            "io error deep in a chain",
            c.classify(&Err::<(), BoxError>(Box::new(Wrapper(Box::new(
                std::io::Error::from(steadfast::AttemptTimedOut::new(
                    std::time::Duration::from_secs(1),
                )),
            ))))),
        ),
    ]
}

#[test]
fn own_errors_are_local_under_the_default_classifier() {
    for (shape, outcome) in own_errors_in_every_shape() {
        assert_eq!(outcome, Outcome::Local, "{shape}");
    }
}

#[test]
fn own_errors_are_local_whatever_a_closure_says() {
    let naive = |r: &Result<(), BoxError>| {
        if r.is_ok() {
            Outcome::Success
        } else {
            Outcome::failed()
        }
    };
    let ours: Result<(), BoxError> = Err(DeadlineExceeded::new().into());
    assert_eq!(
        naive.classify(&ours),
        Outcome::failed(),
        "the closure alone is naive"
    );
    assert_eq!(outcome_of(&naive, &ours), Outcome::Local);
    let theirs: Result<(), BoxError> = Err("connection reset".into());
    assert_eq!(outcome_of(&naive, &theirs), Outcome::failed());
    assert_eq!(outcome_of(&naive, &Ok(())), Outcome::Success);
}

#[test]
fn other_errors_are_transient_failures() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
    assert!(!is_own_error(&io));
    assert_eq!(
        DefaultClassifier.classify(&Err::<(), _>(io)),
        Outcome::failed()
    );
    assert_eq!(
        DefaultClassifier.classify(&Err::<(), _>("x")),
        Outcome::failed()
    );
    assert_eq!(
        DefaultClassifier.classify(&Ok::<_, ()>(1)),
        Outcome::Success
    );
    let plain_io = std::io::Error::from(std::io::ErrorKind::TimedOut);
    assert!(!is_own_error(&plain_io), "a timeout that is not ours");
}

/// `verdict_of` names the verdict in every shape `is_own_error` recognises, the outermost one
/// of a chain first, and agrees with it everywhere.
#[test]
fn verdict_of_names_each_verdict_in_every_shape() {
    use std::time::Duration;
    use steadfast::classify::verdict_of;
    use steadfast::{
        AllEndpointsFailed, AttemptTimedOut, BreakerOpen, CallError, NoEndpointAvailable, Verdict,
    };
    let boxed: [(Verdict, BoxError); 5] = [
        (Verdict::DeadlineExceeded, DeadlineExceeded::new().into()),
        (
            Verdict::AttemptTimedOut,
            AttemptTimedOut::new(Duration::from_secs(1)).into(),
        ),
        (Verdict::BreakerOpen, BreakerOpen::new(None).into()),
        (
            Verdict::AllEndpointsFailed,
            // The walk's last error is a timed-out attempt: the walk is named, not its source.
            AllEndpointsFailed::new(Vec::new(), AttemptTimedOut::new(Duration::from_secs(1)))
                .into(),
        ),
        (
            Verdict::NoEndpointAvailable,
            NoEndpointAvailable::new(None).into(),
        ),
    ];
    for (verdict, error) in boxed {
        assert_eq!(verdict_of(&error), Some(verdict));
        assert!(is_own_error(&error));
        let io = std::io::Error::other(error);
        assert_eq!(verdict_of(&io), Some(verdict), "inside an io::Error");
    }
    assert_eq!(
        verdict_of(&BreakerOpen::new(None)),
        Some(Verdict::BreakerOpen)
    );
    let call: CallError<std::io::Error> = DeadlineExceeded::new().into();
    assert_eq!(verdict_of(&call), Some(Verdict::DeadlineExceeded));
    assert_eq!(call.verdict(), Some(Verdict::DeadlineExceeded));
    let wrapped: BoxError = Box::new(Wrapper(DeadlineExceeded::new().into()));
    assert_eq!(
        verdict_of(&wrapped),
        Some(Verdict::DeadlineExceeded),
        "a source"
    );
    let theirs: BoxError = "reset".into();
    assert_eq!(verdict_of(&theirs), None);
    assert!(!is_own_error(&theirs));
    let inner: CallError<std::io::Error> = CallError::Inner(std::io::Error::other("reset"));
    assert_eq!((verdict_of(&inner), inner.verdict()), (None, None));
}
