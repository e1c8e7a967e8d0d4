//! Recognising faults of the machine in a failure, so that the message can name the fix.
//!
//! This module owns the test for a full disk (or an exhausted quota): it looks through a
//! failure's chain of causes for the operating system's error.

use std::error::Error;
use std::io;

/// Whether some cause of `error` is a full disk or an exhausted quota.
pub fn is_disk_full(error: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if is_full(io) {
                return true;
            }
            // The csv writer's errors become io::Errors of kind Other that hold the csv::Error,
            // which does not expose its own I/O cause as a source.
            if let Some(csv) = io.get_ref().and_then(|e| e.downcast_ref::<csv::Error>())
                && let csv::ErrorKind::Io(inner) = csv.kind()
                && is_full(inner)
            {
                return true;
            }
        }
        cause = e.source();
    }
    false
}

fn is_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("writing failed")]
    struct Outer(#[source] io::Error);

    #[test]
    fn a_full_disk_is_found_among_the_causes() {
        let full = Outer(io::Error::from_raw_os_error(28)); // ENOSPC
        assert!(is_disk_full(&full));
        let other = Outer(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(!is_disk_full(&other));
        let csv: io::Error = csv::Error::from(io::Error::from_raw_os_error(28)).into();
        assert!(is_disk_full(&Outer(csv)));
    }
}
