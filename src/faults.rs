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
        if let Some(io) = e.downcast_ref::<io::Error>()
            && matches!(
                io.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        cause = e.source();
    }
    false
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
    }
}
