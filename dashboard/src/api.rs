//! The JSON API and the page handlers (docs/dashboard.md lists every route;
//! a test checks the list against the router).
//!
//! Guarantees: file system work runs on the blocking pool, never on the
//! async workers; every error is one JSON object `{"error": …}` with a
//! status (400 bad name, 404 missing, 409 not running, 500 a damaged run),
//! and a damaged or deleted run never takes the server down.

use crate::pages;
use crate::store::{RunFilter, Store, StoreError};
use crate::{App, journal_seq};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use orchestra_orchestrator::plan::diff::PlanDiff;
use orchestra_orchestrator::runstore::control::{self, Action, ControlError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// From the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A control request for a run nobody drives, or a bad action.
    #[error("{0}")]
    Conflict(String),
    /// A bad request.
    #[error("{0}")]
    Bad(String),
    /// A blocking task died.
    #[error("internal error: {0}")]
    Join(String),
    /// Too many of something at once.
    #[error("{0}")]
    Busy(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::Store(StoreError::BadName(_)) | ApiError::Bad(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Join(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(serde_json::json!({"error": self.to_string()}))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Run `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> ApiResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::Join(e.to_string())),
    }
}

pub use crate::audit_status::AuditStatus;

// ---- pages -------------------------------------------------------------------

/// `GET /`
pub async fn runs_page(State(app): State<Arc<App>>, Query(f): Query<RunFilter>) -> ApiResult<Html<String>> {
    let store = app.store.clone();
    let f2 = f.clone();
    let list = blocking(move || store.runs(&f2)).await?;
    Ok(Html(pages::runs(&list, f.status.as_deref().unwrap_or(""), f.q.as_deref().unwrap_or(""), &app.csrf())))
}

/// `GET /runs/{id}`
pub async fn run_page(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> ApiResult<Html<String>> {
    let a = app.clone();
    blocking(move || {
        // The feed's starting point is read before the checkpoint: an event
        // written in between is then sent again (harmless), never missed.
        let run = a.store.open(&id)?;
        let since = journal_seq(&run);
        let view = a.store.view(run)?;
        let layout = view.dag.as_ref().map(crate::dag::layout);
        // Never verified on a page load: the last result, and a check in the background.
        let dir = view.checkpoint.settings.audit_dir.clone();
        let audit = a.audit.cached(&dir);
        if !a.audit.busy() {
            let bg = a.clone();
            std::thread::spawn(move || bg.audit.check(&dir, &bg.metrics));
        }
        let extras = pages::RunExtras { since, audit, operator: a.access.operator };
        Ok(Html(pages::run(&view, layout.as_ref(), &extras, &a.csrf())))
    })
    .await
}

/// `GET /runs/{id}/tasks/{task}`
pub async fn task_page(
    State(app): State<Arc<App>>,
    UrlPath((id, task)): UrlPath<(String, String)>,
) -> ApiResult<Html<String>> {
    let a = app.clone();
    blocking(move || {
        let run = a.store.open(&id)?;
        let since = journal_seq(&run);
        let view = a.store.view(run)?;
        let task = a.store.task_of(&view, &task)?.to_string();
        // The last 256 KiB; the rest through the raw log.
        let log = match crate::store::open_log(&view.run, &task)? {
            Some(mut f) => {
                let size = f.metadata()?.len();
                crate::store::read_log_from(&mut f, size.saturating_sub(256 * 1024), 256 * 1024)?
            }
            None => crate::store::LogRange { offset: 0, next: 0, size: 0, text: String::new() },
        };
        Ok(Html(pages::task(&view, &task, &log, since, &a.csrf())))
    })
    .await
}

/// `GET /runs/{id}/artifacts`
pub async fn artifacts_page(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> ApiResult<Html<String>> {
    let a = app.clone();
    blocking(move || {
        let run = a.store.open(&id)?;
        let (list, omitted) = a.store.artifacts(&run)?;
        Ok(Html(pages::artifacts(&id, &list, omitted, &a.csrf())))
    })
    .await
}

/// Two runs to compare.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComparePair {
    /// The earlier run.
    pub a: Option<String>,
    /// The later run.
    pub b: Option<String>,
}

/// `GET /compare?a=&b=`
pub async fn compare_page(State(app): State<Arc<App>>, Query(q): Query<ComparePair>) -> Html<String> {
    let (a, b) = (q.a.unwrap_or_default(), q.b.unwrap_or_default());
    if a.is_empty() || b.is_empty() {
        return Html(pages::compare(&a, &b, None, None, &app.csrf()));
    }
    let (store, a2, b2) = (app.store.clone(), a.clone(), b.clone());
    match blocking(move || comparison(&store, &a2, &b2)).await {
        Ok(c) => Html(pages::compare(&a, &b, Some(&c), None, &app.csrf())),
        Err(e) => Html(pages::compare(&a, &b, None, Some(&e.to_string()), &app.csrf())),
    }
}

// ---- JSON --------------------------------------------------------------------

/// `GET /api/runs`
pub async fn runs(State(app): State<Arc<App>>, Query(f): Query<RunFilter>) -> ApiResult<Response> {
    let store = app.store.clone();
    Ok(Json(blocking(move || store.runs(&f)).await?).into_response())
}

/// `GET /api/runs/{id}`
pub async fn run(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let store = app.store.clone();
    let v = blocking(move || {
        let view = store.run(&id)?;
        let (row, tasks) = store.row_and_tasks(&id)?;
        Ok(serde_json::json!({
            "run": row,
            "status": view.checkpoint.status.as_str(),
            "live": view.live,
            "paused": view.paused,
            "journal_seq": journal_seq(&view.run),
            "tasks": tasks,
        }))
    })
    .await?;
    Ok(Json(v).into_response())
}

/// `GET /api/runs/{id}/plan`: the DAG, laid out.
pub async fn plan(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let store = app.store.clone();
    let v = blocking(move || {
        let view = store.run(&id)?;
        let dag = view.dag.as_ref().ok_or_else(|| StoreError::NotFound("the run has no plan.yaml".into()))?;
        let layout = crate::dag::layout(dag);
        let states: Vec<&str> = layout
            .nodes
            .iter()
            .map(|n| view.checkpoint.tasks.get(&n.id).map_or("pending", |r| r.state.as_str()))
            .collect();
        Ok(serde_json::json!({"layout": layout, "states": states}))
    })
    .await?;
    Ok(Json(v).into_response())
}

/// A log range request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// First byte (default 0).
    pub offset: Option<u64>,
    /// At most this many bytes (default and maximum 1 MiB).
    pub limit: Option<u64>,
}

/// `GET /api/runs/{id}/tasks/{task}/log?offset=&limit=`
pub async fn log(
    State(app): State<Arc<App>>,
    UrlPath((id, task)): UrlPath<(String, String)>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Response> {
    let store = app.store.clone();
    let r = blocking(move || {
        let view = store.run(&id)?;
        let task = store.task_of(&view, &task)?.to_string();
        crate::store::read_log(&view.run, &task, q.offset.unwrap_or(0), q.limit.unwrap_or(1 << 20))
    })
    .await?;
    Ok(Json(r).into_response())
}

/// `GET /api/runs/{id}/tasks/{task}/report`
pub async fn task_report(
    State(app): State<Arc<App>>,
    UrlPath((id, task)): UrlPath<(String, String)>,
) -> ApiResult<Response> {
    let store = app.store.clone();
    let v = blocking(move || {
        let view = store.run(&id)?;
        let task = store.task_of(&view, &task)?.to_string();
        store.task_report(&view.run, &task)
    })
    .await?;
    Ok(Json(v).into_response())
}

/// `GET /api/runs/{id}/report`
pub async fn run_report(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let store = app.store.clone();
    let v = blocking(move || {
        let run = store.open(&id)?;
        store.run_report(&run)
    })
    .await?;
    Ok(Json(v).into_response())
}

/// `GET /api/runs/{id}/violations`
pub async fn violations(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let store = app.store.clone();
    let v = blocking(move || {
        let view = store.run(&id)?;
        let list: Vec<serde_json::Value> = view
            .checkpoint
            .tasks
            .iter()
            .flat_map(|(t, r)| {
                r.violations.iter().map(
                    move |v| serde_json::json!({"task": t, "rule": v.rule.to_string(), "detail": v.detail, "at": v.at}),
                )
            })
            .collect();
        Ok(serde_json::json!({"violations": list}))
    })
    .await?;
    Ok(Json(v).into_response())
}

/// `GET /api/runs/{id}/audit`
pub async fn audit(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let a = app.clone();
    let v = blocking(move || {
        let view = a.store.run(&id)?;
        Ok(a.audit.check(&view.checkpoint.settings.audit_dir, &a.metrics))
    })
    .await?;
    Ok(Json(v).into_response())
}

/// `GET /api/runs/{id}/artifacts`
pub async fn artifacts(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> ApiResult<Response> {
    let store = app.store.clone();
    let (v, omitted) = blocking(move || {
        let run = store.open(&id)?;
        store.artifacts(&run)
    })
    .await?;
    Ok(Json(serde_json::json!({"artifacts": v, "omitted": omitted})).into_response())
}

/// `GET /api/runs/{id}/artifacts/{*path}`: the file, as a download.
pub async fn artifact(
    State(app): State<Arc<App>>,
    UrlPath((id, path)): UrlPath<(String, String)>,
) -> ApiResult<Response> {
    let store = app.store.clone();
    let p = path.clone();
    let (file, size) = blocking(move || {
        let run = store.open(&id)?;
        store.artifact(&run, &p)
    })
    .await?;
    let name: String = path
        .rsplit('/')
        .next()
        .unwrap_or("artifact")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
        .collect();
    let stream = tokio_util_stream(file);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// A file as a stream of chunks, read on the blocking pool.
fn tokio_util_stream(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut f = state?;
        let r = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = vec![0u8; 64 * 1024];
            let n = f.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((buf, f))
        })
        .await;
        match r {
            Ok(Ok((buf, _))) if buf.is_empty() => None,
            Ok(Ok((buf, f))) => Some((Ok(buf), Some(f))),
            Ok(Err(e)) => Some((Err(e), None)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    })
}

/// Events after a sequence number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// The last sequence number seen (0: from the start).
    pub since: Option<u64>,
}

/// `GET /api/runs/{id}/events?since=N`: journal entries after N (at most 5,000).
pub async fn events(
    State(app): State<Arc<App>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<Since>,
) -> ApiResult<Response> {
    let store = app.store.clone();
    let v = blocking(move || {
        let run = store.open(&id)?;
        let entries = crate::live::entries_after(&run, q.since.unwrap_or(0), 5000)?;
        Ok(serde_json::json!({"events": entries}))
    })
    .await?;
    Ok(Json(v).into_response())
}

/// One side of a task comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// State.
    pub state: String,
    /// Wall time, ms.
    pub wall_ms: u64,
}

/// One task compared.
#[derive(Debug, Clone, Serialize)]
pub struct TaskChange {
    /// Task id.
    pub task: String,
    /// In the earlier run.
    pub a: Option<Side>,
    /// In the later run.
    pub b: Option<Side>,
    /// The state differs.
    pub state_changed: bool,
    /// `failed -> succeeded`, `+35%`, `added`, `removed` or empty (`runstore::compare::change`).
    pub change: String,
}

/// Two runs compared.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// The plan diff (earlier → later).
    pub plan: PlanDiff,
    /// Per task.
    pub tasks: Vec<TaskChange>,
}

fn comparison(store: &Store, a: &str, b: &str) -> Result<Comparison, StoreError> {
    let (va, vb) = (store.run(a)?, store.run(b)?);
    let plan = match (&va.dag, &vb.dag) {
        (Some(x), Some(y)) => orchestra_orchestrator::plan::diff::diff(&x.plan, &y.plan),
        _ => PlanDiff::default(),
    };
    let mut ids: Vec<&String> = va.checkpoint.tasks.keys().chain(vb.checkpoint.tasks.keys()).collect();
    ids.sort();
    ids.dedup();
    let side = |v: &crate::store::RunView, t: &str| {
        v.checkpoint.tasks.get(t).map(|r| Side { state: r.state.as_str().to_string(), wall_ms: r.wall_ms })
    };
    let tasks = ids
        .into_iter()
        .map(|t| {
            let (x, y) = (side(&va, t), side(&vb, t));
            let state_changed = x.as_ref().map(|s| &s.state) != y.as_ref().map(|s| &s.state);
            let change = orchestra_orchestrator::runstore::compare::change(
                x.as_ref().map(|s| (s.state.as_str(), s.wall_ms)),
                y.as_ref().map(|s| (s.state.as_str(), s.wall_ms)),
            );
            TaskChange { task: t.clone(), a: x, b: y, state_changed, change }
        })
        .collect();
    Ok(Comparison { plan, tasks })
}

/// `GET /api/compare?a=&b=`
pub async fn compare(State(app): State<Arc<App>>, Query(q): Query<ComparePair>) -> ApiResult<Response> {
    let (Some(a), Some(b)) = (q.a, q.b) else { return Err(ApiError::Bad("need a= and b= (two run ids)".into())) };
    let store = app.store.clone();
    Ok(Json(blocking(move || comparison(&store, &a, &b)).await?).into_response())
}

/// A control request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRequest {
    /// `pause`, `continue` (or `resume`) or `cancel`.
    pub action: String,
}

/// `POST /api/runs/{id}/control` (operator, CSRF): pause, continue or cancel.
pub async fn control(
    State(app): State<Arc<App>>,
    UrlPath(id): UrlPath<String>,
    peer: axum::extract::ConnectInfo<std::net::SocketAddr>,
    Json(req): Json<ControlRequest>,
) -> ApiResult<Response> {
    let Some(action) = Action::parse(&req.action) else {
        return Err(ApiError::Bad(format!("unknown action {:?} (pause, continue, cancel)", req.action)));
    };
    let store = app.store.clone();
    let by = format!("dashboard:{}", peer.0);
    let r = tokio::task::spawn_blocking(move || {
        let run = store.open(&id)?;
        control::request(&run, action, &by).map_err(|e| match e {
            ControlError::NotRunning(_) => ApiError::Conflict(e.to_string()),
            ControlError::Store(s) => ApiError::Store(s.into()),
        })
    })
    .await
    .map_err(|e| ApiError::Join(e.to_string()))??;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"request": r.seq, "action": action.as_str()}))).into_response())
}

/// `GET /login?token=`: set the access cookie and go to the runs list.
pub async fn login(
    State(app): State<Arc<App>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    match q.get("token") {
        Some(t) if app.access.token_ok(t) => {
            let session = app.access.session().unwrap_or_default();
            let cookie = format!("{}={session}; HttpOnly; SameSite=Strict; Path=/", crate::guard::TOKEN_COOKIE);
            let mut r = Redirect::to("/").into_response();
            if let Ok(v) = header::HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        _ => (StatusCode::UNAUTHORIZED, Html(pages::login_page())).into_response(),
    }
}

/// `GET /api/fleet`: the distributed queue's last sample (`null` without `--queue`).
pub async fn fleet(State(app): State<Arc<App>>) -> Response {
    let s = app.fleet.lock().ok().and_then(|f| *f);
    Json(serde_json::json!({"fleet": s})).into_response()
}

/// `GET /metrics`
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], app.metrics.encode()).into_response()
}
