//! What the e2e harnesses share: the binary under test and the captured
//! result of one invocation. Included by `run_support`, `ci_support` and
//! `l2_support` with `#[path]` (not a test crate of its own).

use std::path::PathBuf;

/// The `orchestra` binary cargo built for these tests.
pub fn orchestra() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_orchestra"))
}

/// What a command printed and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Capture a finished process (`-1` when a signal ended it).
    pub fn from(o: std::process::Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Both streams, for messages.
    pub fn all(&self) -> String {
        format!("--- stdout:\n{}\n--- stderr:\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Out {
        assert_eq!(self.code, code, "exit code\n{}", self.all());
        self
    }
}
