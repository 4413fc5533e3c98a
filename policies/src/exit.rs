//! Exit codes promised to users (CONTRACTS.md §2) and their precedence.
//!
//! Every subcommand ends through [`Exit`]; nothing else in the crate calls
//! `std::process::exit` with a literal code.

use serde::{Deserialize, Serialize};

/// The outcome classes a command can end with, ordered by the contract's
/// precedence: `Config` (1) > `Violation` (4) > `Timeout` (3) > `Failed` (2) > `Ok` (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// 0: everything succeeded.
    Ok,
    /// 2: one or more tasks failed (non-zero exit, crashed).
    Failed,
    /// 3: a task or the run hit its wall-clock timeout.
    Timeout,
    /// 4: a security violation, an exceeded limit, or a failed audit verification.
    Violation,
    /// 1: configuration or usage error; nothing was run.
    Config,
}

impl Exit {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Config => 1,
            Exit::Failed => 2,
            Exit::Timeout => 3,
            Exit::Violation => 4,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Timeout => 2,
            Exit::Violation => 3,
            Exit::Config => 4,
        }
    }

    /// Combine two outcomes by the contract's precedence rule.
    pub fn worst(self, other: Exit) -> Exit {
        if other.rank() > self.rank() { other } else { self }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_follows_the_contract() {
        use Exit::*;
        assert_eq!(Failed.worst(Timeout), Timeout);
        assert_eq!(Timeout.worst(Violation), Violation);
        assert_eq!(Violation.worst(Config), Config);
        assert_eq!(Ok.worst(Failed), Failed);
        assert_eq!(Violation.worst(Failed), Violation);
        assert_eq!([Ok, Failed, Violation, Timeout].iter().fold(Ok, |a, b| a.worst(*b)), Violation);
    }
}
