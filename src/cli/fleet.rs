//! Distributed runs on the command line: `orchestra worker`, `orchestra
//! workers keygen|status`, and the dispatcher `run --queue` installs
//! (README "Distributed runs"; the machinery is the distributed crate's).
//!
//! Guarantees: every problem found before anything starts (a bad queue URL,
//! an unreachable Redis, a missing bucket, an unusable key, no pinned worker
//! key) is one line and exit 1; the orchestrator's key is created on first
//! use (with a notice naming its public key) and never replaced.

use crate::exit::Exit;
use clap::{Args, Subcommand};
use orchestra_distributed::dispatch::{Remote, Settings};
use orchestra_distributed::keys::{PublicKey, SigningKey};
use orchestra_distributed::queue::{self, Queue};
use orchestra_distributed::redis;
use orchestra_distributed::worker;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The distributed flags of `orchestra run` and `orchestra resume`.
#[derive(Debug, Clone, Default, Args)]
pub struct QueueArgs {
    /// Run the tasks on `orchestra worker`s through this Redis queue
    /// (`redis://HOST:PORT`, `rediss://…`); also `ORCHESTRA_QUEUE` or the config's `distributed.queue`.
    #[arg(long, value_name = "URL")]
    pub queue: Option<String>,
    /// Where workers store logs, reports and outputs (an absolute directory or `s3://…`;
    /// default: the config's, else `<runs_dir>/.blobs`).
    #[arg(long, value_name = "URL", requires = "queue")]
    pub storage: Option<String>,
    /// Accept results signed by this worker key (`ed25519:…`; repeatable; adds to `distributed.trusted_workers`).
    #[arg(long, value_name = "KEY", requires = "queue")]
    pub trust_worker: Vec<String>,
}

/// The orchestrator's fleet key: the config's, else `fleet.key` beside the audit key.
pub fn default_fleet_key() -> PathBuf {
    let audit = crate::audit::default_key_path();
    audit.parent().map(|p| p.join("fleet.key")).unwrap_or_else(|| PathBuf::from("fleet.key"))
}

/// Why a distributed run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A setting.
    #[error("distributed.{field}: {reason}")]
    Setting {
        /// Which.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A key.
    #[error(transparent)]
    Key(#[from] orchestra_distributed::keys::KeyError),
    /// The queue.
    #[error(transparent)]
    Queue(#[from] orchestra_distributed::queue::QueueError),
    /// Setting up the dispatcher.
    #[error(transparent)]
    Setup(#[from] orchestra_distributed::dispatch::SetupError),
    /// The workers' keys file.
    #[error(transparent)]
    WorkersKeys(#[from] super::fleet_ssh::SshError),
}

/// The queue a run or resume uses: `--queue`, else `ORCHESTRA_QUEUE`, else
/// the config's `distributed.queue` (`None`: it runs locally).
pub fn queue_url(args: &QueueArgs, loaded: &crate::config::Loaded) -> Option<String> {
    let env_queue = std::env::var("ORCHESTRA_QUEUE").ok().filter(|q| !q.trim().is_empty());
    let configured = loaded.config.distributed.as_ref().and_then(|d| d.queue.clone());
    args.queue.clone().or(env_queue).or(configured)
}

/// The fleet's lease: the config's `distributed.lease`, else 30 s.
pub fn lease(loaded: &crate::config::Loaded) -> Duration {
    loaded.config.distributed.as_ref().and_then(|d| d.lease.as_ref()).map_or(Duration::from_secs(30), |l| l.0)
}

/// The orchestrator's fleet key file: the config's `distributed.key`, else [`default_fleet_key`].
pub fn fleet_key_path(loaded: &crate::config::Loaded) -> PathBuf {
    loaded.config.distributed.as_ref().and_then(|d| d.key.clone()).unwrap_or_else(default_fleet_key)
}

/// A distributed session's dispatcher, and what its checkpoint records of it.
pub struct Distributed {
    /// The dispatcher.
    pub dispatch: Arc<dyn crate::orchestrator::dispatch::Dispatch>,
    /// The queue, lease and signing key, for a later resume to stop what it sent.
    pub note: crate::runstore::checkpoint::Distributed,
}

/// The dispatcher for a run, when it is distributed (`None`: local). A
/// resume stops its earlier sessions' deliveries first
/// ([`super::fleet_fence::before_resume`]).
pub fn dispatcher(
    args: &QueueArgs,
    loaded: &crate::config::Loaded,
    runs: &Path,
) -> Result<Option<Distributed>, FleetError> {
    let cfg = &loaded.config;
    let d = cfg.distributed.clone().unwrap_or_default();
    let Some(url) = queue_url(args, loaded) else { return Ok(None) };
    let queue = Queue::open(&url)?;
    let key_path = fleet_key_path(loaded);
    let created = key_path.symlink_metadata().is_err();
    let key = SigningKey::load_or_generate(&key_path)?;
    if created {
        crate::sandbox::say!(
            "orchestra: created the fleet key {} (public key {}): pass it to workers with --trust-orchestrator",
            key_path.display(),
            key.public()
        );
    }
    let mut trusted_workers = Vec::new();
    for k in d.trusted_workers.iter().chain(&args.trust_worker) {
        let pk: PublicKey = k.parse().map_err(|e: orchestra_distributed::keys::KeyError| FleetError::Setting {
            field: "trusted_workers",
            reason: e.to_string(),
        })?;
        trusted_workers.push(pk);
    }
    // The keys `orchestra workers up` read back over SSH from the hosts it started.
    if let Some(file) = super::fleet_ssh::keys_file(loaded) {
        for (_, pk) in super::fleet_ssh::read_keys(&file)? {
            trusted_workers.push(pk);
        }
    }
    let storage = match args.storage.clone().or(d.storage.clone()) {
        Some(s) => s,
        None => std::path::absolute(runs.join(".blobs"))
            .map_err(|e| FleetError::Setting { field: "storage", reason: e.to_string() })?
            .to_string_lossy()
            .into_owned(),
    };
    let max_deliveries = d.max_deliveries.unwrap_or(3);
    if max_deliveries == 0 {
        return Err(FleetError::Setting { field: "max_deliveries", reason: "must be at least 1".into() });
    }
    let note = crate::runstore::checkpoint::Distributed {
        queue: queue::without_credentials(&url),
        lease_ms: lease(loaded).as_millis() as u64,
        signer: key.public().to_string(),
    };
    let settings = Settings {
        queue,
        key,
        trusted_workers,
        storage,
        lease: lease(loaded),
        max_deliveries,
        unserved: d.unserved.map_or(Duration::from_secs(300), |l| l.0),
        outage: d.outage.map_or(Duration::from_secs(60), |l| l.0),
        ttl: Duration::from_secs(24 * 3600),
    };
    let remote = Remote::connect(settings, &orchestra_distributed::message::nonce())?;
    Ok(Some(Distributed { dispatch: Arc::new(remote), note }))
}

/// Arguments of `orchestra worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The Redis queue (`redis://HOST:PORT`, `rediss://…`); credentials from
    /// `ORCHESTRA_REDIS_USERNAME`/`ORCHESTRA_REDIS_PASSWORD`.
    #[arg(long, value_name = "URL")]
    pub queue: String,
    /// Tasks run at once.
    #[arg(long, default_value_t = 1)]
    pub capacity: usize,
    /// This worker's labels (tasks with `runs_on:` go only to workers that have all of theirs).
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// This worker's name (default: host name and pid).
    #[arg(long)]
    pub name: Option<String>,
    /// Its signing key (created with `orchestra workers keygen`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Run only task messages signed by this orchestrator key (`ed25519:…`; repeatable).
    #[arg(long, value_name = "KEY", required = true)]
    pub trust_orchestrator: Vec<String>,
    /// Scratch directories and the replay journal (default `~/.local/state/orchestra/worker-<name>`).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The worker's own audit log (default: `<state-dir>/audit`).
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Run tasks in this workspace instead of the path their run names.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Take over tasks whose worker has been silent this long (the fleet's lease).
    #[arg(long, default_value = "30s", value_parser = crate::policy::HumanDuration::parse)]
    pub lease: crate::policy::HumanDuration,
    /// Store blobs here instead of where each task message says.
    #[arg(long, value_name = "URL")]
    pub storage: Option<String>,
    /// How long to wait for the orchestrator's go-ahead before refusing a delivery (tests).
    #[arg(long, hide = true, default_value = "60s", value_parser = crate::policy::HumanDuration::parse)]
    pub go_wait: crate::policy::HumanDuration,
}

/// `orchestra workers …`
#[derive(Debug, Subcommand)]
pub enum WorkersCommand {
    /// Create a worker (or orchestrator) key file and print its public key.
    Keygen {
        /// The key file to create (never replaced).
        file: PathBuf,
        /// When FILE exists already, print its public key instead of failing.
        #[arg(long)]
        reuse: bool,
    },
    /// The workers registered on a queue, the messages they refused, and the
    /// process state on the config's `workers:` hosts (over SSH) and engines (their containers).
    Status {
        /// The Redis queue (default: `ORCHESTRA_QUEUE`, else the config's `distributed.queue`).
        #[arg(long, value_name = "URL")]
        queue: Option<String>,
        /// The config file whose `workers:` hosts to look at (default: `.orchestra/config.yaml`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start `orchestra worker` on each of the config's `workers:` hosts over SSH
    /// (copying this binary when its sha256 differs) or in a container on each of
    /// its Docker engines (`engine:`), and record their public keys. A worker
    /// running from another binary is drained and restarted with this one.
    Up {
        /// The config file (default: `.orchestra/config.yaml`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The Redis queue the workers use (default: `ORCHESTRA_QUEUE`, else `distributed.queue`).
        #[arg(long, value_name = "URL")]
        queue: Option<String>,
        /// Reach the queue through the SSH connection: a local `ssh -N -R 127.0.0.1:PORT:<queue host:port>`
        /// per host (kept running; `workers down` closes it), the workers using `redis://127.0.0.1:PORT`.
        #[arg(long, value_name = "PORT")]
        tunnel: Option<u16>,
        /// How long a running worker started from another binary may drain (SIGTERM: its
        /// running tasks finish) before the new binary replaces it.
        #[arg(long, default_value = "10m", value_parser = crate::policy::HumanDuration::parse)]
        wait: crate::policy::HumanDuration,
    },
    /// Stop the workers on the config's hosts and engines: SIGTERM (they drain:
    /// running tasks finish), then wait until each process is gone (an engine's
    /// container is then removed).
    Down {
        /// The config file (default: `.orchestra/config.yaml`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// How long to wait for each worker to drain.
        #[arg(long, default_value = "10m", value_parser = crate::policy::HumanDuration::parse)]
        wait: crate::policy::HumanDuration,
    },
}

/// `orchestra worker`.
pub fn worker(args: WorkerArgs) -> Exit {
    match run_worker(args) {
        Ok(()) => Exit::Ok,
        Err(e) => super::config_error(e),
    }
}

/// Why `orchestra worker` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerCliError {
    /// A setting.
    #[error("{0}")]
    Setting(String),
    /// A key.
    #[error(transparent)]
    Key(#[from] orchestra_distributed::keys::KeyError),
    /// The queue.
    #[error(transparent)]
    Queue(#[from] orchestra_distributed::queue::QueueError),
    /// The worker.
    #[error(transparent)]
    Worker(#[from] worker::WorkerError),
}

fn run_worker(args: WorkerArgs) -> Result<(), WorkerCliError> {
    if args.capacity == 0 {
        return Err(WorkerCliError::Setting("--capacity must be at least 1".into()));
    }
    for l in &args.labels {
        queue::check_label(l)?;
    }
    let queue = Queue::open(&args.queue)?;
    let key = SigningKey::load(&args.key)?;
    let mut trusted = Vec::new();
    for k in &args.trust_orchestrator {
        trusted.push(k.parse::<PublicKey>()?);
    }
    let name = args.name.clone().unwrap_or_else(|| {
        let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "host".into());
        format!("{host}-{}", std::process::id())
    });
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(WorkerCliError::Setting(format!(
            "--name {name:?}: 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.'"
        )));
    }
    let state_dir = match args.state_dir.clone() {
        Some(d) => d,
        None => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
            home.join(".local/state/orchestra").join(format!("worker-{name}"))
        }
    };
    let state_dir = std::path::absolute(&state_dir).map_err(|e| WorkerCliError::Setting(e.to_string()))?;
    let audit_dir = args.audit_dir.clone().unwrap_or_else(|| state_dir.join("audit"));
    let audit_dir = std::path::absolute(&audit_dir).map_err(|e| WorkerCliError::Setting(e.to_string()))?;
    let exe = std::env::current_exe()
        .map_err(|e| WorkerCliError::Setting(format!("cannot find the orchestra binary: {e}")))?;
    // Reachable now, or say so now.
    queue.connect()?;
    let control = worker::Control::default();
    {
        let control = control.clone();
        let mut signals = signal_hook::iterator::Signals::new([libc::SIGTERM, libc::SIGINT])
            .map_err(|e| WorkerCliError::Setting(format!("signals: {e}")))?;
        let name = name.clone();
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                crate::sandbox::say!(
                    "orchestra: worker {name} draining: its running tasks finish, it takes no new one"
                );
                control.drain();
            }
        });
    }
    crate::sandbox::say!(
        "orchestra: worker {name} on {} (capacity {}, labels [{}], key {})",
        args.queue,
        args.capacity,
        args.labels.join(","),
        key.public()
    );
    let cfg = worker::Config {
        queue,
        name: name.clone(),
        capacity: args.capacity,
        labels: args.labels.clone(),
        key,
        trusted,
        state_dir,
        audit_dir,
        exe,
        workspace: args.workspace.clone(),
        lease: args.lease.0,
        storage: args.storage.clone(),
        go_wait: args.go_wait.0,
    };
    worker::run(cfg, control)?;
    crate::sandbox::say!("orchestra: worker {name} drained");
    Ok(())
}

/// `orchestra workers …`.
pub fn workers(cmd: WorkersCommand) -> Exit {
    match cmd {
        WorkersCommand::Keygen { file, reuse } => {
            let key = if reuse && file.symlink_metadata().is_ok() {
                SigningKey::load(&file)
            } else {
                SigningKey::generate(&file)
            };
            match key {
                Ok(k) => {
                    outln!("{}", k.public());
                    Exit::Ok
                }
                Err(e) => super::config_error(e),
            }
        }
        WorkersCommand::Status { queue, config, json } => super::fleet_ssh::status(config.as_deref(), queue, json),
        WorkersCommand::Up { config, queue, tunnel, wait } => {
            super::fleet_ssh::up(config.as_deref(), queue, tunnel, wait.0)
        }
        WorkersCommand::Down { config, wait } => super::fleet_ssh::down(config.as_deref(), wait.0),
    }
}

/// The queue's half of `workers status`: registered workers and refused messages.
pub fn queue_status(url: &str, json: bool) -> Result<(), orchestra_distributed::queue::QueueError> {
    let q = Queue::open(url)?;
    let mut con = q.connect()?;
    let workers: std::collections::BTreeMap<String, String> =
        q.query(&mut con, &redis_cmd("HGETALL", queue::WORKERS))?;
    let mut refused_cmd = redis_cmd("XREVRANGE", queue::REFUSED);
    refused_cmd.arg("+").arg("-").arg("COUNT").arg(20);
    let refused: Vec<(String, std::collections::HashMap<String, String>)> = q.query(&mut con, &refused_cmd)?;
    let now = orchestra_distributed::message::now_ms();
    if json {
        for (name, s) in &workers {
            let v: serde_json::Value = serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
            outln!("{}", serde_json::json!({"type": "worker", "name": name, "status": v}));
        }
        for (id, f) in &refused {
            outln!(
                "{}",
                serde_json::json!({"type": "refused", "id": id, "worker": f.get("worker"), "record": f.get("record")})
            );
        }
        return Ok(());
    }
    outln!(
        "{:<24} {:>8} {:>8} {:>8} {:>8} {:>10}  {:<12}  labels",
        "worker",
        "capacity",
        "running",
        "done",
        "refused",
        "seen",
        "binary"
    );
    for (name, s) in &workers {
        let v: serde_json::Value = serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
        let seen = v["seen_ms"].as_u64().map(|t| format!("{}s ago", now.saturating_sub(t) / 1000)).unwrap_or_default();
        let labels: Vec<String> = v["labels"]
            .as_array()
            .map(|a| a.iter().filter_map(|l| l.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        // The first 12 hex digits of the binary's sha256, as `workers up` compares them.
        let binary: String = v["binary_sha256"].as_str().unwrap_or("").chars().take(12).collect();
        outln!(
            "{:<24} {:>8} {:>8} {:>8} {:>8} {:>10}  {:<12}  {}",
            name,
            v["capacity"],
            v["running"],
            v["done"],
            v["refused"],
            seen,
            if binary.is_empty() { "?" } else { &binary },
            labels.join(",")
        );
    }
    if !refused.is_empty() {
        outln!("refused messages (latest first):");
        for (id, f) in &refused {
            outln!(
                "  {id} by {}: {}",
                f.get("worker").map_or("?", String::as_str),
                f.get("record").map_or("", String::as_str)
            );
        }
    }
    Ok(())
}

fn redis_cmd(name: &str, key: &str) -> redis::Cmd {
    let mut c = redis::cmd(name);
    c.arg(key);
    c
}
