//! A pool of pre-created containers for supervised tasks, opt-in with
//! `ORCHESTRA_CONTAINER_POOL=N` or the config's `container_pool` (N ready
//! containers per configuration).
//!
//! Creating a container (and, on Podman, initialising it: the runtime sets up
//! its namespaces, mounts and cgroup) is most of a short task's start-up. With
//! the pool, a detached filler process (`orchestra pool fill`, hidden) does
//! that ahead of time; a task claims one ready container and only starts it.
//! The task's own inputs — its argv, name and inner policy — are written into
//! the container's supervisor directory at claim time, which is possible
//! because a supervised container's command is the same for every task.
//!
//! Guarantees:
//! - **Fresh.** A task gets a container that has never been started, and that
//!   no other task can get: a claim is the atomic rename of the container's
//!   ready token out of `ready/`; a second claimer finds nothing to rename.
//! - **Same configuration.** The pool is keyed by a fingerprint of the exact
//!   create body the task would get (canonical JSON, with the slot path as a
//!   placeholder), the content of the files written into each slot for the
//!   engine, the image id, the identity (device, inode, birth time; for files
//!   also size and times) of every host path bound into the container,
//!   orchestra's version and the engine's address. A workspace replaced since
//!   the fill, a rebuilt supervisor or a changed policy is a different
//!   fingerprint: the old ready containers are not used, and expire. Before
//!   starting, the claimer checks the container's labels, slot, state, image
//!   and empty report directory again; the hardening is attested as for any
//!   container.
//! - **Private.** The pool directory is ours, mode 0700, with no ancestor
//!   another user could replace; a slot directory is ours (0755), so when we
//!   run as root the task user can neither replace the files written there at
//!   claim time nor add any: only its `report/` subdirectory and the two
//!   output FIFOs belong to the task user.
//! - **Bounded.** A ready container is claimable for [`TTL`] less a minute;
//!   then the next reaper takes its token and removes it. `orchestra pool
//!   drain` removes every ready one now, and fills it overtook give up.

use super::engine;
use super::lifecycle::boot_id;
use crate::policy::SandboxMode;
use bollard::models::ContainerCreateBody;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable holding the pool size (0 or unset: no pool).
pub const ENV: &str = "ORCHESTRA_CONTAINER_POOL";
/// The largest pool size accepted.
pub const MAX: usize = 16;
/// Label: the configuration fingerprint of a pool container.
pub const LABEL: &str = "orchestra.pool";
/// Label: the pool directory it belongs to.
pub const LABEL_ROOT: &str = "orchestra.pool.root";
/// Label: its slot (the supervisor directory's name).
pub const LABEL_SLOT: &str = "orchestra.pool.slot";
/// Label: the boot it was made on.
pub const LABEL_BOOT: &str = "orchestra.pool.boot";
/// How long a ready container may wait for a task.
pub const TTL: Duration = Duration::from_secs(30 * 60);
/// How long a fill may take before its marker is stale.
const FILL_STALE: Duration = Duration::from_secs(120);
/// How often fillers reap orphans (a task using the pool leaves that to them).
pub const REAP_EVERY: Duration = Duration::from_secs(20);
/// Stands for the slot directory in a create body before a slot exists.
pub const SLOT_PLACEHOLDER: &str = "/@orchestra-pool-slot@";

/// The pool size from the environment. Unset or empty: 0. Anything else that
/// is not a number from 0 to [`MAX`] is an error (exit 1), never ignored.
pub fn size() -> Result<usize, SizeError> {
    match std::env::var(ENV) {
        Err(std::env::VarError::NotPresent) => Ok(0),
        Ok(v) => parse_size(&v),
        Err(e) => Err(SizeError::Env(e)),
    }
}

/// Why the pool size cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not Unicode.
    #[error("{ENV}: {0}")]
    Env(std::env::VarError),
    /// Not a number from 0 to [`MAX`].
    #[error("{ENV}={0:?}: expected a number of containers from 0 to {MAX}")]
    Value(String),
}

fn parse_size(v: &str) -> Result<usize, SizeError> {
    if v.trim().is_empty() {
        return Ok(0);
    }
    match v.trim().parse::<usize>() {
        Ok(n) if n <= MAX => Ok(n),
        _ => Err(SizeError::Value(v.to_string())),
    }
}

/// Why a filler could not make a slot's container.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    /// Not a slot name.
    #[error("{0:?}: not a slot name")]
    Slot(String),
    /// No order for the slot.
    #[error("no order for slot {0}")]
    NoOrder(String),
    /// A file of the pool.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An order that does not decode.
    #[error(transparent)]
    Order(#[from] serde_json::Error),
    /// An engine other than docker and podman.
    #[error("unknown engine {0:?}")]
    Engine(String),
    /// The engine is not there.
    #[error(transparent)]
    Connect(#[from] crate::SandboxError),
    /// Creating the container failed.
    #[error("creating a pool container: {0}")]
    Create(bollard::errors::Error),
    /// A remote Podman.
    #[error("a remote Podman cannot be pre-initialised")]
    RemotePodman,
    /// Initialising it failed.
    #[error(transparent)]
    Init(#[from] engine::EngineError),
    /// A drain came while it was made.
    #[error("the pool was drained while this container was made")]
    DrainedMaking,
    /// A drain came while it was published.
    #[error("the pool was drained while this container was published")]
    DrainedPublishing,
}

/// The fingerprint of a configuration could not be computed.
#[derive(Debug, thiserror::Error)]
#[error("fingerprint: {0}")]
pub struct FingerprintError(#[from] serde_json::Error);

/// The environment variable naming another pool directory.
pub const DIR_ENV: &str = "ORCHESTRA_CONTAINER_POOL_DIR";

/// The pool directory: `$ORCHESTRA_CONTAINER_POOL_DIR` if set (absolute),
/// else `/run/orchestra/pool` for root, else `$XDG_RUNTIME_DIR/orchestra/pool`,
/// else `/tmp/orchestra-pool-<uid>`. Whichever it is must be private to us
/// ([`Pool::open`] refuses it otherwise).
pub fn default_root() -> PathBuf {
    // A relative value is kept, and refused by `Pool::open`: never ignored.
    if let Some(dir) = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return PathBuf::from("/run/orchestra/pool");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(d) if d.is_absolute() => d.join("orchestra").join("pool"),
        _ => PathBuf::from(format!("/tmp/orchestra-pool-{}", uid.as_raw())),
    }
}

/// An opened pool directory.
#[derive(Debug, Clone)]
pub struct Pool {
    root: PathBuf,
}

/// A claimed ready container.
#[derive(Debug)]
pub struct Claim {
    /// The container.
    pub id: String,
    /// Its slot: the supervisor directory bound at `/.orchestra/out`.
    pub slot: PathBuf,
    token: PathBuf,
}

/// A fill order's file, `fill/<fingerprint>.<slot>`.
struct Order {
    fingerprint: String,
    slot: String,
    path: PathBuf,
}

impl Order {
    /// Made or refreshed less than [`FILL_STALE`] ago (its fill is in flight).
    fn fresh(&self) -> bool {
        age(&self.path).is_some_and(|a| a < FILL_STALE)
    }
}

/// What a filler is handed: `fill/<fingerprint>.<slot>`.
#[derive(Debug, Serialize, Deserialize)]
struct FillOrder {
    engine: String,
    /// The engine's address: the filler talks to this one only.
    address: String,
    fingerprint: String,
    body: serde_json::Value,
}

fn io_other(msg: String) -> std::io::Error {
    std::io::Error::other(msg)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn age(path: &Path) -> Option<Duration> {
    let m = std::fs::symlink_metadata(path).ok()?;
    Some(Duration::from_secs(now_secs().saturating_sub(m.mtime().max(0) as u64)))
}

/// Time since `path`'s inode last changed (a rename counts, unlike mtime).
fn change_age(path: &Path) -> Option<Duration> {
    let m = std::fs::symlink_metadata(path).ok()?;
    Some(Duration::from_secs(now_secs().saturating_sub(m.ctime().max(0) as u64)))
}

/// Whether a claim token names a claimer that is gone: its owner line names a
/// dead process, or it has had none for [`FILL_STALE`] since the claim's rename.
fn claim_is_dead(token: &Path) -> bool {
    match std::fs::read_to_string(token) {
        Ok(text) => match text.lines().nth(1) {
            Some(owner) => super::lifecycle::owner_is_gone(owner),
            None => change_age(token).is_some_and(|a| a >= FILL_STALE),
        },
        Err(_) => false,
    }
}

/// Whether a ready token may still be claimed: its container was published
/// less than [`TTL`] minus a minute ago (the last minute is the reaper's, so
/// that a claim never races a removal). Both sides judge by the token's time.
fn claimable(token: &Path) -> bool {
    age(token).is_some_and(|a| a + Duration::from_secs(60) < TTL)
}

/// A slot name: letters and digits only (it is a path component, and part of
/// the create body's JSON).
fn valid_slot(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Pool {
    /// Open (creating if needed) the pool at `root`. It must be a real
    /// directory owned by us with no access for others; its path must need no
    /// escaping in JSON (it goes into create bodies).
    pub fn open(root: &Path) -> std::io::Result<Pool> {
        super::private_dir::ensure(root, "the pool directory")?;
        for sub in ["slots", "ready", "claimed", "fill"] {
            match std::fs::DirBuilder::new().mode(0o700).create(root.join(sub)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Pool { root: root.to_path_buf() })
    }

    /// The pool directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn slot_dir(&self, slot: &str) -> PathBuf {
        self.root.join("slots").join(slot)
    }

    fn ready_dir(&self, fingerprint: &str) -> PathBuf {
        self.root.join("ready").join(fingerprint)
    }

    /// Claim a ready container of this configuration, if there is one.
    /// Exactly one caller gets each token (rename is atomic); the token then
    /// names us as the container's owner, for the reaper.
    pub fn claim(&self, fingerprint: &str) -> Option<Claim> {
        let dir = self.ready_dir(fingerprint);
        let entries = std::fs::read_dir(&dir).ok()?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(slot) = name.to_str().filter(|s| valid_slot(s)) else { continue };
            // Near the end of its life it is the reaper's, not ours.
            if !claimable(&entry.path()) {
                continue;
            }
            let token = self.root.join("claimed").join(slot);
            if std::fs::rename(entry.path(), &token).is_err() {
                continue; // another claimer was first
            }
            let id = std::fs::read_to_string(&token).unwrap_or_default().lines().next().unwrap_or_default().to_string();
            let claim = Claim { id, slot: self.slot_dir(slot), token };
            if claim.id.is_empty() || !claim.id.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.discard(&claim);
                continue;
            }
            let owned = format!("{}\n{}\n", claim.id, super::lifecycle::owner_id());
            if crate::outfile::write_replace(&claim.token, owned.as_bytes()).is_err() {
                self.discard(&claim);
                continue;
            }
            return Some(claim);
        }
        None
    }

    /// Forget a claim: its token and its slot directory (the container is the
    /// caller's to remove, or the engine's).
    pub fn discard(&self, claim: &Claim) {
        let _ = std::fs::remove_file(&claim.token);
        let _ = std::fs::remove_dir_all(&claim.slot);
    }

    /// How many containers of this configuration are claimable or being made.
    pub fn stock(&self, fingerprint: &str) -> usize {
        let ready = std::fs::read_dir(self.ready_dir(fingerprint))
            .map_or(0, |d| d.flatten().filter(|e| claimable(&e.path())).count());
        let filling = self.orders().into_iter().filter(|o| o.fingerprint == fingerprint && o.fresh()).count();
        ready + filling
    }

    /// The fill orders in `fill/` (`<fingerprint>.<slot>`, both hex; the
    /// other files there — tokens and stamps in flight — are not orders).
    fn orders(&self) -> Vec<Order> {
        let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        std::fs::read_dir(self.root.join("fill"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let (fingerprint, slot) = name.split_once('.')?;
                (hex(fingerprint) && hex(slot)).then(|| Order {
                    fingerprint: fingerprint.to_string(),
                    slot: slot.to_string(),
                    path: e.path(),
                })
            })
            .collect()
    }

    /// Whether it is this filler's turn to reap orphans: at most once per
    /// [`REAP_EVERY`] for the pool (a list of Podman's containers asks the
    /// runtime for each one's state, which slows the tasks starting meanwhile).
    pub fn reap_turn(&self) -> bool {
        if !self.reap_due() {
            return false;
        }
        let stamp = self.root.join("reaped");
        // Taken by replacing the stamp; a concurrent filler may reap too, harmlessly.
        let tmp = self.root.join("fill").join(format!("reap.{}", std::process::id()));
        write_new(&tmp, b"").and_then(|_| std::fs::rename(&tmp, &stamp)).is_ok()
    }

    /// Whether the last reaping for this pool is older than [`REAP_EVERY`].
    pub fn reap_due(&self) -> bool {
        age(&self.root.join("reaped")).is_none_or(|a| a >= REAP_EVERY)
    }

    /// How many fills are in flight (fresh orders).
    pub fn filling(&self) -> usize {
        self.orders().iter().filter(|o| o.fresh()).count()
    }

    /// Make a slot directory: ours, 0755, with the task user's `report/`
    /// (0700) and output FIFOs, and `extra` files (e.g. Podman's seccomp
    /// profile). Returns its name.
    pub fn make_slot(&self, user: (u32, u32), extra: &[(&str, &[u8])]) -> std::io::Result<String> {
        let mut raw = [0u8; 12];
        getrandom::getrandom(&mut raw).map_err(|e| io_other(format!("random slot name: {e}")))?;
        let slot: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let dir = self.slot_dir(&slot);
        std::fs::DirBuilder::new().mode(0o755).create(&dir)?;
        let made = (|| {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
            for (name, data) in extra {
                write_new(&dir.join(name), data)?;
            }
            super::output::make_fifos(&dir, user)?;
            let report = dir.join("report");
            std::fs::DirBuilder::new().mode(0o700).create(&report)?;
            std::os::unix::fs::lchown(&report, Some(user.0), Some(user.1))
        })();
        match made {
            Ok(()) => Ok(slot),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Order `count` containers of `template` (a create body whose slot path
    /// is [`SLOT_PLACEHOLDER`]) from the engine at `address`, and start one
    /// detached filler for them; with `count` 0, one only when it is time to
    /// reap. The caller does not wait: the filler exits when it is done.
    #[allow(clippy::too_many_arguments)]
    pub fn order(
        &self,
        kind: SandboxMode,
        address: &str,
        fingerprint: &str,
        template: &ContainerCreateBody,
        user: (u32, u32),
        extra: &[(&str, &[u8])],
        count: usize,
    ) -> std::io::Result<()> {
        if count == 0 && !self.reap_due() {
            return Ok(());
        }
        let json = serde_json::to_string(template).map_err(|e| io_other(e.to_string()))?;
        // The placeholder stands for the slot in the supervisor's bind and, on
        // Podman, the seccomp profile's path: nowhere else.
        let expected = if kind == SandboxMode::Podman { 2 } else { 1 };
        if json.matches(SLOT_PLACEHOLDER).count() != expected {
            return Err(io_other("the configuration names the pool's placeholder path itself".into()));
        }
        let mut slots = Vec::new();
        let mut made = || -> std::io::Result<()> {
            for _ in 0..count {
                let slot = self.make_slot(user, extra)?;
                slots.push(slot.clone());
                let dir = self.slot_dir(&slot);
                let text = json.replace(SLOT_PLACEHOLDER, &dir.to_string_lossy());
                let mut body: serde_json::Value = serde_json::from_str(&text).map_err(|e| io_other(e.to_string()))?;
                if let Some(labels) = body.get_mut("Labels").and_then(|l| l.as_object_mut()) {
                    // No owner process: the pool's rules decide (an older
                    // orchestra's reaper leaves a container without one alone).
                    labels.remove(super::lifecycle::OWNER);
                    labels.insert(LABEL.into(), fingerprint.into());
                    labels.insert(LABEL_ROOT.into(), self.root.to_string_lossy().into_owned().into());
                    labels.insert(LABEL_SLOT.into(), slot.clone().into());
                    labels.insert(LABEL_BOOT.into(), boot_id().into());
                    labels.insert("orchestra.task".into(), "(pool)".into());
                }
                let order = FillOrder {
                    engine: kind.as_str().into(),
                    address: address.into(),
                    fingerprint: fingerprint.into(),
                    body,
                };
                let data = serde_json::to_vec(&order).map_err(|e| io_other(e.to_string()))?;
                write_new(&self.root.join("fill").join(format!("{fingerprint}.{slot}")), &data)?;
            }
            Ok(())
        };
        let spawned = made().and_then(|_| {
            let exe = std::env::current_exe()?;
            let mut cmd = std::process::Command::new(exe);
            cmd.args(["pool", "fill", "--engine", kind.as_str(), "--address", address, "--root"])
                .arg(&self.root)
                .args(&slots);
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            // Its own process group: a Ctrl-C at the terminal is for the task, not the filler.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            cmd.spawn()
        });
        match spawned {
            Ok(mut child) => {
                // Reaped by a thread; the filler outlives us if we exit first.
                std::thread::spawn(move || child.wait());
                Ok(())
            }
            Err(e) => {
                for slot in &slots {
                    self.forget_fill(fingerprint, slot);
                }
                Err(e)
            }
        }
    }

    fn forget_fill(&self, fingerprint: &str, slot: &str) {
        let _ = std::fs::remove_file(self.root.join("fill").join(format!("{fingerprint}.{slot}")));
        let _ = std::fs::remove_dir_all(self.slot_dir(slot));
    }

    /// The filler's work for one slot: create (Podman: and initialise) the
    /// container, then publish its ready token. On failure nothing is left.
    pub async fn fill(&self, slot: &str) -> Result<(), FillError> {
        if !valid_slot(slot) {
            return Err(FillError::Slot(slot.to_string()));
        }
        let fill = self
            .orders()
            .into_iter()
            .find(|o| o.slot == slot)
            .map(|o| o.path)
            .ok_or_else(|| FillError::NoOrder(slot.to_string()))?;
        let order: FillOrder = serde_json::from_slice(&std::fs::read(&fill)?)?;
        let ordered_at = std::fs::symlink_metadata(&fill).map(|m| m.mtime()).unwrap_or(0);
        // Fresh again: the reaper and the sweep judge a fill by its marker's age,
        // and a filler makes its slots one after another.
        if let Ok(f) = std::fs::File::options().write(true).open(&fill) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        let done = self.fill_one(slot, &order, ordered_at).await;
        if done.is_err() {
            let _ = std::fs::remove_dir_all(self.slot_dir(slot));
        }
        let _ = std::fs::remove_file(&fill);
        done
    }

    async fn fill_one(&self, slot: &str, order: &FillOrder, ordered_at: i64) -> Result<(), FillError> {
        let kind = match order.engine.as_str() {
            "docker" => SandboxMode::Docker,
            "podman" => SandboxMode::Podman,
            other => return Err(FillError::Engine(other.to_string())),
        };
        let body: ContainerCreateBody = serde_json::from_value(order.body.clone())?;
        let engine = engine::connect_to(kind, &order.address).await?;
        let created = engine
            .api
            .create_container(None::<bollard::query_parameters::CreateContainerOptions>, body)
            .await
            .map_err(FillError::Create)?;
        let id = created.id;
        let published = async {
            if kind == SandboxMode::Podman {
                let socket = engine.socket.as_deref().ok_or(FillError::RemotePodman)?;
                engine::libpod_init(socket, &id).await?;
            }
            // Drained since the order: what was ordered before is not wanted.
            let drained = || {
                std::fs::symlink_metadata(self.root.join("drained")).map(|m| m.mtime()).unwrap_or(i64::MIN)
                    >= ordered_at
            };
            if drained() {
                return Err(FillError::DrainedMaking);
            }
            let dir = self.ready_dir(&order.fingerprint);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
            // Written beside, then renamed in: a claimer never reads half a token.
            let tmp = self.root.join("fill").join(format!("token.{slot}"));
            write_new(&tmp, format!("{id}\n").as_bytes())?;
            std::fs::rename(&tmp, dir.join(slot))?;
            // A drain that read `ready/` just before the rename missed it: take
            // it back (unless a task already claimed it, which is fine).
            if drained() && std::fs::rename(dir.join(slot), &tmp).is_ok() {
                let _ = std::fs::remove_file(&tmp);
                return Err(FillError::DrainedPublishing);
            }
            Ok(())
        }
        .await;
        if published.is_err() {
            let _ = super::lifecycle::remove(&engine.api, &id).await;
        }
        published
    }

    /// The reaper's rule for a container of this pool (its labels given;
    /// `created_state` covers Podman's initialised ones): `true` means it is
    /// nobody's and its slot has been forgotten — remove the container.
    ///
    /// Kept: while a fill is in flight; while its ready token is claimable or
    /// not yet expired ([`TTL`]); while the orchestra that claimed it lives.
    /// The checks run in the order the tokens move (fill marker, then ready,
    /// then claimed; each move is one rename), so a token in flight is seen.
    /// An expired ready token is taken (renamed away) before the container is
    /// given up, so a claim can never race the removal.
    pub fn reap(&self, labels: &HashMap<String, String>, created_state: bool) -> bool {
        let Some(slot) = labels.get(LABEL_SLOT).filter(|s| valid_slot(s)) else { return true };
        let fingerprint = labels.get(LABEL).filter(|f| valid_slot(f)).map(String::as_str).unwrap_or("-");
        let marker = self.root.join("fill").join(format!("{fingerprint}.{slot}"));
        if created_state && age(&marker).is_some_and(|a| a < FILL_STALE) {
            return false;
        }
        let ready = self.ready_dir(fingerprint).join(slot);
        if let Some(a) = age(&ready) {
            if a < TTL {
                return false;
            }
            let taken = self.root.join("fill").join(format!("reap.{slot}"));
            if std::fs::rename(&ready, &taken).is_err() {
                return false; // someone else moved it first: judged again next time
            }
            let _ = std::fs::remove_file(&taken);
            let _ = std::fs::remove_dir_all(self.slot_dir(slot));
            return true;
        }
        let claimed = self.root.join("claimed").join(slot);
        // A claim is kept while its claimer lives (or is still writing its name).
        if claimed.exists() && !claim_is_dead(&claimed) {
            return false;
        }
        let _ = std::fs::remove_file(&claimed);
        let _ = std::fs::remove_dir_all(self.slot_dir(slot));
        true
    }

    /// Remove what failed or killed fillers and claimers left: stale fill
    /// markers and temporary files, and slot directories that no token, claim
    /// or fresh order refers to. Run by the filler whose turn it is to reap.
    pub fn sweep(&self) {
        let stale = |p: &Path| age(p).is_some_and(|a| a >= FILL_STALE);
        let mut referenced = std::collections::HashSet::new();
        // Read in the order tokens move (fill marker, ready, claimed), so that
        // one moving meanwhile is seen at least once. Fresh orders and tokens
        // in flight (`<what>.<slot>`) keep their slots.
        for e in std::fs::read_dir(self.root.join("fill")).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if stale(&e.path()) {
                let _ = std::fs::remove_file(e.path());
            } else if let Some((_, slot)) = name.rsplit_once('.') {
                referenced.insert(slot.to_string());
            }
        }
        referenced.extend(self.ready().into_iter().map(|(_, slot, _)| slot));
        // Claims of live claimers keep their slots; a dead claimer's claim goes
        // (its container, if still there, is then nobody's: `reap` removes it).
        // Anything else in `claimed/` is a claimer's temporary file.
        for e in std::fs::read_dir(self.root.join("claimed")).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if valid_slot(&name) && !claim_is_dead(&e.path()) {
                referenced.insert(name);
            } else if valid_slot(&name) || stale(&e.path()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        for e in std::fs::read_dir(self.root.join("slots")).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !referenced.contains(&name) && stale(&e.path()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Ready tokens: (fingerprint, slot, container id).
    pub fn ready(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for fp in std::fs::read_dir(self.root.join("ready")).into_iter().flatten().flatten() {
            let Some(fingerprint) = fp.file_name().to_str().map(str::to_string) else { continue };
            for t in std::fs::read_dir(fp.path()).into_iter().flatten().flatten() {
                let Some(slot) = t.file_name().to_str().map(str::to_string) else { continue };
                let id = std::fs::read_to_string(t.path()).unwrap_or_default().trim().to_string();
                out.push((fingerprint.clone(), slot, id));
            }
        }
        out
    }

    /// Take every ready token (so no claimer gets them), remove their slot
    /// directories, and return the containers they named. For `orchestra pool
    /// drain`; fills in flight see its stamp and give up their container.
    pub fn take_all(&self) -> Vec<String> {
        // Fills still in flight check this stamp and give up their container.
        let stamp = self.root.join("fill").join(format!("drained.{}", std::process::id()));
        if write_new(&stamp, b"").is_ok() {
            let _ = std::fs::rename(&stamp, self.root.join("drained"));
        }
        let mut ids = Vec::new();
        for (fingerprint, slot, id) in self.ready() {
            let token = self.ready_dir(&fingerprint).join(&slot);
            let taken = self.root.join("fill").join(format!("drain.{slot}"));
            if std::fs::rename(&token, &taken).is_ok() {
                let _ = std::fs::remove_file(&taken);
                let _ = std::fs::remove_dir_all(self.slot_dir(&slot));
                ids.push(id);
            }
        }
        for fp in std::fs::read_dir(self.root.join("ready")).into_iter().flatten().flatten() {
            let _ = std::fs::remove_dir(fp.path());
        }
        ids
    }
}

/// Write a new file (never through a symlink, never over an existing one), mode 0644.
pub fn write_new(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    f.write_all(data)
}

/// The fingerprint of a configuration: the template body (labels aside), the
/// contents of the files written into each slot for the engine, the image id, orchestra's version, the engine, and the identity of every host
/// path the body binds (directories by device and inode; files also by size
/// and times, so that a rebuilt supervisor is a new configuration).
pub fn fingerprint(
    template: &ContainerCreateBody,
    files: &[(&str, &[u8])],
    image_id: &str,
    engine_address: &str,
) -> Result<String, FingerprintError> {
    let mut body = template.clone();
    body.labels = None;
    let mut h = Sha256::new();
    // Canonical JSON: the body holds hash maps (tmpfs), whose order differs
    // from one process to the next.
    let value = serde_json::to_value(&body)?;
    h.update(serde_json::to_vec(&canonical_json(value))?);
    // The slot's files the engine reads (Podman's seccomp profile), by content.
    for (name, data) in files {
        h.update(b"\0");
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(Sha256::digest(data));
    }
    h.update(b"\0");
    h.update(image_id.as_bytes());
    h.update(b"\0");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    h.update(engine_address.as_bytes());
    let binds = body.host_config.as_ref().and_then(|c| c.binds.clone()).unwrap_or_default();
    for bind in binds {
        let source = bind.split(':').next().unwrap_or_default();
        if source.starts_with(SLOT_PLACEHOLDER) {
            continue;
        }
        let id = match std::fs::metadata(source) {
            // Birth time too, where the filesystem keeps one: inode numbers are reused.
            Ok(m) if m.is_dir() => format!("{source} dir {}:{} {:?}", m.dev(), m.ino(), m.created().ok()),
            Ok(m) => format!(
                "{source} file {}:{} {} {}.{} {}.{}",
                m.dev(),
                m.ino(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            ),
            Err(e) => format!("{source} missing {e}"),
        };
        h.update(b"\0");
        h.update(id.as_bytes());
    }
    // Hex, and short: it is a directory name and a label.
    Ok(h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect())
}

/// The same JSON with every object's keys in sorted order, whatever order the
/// map type behind `serde_json::Value` keeps.
fn canonical_json(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, canonical_json(v))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(canonical_json).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pool");
        let pool = Pool::open(&root).unwrap();
        (dir, pool)
    }

    fn publish(pool: &Pool, fp: &str, slot: &str, id: &str) {
        std::fs::create_dir_all(pool.ready_dir(fp)).unwrap();
        std::fs::create_dir_all(pool.slot_dir(slot)).unwrap();
        std::fs::write(pool.ready_dir(fp).join(slot), format!("{id}\n")).unwrap();
    }

    #[test]
    fn each_ready_container_is_claimed_once_by_concurrent_claimers() {
        let (_d, pool) = pool();
        for i in 0..40 {
            publish(&pool, "fp", &format!("s{i}"), &format!("{i:04x}"));
        }
        let claimed: Vec<String> = std::thread::scope(|s| {
            let hands: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        while let Some(c) = pool.claim("fp") {
                            mine.push(c.id);
                        }
                        mine
                    })
                })
                .collect();
            hands.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut unique = claimed.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(claimed.len(), 40, "every token claimed");
        assert_eq!(unique.len(), 40, "none twice");
        assert!(pool.claim("fp").is_none());
        // A claimed token names its claimer, which is alive: the reaper keeps it.
        let labels = HashMap::from([(LABEL_SLOT.to_string(), "s0".to_string()), (LABEL.to_string(), "fp".into())]);
        assert!(!pool.reap(&labels, false));
    }

    #[test]
    fn other_fingerprints_and_bad_tokens_are_not_claimed() {
        let (_d, pool) = pool();
        publish(&pool, "fpA", "s1", "abc123");
        assert!(pool.claim("fpB").is_none());
        publish(&pool, "fpA", "s2", "not an id");
        let c = pool.claim("fpA").unwrap();
        assert_eq!(c.id, "abc123");
        assert!(pool.claim("fpA").is_none(), "the bad token is discarded, not handed out");
        assert!(!pool.slot_dir("s2").exists());
    }

    #[test]
    fn the_reaper_keeps_ready_young_and_live_claims_only() {
        let (_d, pool) = pool();
        let labels =
            |slot: &str| HashMap::from([(LABEL_SLOT.to_string(), slot.to_string()), (LABEL.into(), "fp".into())]);
        publish(&pool, "fp", "s1", "abc");
        assert!(!pool.reap(&labels("s1"), true), "ready and young");
        // Expired: the reaper takes the token first, so no claim can race it.
        let old = std::time::SystemTime::now() - TTL - Duration::from_secs(1);
        let token = pool.ready_dir("fp").join("s1");
        std::fs::File::options().write(true).open(&token).unwrap().set_modified(old).unwrap();
        assert!(pool.claim("fp").is_none(), "an expiring token is not claimed");
        assert!(pool.reap(&labels("s1"), true), "expired");
        assert!(!token.exists() && !pool.slot_dir("s1").exists());
        // Started without a claim, or with no token at all: nobody's.
        publish(&pool, "fp", "s2", "def");
        std::fs::remove_file(pool.ready_dir("fp").join("s2")).unwrap();
        assert!(pool.reap(&labels("s2"), true));
        // A claim whose claimer is gone.
        publish(&pool, "fp", "s3", "123");
        let c = pool.claim("fp").unwrap();
        let dead = format!("{}\n{}/{}/1\n", c.id, boot_id(), u32::MAX - 1);
        std::fs::write(&c.token, dead).unwrap();
        assert!(pool.reap(&labels("s3"), false));
        assert!(!c.token.exists());
        // A fill in flight.
        std::fs::create_dir_all(pool.slot_dir("s4")).unwrap();
        std::fs::write(pool.root.join("fill").join("fp.s4"), "{}").unwrap();
        assert!(!pool.reap(&labels("s4"), true));
    }

    #[test]
    fn sweeping_removes_only_what_nothing_refers_to() {
        let (_d, pool) = pool();
        let old = std::time::SystemTime::now() - FILL_STALE - Duration::from_secs(1);
        let age_dir = |p: &Path| std::fs::File::open(p).unwrap().set_modified(old).unwrap();
        publish(&pool, "fp", "ready1", "abc");
        std::fs::create_dir_all(pool.slot_dir("orphan1")).unwrap();
        std::fs::create_dir_all(pool.slot_dir("filling1")).unwrap();
        std::fs::write(pool.root.join("fill").join("fp.filling1"), "{}").unwrap();
        for slot in ["ready1", "orphan1", "filling1"] {
            age_dir(&pool.slot_dir(slot));
        }
        std::fs::write(pool.root.join("fill").join("token.dead1"), "x").unwrap();
        age_dir(&pool.root.join("fill").join("token.dead1"));
        // A claim whose claimer died: its token and slot go.
        publish(&pool, "fp2", "dead2", "abc");
        let c = pool.claim("fp2").unwrap();
        std::fs::write(&c.token, format!("{}\n{}/{}/1\n", c.id, boot_id(), u32::MAX - 1)).unwrap();
        age_dir(&pool.slot_dir("dead2"));
        pool.sweep();
        assert!(pool.slot_dir("ready1").exists() && pool.slot_dir("filling1").exists());
        assert!(!c.token.exists() && !pool.slot_dir("dead2").exists());
        assert!(!pool.slot_dir("orphan1").exists());
        assert!(!pool.root.join("fill").join("token.dead1").exists());
    }

    #[test]
    fn the_pool_directory_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        std::fs::create_dir(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(Pool::open(&root).is_err());
        assert!(Pool::open(Path::new("relative/pool")).is_err());
        assert!(Pool::open(&dir.path().join("a\"b")).is_err());
    }

    #[test]
    fn the_fingerprint_follows_the_body_the_image_and_the_bound_paths() {
        let ws = tempfile::tempdir().unwrap();
        let bind = format!("{}:/work:rw", ws.path().display());
        let body = |cmd: &str| ContainerCreateBody {
            cmd: Some(vec![cmd.into()]),
            host_config: Some(bollard::models::HostConfig { binds: Some(vec![bind.clone()]), ..Default::default() }),
            ..Default::default()
        };
        let a = fingerprint(&body("x"), &[], "img1", "unix:///s").unwrap();
        assert_eq!(a, fingerprint(&body("x"), &[], "img1", "unix:///s").unwrap());
        let mut labelled = body("x");
        labelled.labels = Some(HashMap::from([("k".into(), "v".into())]));
        assert_eq!(a, fingerprint(&labelled, &[], "img1", "unix:///s").unwrap(), "labels are not configuration");
        assert_ne!(a, fingerprint(&body("y"), &[], "img1", "unix:///s").unwrap());
        assert_ne!(a, fingerprint(&body("x"), &[], "img2", "unix:///s").unwrap());
        let profile = |p: &'static [u8]| fingerprint(&body("x"), &[("seccomp.json", p)], "img1", "unix:///s").unwrap();
        assert_ne!(profile(b"{}"), profile(b"{\"x\":1}"), "a slot file's content is configuration");
        // Hash maps in the body (tmpfs) come out in any order: the same fingerprint.
        let tmpfs_body = || {
            let mut b = body("x");
            let mut tmpfs = HashMap::new();
            for i in 0..8 {
                tmpfs.insert(format!("/t{i}"), format!("o{i}"));
            }
            b.host_config.as_mut().unwrap().tmpfs = Some(tmpfs);
            fingerprint(&b, &[], "img1", "unix:///s").unwrap()
        };
        let first = tmpfs_body();
        assert!((0..20).all(|_| tmpfs_body() == first));
        // A file written in the workspace is the same workspace; a replaced one is not.
        std::fs::write(ws.path().join("f"), "1").unwrap();
        assert_eq!(a, fingerprint(&body("x"), &[], "img1", "unix:///s").unwrap());
        let path = ws.path().to_path_buf();
        drop(ws);
        std::fs::create_dir(&path).unwrap();
        let b = fingerprint(&body("x"), &[], "img1", "unix:///s").unwrap();
        std::fs::remove_dir(&path).unwrap();
        assert_ne!(a, b, "a workspace replaced at the same path is another configuration");
    }

    #[test]
    fn the_pool_size_is_strict() {
        assert_eq!(parse_size("3"), Ok(3));
        assert_eq!(parse_size(" "), Ok(0));
        for bad in ["-1", "lots", "99", "2x"] {
            assert!(parse_size(bad).unwrap_err().to_string().contains(ENV), "{bad}");
        }
    }
}
