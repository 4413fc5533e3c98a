//! The binary under test and what one invocation of it left: exit code, both
//! streams and, for `orchestra exec --report`, the parsed JSON report.

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
    /// The `--report` file as JSON (`Null` when there is none or it is unreadable).
    pub report: serde_json::Value,
}

impl Out {
    /// Capture a finished process (`-1` when a signal ended it), without a report.
    pub fn from(o: std::process::Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            report: serde_json::Value::Null,
        }
    }

    /// Capture a finished process with the report it wrote at `report`, if any.
    pub fn with_report(o: std::process::Output, report: Option<&std::path::Path>) -> Out {
        let report = report
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null);
        Out { report, ..Out::from(o) }
    }

    /// Both streams, labelled, for messages.
    pub fn all(&self) -> String {
        format!("--- stdout:\n{}\n--- stderr:\n{}", self.stdout, self.stderr)
    }

    /// Both streams run together (what a leak check searches).
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Out {
        assert_eq!(self.code, code, "exit code\n{}", self.all());
        self
    }

    /// The rules of the report's violations.
    pub fn rules(&self) -> Vec<String> {
        self.report["violations"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v["rule"].as_str().map(String::from)).collect())
            .unwrap_or_default()
    }

    /// Exit 4, the rule in the report and in the verdict line.
    #[track_caller]
    pub fn assert_violation(&self, rule: &str) {
        assert_eq!(self.code, 4, "expected exit 4 for {rule}\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert!(
            self.rules().iter().any(|r| r == rule),
            "rule {rule} not reported; got {:?}\nstderr: {}",
            self.rules(),
            self.stderr
        );
        let verdict = self.stderr.lines().rev().find(|l| l.starts_with("orchestra: ")).unwrap_or_default();
        assert!(verdict.contains(" violation ") && verdict.contains(rule), "verdict line: {verdict}");
    }

    /// `assert_violation(rule)`, and the attack helper (tests/support/attack.c,
    /// which prints `ESCAPED …` when an attempt succeeds) never got through.
    #[track_caller]
    pub fn assert_blocked(&self, rule: &str) {
        self.assert_violation(rule);
        assert!(!self.stdout.contains("ESCAPED"), "the attempt succeeded before it was stopped\n{}", self.all());
    }

    /// Exit 4 with at least one of `rules` reported.
    #[track_caller]
    pub fn assert_any_violation(&self, rules: &[&str]) {
        assert_eq!(self.code, 4, "{}", self.stderr);
        assert!(self.rules().iter().any(|r| rules.contains(&r.as_str())), "{:?}\n{}", self.rules(), self.stderr);
    }

    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert!(self.rules().is_empty(), "{:?}", self.rules());
    }
}
