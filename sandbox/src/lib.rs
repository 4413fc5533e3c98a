//! Sandboxes: one trait, one module per backend, and the task report.
//!
//! - [`jail`]: namespaces + pivot_root + landlock + seccomp, with the in-jail
//!   supervisor that observes denials.
//! - [`container`]: Docker and Podman containers through the engine API,
//!   hardened, with the same supervisor running inside.
//! - [`sys`]: the syscall layer, the only place with `unsafe`.
//! - [`canary`]: canary secrets planted per task, and finding them again.
//! - [`cgroup`]: per-task memory/pids cgroups and their event counters.
//! - [`changes`]: what a task changed in its workspace (the report's diff),
//!   and its protected paths, judged again after it: made or made reachable
//!   where absent, removed; changed where they existed, put back
//!   ([`changes::protected`]).
//! - [`probe`]: what this host can enforce.
//! - [`reap`]: killing whatever a task left behind.
//! - [`report`]: the verdict line and JSON report of CONTRACTS.md §3.
//! - [`rule`]: the rules violations name (`fs.write`, `network.none`, …).
//! - [`outcome`]: what a backend observed, and the one place that turns it
//!   into the report (cause, exit code, signal rules, opt-outs).
//! - [`outfile`]: files written after a task ran, never through its links.
//! - [`relay`]: the task's output, with lines that could pass for ours marked.
//! - [`inner`]: the in-container supervisor's command line and entry point.
//!
//! The `orchestra-sandbox` binary (`src/bin/`) is this crate without the
//! container backends: the static in-container supervisor.
#![deny(missing_docs)]
#![deny(unsafe_code)]

/// `eprintln!` that never panics: a line orchestra cannot write to stderr (a
/// full disk, a closed pipe) is dropped, and the exit code still tells the
/// outcome (CONTRACTS.md: exit codes stay 0–4 whatever happens to the streams).
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($t)*);
    }};
}

pub mod canary;
pub mod cgroup;
pub mod changes;
#[cfg(feature = "container")]
pub mod container;
pub mod inner;
pub mod jail;
pub mod learn;
pub mod mac;
pub mod outcome;
pub mod outfile;
pub mod probe;
pub mod reap;
pub mod relay;
pub mod report;
pub mod rule;
pub mod setid;
pub mod sys;
pub mod tty;

use orchestra_policy as policy;
use orchestra_policy::exit;

use crate::policy::Policy;
use std::path::{Path, PathBuf};

pub use report::{Cause, Control, Report, Verdict, Violation};
pub use rule::Rule;

/// One task to run.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// Name in verdicts and reports.
    pub name: String,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory (absolute).
    pub workdir: PathBuf,
    /// The effective policy.
    pub policy: Policy,
    /// Where the policy came from (file or `preset:NAME`).
    pub policy_origin: String,
    /// The command-line flags that changed the loaded policy, if any.
    pub derivation: Option<orchestra_policy::derive::Derivation>,
    /// Paths the task must never see (audit log, signing key).
    pub protected: Vec<PathBuf>,
    /// Files in use that the task must not change although they lie in its
    /// writable workspace (the policy file it runs under): protected paths
    /// like the policy's own (`fs.protected`).
    pub in_use: Vec<PathBuf>,
    /// Observe and report denials (always true, except for the benchmark baseline).
    pub observe: bool,
    /// Give the task a pseudo-terminal of its own (`exec --tty`; jail only).
    pub tty: bool,
    /// Canary secrets to plant (`None`: the policy turned them off, or its
    /// backend has nothing to plant them with: [`canary::plants`]).
    pub canaries: Option<canary::Canaries>,
    /// A home private to the task's sandbox and empty at its start, where the
    /// jail plants canary files as real files even without a mount namespace:
    /// set by the in-container supervisor for a container's own `/tmp`
    /// ([`jail::plant::Home::Private`]). `None`: the jail's own home.
    pub canary_home: Option<PathBuf>,
}

/// Why a task could not be run. All of these exit 1: nothing ran.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A control the policy requires is not available on this host (fail closed).
    #[error("cannot enforce {control}: {reason}")]
    Unenforceable {
        /// The control, e.g. `landlock`.
        control: String,
        /// Why, and how to fix it.
        reason: String,
    },
    /// The policy cannot be compiled for this task.
    #[error("{0}")]
    Plan(#[from] jail::plan::PlanError),
    /// Setting up the sandbox failed before the task ran.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// The caller's release hook failed (its record of the task's start
    /// could not be written): the task was not started.
    #[error("{0}")]
    Release(ReleaseError),
    /// The backend is not implemented yet.
    #[error("backend {0} is not available in this build")]
    Backend(String),
    /// A writable workdir that would let the task change the host outside its work.
    #[error("workdir {path}: a writable workdir {why}; run from a project directory or pass --workdir")]
    Workdir {
        /// The effective workdir.
        path: PathBuf,
        /// The rule it breaks.
        why: String,
    },
    /// A writable root (`filesystem.read_write`, `--rw`) that would expose the
    /// home of the user the task runs as.
    #[error("writable root {path}: {why}")]
    WriteRoot {
        /// The root, expanded.
        path: PathBuf,
        /// The rule it breaks.
        why: String,
    },
    /// One of the orchestrator's own paths (`.orchestra/`, the audit directory)
    /// passes through a symlink inside the workspace, where a task could have
    /// planted it to aim the audit log or a container mount anywhere.
    #[error(
        "{path} is a symbolic link inside the workspace; orchestra's own directories must be real directories (remove the link)"
    )]
    OwnPathLink {
        /// The link.
        path: PathBuf,
    },
}

/// Refuse a writable workdir that would expose the host (`$HOME`, `/`, `/etc`,
/// a system root or an ancestor of one): the same rule, one implementation, as
/// the policy loader's for `filesystem.read_write`
/// ([`crate::policy::load::host_exposing_write_root`]). A read-only workdir is
/// not checked.
pub fn check_workdir(workdir: &Path, policy: &Policy) -> Result<(), SandboxError> {
    let mut homes = crate::policy::load::invoking_homes();
    // Run as root in a directory another user owns, the task writes as that
    // user (jail and containers alike): that user's home counts too, for the
    // workdir and for every writable root.
    if let Some(home) = owner_home(workdir) {
        homes.push(home);
    }
    if policy.filesystem.workdir == crate::policy::WorkdirAccess::ReadWrite
        && let Some(why) = crate::policy::load::host_exposing_write_root(workdir, &homes)
    {
        return Err(SandboxError::Workdir { path: workdir.to_path_buf(), why });
    }
    for rw in &policy.filesystem.read_write {
        let path = crate::policy::load::expand_home(rw, &homes[0]);
        if let Some(why) = crate::policy::load::host_exposing_write_root(&path, &homes) {
            return Err(SandboxError::WriteRoot { path, why });
        }
    }
    Ok(())
}

/// The home directory (resolved) of the owner of `workdir`, when orchestra
/// runs as root and that owner is another user — the user a task then runs as.
pub fn owner_home(workdir: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let uid = std::fs::metadata(workdir).ok()?.uid();
    if uid == 0 {
        return None;
    }
    let dir = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok().flatten()?.dir;
    Some(std::fs::canonicalize(&dir).unwrap_or(dir))
}

/// Refuse `<workdir>/.orchestra` and every one of `own` (the audit directory)
/// when a component of it that lies inside the workdir is a symlink: a task of an
/// earlier run could have left one there to aim the audit log (written by this
/// process) or a container's read-only mount of `.orchestra/` at any host
/// directory. Components outside the workdir are the user's own layout and may
/// be links. Absent components are fine (orchestra creates them as directories).
pub fn check_own_paths(workdir: &Path, own: &[&Path]) -> Result<(), SandboxError> {
    let dot = workdir.join(".orchestra");
    for path in std::iter::once(dot.as_path()).chain(own.iter().copied()) {
        let Ok(rel) = path.strip_prefix(workdir) else { continue };
        let mut at = workdir.to_path_buf();
        for c in rel.components() {
            at.push(c);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => return Err(SandboxError::OwnPathLink { path: at }),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    Ok(())
}

/// The backend for a sandbox mode, or why it is not available (exit 1).
pub fn backend_for(mode: crate::policy::SandboxMode) -> Result<Box<dyn Sandbox>, SandboxError> {
    match mode {
        crate::policy::SandboxMode::Jail => Ok(Box::new(jail::Jail::default())),
        #[cfg(feature = "container")]
        kind @ (crate::policy::SandboxMode::Docker | crate::policy::SandboxMode::Podman) => {
            Ok(Box::new(container::Container { kind }))
        }
        #[cfg(not(feature = "container"))]
        kind @ (crate::policy::SandboxMode::Docker | crate::policy::SandboxMode::Podman) => {
            Err(SandboxError::Unenforceable {
                control: format!("sandbox_mode: {}", kind.as_str()),
                reason: "this is the in-container supervisor, built without the container backends".into(),
            })
        }
    }
}

/// A sandbox backend.
pub trait Sandbox {
    /// Backend name for reports.
    fn name(&self) -> &'static str;
    /// The one pre-run check: everything that must hold before a task under
    /// `policy` may run in `workdir` on this backend — the controls the policy
    /// requires can be enforced here, the workdir rule ([`check_workdir`]),
    /// and for the container backends the engine answering, the (pinned)
    /// image, the workspace's owner and the supervisor binary. Fails closed
    /// (exit 1, nothing run). `orchestra run` calls it once per policy before
    /// any task starts; [`Sandbox::run`] applies the same checks itself.
    fn preflight(&self, policy: &Policy, workdir: &Path) -> Result<(), SandboxError>;
    /// Run the task to completion; its stdout/stderr stream through (task lines
    /// that start with `orchestra:` marked, see [`relay`]).
    fn run(&self, task: &TaskSpec) -> Result<Report, SandboxError>;
    /// Start what the backend can prepare from `task` alone (the jail
    /// compiles its plan on a thread), while the caller finishes its own
    /// set-up; a later [`Sandbox::run_released`] or [`Sandbox::run`] of the
    /// same task picks it up, one of another task does its own. Call it only
    /// once whatever the plan depends on is in place (the jail hides what
    /// exists of [`TaskSpec::protected`] now). Default: nothing.
    fn plan_ahead(&self, _task: &TaskSpec) {}
    /// [`Sandbox::run`], calling `release` exactly once before the task can run
    /// anything of its own, or not at all when the set-up fails first. The
    /// caller makes the task's start durable there (`orchestra exec` appends
    /// and fsyncs `task_started`); an error from it ends the run before the
    /// task starts ([`SandboxError::Release`], nothing ran). The jail calls it
    /// once its init exists and builds the jail's root, so the two overlap;
    /// this default calls it before anything else.
    fn run_released(&self, task: &TaskSpec, release: &mut Release<'_>) -> Result<Report, SandboxError> {
        release().map_err(SandboxError::Release)?;
        self.run(task)
    }
}

/// Why the caller's release hook refused to let the task start.
pub type ReleaseError = Box<dyn std::error::Error + Send + Sync>;

/// The caller's hook of [`Sandbox::run_released`].
pub type Release<'a> = dyn FnMut() -> Result<(), ReleaseError> + 'a;
