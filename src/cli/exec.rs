//! `orchestra exec`: run one task under a policy.

use crate::exit::Exit;
use crate::policy::{HumanDuration, Limit, SandboxMode, load_policy};
use crate::sandbox::jail::Jail;
use crate::sandbox::{Report, Sandbox, SandboxError, TaskSpec};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// Backends selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// namespaces + landlock + seccomp jail
    Jail,
    /// Docker container
    Docker,
    /// Podman container
    Podman,
}

/// Arguments of `orchestra exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Policy file or preset name (`default`, `strict`, `build-offline`).
    #[arg(long, short = 'p', default_value = "default")]
    pub policy: String,
    /// Override the policy's sandbox_mode.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Working directory of the task, read-write unless the policy says otherwise
    /// (default: the current directory).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Wall-clock timeout (humantime: 20s, 5m, 1h30m), overriding the policy's.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<HumanDuration>,
    /// Audit log directory (default `.orchestra/audit`).
    #[arg(long)]
    pub audit_dir: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Task name used in the verdict and report (default: the program name).
    #[arg(long)]
    pub name: Option<String>,
    /// Benchmark baseline only: deny without observing (nothing is reported).
    #[arg(long, hide = true)]
    pub bench_unobserved: bool,
    /// The program and its arguments.
    #[arg(required = true, last = true, value_name = "PROGRAM")]
    pub command: Vec<String>,
}

fn parse_duration(s: &str) -> Result<HumanDuration, String> {
    HumanDuration::parse(s)
}

/// The audit directory: the flag, else `.orchestra/audit` below the current directory.
pub fn audit_dir(flag: Option<&Path>) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match flag {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => cwd.join(p),
        None => cwd.join(".orchestra").join("audit"),
    }
}

/// The audit signing key's path: `$ORCHESTRA_AUDIT_KEY`, else
/// `$XDG_CONFIG_HOME/orchestra/audit.key`, else `~/.config/orchestra/audit.key`.
pub fn signing_key_path() -> PathBuf {
    if let Some(p) = std::env::var_os("ORCHESTRA_AUDIT_KEY").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".config"));
    config.join("orchestra").join("audit.key")
}

/// Run `orchestra exec`.
pub fn run(args: ExecArgs) -> Exit {
    let (mut policy, origin) = match load_policy(&args.policy) {
        Ok(p) => p,
        Err(e) => return super::config_error(e),
    };
    if let Some(b) = args.backend {
        policy.sandbox_mode = match b {
            Backend::Jail => SandboxMode::Jail,
            Backend::Docker => SandboxMode::Docker,
            Backend::Podman => SandboxMode::Podman,
        };
        if let Some(sec) = policy.security.as_mut() {
            sec.sandbox_mode = None;
        }
    }
    if let Some(t) = args.timeout {
        policy.timeouts.wall = Limit::Max(t);
    }
    let workdir = match args.workdir.clone().map(Ok).unwrap_or_else(std::env::current_dir) {
        Ok(w) => w,
        Err(e) => return super::config_error(format!("current directory: {e}")),
    };
    let workdir = match std::fs::canonicalize(&workdir) {
        Ok(w) if w.is_dir() => w,
        Ok(w) => return super::config_error(format!("--workdir {}: not a directory", w.display())),
        Err(e) => return super::config_error(format!("--workdir {}: {e}", workdir.display())),
    };
    let name = args.name.clone().unwrap_or_else(|| {
        Path::new(&args.command[0]).file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    });
    let audit = audit_dir(args.audit_dir.as_deref());
    let task = TaskSpec {
        name,
        argv: args.command.clone(),
        workdir,
        policy,
        policy_origin: origin,
        protected: vec![audit, signing_key_path()],
        observe: !args.bench_unobserved,
    };
    let backend: Box<dyn Sandbox> = match task.policy.backend() {
        SandboxMode::Jail => Box::new(Jail),
        other => {
            return super::config_error(SandboxError::Backend(other.as_str().into()));
        }
    };
    let report = match backend.run(&task) {
        Ok(r) => r,
        Err(e) => return super::config_error(e),
    };
    finish(&report, args.report.as_deref())
}

fn finish(report: &Report, path: Option<&Path>) -> Exit {
    eprintln!("{}", report.verdict_line());
    if let Some(path) = path {
        let json = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
        if let Err(e) = write_atomic(path, json.as_bytes()) {
            eprintln!("orchestra: error: cannot write report {}: {e}", path.display());
            return report.exit().worst(Exit::Config);
        }
    }
    report.exit()
}

/// Write a file atomically: temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
