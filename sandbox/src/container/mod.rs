//! The container backends (`sandbox_mode: docker | podman`): each task in its
//! own fresh, hardened container, driven through the engine's API (bollard on
//! a current-thread tokio runtime created here, never on the jail's path).
//!
//! [`run_task`] owns the order of steps, each failing the whole:
//! connect ([`engine`]) → check what the engine can enforce (fail closed) →
//! reap orphans ([`reap`]) → check the image (and its pinned id) → compile
//! the configuration ([`spec`], [`seccomp`], [`supervisor`]) → create, or with
//! the pool on claim a ready container of that exact configuration and order
//! its replacement ([`pool`]) → verify the engine applied the hardening
//! (attest) → attach (unsupervised) → start → relay output, enforce timeouts
//! and the output limit, watch the init and the cgroup ([`observe`]) → the
//! exit status (the supervisor's report, else the engine's), these last steps
//! a state machine and its driver (the private `drive` module) → merge the
//! supervisor's report → remove the container (or leave it to the engine,
//! AutoRemove), on every path.
//!
//! Canary secrets (`crate::canary`) are the jail's, planted by the
//! in-container supervisor (which is the jail): the host hands it the values
//! generated for the task in a file it removes before the task starts
//! (`crate::inner::Handoff`), with the container's `/tmp` as the home where
//! the files go when the task's `$HOME` lies there. The host scrubs what it
//! relays too, with the same `Scrubber`, so a value that got past the
//! supervisor still never reaches orchestra's streams.

mod drive;
pub mod engine;
pub mod lifecycle;
pub mod observe;
pub mod output;
pub mod pool;
pub mod private_dir;
pub mod reap;
pub mod seccomp;
pub mod spec;
pub mod supervisor;

use super::inner::{Handoff, InnerArgs, InnerTask};
use super::outcome::{self, Observed, Oom, Outcome, Signals, TimeoutKind};
use super::report::{Cause, Control, Report, Violation, now_rfc3339};
use super::rule::Rule;
use super::{Sandbox, SandboxError, TaskSpec};
use crate::policy::{Policy, SandboxMode, SupervisorMode, WorkdirAccess};
use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The tracing target of the backend's debug lines, the `drive` module's included
/// (this module's path, as they have always been logged).
const TRACE_TARGET: &str = module_path!();

/// A container backend: Docker or Podman.
#[derive(Debug, Clone, Copy)]
pub struct Container {
    /// Which engine.
    pub kind: SandboxMode,
}

impl Sandbox for Container {
    fn name(&self) -> &'static str {
        self.kind.as_str()
    }

    fn preflight(&self, policy: &Policy, workdir: &Path) -> Result<(), SandboxError> {
        check(self.kind, policy)?;
        super::check_workdir(workdir, policy)?;
        pool_size()?;
        let rt = runtime()?;
        let ready = rt.block_on(async {
            let engine = engine::connect(self.kind).await?;
            check_engine(policy, &engine)?;
            let inspected = engine.api.inspect_image(policy.container_image()).await;
            image_id(policy, &engine, inspected).map(|_| ())
        });
        rt.shutdown_background();
        ready?;
        check_workspace(policy, workdir)?;
        supervisor_bin(policy).map(|_| ())
    }

    fn run(&self, task: &TaskSpec) -> Result<Report, SandboxError> {
        check(self.kind, &task.policy)?;
        let rt = runtime()?;
        let result = rt.block_on(run_task(self.kind, task));
        rt.shutdown_background();
        result
    }
}

/// The engine-independent part: the policy compiles into a container
/// configuration (the engine is asked in `preflight` and `run`).
fn check(kind: SandboxMode, policy: &Policy) -> Result<(), SandboxError> {
    if let crate::mac::decide::Decision::Refuse(why) = crate::mac::container_decision(policy) {
        return Err(unenforceable("AppArmor", why));
    }
    let facts = spec::Facts {
        workdir: PathBuf::from("/"),
        dot_orchestra: false,
        mac: Vec::new(),
        own: Vec::new(),
        protected: Vec::new(),
        hidden: Vec::new(),
        podman: kind == SandboxMode::Podman,
        user: (1000, 1000),
        cmd: vec!["true".into()],
        env: Vec::new(),
        supervisor: None,
        engine_socket: None,
        labels: Default::default(),
        seccomp_file: None,
        nproc: 4096,
        auto_remove: false,
    };
    spec::create_body(policy, &facts).map(|_| ()).map_err(|e| unenforceable("container", e.0))
}

/// The current-thread runtime the engine API is driven on.
fn runtime() -> Result<tokio::runtime::Runtime, SandboxError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SandboxError::Setup(format!("tokio runtime: {e}")))
}

/// The container pool's size (`ORCHESTRA_CONTAINER_POOL`); a typo is an error.
fn pool_size() -> Result<usize, SandboxError> {
    pool::size().map_err(|e| unenforceable("container pool", e))
}

/// The static supervisor binary to mount in the container, when the
/// policy requires one.
fn supervisor_bin(policy: &Policy) -> Result<Option<PathBuf>, SandboxError> {
    match policy.container.supervisor {
        SupervisorMode::Required => {
            supervisor::locate().map(Some).map_err(|e| unenforceable("container.supervisor", e))
        }
        SupervisorMode::Off => Ok(None),
    }
}

/// The id of the policy's image, from the engine's answer to inspecting it:
/// the image must be there, and be the one the policy pins, if it pins one.
fn image_id(
    policy: &Policy,
    engine: &engine::Engine,
    inspected: Result<bollard::models::ImageInspect, bollard::errors::Error>,
) -> Result<String, SandboxError> {
    let image = policy.container_image();
    let id = match inspected {
        Ok(i) => i.id.unwrap_or_default(),
        Err(e) => {
            return Err(unenforceable(
                "container image",
                format!("{image} is not in {} ({e}); build it offline with images/build.sh", engine.version),
            ));
        }
    };
    match &policy.container.image_id {
        Some(pin) if pin != &id => {
            Err(unenforceable("container image", format!("{image} is {id}, but the policy pins {pin}")))
        }
        _ => Ok(id),
    }
}

fn unenforceable(control: &str, reason: impl std::fmt::Display) -> SandboxError {
    SandboxError::Unenforceable { control: control.into(), reason: reason.to_string() }
}

fn host_has_swap() -> bool {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("SwapTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .is_some_and(|kb| kb > 0)
}

/// The controls the policy needs that this engine says it cannot apply.
fn check_engine(policy: &Policy, e: &engine::Engine) -> Result<(), SandboxError> {
    let c = &e.caps;
    let l = &policy.limits;
    if !c.seccomp {
        return Err(unenforceable("seccomp", format!("{} reports no seccomp support", e.version)));
    }
    if l.memory.get().is_some() && !c.memory {
        return Err(unenforceable("limits.memory", format!("{} cannot limit memory (no memory cgroup)", e.version)));
    }
    if l.memory.get().is_some() && !c.swap && host_has_swap() {
        return Err(unenforceable(
            "limits.memory",
            format!("{} cannot limit swap (swap accounting is off) and this host has swap", e.version),
        ));
    }
    if l.pids.get().is_some() && !c.pids {
        return Err(unenforceable("limits.pids", format!("{} cannot limit pids (no pids cgroup)", e.version)));
    }
    if policy.container.cpus.get().is_some() && !c.cpu_quota {
        return Err(unenforceable("container.cpus", format!("{} cannot set a CPU quota", e.version)));
    }
    Ok(())
}

/// RLIMIT_NPROC for the container: above the pids limit (which is the bound
/// that is observed), within our own hard limit (an engine without
/// CAP_SYS_RESOURCE can set no more).
fn nproc_limit(policy: &Policy) -> u64 {
    let want = policy.limits.pids.get().map_or(65536, |p| (p * 2).max(4096));
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NPROC).map_or(want, |(_, h)| h);
    want.min(hard)
}

/// The uid:gid the task runs as: the invoking user when not root, else the
/// workspace's owner when not root, else 1000:1000.
/// A read-write workspace must be writable by the container's task user (never root).
fn check_workspace(policy: &Policy, workdir: &Path) -> Result<(), SandboxError> {
    if policy.filesystem.workdir != WorkdirAccess::ReadWrite {
        return Ok(());
    }
    let user = task_user(workdir);
    let m = std::fs::metadata(workdir).map_err(|e| SandboxError::Setup(format!("workspace: {e}")))?;
    let writable = m.uid() == user.0 || m.mode() & 0o002 != 0 || (m.gid() == user.1 && m.mode() & 0o020 != 0);
    if !writable {
        return Err(unenforceable(
            "workspace",
            format!(
                "{} is owned by uid {} and not writable by the container's task user {}:{} (the task never runs as root); give the checkout to a non-root user (`chown -R 1000:1000 DIR`; the jail then runs its tasks as that user too) or run orchestra as that user",
                workdir.display(),
                m.uid(),
                user.0,
                user.1
            ),
        ));
    }
    Ok(())
}

/// The workspace's protected paths that exist, relative, as the jail would
/// bind them read-only (the real file or directory behind a link).
fn protected_binds(policy: &Policy, workdir: &Path, in_use: &[PathBuf]) -> Result<Vec<PathBuf>, SandboxError> {
    let mut mounts = Vec::new();
    crate::jail::protect::protect(&policy.filesystem, workdir, in_use, true, &mut mounts)
        .map_err(|e| unenforceable("protected paths", e.to_string()))?;
    Ok(mounts.iter().filter_map(|m| m.dst().strip_prefix(workdir).ok().map(Path::to_path_buf)).collect())
}

fn task_user(workdir: &Path) -> (u32, u32) {
    let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    if uid != 0 {
        return (uid, gid.max(1));
    }
    match std::fs::metadata(workdir) {
        Ok(m) if m.uid() != 0 => (m.uid(), if m.gid() == 0 { m.uid() } else { m.gid() }),
        _ => (1000, 1000),
    }
}

/// Everything the run accumulates.
#[derive(Default)]
struct Run {
    enforced: Vec<Control>,
    violations: Vec<Violation>,
    timed_out: Option<TimeoutKind>,
    interrupted: Option<i32>,
    output_bytes: u64,
    mid_line: [bool; 2],
    /// Task lines that start like ours are marked (sandbox::relay).
    guards: [crate::relay::LineGuard; 2],
    sample: observe::Sample,
    observed_cgroup: bool,
    setup_error: Option<String>,
    /// What explains the end besides the task's status (an engine error after our own kill).
    note: Option<String>,
    /// The task's canary values, replaced in what is relayed (per stream).
    scrubbers: [crate::canary::Scrubber; 2],
    /// `(stream, source)` of each canary found by a scrubber: reported once.
    leaked: Vec<(usize, String)>,
    /// Mandatory access control, as attested ([`attest`]).
    mac: Option<crate::report::Mac>,
}

impl Run {
    fn violation(&mut self, rule: Rule, detail: String) {
        self.violations.push(Violation::now(rule, detail));
    }

    /// Append to `out` what `bytes` of stream `i` (0 stdout, 1 stderr)
    /// become with every canary value replaced; a value found here got past
    /// the in-container supervisor, and is a `canary.leak` (once per stream).
    fn scrub(&mut self, i: usize, bytes: &[u8], out: &mut Vec<u8>) {
        for source in self.scrubbers[i].feed(bytes, out) {
            if self.leaked.contains(&(i, source.clone())) {
                continue;
            }
            let stream = if i == 0 { "stdout" } else { "stderr" };
            self.violation(
                Rule::CanaryLeak,
                format!(
                    "the task wrote the canary planted as {source} to its {stream} (replaced by [canary] on the host)"
                ),
            );
            self.leaked.push((i, source));
        }
    }
}

/// Run one task in a fresh container (see the module doc for the order).
pub async fn run_task(kind: SandboxMode, task: &TaskSpec) -> Result<Report, SandboxError> {
    let policy = &task.policy;
    let started_at = now_rfc3339();
    let start = Instant::now();
    let supervised = policy.container.supervisor == SupervisorMode::Required;
    // Checked whatever the mode (a typo is an error even where it has no use).
    let pool_size = pool_size()?;
    let pool_size = if supervised { pool_size } else { 0 };
    let engine = engine::connect(kind).await?;
    check_engine(policy, &engine)?;
    let api = &engine.api;
    let image = policy.container_image();
    // With the pool on, its filler (detached, started below) reaps orphans
    // once it has filled, off this task's critical path; otherwise the two
    // independent requests are in flight together.
    let pool_root = pool::default_root();
    let pool = match pool_size {
        0 => None,
        _ => pool::Pool::open(&pool_root)
            .inspect_err(|e| tracing::warn!("container pool {}: {e}; creating a container", pool_root.display()))
            .ok(),
    };
    let reap = async {
        if pool.is_none() {
            reap::orphans(&engine, &pool_root).await;
        }
    };
    let (_, inspected) = tokio::join!(reap, api.inspect_image(image));
    tracing::debug!(ms = start.elapsed().as_secs_f64() * 1e3, "container: orphans reaped, image inspected");
    let image_id = image_id(policy, &engine, inspected)?;

    let user = task_user(&task.workdir);
    let workdir_rw = policy.filesystem.workdir == WorkdirAccess::ReadWrite;
    if workdir_rw {
        check_workspace(policy, &task.workdir)?;
    }
    // `.orchestra/` is mounted read-only where it exists; absent, it is not made
    // but protected against creation (jail::protect), as in the jail.
    let dot_orchestra =
        workdir_rw && std::fs::symlink_metadata(task.workdir.join(".orchestra")).is_ok_and(|m| m.is_dir());
    let home = if policy.filesystem.tmp == crate::policy::TmpMode::Private { "/tmp" } else { spec::WORKDIR };
    let host_env: Vec<(String, String)> =
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    let facts_env = crate::jail::plan::HostFacts {
        home: PathBuf::from(home),
        env: host_env,
        protected: Vec::new(),
        cgroup_memory: true,
        cgroup_pids: true,
        read_only_mounts: Vec::new(),
        in_use: Vec::new(),
    };
    let task_env = crate::jail::plan::task_env(policy, &facts_env);
    // The task's canaries, for the supervisor to plant (it is the one that can).
    let handoff = match (&task.canaries, supervised) {
        (Some(c), true) => Some(Handoff { home: private_home(policy, &task_env), canaries: c.clone() }),
        _ => None,
    };

    let seccomp_profile = (kind == SandboxMode::Podman).then(|| seccomp::profile(policy, supervised).to_string());
    if kind == SandboxMode::Podman && engine.socket.is_none() {
        // Podman's compatibility API reads `seccomp=` as a file on its host.
        return Err(unenforceable(
            "seccomp",
            "Podman reads the seccomp profile from a file on its host; a remote Podman is not supported",
        ));
    }
    let base = spec::Facts {
        seccomp_file: None,
        nproc: nproc_limit(policy),
        workdir: task.workdir.clone(),
        dot_orchestra,
        mac: crate::mac::security_opts(policy, &crate::mac::container_decision(policy)).0,
        own: task.protected.clone(),
        protected: if workdir_rw { protected_binds(policy, &task.workdir, &task.in_use)? } else { Vec::new() },
        // The orchestrator's own directories inside the workspace (a run's runs/)
        // are hidden; `.orchestra/` is mounted read-only above.
        hidden: task
            .protected
            .iter()
            .filter_map(|p| p.strip_prefix(&task.workdir).ok())
            .filter(|rel| !rel.as_os_str().is_empty() && !rel.starts_with(".orchestra") && !rel.starts_with(".."))
            .filter(|rel| task.workdir.join(rel).is_dir())
            .map(Path::to_path_buf)
            .collect(),
        podman: kind == SandboxMode::Podman,
        user,
        cmd: Vec::new(),
        env: vec![("PATH".to_string(), "/usr/bin:/bin".to_string())],
        supervisor: None,
        engine_socket: engine.socket.clone(),
        labels: lifecycle::labels(&task.name, supervised),
        auto_remove: supervised,
    };
    let inner = supervised.then(|| supervisor::inner_policy(policy, &task_env));
    let bin = supervisor_bin(policy)?;

    // A pre-created container, when the pool is on and one of this exact
    // configuration is ready; the pool is topped up either way.
    if let (Some(bin), Some(inner), Some(p)) = (&bin, &inner, &pool) {
        let mut facts = base.clone();
        facts.cmd = supervised_cmd(None, handoff.is_some());
        facts.supervisor = Some((bin.clone(), PathBuf::from(pool::SLOT_PLACEHOLDER)));
        facts.seccomp_file = seccomp_profile.as_ref().map(|_| Path::new(pool::SLOT_PLACEHOLDER).join("seccomp.json"));
        facts.labels = lifecycle::labels("(pool)", true);
        let template = spec::create_body(policy, &facts).map_err(|e| unenforceable("container", e.0))?;
        let extra: Vec<(&str, &[u8])> =
            seccomp_profile.as_deref().map(|s| ("seccomp.json", s.as_bytes())).into_iter().collect();
        let pooled = match pool::fingerprint(&template, &extra, &image_id, &engine.address) {
            Ok(fp) => {
                let claim = claim_ready(api, p, &fp, &image_id).await;
                tracing::debug!(ms = start.elapsed().as_secs_f64() * 1e3, "container: pool claim checked");
                let deficit = pool_size.saturating_sub(p.stock(&fp));
                if let Err(e) = p.order(kind, &engine.address, &fp, &template, user, &extra, deficit) {
                    tracing::warn!("container pool {}: cannot order containers: {e}", p.root().display());
                    // No filler will reap: reap here, when it is due.
                    if p.reap_turn() {
                        reap::orphans(&engine, &pool_root).await;
                    }
                }
                claim.map(|c| (c, fp))
            }
            Err(e) => {
                tracing::warn!("container pool {}: {e}; creating a container", p.root().display());
                None
            }
        };
        tracing::debug!(ms = start.elapsed().as_secs_f64() * 1e3, claimed = pooled.is_some(), "container: pool");
        if let Some(((claim, info), fp)) = pooled {
            let result = run_claimed(&engine, task, p, &claim, info, inner, handoff.as_ref(), user, &fp).await;
            p.discard(&claim);
            match result {
                // Its inputs could not be written: it was never started, and
                // nothing of the task ran. A fresh container instead. (A failed
                // start is not retried: the engine may have run part of it.)
                Err(SandboxError::Setup(e)) if e.starts_with(POOL_SLOT_ERROR) => {
                    tracing::warn!(
                        "container pool: the claimed container {} was not used ({e}); creating one",
                        claim.id
                    );
                }
                result => {
                    let (run, state, report) = result?;
                    return Ok(build_report(task, &engine, image, &image_id, run, state, report, start, started_at));
                }
            }
        }
    }

    // The supervisor's report directory lives until the end of this function.
    let mut out_dir: Option<tempfile::TempDir> = None;
    let mut fifos = None;
    let mut facts = base;
    match (&bin, &inner) {
        (Some(bin), Some(inner)) => {
            let dir = tempfile::Builder::new()
                .prefix("orchestra-supervisor-")
                .tempdir()
                .map_err(|e| SandboxError::Setup(format!("supervisor directory: {e}")))?;
            // Everything in the directory is made while only we can write there;
            // it is handed to the task user last (a same-uid process could
            // otherwise swap a name for a symlink between create and chown).
            std::fs::write(dir.path().join("policy.yaml"), inner.to_yaml())
                .map_err(|e| SandboxError::Setup(format!("supervisor policy: {e}")))?;
            if let Some(h) = &handoff {
                super::inner::write_handoff(&dir.path().join(HANDOFF), h, user)
                    .map_err(|e| SandboxError::Setup(format!("supervisor canaries: {e}")))?;
            }
            fifos = Some(
                output::create_fifos(dir.path(), user)
                    .map_err(|e| SandboxError::Setup(format!("supervisor output FIFOs: {e}")))?,
            );
            let chown = |p: &Path| std::os::unix::fs::lchown(p, Some(user.0), Some(user.1));
            chown(&dir.path().join("policy.yaml"))
                .and_then(|_| chown(dir.path()))
                .map_err(|e| SandboxError::Setup(format!("supervisor directory: {e}")))?;
            facts.cmd = supervised_cmd(Some(task), handoff.is_some());
            facts.supervisor = Some((bin.clone(), dir.path().to_path_buf()));
            out_dir = Some(dir);
        }
        _ => {
            facts.cmd = task.argv.clone();
            facts.env = task_env.clone();
        }
    }
    let mut seccomp_dir: Option<tempfile::TempDir> = None;
    if let Some(profile) = &seccomp_profile {
        let dir = tempfile::Builder::new()
            .prefix("orchestra-seccomp-")
            .tempdir()
            .map_err(|e| SandboxError::Setup(format!("seccomp profile: {e}")))?;
        std::fs::write(dir.path().join("seccomp.json"), profile)
            .map_err(|e| SandboxError::Setup(format!("seccomp profile: {e}")))?;
        facts.seccomp_file = Some(dir.path().join("seccomp.json"));
        seccomp_dir = Some(dir);
    }
    let body = spec::create_body(policy, &facts).map_err(|e| unenforceable("container", e.0))?;
    tracing::debug!(ms = start.elapsed().as_secs_f64() * 1e3, "container: configuration compiled");
    let created = api
        .create_container(None::<bollard::query_parameters::CreateContainerOptions>, body)
        .await
        .map_err(|e| SandboxError::Setup(format!("creating the container: {e}")))?;
    drop(seccomp_dir);
    let id = created.id;
    tracing::debug!(ms = start.elapsed().as_secs_f64() * 1e3, "container: created");

    let inner_report = out_dir.as_ref().map(|d| d.path().join("report.json"));
    let (run, state) = drive_and_remove(&engine, &id, task, inner_report.as_deref(), fifos, None).await?;
    let inner = out_dir.as_ref().map(|d| supervisor::read_left(&d.path().join("report.json"))).unwrap_or_default();
    Ok(build_report(task, &engine, image, &image_id, run, state, inner, start, started_at))
}

/// The name of the canaries' handoff file in the supervisor's directory (a
/// pool slot: in its `report/`, the one directory there the supervisor may
/// remove a file from).
const HANDOFF: &str = "canaries.json";

/// The supervisor's command line. With a task, everything is on it; without
/// (a pool container, made before its task is known), the task's name and
/// argv are read from `task.json` in the supervisor's directory at start.
/// `canaries`: the task gets canaries, handed over in [`HANDOFF`].
fn supervised_cmd(task: Option<&TaskSpec>, canaries: bool) -> Vec<String> {
    let out = Path::new(spec::OUT_DIR);
    let (report, handoff, task) = match task {
        Some(t) => {
            (out.join("report.json"), out.join(HANDOFF), InnerTask::Argv { name: t.name.clone(), argv: t.argv.clone() })
        }
        None => {
            (out.join("report/report.json"), out.join("report").join(HANDOFF), InnerTask::File(out.join("task.json")))
        }
    };
    let args = InnerArgs {
        policy: out.join("policy.yaml"),
        report,
        workdir: spec::WORKDIR.into(),
        output: out.to_path_buf(),
        canaries: canaries.then_some(handoff),
        task,
    };
    std::iter::once(spec::SUPERVISOR_BIN.to_string()).chain(args.to_args()).collect()
}

/// The task's home, when it is the container's own and starts empty: below
/// its private `/tmp` (a tmpfs of the engine's), and no volume mounted at,
/// above or below it. There the supervisor plants the canary files; anywhere
/// else (`$HOME` in the workspace, a volume) only the variables are planted.
fn private_home(policy: &Policy, task_env: &[(String, String)]) -> Option<PathBuf> {
    let home = PathBuf::from(&task_env.iter().find(|(k, _)| k == "HOME")?.1);
    let in_tmp = policy.filesystem.tmp == crate::policy::TmpMode::Private
        && home.is_absolute()
        && home.starts_with("/tmp")
        && !home.components().any(|c| matches!(c, std::path::Component::ParentDir));
    let volume_near = policy
        .container_volumes()
        .iter()
        .filter_map(|v| spec::parse_volume(v).ok())
        .any(|v| v.container.starts_with(&home) || home.starts_with(&v.container));
    (in_tmp && !volume_near).then_some(home)
}

/// Drive the container to its end, then remove it (or leave that to the engine).
async fn drive_and_remove(
    engine: &engine::Engine,
    id: &str,
    task: &TaskSpec,
    inner_report: Option<&Path>,
    fifos: Option<[tokio::io::unix::AsyncFd<std::fs::File>; 2]>,
    inspected: Option<ContainerInspectResponse>,
) -> Result<(Run, EndState), SandboxError> {
    let api = &engine.api;
    let tokens = task.canaries.as_ref().map(|c| c.tokens.as_slice()).unwrap_or_default();
    let mut run = Run {
        scrubbers: [crate::canary::Scrubber::new(tokens), crate::canary::Scrubber::new(tokens)],
        ..Run::default()
    };
    let t0 = Instant::now();
    let outcome = drive::drive(engine, id, task, &mut run, inner_report, fifos, inspected).await;
    tracing::debug!(ms = t0.elapsed().as_secs_f64() * 1e3, "container: task over");
    // A container whose init has exited and that the engine removes itself
    // (AutoRemove) is not waited for: nothing of the task is left in it.
    let removed = match &outcome {
        Ok(end) if end.engine_removes => Ok(()),
        _ => lifecycle::remove(api, id).await,
    };
    tracing::debug!(ms = t0.elapsed().as_secs_f64() * 1e3, "container: removed");
    let state = outcome?;
    if let Err(e) = removed {
        crate::say!("orchestra: warning: could not remove container {id}: {e} (the next run reaps it)");
    }
    for i in 0..2 {
        // What a scrubber held back (it could have begun a value), then the guard's rest.
        let (mut held, mut rest) = (Vec::new(), Vec::new());
        run.scrubbers[i].finish(&mut held);
        run.guards[i].feed(&held, &mut rest);
        run.guards[i].finish(&mut rest);
        if !rest.is_empty() {
            let _ = if i == 0 { std::io::stdout().write_all(&rest) } else { std::io::stderr().write_all(&rest) };
        }
    }
    crate::relay::end_task_lines(run.mid_line);
    Ok((run, state))
}

/// Claim a ready pool container of configuration `fp` and check it is what its
/// token says: ours, that configuration, that slot (label and bind), never
/// started, the same image. One that is not is removed and the next is tried.
async fn claim_ready(
    api: &Docker,
    p: &pool::Pool,
    fp: &str,
    image_id: &str,
) -> Option<(pool::Claim, ContainerInspectResponse)> {
    while let Some(claim) = p.claim(fp) {
        let info = api.inspect_container(&claim.id, None::<bollard::query_parameters::InspectContainerOptions>).await;
        let slot_name = claim.slot.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let slot_bind = format!("{}:{}", claim.slot.display(), spec::OUT_DIR);
        let fit = info.as_ref().is_ok_and(|i| {
            let labels = i.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
            let binds = i.host_config.as_ref().and_then(|h| h.binds.clone()).unwrap_or_default();
            let state = i.state.as_ref();
            labels.get(pool::LABEL).map(String::as_str) == Some(fp)
                && labels.get(pool::LABEL_SLOT).map(String::as_str) == Some(slot_name)
                && binds.iter().any(|b| b == &slot_bind || b.starts_with(&format!("{slot_bind}:")))
                && labels.get(pool::LABEL_ROOT).map(String::as_str) == p.root().to_str()
                && state.and_then(|s| s.status) == Some(bollard::models::ContainerStateStatusEnum::CREATED)
                && state.and_then(|s| s.started_at.as_deref()).is_none_or(|t| t.starts_with("0001-"))
                && i.image.as_deref() == Some(image_id)
                // Nothing planted in the report directory before the task.
                && std::fs::read_dir(claim.slot.join("report")).is_ok_and(|mut d| d.next().is_none())
        });
        if fit && let Ok(info) = info {
            return Some((claim, info));
        }
        tracing::debug!("container pool: {} does not fit its token; removed", claim.id);
        if info.is_ok() {
            let _ = lifecycle::remove(api, &claim.id).await;
        }
        p.discard(&claim);
    }
    None
}

/// Run the task in a claimed pool container: write its inputs into the slot
/// (ours; the task user cannot replace them), then drive it like any other.
#[allow(clippy::too_many_arguments)]
async fn run_claimed(
    engine: &engine::Engine,
    task: &TaskSpec,
    p: &pool::Pool,
    claim: &pool::Claim,
    info: ContainerInspectResponse,
    inner: &Policy,
    handoff: Option<&Handoff>,
    user: (u32, u32),
    fp: &str,
) -> Result<(Run, EndState, supervisor::Left), SandboxError> {
    let setup = |what: &str, e: std::io::Error| {
        SandboxError::Setup(format!("{POOL_SLOT_ERROR} {}: {what}: {e}", claim.slot.display()))
    };
    let job = serde_json::json!({ "name": task.name, "argv": task.argv });
    let inputs = pool::write_new(&claim.slot.join("policy.yaml"), inner.to_yaml().as_bytes())
        .map_err(|e| setup("policy", e))
        .and_then(|_| {
            pool::write_new(&claim.slot.join("task.json"), job.to_string().as_bytes()).map_err(|e| setup("task", e))
        })
        .and_then(|_| match handoff {
            Some(h) => super::inner::write_handoff(&claim.slot.join("report").join(HANDOFF), h, user)
                .map_err(|e| setup("canaries", e)),
            None => Ok(()),
        })
        .and_then(|_| output::open_fifos(&claim.slot, user).map_err(|e| setup("output FIFOs", e)));
    let fifos = match inputs {
        Ok(f) => f,
        Err(e) => {
            // Never started: removed now rather than at the next run.
            let _ = lifecycle::remove(&engine.api, &claim.id).await;
            return Err(e);
        }
    };
    let report_path = claim.slot.join("report").join("report.json");
    let (mut run, state) =
        drive_and_remove(engine, &claim.id, task, Some(&report_path), Some(fifos), Some(info)).await?;
    run.enforced.push(Control {
        control: "pool".into(),
        detail: format!(
            "pre-created container {}, never started before this task (configuration {fp}, pool {})",
            &claim.id[..claim.id.len().min(12)],
            p.root().display()
        ),
    });
    Ok((run, state, supervisor::read_left(&report_path)))
}

/// How a setup error begins when a claimed pool slot could not take the task's inputs.
const POOL_SLOT_ERROR: &str = "pool slot";

/// What the engine says about the ended container.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct EndState {
    /// The exit status (the supervisor's, when supervised), if known.
    exit_code: Option<i64>,
    /// The engine says the kernel OOM-killed it.
    oom_killed: bool,
    /// The init has exited and the engine removes the container (AutoRemove).
    engine_removes: bool,
}

/// Check that the engine applied the hardening it was asked for (Podman's
/// compatibility API, for one, may drop fields it does not know). Returns the
/// attested controls, whether the engine removes the container, and the
/// report's `mac`.
/// `inspected`: what the engine already said of the container, if asked just before.
async fn attest(
    api: &Docker,
    id: &str,
    task: &TaskSpec,
    inspected: Option<ContainerInspectResponse>,
) -> Result<(Vec<Control>, bool, crate::report::Mac), SandboxError> {
    let info = match inspected {
        Some(info) => info,
        None => api
            .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .map_err(|e| SandboxError::Setup(format!("inspecting the container: {e}")))?,
    };
    let h = info.host_config.unwrap_or_default();
    let l = &task.policy.limits;
    let sec = h.security_opt.clone().unwrap_or_default();
    let caps = h.cap_drop.clone().unwrap_or_default();
    let checks: [(&str, bool, String); 8] = [
        ("read-only root", h.readonly_rootfs == Some(true), "ReadonlyRootfs".into()),
        ("capabilities", drops_every_capability(&caps, h.cap_add.as_deref()), format!("CapDrop={}", caps.join(","))),
        ("privileges", h.privileged != Some(true), "Privileged".into()),
        (
            "network",
            h.network_mode.as_deref() == Some("none"),
            format!("NetworkMode={}", crate::report::or_unset(h.network_mode.as_deref())),
        ),
        ("no_new_privs", sec.iter().any(|s| s.starts_with("no-new-privileges")), "SecurityOpt".into()),
        ("seccomp", sec.iter().any(|s| s.starts_with("seccomp")), "SecurityOpt seccomp".into()),
        (
            "limits.memory",
            l.memory.get().is_none_or(|m| h.memory == Some(m.0 as i64)),
            format!("Memory={}", crate::report::or_unset(h.memory)),
        ),
        (
            "limits.pids",
            l.pids.get().is_none_or(|p| h.pids_limit == Some(p as i64)),
            format!("PidsLimit={}", crate::report::or_unset(h.pids_limit)),
        ),
    ];
    for (control, ok, what) in &checks {
        if !ok {
            return Err(unenforceable(control, format!("the engine did not apply it ({what})")));
        }
    }
    let mut enforced = vec![
        Control { control: "container".into(), detail: "fresh container, removed after the task".into() },
        Control { control: "read_only_root".into(), detail: "ReadonlyRootfs, tmpfs /tmp".into() },
        Control {
            control: "privileges".into(),
            detail: "CapDrop=ALL, no-new-privileges, not privileged, no devices".into(),
        },
        Control { control: "network".into(), detail: "NetworkMode=none (private namespace, lo only)".into() },
        Control { control: "seccomp".into(), detail: "inline profile generated from the policy".into() },
        Control { control: "namespaces".into(), detail: "engine: mount, pid, net, ipc, uts (private)".into() },
    ];
    enforced.push(Control {
        control: "cgroup".into(),
        detail: format!(
            "Memory={} MemorySwap={} PidsLimit={} NanoCpus={}",
            crate::report::or_unset(h.memory),
            crate::report::or_unset(h.memory_swap),
            crate::report::or_unset(h.pids_limit),
            crate::report::or_unset(h.nano_cpus)
        ),
    });
    // Mandatory access control, as the engine applied it (or why not).
    let decision = crate::mac::container_decision(&task.policy);
    if let crate::mac::decide::Decision::Refuse(why) = &decision {
        return Err(unenforceable("AppArmor", why));
    }
    let (wanted, said, mac) = crate::mac::security_opts(&task.policy, &decision);
    if let Some(missing) = wanted.iter().find(|w| !sec.contains(w)) {
        return Err(unenforceable("mac", format!("the engine did not apply {missing}")));
    }
    enforced.extend(said.map(|detail| Control { control: "mac".into(), detail }));
    Ok((enforced, h.auto_remove == Some(true), mac))
}

/// Docker keeps `CapDrop: [ALL]`; Podman lists what it dropped from its
/// default set. Either way nothing may be added back.
fn drops_every_capability(drop: &[String], add: Option<&[String]>) -> bool {
    const DEFAULTS: [&str; 14] = [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ];
    let has = |name: &str| drop.iter().any(|c| c.trim_start_matches("CAP_").eq_ignore_ascii_case(name));
    add.is_none_or(|a| a.is_empty()) && (has("ALL") || DEFAULTS.iter().all(|d| has(d)))
}

/// What to say about `ORCHESTRA_SUPERVISOR_BIN` when the supervisor ended
/// without a report: only when one is set (another version refuses the
/// protocol's arguments).
fn override_hint() -> String {
    match std::env::var_os(supervisor::BIN_ENV) {
        Some(v) => format!(
            "; {}={} may be from another orchestra version: unset it to use the built-in one",
            supervisor::BIN_ENV,
            std::path::Path::new(&v).display()
        ),
        None => String::new(),
    }
}

/// The container's part of the report: the engine's and the supervisor's
/// evidence, merged into an [`Outcome`] for [`outcome::build`].
#[allow(clippy::too_many_arguments)]
fn build_report(
    task: &TaskSpec,
    engine: &engine::Engine,
    image: &str,
    image_id: &str,
    mut run: Run,
    end: EndState,
    left: supervisor::Left,
    start: Instant,
    started_at: String,
) -> Report {
    let policy = &task.policy;
    run.enforced
        .insert(0, Control { control: "engine".into(), detail: format!("{} at {}", engine.version, engine.address) });
    run.enforced.insert(1, Control { control: "image".into(), detail: format!("{image}@{image_id}") });
    let supervised = policy.container.supervisor == SupervisorMode::Required;
    let inner = left.report;
    let mut o = Outcome {
        started_at,
        // With the supervisor, the task's signal was judged inside (with its CPU
        // time); without, only what the signal alone proves.
        signals: if supervised { Signals::Judged } else { Signals::Judge(None) },
        setup_error: run.setup_error,
        no_status: if supervised {
            // Its own messages went to streams nobody reads (the output is the FIFOs').
            format!(
                "the in-container supervisor ended without a report (crashed, or killed from outside{})",
                override_hint()
            )
        } else {
            "the container ended without the task's status".into()
        },
        note: run.note,
        timed_out: run.timed_out,
        interrupted: run.interrupted,
        oom: Oom { kills: run.sample.oom_kills, engine_reported: end.oom_killed },
        pids_refused: run.sample.pids_max,
        output_bytes: run.output_bytes,
        peak_memory_bytes: run.sample.peak_memory.or(inner.as_ref().and_then(|r| r.peak_memory_bytes)),
        observed: Observed { denials: true, cgroup: run.observed_cgroup },
        mac: run.mac.take(),
        ..Outcome::default()
    };
    // No report (the container was killed before the supervisor wrote it):
    // the violations judged until then, as the supervisor streamed them.
    if inner.is_none() && supervised {
        run.violations.extend(left.streamed);
    }
    match (&inner, supervised) {
        (Some(r), true) => {
            o.exit_status = r.exit_status;
            o.signal = r.signal;
            run.violations.extend(r.violations.iter().cloned());
            for c in &r.enforced {
                run.enforced.push(Control { control: format!("supervisor.{}", c.control), detail: c.detail.clone() });
            }
            if r.cause == Cause::SetupFailed {
                o.setup_error
                    .get_or_insert_with(|| r.error.clone().unwrap_or_else(|| "supervisor setup failed".into()));
            }
        }
        _ => match end.exit_code {
            Some(c) if c > 128 => o.signal = Some((c - 128) as i32),
            Some(c) if !supervised => o.exit_status = Some(c as i32),
            // The supervisor's own status, not the task's: the task's is unknown.
            Some(c) => {
                o.no_status =
                    format!("the in-container supervisor ended with status {c} without a report{}", override_hint());
            }
            // Started, then gone with neither a report nor a status (`docker kill`
            // or `rm -f` of an auto-removed container): the task ran and was
            // killed from outside — a signal (exit 2), not "nothing ran".
            None if supervised => {
                o.signal = Some(libc::SIGKILL);
                // After our own kill (a timeout, a signal to us, a limit), Podman
                // may have removed the container before it could be asked: the
                // cause is known, nothing came from outside.
                let ours = o.timed_out.is_some() || o.interrupted.is_some() || !run.violations.is_empty();
                if !ours {
                    o.note.get_or_insert_with(|| {
                        "the container was killed from outside (no status, no report from its supervisor)".into()
                    });
                }
            }
            None => {}
        },
    }
    // What a violation quotes of the task never carries a canary (the
    // supervisor's are scrubbed already; this is the host's own pass).
    let tokens = task.canaries.as_ref().map(|c| c.tokens.as_slice()).unwrap_or_default();
    crate::canary::scrub_details(&mut run.violations, tokens);
    o.enforced = run.enforced;
    o.violations = run.violations;
    o.wall_ms = start.elapsed().as_millis() as u64;
    outcome::build(task, engine.kind, o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::Token;

    fn env(home: &str) -> Vec<(String, String)> {
        vec![("HOME".into(), home.into()), ("PATH".into(), "/bin".into())]
    }

    #[test]
    fn canary_files_go_only_into_a_home_in_the_containers_own_tmp() {
        let mut p = Policy::default();
        p.filesystem.tmp = crate::policy::TmpMode::Private;
        assert_eq!(private_home(&p, &env("/tmp")), Some(PathBuf::from("/tmp")));
        assert_eq!(private_home(&p, &env("/tmp/home")), Some(PathBuf::from("/tmp/home")));
        assert_eq!(private_home(&p, &env(spec::WORKDIR)), None, "the workspace is the host's");
        assert_eq!(private_home(&p, &env("/tmp/../work")), None);
        assert_eq!(private_home(&p, &[]), None);
        p.container.volumes = vec!["/srv/cache:/tmp/.aws:rw".into()];
        assert_eq!(private_home(&p, &env("/tmp")), None, "a volume below the home is the host's");
        p.container.volumes = vec!["/srv/cache:/tmp/cache:rw".into()];
        assert_eq!(private_home(&p, &env("/tmp/cache/home")), None, "a volume above it too");
        p.container.volumes.clear();
        p.filesystem.tmp = crate::policy::TmpMode::None;
        assert_eq!(private_home(&p, &env("/tmp")), None, "the image's /tmp is no private tmpfs");
    }

    #[test]
    fn the_supervisor_gets_the_handoff_path_only_with_canaries() {
        let t = TaskSpec {
            name: "t".into(),
            argv: vec!["true".into()],
            workdir: "/w".into(),
            policy: Policy::default(),
            policy_origin: "test".into(),
            derivation: None,
            protected: Vec::new(),
            in_use: Vec::new(),
            observe: true,
            tty: false,
            canaries: None,
            canary_home: None,
        };
        let args = |cmd: Vec<String>| InnerArgs::parse(cmd.into_iter().skip(1).map(Into::into)).unwrap();
        assert_eq!(args(supervised_cmd(Some(&t), false)).canaries, None);
        assert_eq!(args(supervised_cmd(Some(&t), true)).canaries, Some(Path::new(spec::OUT_DIR).join(HANDOFF)));
        // A pool container's: in report/, the one directory of its slot the task user owns.
        assert_eq!(
            args(supervised_cmd(None, true)).canaries,
            Some(Path::new(spec::OUT_DIR).join("report").join(HANDOFF))
        );
    }

    #[test]
    fn what_the_host_relays_is_scrubbed_and_a_leak_reported_once_per_stream() {
        let tokens = [Token { source: "$GITHUB_TOKEN".into(), value: "ghp_SECRETVALUE".into() }];
        let mut run = Run {
            scrubbers: [crate::canary::Scrubber::new(&tokens), crate::canary::Scrubber::new(&tokens)],
            ..Run::default()
        };
        let mut out = Vec::new();
        run.scrub(0, b"a ghp_SECRET", &mut out);
        run.scrub(0, b"VALUE b ghp_SECRETVALUE\n", &mut out);
        run.scrub(1, b"ghp_SECRETVALUE", &mut out);
        assert_eq!(out, b"a [canary] b [canary]\n[canary]");
        let rules: Vec<(Rule, bool)> =
            run.violations.iter().map(|v| (v.rule, v.detail.contains("$GITHUB_TOKEN"))).collect();
        assert_eq!(rules, [(Rule::CanaryLeak, true), (Rule::CanaryLeak, true)], "once per stream");
        assert!(!run.violations.iter().any(|v| v.detail.contains("ghp_")));
    }
}
