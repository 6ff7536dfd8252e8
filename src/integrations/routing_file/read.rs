//! Reading the routing file: blocking I/O, run on tokio's blocking pool by the driver, bounded
//! in size, never blocked by a FIFO, and checked for torn reads.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::path::Path;

use super::RoutingFileError;

/// The largest routing file read, in bytes (1 MiB): a routing file is a few hundred bytes.
pub(super) const MAX_SIZE: u64 = 1 << 20;

/// How many times a file that changes while it is read is read again before giving up.
pub(super) const READ_ATTEMPTS: u32 = 3;

/// The UTF-8 byte order mark, which some editors write first.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `path` as UTF-8 text, at most [`MAX_SIZE`] bytes, without its byte order mark.
///
/// A file whose size or modification time changed during the read, or whose size is not what
/// was read, was being rewritten in place: it is read again, up to [`READ_ATTEMPTS`] times.
///
/// # Errors
///
/// [`RoutingFileError::Unreadable`] (an I/O error, not a regular file, not UTF-8),
/// [`RoutingFileError::Writable`], [`RoutingFileError::TooLarge`],
/// [`RoutingFileError::Unstable`].
pub(super) fn read_text(path: &Path) -> Result<String, RoutingFileError> {
    for _ in 0..READ_ATTEMPTS {
        if let Some(bytes) = read_whole(path)? {
            return decode(path, bytes);
        }
    }
    Err(RoutingFileError::Unstable {
        attempts: READ_ATTEMPTS,
    })
}

/// One read of the whole file, or `None` when it changed during the read.
fn read_whole(path: &Path) -> Result<Option<Vec<u8>>, RoutingFileError> {
    let unreadable = |e: std::io::Error| RoutingFileError::unreadable(path, e.to_string());
    let file = open(path).map_err(unreadable)?;
    let before = file.metadata().map_err(unreadable)?;
    if !before.is_file() {
        return Err(RoutingFileError::unreadable(path, "not a regular file"));
    }
    refuse_shared_writes(path, &before)?;
    if before.len() > MAX_SIZE {
        return Err(RoutingFileError::TooLarge { limit: MAX_SIZE });
    }
    // Never more than the limit and one byte, whatever the file grew to meanwhile.
    let mut bytes = Vec::with_capacity(before.len() as usize + 1);
    (&file)
        .take(MAX_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SIZE {
        return Err(RoutingFileError::TooLarge { limit: MAX_SIZE });
    }
    let after = file.metadata().map_err(unreadable)?;
    Ok((unchanged(&before, &after) && bytes.len() as u64 == after.len()).then_some(bytes))
}

/// Refuses a file that others than its owner may write (group or world write permission): any
/// of them could move a fleet's traffic.
fn refuse_shared_writes(path: &Path, metadata: &Metadata) -> Result<(), RoutingFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(RoutingFileError::Writable {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, metadata);
    Ok(())
}

/// Whether the file's size and modification time are the same.
fn unchanged(before: &Metadata, after: &Metadata) -> bool {
    before.len() == after.len() && before.modified().ok() == after.modified().ok()
}

/// Opens `path` for reading. On Unix, without blocking: opening a FIFO waits for a writer
/// otherwise (the file is then refused as not a regular file).
fn open(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// The text of `bytes`, without a leading byte order mark.
fn decode(path: &Path, mut bytes: Vec<u8>) -> Result<String, RoutingFileError> {
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    String::from_utf8(bytes).map_err(|e| {
        RoutingFileError::unreadable(
            path,
            format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_whose_size_is_not_what_was_read_is_read_again_then_reported() {
        // procfs gives its files a size of 0 whatever they hold: every read looks torn.
        assert_eq!(
            read_text(Path::new("/proc/self/stat")),
            Err(RoutingFileError::Unstable {
                attempts: READ_ATTEMPTS
            })
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_write_is_refused_and_one_only_its_owner_may_write_is_read() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("steadfast-mode-{}.json", std::process::id()));
        std::fs::write(&path, "{}").unwrap();
        for mode in [0o666, 0o646, 0o664, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(
                read_text(&path),
                Err(RoutingFileError::Writable {
                    path: path.clone(),
                    mode
                }),
                "{mode:o}"
            );
        }
        for mode in [0o644, 0o600, 0o444, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_text(&path).as_deref(), Ok("{}"), "{mode:o}");
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_directory_is_not_a_regular_file() {
        let dir = std::env::temp_dir();
        assert_eq!(
            read_text(&dir),
            Err(RoutingFileError::unreadable(&dir, "not a regular file"))
        );
    }
}
