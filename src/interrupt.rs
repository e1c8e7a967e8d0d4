//! Interrupting a study: what SIGINT (Ctrl-C) and SIGTERM do while it runs.
//!
//! This module owns the study's signal handling. While a study runs, neither signal terminates
//! the process where it stands: each only sets a flag. The engine reads the flag between waves of
//! blocks and gives up; the study then returns [`AppError::Interrupted`], its staged files are
//! removed as the output folder is dropped, and the program exits with `128 + signal` (130 for
//! SIGINT, 143 for SIGTERM), the previous results in `--out` untouched.
//!
//! The study reads the flag once more just before it starts replacing the previous results (the
//! removal of a stale `trials.csv` and the renames). A signal that arrives after that point does
//! not stop the replacement halfway, which would leave a mix of two runs: the renames complete,
//! and the program then reports the interruption with the same exit code, saying that the folder
//! holds the new, complete results.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::commands::AppError;

/// The flags set by SIGINT and SIGTERM while a study runs.
#[derive(Debug)]
pub struct Interrupt {
    /// Set by either signal.
    stop: Arc<AtomicBool>,
    /// The number of the last signal received.
    signal: Arc<AtomicUsize>,
    /// The output folder, named in the message.
    dir: PathBuf,
}

impl Interrupt {
    /// Replaces the default action of SIGINT and SIGTERM (terminate at once) by setting the
    /// flags, for the rest of the process's life.
    ///
    /// # Errors
    /// [`AppError::Io`] when a handler cannot be installed.
    pub fn install(dir: &Path) -> Result<Self, AppError> {
        let stop = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicUsize::new(0));
        for number in [SIGINT, SIGTERM] {
            // The number first, so that whoever sees `stop` also sees which signal set it.
            signal_hook::flag::register_usize(number, Arc::clone(&signal), number as usize)
                .and_then(|_| signal_hook::flag::register(number, Arc::clone(&stop)))
                .map_err(|source| AppError::Io {
                    context: "cannot install the handler of SIGINT and SIGTERM",
                    source,
                })?;
        }
        Ok(Interrupt {
            stop,
            signal,
            dir: dir.to_path_buf(),
        })
    }

    /// The flag the engine reads.
    pub fn flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// [`AppError::Interrupted`] when a signal has arrived; `committed` says whether the new
    /// results had already replaced the previous ones.
    pub fn check(&self, committed: bool) -> Result<(), AppError> {
        if !self.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        Err(AppError::Interrupted {
            signal: self.signal.load(Ordering::SeqCst) as i32,
            dir: self.dir.clone(),
            committed,
        })
    }
}
