//! The project configuration (`.orchestra/config.yaml`, or `--config FILE`).
//!
//! Guarantees: parsing is strict (unknown fields are errors with
//! `file:line:col`); without a file the embedded defaults apply (built-in
//! policy presets and tool whitelist, local run directory), so `orchestra run`
//! needs no configuration and no server.
//!
//! Precedence, for every setting: command-line flag > environment variable >
//! config file > built-in default. The environment variables follow one
//! convention, `ORCHESTRA_<SETTING>` (see [`ENV_VARS`]); an invalid value is
//! an error naming the variable (exit 1), never ignored.

use crate::plan::tools::{ToolSpec, Whitelist};
use crate::policy::{HumanDuration, NetworkMode, Policy, SandboxMode, SeedSecurity};
use crate::yaml::LocatedError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the project config is looked for, relative to the workspace.
pub const DEFAULT_PATH: &str = ".orchestra/config.yaml";

fn default_version() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// The project configuration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version (1).
    #[serde(default = "default_version")]
    pub version: u32,
    /// Default policy (file or preset) for tasks whose plan or tool names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// How many tasks may run at once (default: the number of CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Where run directories go (default `runs`, relative to the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_dir: Option<PathBuf>,
    /// Start from the built-in tool whitelist (`policies/tools.yaml`); `false` allows only `tools`.
    #[serde(default = "yes")]
    pub builtin_tools: bool,
    /// Tools added to (or replacing) the built-in whitelist.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, ToolSpec>,
    /// Planner backends (L2) and replanning bounds (see `orchestrator/src/planner/settings.rs`).
    #[serde(default)]
    pub planner: crate::planner::settings::PlannerConfig,
    /// Wall-clock limit for a whole run, when the plan sets none (`--timeout` overrides both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// Extra copies of the CI reports (the run directory always has them).
    #[serde(default, skip_serializing_if = "OutputsConfig::is_empty")]
    pub outputs: OutputsConfig,
    /// The seed configuration's `security:` block (`sandbox_mode`, `docker_image`,
    /// `docker_network`, `docker_volumes`), applied to every task's policy; a
    /// policy that says otherwise is refused (fail closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SeedSecurity>,
    /// Plan `env:` names refused by default (they can change which code a
    /// whitelisted tool runs, see `orchestrator/src/plan/env.rs`) that this project allows
    /// knowingly, e.g. `[PYTHONPATH]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_task_env: Vec<String>,
    /// Containers kept ready per configuration for supervised container tasks
    /// (0 to 16; `ORCHESTRA_CONTAINER_POOL` overrides it). Off when absent; see
    /// README "Container pool" and SECURITY.md §10.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_pool: Option<usize>,
    /// Distributed runs: the task queue, the storage, the keys (README
    /// "Distributed runs"). Without it (and without `--queue`) runs are local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<DistributedConfig>,
    /// Worker hosts `orchestra workers up|status|down` manage over SSH
    /// (docs/distributed.md "Workers over SSH").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerHost>,
}

fn one() -> usize {
    1
}

/// One entry of the `workers:` list: a host that runs `orchestra worker`,
/// started over SSH by `orchestra workers up`, or a Docker engine that runs
/// it in a container (`engine:`). Exactly one of `host` and `engine`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, try_from = "WorkerFields")]
pub struct WorkerHost {
    /// `user@host[:port]` or `host` (the system `ssh` resolves it, `~/.ssh/config` included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The private key `ssh -i` authenticates with (only this one is offered; SSH hosts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<PathBuf>,
    /// A Docker engine's API address (`unix:///var/run/docker.sock`, `tcp://HOST:2376`) to run the worker on, in a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The image (present on the engine) whose root filesystem the worker's container has (engines only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Bind mounts of the container, `HOST:CONTAINER[:ro]` (e.g. `/usr:/usr:ro`; engines only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<String>,
    /// Tasks the worker runs at once (default 1).
    #[serde(default = "one")]
    pub capacity: usize,
    /// The worker's labels (`runs_on:` in plans).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The worker's name (default: the host part of `host`, `.`/`-`/`_` kept, other characters `-`;
    /// for an engine: `engine-N`, N its place in the list from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The worker's own checkout of the project (`--workspace`); default: the path each run names.
    /// For an engine: a path on the engine's machine, bind-mounted at the same path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Where the binary, the worker's key, state, pid file and log live on the host (default `~/.orchestra`; SSH hosts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_dir: Option<String>,
    /// TLS to a `tcp://` engine: the CA its certificate must chain to, and the client
    /// certificate and key it asks for (engines only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<EngineTls>,
    /// Talk plain HTTP to a `tcp://` engine, without TLS (refused otherwise; engines only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// The `tls:` block of an `engine: tcp://…` worker: `dir` (Docker's layout:
/// `ca.pem`, `cert.pem`, `key.pem` in it), or `ca` with `cert` and `key`
/// (both or neither).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineTls {
    /// A directory holding `ca.pem`, `cert.pem` and `key.pem` (e.g. what `DOCKER_CERT_PATH` names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// The PEM bundle of the CAs the engine's certificate must chain to (only these: no system roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// The client certificate (PEM chain) the engine authenticates this orchestra by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

/// One entry of the `workers:` list as written: a host that runs `orchestra
/// worker`, started over SSH by `orchestra workers up`, or a Docker engine
/// that runs it in a container. Exactly one of `host` and `engine` (checked,
/// then [`WorkerHost`]).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerFields {
    /// `user@host[:port]` or `host` (the system `ssh` resolves it, `~/.ssh/config` included).
    #[serde(default)]
    host: Option<String>,
    /// The private key `ssh -i` authenticates with (only this one is offered; SSH hosts only).
    #[serde(default)]
    ssh_key: Option<PathBuf>,
    /// A Docker engine's API address (`unix:///var/run/docker.sock`, `tcp://HOST:2376`) to run the worker on, in a container.
    #[serde(default)]
    engine: Option<String>,
    /// The image (present on the engine) whose root filesystem the worker's container has (engines only).
    #[serde(default)]
    image: Option<String>,
    /// Bind mounts of the container, `HOST:CONTAINER[:ro]` (e.g. `/usr:/usr:ro`; engines only).
    #[serde(default)]
    mounts: Vec<String>,
    /// Tasks the worker runs at once (default 1).
    #[serde(default = "one")]
    capacity: usize,
    /// The worker's labels (`runs_on:` in plans).
    #[serde(default)]
    labels: Vec<String>,
    /// The worker's name (default: the host part of `host`, `.`/`-`/`_` kept, other characters `-`;
    /// for an engine: `engine-N`, N its place in the list from 1).
    #[serde(default)]
    name: Option<String>,
    /// The worker's own checkout of the project (`--workspace`); default: the path each run names.
    /// For an engine: a path on the engine's machine, bind-mounted at the same path.
    #[serde(default)]
    workspace: Option<String>,
    /// Where the binary, the worker's key, state, pid file and log live on the host (default `~/.orchestra`; SSH hosts only).
    #[serde(default)]
    remote_dir: Option<String>,
    /// TLS to a `tcp://` engine: the CA its certificate must chain to, and the client
    /// certificate and key it asks for (engines only).
    #[serde(default)]
    tls: Option<EngineTls>,
    /// Talk plain HTTP to a `tcp://` engine, without TLS (refused otherwise; engines only).
    #[serde(default)]
    insecure: bool,
}

/// Why a `workers:` entry is refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WorkerEntryError(String);

impl TryFrom<WorkerFields> for WorkerHost {
    type Error = WorkerEntryError;

    fn try_from(f: WorkerFields) -> Result<WorkerHost, WorkerEntryError> {
        let bad = |m: &str| Err(WorkerEntryError(m.to_string()));
        match (&f.host, &f.engine) {
            (Some(_), Some(_)) => return bad("a worker has `host` (SSH) or `engine` (Docker), not both"),
            (None, None) => return bad("a worker needs `host` (SSH) or `engine` (Docker)"),
            (Some(_), None) => {
                if f.ssh_key.is_none() {
                    return bad("missing field `ssh_key` (an SSH worker needs it)");
                }
                if f.image.is_some() || !f.mounts.is_empty() || f.tls.is_some() || f.insecure {
                    return bad("`image`, `mounts`, `tls` and `insecure` are for `engine:` workers");
                }
            }
            (None, Some(_)) => {
                if f.image.is_none() {
                    return bad("missing field `image` (an engine worker needs it)");
                }
                if f.ssh_key.is_some() || f.remote_dir.is_some() {
                    return bad("`ssh_key` and `remote_dir` are for `host:` workers");
                }
                if f.tls.is_some() && f.insecure {
                    return bad("`tls` and `insecure: true` contradict each other: keep one");
                }
                if let Some(t) = &f.tls {
                    match (&t.dir, &t.ca, &t.cert, &t.key) {
                        (Some(_), None, None, None)
                        | (None, Some(_), None, None)
                        | (None, Some(_), Some(_), Some(_)) => {}
                        (Some(_), ..) => return bad("`tls`: `dir` or `ca`/`cert`/`key`, not both"),
                        (None, None, ..) => return bad("`tls` needs `ca` (or `dir`)"),
                        (None, Some(_), ..) => return bad("`tls`: `cert` and `key` go together"),
                    }
                }
            }
        }
        Ok(WorkerHost {
            host: f.host,
            ssh_key: f.ssh_key,
            engine: f.engine,
            image: f.image,
            mounts: f.mounts,
            capacity: f.capacity,
            labels: f.labels,
            name: f.name,
            workspace: f.workspace,
            remote_dir: f.remote_dir,
            tls: f.tls,
            insecure: f.insecure,
        })
    }
}

/// The `distributed:` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DistributedConfig {
    /// The Redis URL (`redis://HOST:PORT` or `rediss://…`; credentials from
    /// `ORCHESTRA_REDIS_USERNAME`/`ORCHESTRA_REDIS_PASSWORD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Where logs, reports and outputs are stored: an absolute directory or
    /// `s3://BUCKET[/PREFIX]?endpoint=…&region=…` (default: `<runs_dir>/.blobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// The orchestrator's signing key file (default: `fleet.key` beside the audit key; created on first use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Public keys (`ed25519:…`) of the workers whose results are accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_workers: Vec<String>,
    /// A worker silent this long loses its task to another (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<HumanDuration>,
    /// Deliveries of one attempt before it ends `worker_lost` (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deliveries: Option<u32>,
    /// How long a task may wait for a worker to take it (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unserved: Option<HumanDuration>,
    /// How long the queue may be unreachable before waiting tasks fail (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<HumanDuration>,
}

/// Where to copy the CI reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    /// A copy of `junit.xml` (relative paths: to the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junit: Option<PathBuf>,
    /// A copy of `violations.sarif`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sarif: Option<PathBuf>,
    /// A copy of `report.md` (under GitHub Actions `$GITHUB_STEP_SUMMARY` gets it anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<PathBuf>,
}

impl OutputsConfig {
    fn is_empty(&self) -> bool {
        self.junit.is_none() && self.sarif.is_none() && self.summary.is_none()
    }
}

/// The environment variables that override the config, and what they set.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("ORCHESTRA_CONFIG", "the config file (like --config)"),
    ("ORCHESTRA_CONCURRENCY", "concurrency, a number of at least 1 (like --concurrency)"),
    ("ORCHESTRA_POLICY", "the policy of every task (like --policy)"),
    ("ORCHESTRA_RUNS_DIR", "runs_dir (like --runs-dir)"),
    ("ORCHESTRA_TIMEOUT", "the run's wall-clock limit, over the plan's (like --timeout)"),
    ("ORCHESTRA_JUNIT", "outputs.junit (like --junit)"),
    ("ORCHESTRA_SARIF", "outputs.sarif (like --sarif)"),
    ("ORCHESTRA_SUMMARY", "outputs.summary (like --summary)"),
    ("ORCHESTRA_QUEUE", "distributed.queue, the Redis URL of a distributed run (like --queue)"),
];

/// The value of an override variable: `None` when unset or empty.
fn env_value(name: &str) -> Result<Option<String>, LocatedError> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(LocatedError::new(&format!("environment variable {name}"), None, "not valid UTF-8"))
        }
    }
}

/// `ORCHESTRA_POLICY` and `ORCHESTRA_TIMEOUT`: the environment forms of
/// `--policy` (every task's policy) and `--timeout` (the run's limit, over the plan's).
pub fn env_flags() -> Result<(Option<String>, Option<HumanDuration>), LocatedError> {
    let policy = env_value("ORCHESTRA_POLICY")?;
    let timeout = match env_value("ORCHESTRA_TIMEOUT")? {
        Some(v) => Some(
            HumanDuration::parse(&v)
                .map_err(|e| LocatedError::new("environment variable ORCHESTRA_TIMEOUT", None, e.to_string()))?,
        ),
        None => None,
    };
    Ok((policy, timeout))
}

/// Apply the `ORCHESTRA_*` overrides of config settings to a config.
pub fn apply_env(config: &mut Config) -> Result<(), LocatedError> {
    let bad = |name: &str, msg: String| LocatedError::new(&format!("environment variable {name}"), None, msg);
    if let Some(v) = env_value("ORCHESTRA_CONCURRENCY")? {
        match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => config.concurrency = Some(n),
            _ => return Err(bad("ORCHESTRA_CONCURRENCY", format!("{v:?} is not a number of at least 1"))),
        }
    }
    if let Some(v) = env_value("ORCHESTRA_RUNS_DIR")? {
        config.runs_dir = Some(PathBuf::from(v));
    }
    if let Some(v) = env_value("ORCHESTRA_JUNIT")? {
        config.outputs.junit = Some(PathBuf::from(v));
    }
    if let Some(v) = env_value("ORCHESTRA_SARIF")? {
        config.outputs.sarif = Some(PathBuf::from(v));
    }
    if let Some(v) = env_value("ORCHESTRA_SUMMARY")? {
        config.outputs.summary = Some(PathBuf::from(v));
    }
    Ok(())
}

/// Why the config's `security:` block cannot apply to a policy.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The two name different sandbox modes.
    #[error("the config's security.sandbox_mode contradicts the policy's")]
    SandboxMode,
    /// The two name different images or networks.
    #[error("the config's security block contradicts the policy's")]
    Contradicts,
    /// A Docker network other than `none` and `host`.
    #[error("security.docker_network {0:?} is not supported (use none or host)")]
    Network(String),
    /// The network the config names is not the policy's.
    #[error("the config's security.docker_network ({network}) contradicts the policy's network.mode ({mode})")]
    NetworkMode {
        /// The config's `docker_network`.
        network: String,
        /// The policy's `network.mode`.
        mode: &'static str,
    },
    /// Container settings for a jail policy.
    #[error("security.docker_image/docker_volumes apply to sandbox_mode docker or podman, not jail")]
    NotJail,
    /// A volume that does not parse.
    #[error("security.docker_volumes: {0}")]
    Volume(crate::policy::volume::VolumeError),
}

/// Apply the config's `security:` block to a task's policy. Fails closed when
/// the policy's own `security:` block, or its network mode, says otherwise.
pub fn apply_security(sec: &SeedSecurity, policy: &mut Policy) -> Result<(), SecurityError> {
    if let Some(own) = &policy.security {
        let clash = |a: &Option<String>, b: &Option<String>| a.is_some() && b.is_some() && a != b;
        if own.sandbox_mode.is_some() && sec.sandbox_mode.is_some() && own.sandbox_mode != sec.sandbox_mode {
            return Err(SecurityError::SandboxMode);
        }
        if clash(&own.docker_image, &sec.docker_image) || clash(&own.docker_network, &sec.docker_network) {
            return Err(SecurityError::Contradicts);
        }
    }
    if let Some(net) = &sec.docker_network {
        match policy.network.mode.admitted_by_docker_network(net) {
            None => return Err(SecurityError::Network(net.clone())),
            Some(false) => {
                return Err(SecurityError::NetworkMode { network: net.clone(), mode: policy.network.mode.as_str() });
            }
            Some(true) => {}
        }
    }
    let mut merged = policy.security.clone().unwrap_or(SeedSecurity {
        sandbox_mode: None,
        docker_image: None,
        docker_network: None,
        docker_volumes: Vec::new(),
    });
    if let Some(mode) = sec.sandbox_mode {
        policy.sandbox_mode = mode;
        merged.sandbox_mode = Some(mode);
    }
    if sec.docker_image.is_some() {
        merged.docker_image = sec.docker_image.clone();
    }
    if sec.docker_network.is_some() {
        merged.docker_network = sec.docker_network.clone();
    }
    for v in &sec.docker_volumes {
        if !merged.docker_volumes.contains(v) {
            merged.docker_volumes.push(v.clone());
        }
    }
    if policy.backend() == SandboxMode::Jail && (merged.docker_image.is_some() || !merged.docker_volumes.is_empty()) {
        return Err(SecurityError::NotJail);
    }
    for v in &merged.docker_volumes {
        crate::policy::volume::parse_volume(v).map_err(SecurityError::Volume)?;
    }
    policy.security = Some(merged);
    Ok(())
}

/// The JSON Schema of the config file (committed as `policies/config.schema.json`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: 1,
            policy: None,
            concurrency: None,
            runs_dir: None,
            builtin_tools: true,
            tools: BTreeMap::new(),
            planner: Default::default(),
            timeout: None,
            outputs: OutputsConfig::default(),
            security: None,
            allow_task_env: Vec::new(),
            container_pool: None,
            distributed: None,
            workers: Vec::new(),
        }
    }
}

/// A loaded config and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// `path` or `built-in defaults`.
    pub origin: String,
    /// The file, when there is one.
    pub path: Option<PathBuf>,
    /// The compiled tool whitelist.
    pub whitelist: Whitelist,
}

/// Load `explicit`, else `$ORCHESTRA_CONFIG`, else `<workspace>/.orchestra/config.yaml`
/// if present, else the defaults; then apply the `ORCHESTRA_*` overrides.
pub fn load(explicit: Option<&Path>, workspace: &Path) -> Result<Loaded, LocatedError> {
    let found = workspace.join(DEFAULT_PATH);
    let from_env = env_value("ORCHESTRA_CONFIG")?.map(PathBuf::from);
    let explicit = explicit.or(from_env.as_deref());
    let (mut config, origin, path) = match explicit {
        Some(p) => (read(p)?, p.to_string_lossy().into_owned(), Some(p.to_path_buf())),
        None if found.is_file() => (read(&found)?, found.to_string_lossy().into_owned(), Some(found.clone())),
        None => (Config::default(), "built-in defaults".to_string(), None),
    };
    if config.version != 1 {
        return Err(LocatedError::new(&origin, None, format!("unsupported config version {}", config.version)));
    }
    if config.concurrency == Some(0) {
        return Err(LocatedError::new(&origin, None, "concurrency must be at least 1"));
    }
    if let Some(n) = config.container_pool.filter(|n| *n > crate::sandbox::container::pool::MAX) {
        let max = crate::sandbox::container::pool::MAX;
        return Err(LocatedError::new(&origin, None, format!("container_pool: {n} is more than {max}")));
    }
    for (i, w) in config.workers.iter().enumerate() {
        if w.capacity == 0 {
            return Err(LocatedError::new(&origin, None, format!("workers[{i}].capacity must be at least 1")));
        }
        if w.host.as_deref().is_some_and(|h| h.trim().is_empty()) {
            return Err(LocatedError::new(&origin, None, format!("workers[{i}].host is empty")));
        }
        if w.engine.as_deref().is_some_and(|h| h.trim().is_empty()) {
            return Err(LocatedError::new(&origin, None, format!("workers[{i}].engine is empty")));
        }
    }
    config.planner.check().map_err(|e| LocatedError::new(&origin, None, e.to_string()))?;
    if let Some(sec) = &config.security {
        // The same checks a policy's own block gets, before any task is considered.
        apply_security(sec, &mut security_probe(sec)).map_err(|e| LocatedError::new(&origin, None, e.to_string()))?;
    }
    apply_env(&mut config)?;
    let mut specs = if config.builtin_tools { Whitelist::builtin()? } else { BTreeMap::new() };
    specs.extend(config.tools.clone());
    let whitelist = Whitelist::compile(&specs, &origin)?;
    Ok(Loaded { config, origin, path, whitelist })
}

/// A policy that agrees with `sec`'s network, to check the block on its own.
fn security_probe(sec: &SeedSecurity) -> Policy {
    let mut p = Policy::default();
    if sec.docker_network.as_deref() == Some("host") {
        p.network.mode = NetworkMode::Host;
    }
    p
}

fn read(path: &Path) -> Result<Config, LocatedError> {
    let origin = path.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path)
        .map_err(|e| LocatedError::new(&origin, None, format!("cannot read config: {e}")))?;
    crate::yaml::from_str(&text, &origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let l = load(None, dir.path()).unwrap();
        assert_eq!(l.origin, "built-in defaults");
        assert!(l.whitelist.get("cargo").is_some());
        assert!(l.whitelist.get("true").is_some());
    }

    #[test]
    fn config_is_strict_and_can_drop_builtins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "concurrency: 2\ntols: {}\n").unwrap();
        let e = load(Some(&p), dir.path()).unwrap_err().to_string();
        assert!(e.contains("c.yaml:2:1:") && e.contains("tols"), "{e}");
        std::fs::write(&p, "builtin_tools: false\ntools:\n  sh: {program: /bin/sh, shell: true, args: ['.*']}\n")
            .unwrap();
        let l = load(Some(&p), dir.path()).unwrap();
        assert!(l.whitelist.get("cargo").is_none() && l.whitelist.get("sh").is_some());
        std::fs::write(&p, "concurrency: 0\n").unwrap();
        assert!(load(Some(&p), dir.path()).is_err());
    }

    #[test]
    fn workers_are_strict_and_default_their_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "workers:\n  - host: ci@build1:2222\n    ssh_key: /k\n    labels: [docker]\n").unwrap();
        let l = load(Some(&p), dir.path()).unwrap();
        assert_eq!(l.config.workers.len(), 1);
        assert_eq!(l.config.workers[0].capacity, 1);
        assert_eq!(l.config.workers[0].labels, vec!["docker".to_string()]);
        std::fs::write(&p, "workers:\n  - host: build1\n    ssh_key: /k\n    capactiy: 2\n").unwrap();
        let e = load(Some(&p), dir.path()).unwrap_err().to_string();
        assert!(e.contains("c.yaml:4:5:") && e.contains("capactiy"), "{e}");
        std::fs::write(&p, "workers:\n  - host: build1\n").unwrap();
        let e = load(Some(&p), dir.path()).unwrap_err().to_string();
        assert!(e.contains("ssh_key"), "{e}");
        std::fs::write(&p, "workers:\n  - {host: b, ssh_key: /k, capacity: 0}\n").unwrap();
        assert!(load(Some(&p), dir.path()).is_err());
        std::fs::write(
            &p,
            "workers:\n  - engine: unix:///var/run/docker.sock\n    image: img\n    mounts: [/usr:/usr:ro]\n",
        )
        .unwrap();
        let l = load(Some(&p), dir.path()).unwrap();
        assert_eq!(l.config.workers[0].engine.as_deref(), Some("unix:///var/run/docker.sock"));
        assert_eq!(l.config.workers[0].mounts, vec!["/usr:/usr:ro".to_string()]);
        std::fs::write(&p, "version: 1\nworkers:\n  - {host: b, ssh_key: /k, engine: unix:///x, image: i}\n").unwrap();
        let e = load(Some(&p), dir.path()).unwrap_err().to_string();
        assert!(e.contains("c.yaml:3:") && e.contains("not both"), "{e}");
        std::fs::write(&p, "workers:\n  - {engine: unix:///x}\n").unwrap();
        let e = load(Some(&p), dir.path()).unwrap_err().to_string();
        assert!(e.contains("c.yaml:2:") && e.contains("image"), "{e}");
    }

    #[test]
    fn engine_tls_blocks_have_one_shape_and_are_for_engines_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        let with = |extra: &str| {
            std::fs::write(&p, format!("workers:\n  - engine: tcp://h:2376\n    image: i\n{extra}")).unwrap();
            load(Some(&p), dir.path()).map(|l| l.config.workers[0].clone()).map_err(|e| e.to_string())
        };
        let w = with("    tls: {ca: /c/ca.pem, cert: /c/cert.pem, key: /c/key.pem}\n").unwrap();
        assert_eq!(w.tls.unwrap().cert, Some(PathBuf::from("/c/cert.pem")));
        assert!(with("    tls: {dir: ~/.docker}\n").unwrap().tls.unwrap().dir.is_some());
        assert!(with("    tls: {ca: /c/ca.pem}\n").is_ok());
        assert!(with("    insecure: true\n").unwrap().insecure);
        for (extra, want) in [
            ("    tls: {ca: /a, passphrase: x}\n", "c.yaml:4:"),
            ("    tls: {ca: /a, cert: /b}\n", "go together"),
            ("    tls: {key: /b}\n", "needs `ca`"),
            ("    tls: {dir: /d, ca: /a}\n", "not both"),
            ("    tls: {ca: /a}\n    insecure: true\n", "contradict"),
        ] {
            let e = with(extra).unwrap_err();
            assert!(e.contains(want) && e.contains("c.yaml:"), "{extra}: {e}");
        }
        std::fs::write(&p, "workers:\n  - {host: b, ssh_key: /k, insecure: true}\n").unwrap();
        let e = load(Some(&p), dir.path()).unwrap_err().to_string();
        assert!(e.contains("are for `engine:` workers"), "{e}");
    }
}
