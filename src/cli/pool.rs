//! `orchestra pool`: look at and empty the pool of pre-created containers
//! (`ORCHESTRA_CONTAINER_POOL`; `sandbox/src/container/pool.rs`), and the
//! hidden `fill` step that a task starts, detached, to top the pool up.

use crate::exit::Exit;
use crate::policy::SandboxMode;
use crate::sandbox::container::{engine, lifecycle, pool, reap};
use clap::Subcommand;
use std::collections::HashMap;
use std::path::PathBuf;

/// `orchestra pool ...`
#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// List the ready containers, by configuration.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove every ready (unclaimed) container, on both engines; tasks
    /// running in claimed ones are left alone.
    Drain,
    /// Internal: create the containers ordered for these slots (started
    /// detached by a task when the pool is short).
    #[command(hide = true)]
    Fill {
        /// The engine (`docker` or `podman`).
        #[arg(long)]
        engine: String,
        /// The engine's address (the filler uses no other).
        #[arg(long)]
        address: String,
        /// The pool directory.
        #[arg(long)]
        root: PathBuf,
        /// The slots ordered.
        slots: Vec<String>,
    },
}

/// Run `orchestra pool`.
pub fn run(cmd: PoolCommand) -> Exit {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return super::config_error(format!("tokio runtime: {e}")),
    };
    let exit = match cmd {
        PoolCommand::Fill { engine, address, root, slots } => rt.block_on(fill(&engine, &address, root, slots)),
        PoolCommand::Status { json } => status(json),
        PoolCommand::Drain => rt.block_on(drain()),
    };
    rt.shutdown_background();
    exit
}

/// Fill the slots, then reap orphans (at most every `pool::REAP_EVERY`): with
/// the pool on, a task leaves the reaping to the fillers, off its critical path.
async fn fill(engine: &str, address: &str, root: PathBuf, slots: Vec<String>) -> Exit {
    let kind = match engine {
        "docker" => SandboxMode::Docker,
        "podman" => SandboxMode::Podman,
        other => return super::config_error(format!("--engine {other:?}: docker or podman")),
    };
    let p = match pool::Pool::open(&root) {
        Ok(p) => p,
        Err(e) => return super::config_error(format!("pool {}: {e}", root.display())),
    };
    let mut exit = Exit::Ok;
    for slot in slots {
        if let Err(e) = p.fill(&slot).await {
            // Nobody reads a detached filler's stderr; the log level decides.
            tracing::warn!("pool {}: slot {slot}: {e}", root.display());
            exit = Exit::Config;
        }
    }
    if p.reap_turn() {
        match engine::connect_to(kind, address).await {
            Ok(e) => {
                reap::orphans(&e, &root).await;
                p.sweep();
            }
            Err(e) => tracing::warn!("pool {}: reaping: {e}", root.display()),
        }
    }
    exit
}

fn status(json: bool) -> Exit {
    let root = pool::default_root();
    let ready = if root.exists() {
        match pool::Pool::open(&root) {
            Ok(p) => p.ready(),
            Err(e) => return super::config_error(format!("pool {}: {e}", root.display())),
        }
    } else {
        Vec::new()
    };
    let mut by_config: HashMap<String, usize> = HashMap::new();
    for (fp, _, _) in &ready {
        *by_config.entry(fp.clone()).or_default() += 1;
    }
    let size = pool::size();
    if json {
        let v = serde_json::json!({
            "root": root,
            "size": size.as_ref().ok(),
            "ready": ready.iter().map(|(fp, slot, id)| serde_json::json!({"configuration": fp, "slot": slot, "container": id})).collect::<Vec<_>>(),
        });
        outln!("{v}");
    } else {
        let size = match &size {
            Ok(0) => format!("off ({} unset or 0)", pool::ENV),
            Ok(n) => format!("{n} per configuration"),
            Err(e) => e.to_string(),
        };
        outln!("pool {}: {size}", root.display());
        let mut rows: Vec<_> = by_config.into_iter().collect();
        rows.sort();
        for (fp, n) in rows {
            outln!("  configuration {fp}: {n} ready");
        }
        if ready.is_empty() {
            outln!("  no ready containers");
        }
    }
    Exit::Ok
}

async fn drain() -> Exit {
    let root = pool::default_root();
    if !root.exists() {
        crate::sandbox::say!("orchestra: pool {}: nothing to drain", root.display());
        return Exit::Ok;
    }
    let p = match pool::Pool::open(&root) {
        Ok(p) => p,
        Err(e) => return super::config_error(format!("pool {}: {e}", root.display())),
    };
    // Fills in flight finish first (bounded), so that what they make is drained too.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    if p.filling() > 0 {
        crate::sandbox::say!(
            "orchestra: pool {}: waiting for {} fill(s) in flight (at most 30 s)",
            root.display(),
            p.filling()
        );
    }
    while p.filling() > 0 && std::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Take every token: no task can claim what is being removed.
    let ids = p.take_all();
    let mut reaped = 0;
    for kind in [SandboxMode::Docker, SandboxMode::Podman] {
        let Ok(e) = engine::connect(kind).await else { continue };
        for id in &ids {
            // 404 on the other engine: removed is removed.
            let _ = lifecycle::remove(&e.api, id).await;
        }
        // Any other unclaimed container of this pool (expired, or its token lost).
        reaped += reap::orphans(&e, &root).await;
    }
    crate::sandbox::say!(
        "orchestra: pool {}: {} ready container(s) removed, {reaped} more reaped",
        root.display(),
        ids.len()
    );
    Exit::Ok
}
