//! `orchestra policy learn`: run a command under a base policy with denials
//! that do not kill it, widen the policy by what it was denied, and repeat
//! until a run is denied nothing new; then check the learned policy with the
//! base's own `on_violation` and print it, each widening explained.
//!
//! Every round is an ordinary `orchestra exec` (its own process, audit log
//! records, report): nothing here runs a task any other way. The command runs
//! once per round, so its effects on the workspace accumulate (a build's
//! outputs exist from round two on).

use crate::exit::Exit;
use crate::policy::{OnViolation, Policy, load_policy};
use crate::sandbox::learn::{NotLearned, Widening, apply, widening};
use crate::sandbox::outfile::OutFile;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Arguments of `orchestra policy learn`.
#[derive(Debug, clap::Args)]
pub struct LearnArgs {
    /// The policy to start from (file or preset).
    #[arg(long, default_value = "default")]
    pub base: String,
    /// At most this many rounds of widening.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub rounds: u32,
    /// Write the learned policy here (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(required = true, last = true, value_name = "PROGRAM")]
    pub command: Vec<String>,
}

/// Run `orchestra policy learn`.
pub fn run(args: LearnArgs) -> Exit {
    let (base, origin) = match load_policy(&args.base) {
        Ok(p) => p,
        Err(e) => return super::config_error(e),
    };
    let out = match args.out.as_deref().map(OutFile::prepare).transpose() {
        Ok(o) => o,
        Err(e) => return super::config_error(format!("--out {e}")),
    };
    let scratch = match tempfile::Builder::new().prefix("orchestra-learn-").tempdir() {
        Ok(d) => d,
        Err(e) => return super::config_error(format!("a scratch directory: {e}")),
    };
    let homes = crate::policy::load::invoking_homes();
    let workdir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut learned = base.clone();
    learned.name = Some(format!("{}-learned", base.name.as_deref().unwrap_or("policy")));
    let fresh = learned.clone();
    // The widenings applied, each with its explanation, in order.
    let mut applied: Vec<(Widening, String)> = Vec::new();
    let mut unlearned: Vec<NotLearned> = Vec::new();
    let mut seen: Vec<Widening> = Vec::new();
    for round in 1..=args.rounds {
        let mut trial = learned.clone();
        trial.on_violation = OnViolation::Deny;
        let report = match exec_round(&trial, &args.command, scratch.path(), round) {
            Ok(r) => r,
            Err(e) => return super::config_error(e),
        };
        let mut new = 0;
        for v in &report.violations {
            match widening(v) {
                Ok(w) if seen.contains(&w) => {}
                Ok(w) => {
                    seen.push(w.clone());
                    match apply(&mut learned, &w, &homes, &workdir) {
                        Ok(line) => {
                            applied.push((w, format!("{line}  (round {round}: {} {})", v.rule, v.detail)));
                            new += 1;
                        }
                        Err(e) => unlearned.push(e),
                    }
                }
                Err(e) if !unlearned.contains(&e) => unlearned.push(e),
                Err(_) => {}
            }
        }
        crate::sandbox::say!("orchestra: learn round {round}: {} denied, {new} widening(s)", report.violations.len());
        if new == 0 {
            break;
        }
    }
    // Minimal: a widening that the run passes without (denied nothing, same
    // exit) goes — a denied call may have had a fallback that a later widening
    // made reachable (a temp directory tried after another, say).
    let rebuild = |keep: &[(Widening, String)]| {
        let mut p = fresh.clone();
        for (w, _) in keep {
            let _ = apply(&mut p, w, &homes, &workdir);
        }
        p
    };
    let mut round = args.rounds;
    for i in (0..applied.len()).rev() {
        if applied.len() < 2 {
            break;
        }
        let mut without = applied.clone();
        without.remove(i);
        let mut trial = rebuild(&without);
        trial.on_violation = OnViolation::Deny;
        round += 1;
        match exec_round(&trial, &args.command, scratch.path(), round) {
            Ok(r) if r.violations.is_empty() && r.exit() == Exit::Ok => {
                crate::sandbox::say!("orchestra: learn: not needed: {}", applied[i].1);
                applied = without;
            }
            Ok(_) => {}
            Err(e) => return super::config_error(e),
        }
    }
    let learned = rebuild(&applied);
    let why: Vec<String> = applied.iter().map(|(_, line)| line.clone()).collect();
    // The check: the learned policy as it will be used.
    let check = match exec_round(&learned, &args.command, scratch.path(), 0) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    let mut text = format!("# Learned by `orchestra policy learn` from {origin} for: {}\n", args.command.join(" "));
    for line in &why {
        text.push_str(&format!("# widened: {}\n", one_line(line)));
    }
    for why in &unlearned {
        text.push_str(&format!("# not learned: {}\n", one_line(&why.to_string())));
    }
    text.push_str(&format!("# check run: {}\n", one_line(&check.verdict_line())));
    text.push_str(&learned.to_yaml());
    let written = match &out {
        Some(o) => o.write(text.as_bytes(), true),
        None => {
            out!("{text}");
            Ok(())
        }
    };
    if let Err(e) = written {
        crate::sandbox::say!("orchestra: error: cannot write the learned policy {e}");
        return check.exit().worst(Exit::Failed);
    }
    crate::sandbox::say!(
        "orchestra: learned {} widening(s) over {origin}; {} not learned; the check run: {}",
        why.len(),
        unlearned.len(),
        check.verdict_line()
    );
    check.exit()
}

/// A comment's text on one line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Why a learning round could not run or its report could not be read.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("{}: {source}", path.display())]
    WritePolicy { path: PathBuf, source: std::io::Error },
    #[error("orchestra's own path: {0}")]
    OwnPath(std::io::Error),
    #[error("stderr: {0}")]
    Stderr(std::io::Error),
    #[error("running exec: {0}")]
    Spawn(std::io::Error),
    #[error("round {round}: exec ended with {status} and no report ({source})")]
    NoReport { round: u32, status: std::process::ExitStatus, source: std::io::Error },
    #[error("round {round}: the report: {source}")]
    BadReport { round: u32, source: serde_json::Error },
}

/// One `orchestra exec` of `command` under `policy`; its report. The task's
/// output goes to our stderr (stdout is for the learned policy).
fn exec_round(
    policy: &Policy,
    command: &[String],
    scratch: &Path,
    round: u32,
) -> Result<crate::sandbox::Report, RoundError> {
    let file = scratch.join(format!("policy-{round}.yaml"));
    let report = scratch.join(format!("report-{round}.json"));
    if let Err(source) = std::fs::write(&file, policy.to_yaml()) {
        return Err(RoundError::WritePolicy { path: file, source });
    }
    let exe = std::env::current_exe().map_err(RoundError::OwnPath)?;
    let stderr = std::io::stderr();
    let to_stderr = std::os::fd::AsFd::as_fd(&stderr).try_clone_to_owned().map_err(RoundError::Stderr)?;
    let status = std::process::Command::new(exe)
        .arg("exec")
        .arg("--policy")
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .arg("--")
        .args(command)
        .stdout(Stdio::from(to_stderr))
        .status()
        .map_err(RoundError::Spawn)?;
    let text = std::fs::read_to_string(&report).map_err(|source| RoundError::NoReport { round, status, source })?;
    serde_json::from_str(&text).map_err(|source| RoundError::BadReport { round, source })
}
