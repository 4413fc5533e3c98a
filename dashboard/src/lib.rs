//! `orchestra dashboard`: a web UI and JSON API over a runs directory, live
//! task states and log lines over WebSocket, operator control (pause,
//! continue, cancel) and Prometheus metrics.
//!
//! The dashboard reads what runs leave in `runs/` (the index, checkpoints,
//! the event journal `events.jsonl`, logs, reports, artifacts, the audit
//! log) and writes nothing there but the control file of a run an operator
//! controls. Runs started by `orchestra run` in other processes are seen
//! live through their journal and log files: the dashboard needs no
//! connection to them, and a dashboard restart loses nothing.
//!
//! Modules: [`guard`] (who may ask what; the headers every response
//! carries), [`store`] (reading runs, confined to each run directory),
//! [`dag`] (the plan's layout), [`pages`] (HTML), [`api`] (routes),
//! [`live`] (the WebSocket feed), [`follow`] (the metrics' view of every
//! run's journal), [`metrics`] (`/metrics`).

pub mod api;
pub mod audit_status;
pub mod dag;
pub mod fleet;
pub mod follow;
pub mod guard;
pub mod live;
pub mod metrics;
pub mod pages;
pub mod serve;
pub mod store;

use axum::Router;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Why the dashboard cannot run.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The access rules refuse the bind.
    #[error(transparent)]
    Bind(#[from] guard::BindError),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The queue URL is not usable.
    #[error(transparent)]
    Queue(#[from] orchestra_distributed::queue::QueueError),
    /// The runtime or the server failed.
    #[error("dashboard: {0}")]
    Serve(std::io::Error),
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct Options {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The runs directory.
    pub runs_dir: PathBuf,
    /// The access token (required off loopback).
    pub token: Option<String>,
    /// Allow pause, continue and cancel.
    pub operator: bool,
    /// A distributed queue to sample for the fleet gauges.
    pub queue: Option<String>,
}

/// Counts live WebSocket feeds.
#[derive(Debug, Default)]
pub struct Watchers(AtomicUsize);

/// One feed, counted while it lives.
#[derive(Debug)]
pub struct Watching<'a>(&'a Watchers);

impl Watchers {
    /// Count one feed until the guard drops.
    pub fn enter(&self) -> Watching<'_> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Watching(self)
    }

    /// Feeds open now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The server's shared state.
#[derive(Debug)]
pub struct App {
    /// The runs directory.
    pub store: store::Store,
    /// The access rules.
    pub access: Arc<guard::Access>,
    /// The metrics.
    pub metrics: metrics::Metrics,
    /// The audit log checks (one at a time).
    pub audit: audit_status::Checker,
    /// Open WebSocket feeds.
    pub watchers: Watchers,
    /// Turns for the live feeds' file reads ([`live::CONCURRENT_READS`]).
    pub reads: tokio::sync::Semaphore,
    /// The fleet's last sample (with `--queue`).
    pub fleet: Mutex<Option<fleet::FleetSample>>,
    /// Becomes true when the server shuts down (feeds end).
    pub closing: tokio::sync::watch::Receiver<bool>,
}

impl App {
    /// The CSRF token pages embed.
    pub fn csrf(&self) -> String {
        self.access.csrf.clone()
    }
}

/// The last sequence number in `run`'s journal (0: none yet).
pub fn journal_seq(run: &orchestra_orchestrator::runstore::RunDir) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let rel = Path::new(orchestra_orchestrator::runstore::journal::FILE);
    let Ok(mut f) = orchestra_orchestrator::runstore::at::open_read(run.fd(), rel) else { return 0 };
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = size.saturating_sub(64 * 1024);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
        return 0;
    }
    buf.split(|&b| b == b'\n')
        .rev()
        .filter(|l| !l.is_empty())
        .find_map(|l| serde_json::from_slice::<orchestra_orchestrator::runstore::journal::Entry>(l).ok())
        .map_or(0, |e| e.seq)
}

/// A cheap fingerprint of a directory's files: total size and latest mtime.
pub fn dir_stamp(dir: &Path) -> (u64, i64) {
    let mut size = 0;
    let mut mtime = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(m) = e.metadata() {
                size += m.len();
                mtime = mtime.max(
                    std::os::unix::fs::MetadataExt::mtime_nsec(&m)
                        + 1_000_000_000 * std::os::unix::fs::MetadataExt::mtime(&m),
                );
            }
        }
    }
    (size, mtime)
}

/// The routes (docs/dashboard.md lists them; a test compares).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/runs/{id}"),
    ("GET", "/runs/{id}/tasks/{task}"),
    ("GET", "/runs/{id}/artifacts"),
    ("GET", "/compare"),
    ("GET", "/login"),
    ("GET", "/assets/app.js"),
    ("GET", "/assets/app.css"),
    ("GET", "/metrics"),
    ("GET", "/api/runs"),
    ("GET", "/api/runs/{id}"),
    ("GET", "/api/runs/{id}/plan"),
    ("GET", "/api/runs/{id}/events"),
    ("GET", "/api/runs/{id}/live"),
    ("GET", "/api/runs/{id}/report"),
    ("GET", "/api/runs/{id}/violations"),
    ("GET", "/api/runs/{id}/audit"),
    ("GET", "/api/runs/{id}/artifacts"),
    ("GET", "/api/runs/{id}/artifacts/{*path}"),
    ("GET", "/api/runs/{id}/tasks/{task}/log"),
    ("GET", "/api/runs/{id}/tasks/{task}/report"),
    ("GET", "/api/compare"),
    ("GET", "/api/fleet"),
    ("POST", "/api/runs/{id}/control"),
];

/// The router over `app`.
pub fn router(app: Arc<App>) -> Router {
    let access = app.access.clone();
    Router::new()
        .route("/", get(api::runs_page))
        .route("/runs/{id}", get(api::run_page))
        .route("/runs/{id}/tasks/{task}", get(api::task_page))
        .route("/runs/{id}/artifacts", get(api::artifacts_page))
        .route("/compare", get(api::compare_page))
        .route("/login", get(api::login))
        .route("/assets/app.js", get(assets_js))
        .route("/assets/app.css", get(assets_css))
        .route("/metrics", get(api::metrics))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/runs/{id}/plan", get(api::plan))
        .route("/api/runs/{id}/events", get(api::events))
        .route("/api/runs/{id}/live", get(live::live))
        .route("/api/runs/{id}/report", get(api::run_report))
        .route("/api/runs/{id}/violations", get(api::violations))
        .route("/api/runs/{id}/audit", get(api::audit))
        .route("/api/runs/{id}/artifacts", get(api::artifacts))
        .route("/api/runs/{id}/artifacts/{*path}", get(api::artifact))
        .route("/api/runs/{id}/tasks/{task}/log", get(api::log))
        .route("/api/runs/{id}/tasks/{task}/report", get(api::task_report))
        .route("/api/compare", get(api::compare))
        .route("/api/fleet", get(api::fleet))
        .route("/api/runs/{id}/control", post(api::control))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(access, guard::guard))
        .with_state(app)
}

async fn not_found() -> axum::response::Response {
    use axum::response::IntoResponse;
    (axum::http::StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "no such page"}))).into_response()
}

const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

async fn assets_js() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS)
}

async fn assets_css() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS)
}

/// Serve until SIGINT or SIGTERM. `ready` is called with the bound address
/// once the server accepts connections.
pub fn serve(opts: Options, ready: impl FnOnce(SocketAddr)) -> Result<(), DashboardError> {
    let access = Arc::new(guard::Access::new(opts.bind, opts.token.as_deref(), opts.operator)?);
    // A bad queue URL is refused before anything listens.
    let queue = opts.queue.as_deref().map(orchestra_distributed::queue::Queue::open).transpose()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DashboardError::Serve)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.bind)
            .await
            .map_err(|source| DashboardError::Listen { addr: opts.bind, source })?;
        let addr = listener.local_addr().map_err(DashboardError::Serve)?;
        let (close_tx, closing) = tokio::sync::watch::channel(false);
        let stop = closing.clone();
        let app = Arc::new(App {
            store: store::Store::new(opts.runs_dir.clone()),
            access,
            metrics: metrics::Metrics::new(),
            audit: audit_status::Checker::default(),
            watchers: Watchers::default(),
            fleet: Mutex::new(None),
            reads: tokio::sync::Semaphore::new(live::CONCURRENT_READS),
            closing,
        });
        tokio::spawn(follow::follow(app.clone()));
        if let Some(q) = queue {
            tokio::spawn(fleet::watch(app.clone(), q));
        }
        ready(addr);
        let shutdown = async move {
            use tokio::signal::unix::{SignalKind, signal};
            match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                (Ok(mut i), Ok(mut t)) => {
                    tokio::select! { _ = i.recv() => {}, _ = t.recv() => {} }
                }
                _ => std::future::pending::<()>().await,
            }
            // Open feeds end, so the server can.
            let _ = close_tx.send(true);
        };
        tokio::spawn(shutdown);
        serve::serve(listener, router(app), stop).await.map_err(DashboardError::Serve)
    })
}
