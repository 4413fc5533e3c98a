//! The live feed: `GET /api/runs/{id}/live?since=N[&log=TASK&offset=B]`
//! upgraded to a WebSocket.
//!
//! Protocol (server to client, JSON text messages):
//! - `{"type":"events","entries":[Entry…]}`: journal entries, in order,
//!   each with its `seq`; first every entry after `since`, then new ones as
//!   the run writes them;
//! - `{"type":"log","task":T,"offset":B,"next":E,"text":…}`: bytes `B..E` of
//!   task T's log (never a split character), first from `offset`, then as
//!   the task writes;
//! - `{"type":"error","message":…}`, then the socket closes: the run
//!   directory was deleted or its journal is damaged.
//!
//! Guarantees: a client that reconnects with the last `seq` it saw and the
//! `next` of the last log message gets every later entry and byte exactly
//! once (no gap, no duplicate): entries are numbered by the run, bytes by
//! their offset in the file. The feed looks for news every [`TICK`]; one
//! feed is a few file reads of the page cache per tick, on the blocking
//! pool, so hundreds of watchers cost little.

use crate::App;
use crate::api::ApiError;
use crate::store::StoreError;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, Query, State};
use axum::response::Response;
use orchestra_orchestrator::runstore::journal::{self, Entry};
use orchestra_orchestrator::runstore::{RunDir, at};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often a feed looks for news.
pub const TICK: Duration = Duration::from_millis(25);

/// Open feeds, at most (more are refused with 503).
pub const MAX_FEEDS: usize = 1024;

/// The largest message a client may send (it has nothing to say but Close).
pub const MAX_CLIENT_MESSAGE: usize = 1024;

/// Journal bytes read per tick, at most: a feed replaying a long history
/// catches up over a few ticks instead of holding it all at once.
pub const READ_PER_TICK: usize = 256 * 1024;

/// Feeds reading at the same moment, at most (the rest wait their turn).
pub const CONCURRENT_READS: usize = 16;

/// Log bytes per message, at most.
const LOG_CHUNK: u64 = 64 * 1024;

/// The feed's query.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveQuery {
    /// The last journal sequence number seen (0: everything).
    pub since: Option<u64>,
    /// A task whose log to follow.
    pub log: Option<String>,
    /// The log offset to follow from.
    pub offset: Option<u64>,
}

/// Journal entries of `run` after `since` (at most `max`).
pub fn entries_after(run: &RunDir, since: u64, max: usize) -> Result<Vec<Entry>, StoreError> {
    let mut f = match at::open_read(run.fd(), Path::new(journal::FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let b = journal::read_from(&mut f, offset, 4 << 20).map_err(|e| StoreError::BadName(e.to_string()))?;
        if b.offset == offset {
            return Ok(out);
        }
        offset = b.offset;
        out.extend(b.entries.into_iter().filter(|e| e.seq > since));
        if out.len() >= max {
            out.truncate(max);
            return Ok(out);
        }
    }
}

/// `GET /api/runs/{id}/live` (WebSocket).
pub async fn live(
    ws: WebSocketUpgrade,
    State(app): State<Arc<App>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<LiveQuery>,
) -> Result<Response, ApiError> {
    let store = app.store.clone();
    let want = q.log.clone();
    let (run, task) = tokio::task::spawn_blocking(move || match want {
        // A log is named only by a task of the run (its checkpoint says which).
        Some(t) => {
            let view = store.run(&id)?;
            let task = store.task_of(&view, &t)?.to_string();
            Ok::<_, StoreError>((view.run, Some(task)))
        }
        // Events alone need only the directory (hundreds of watchers must
        // not each parse a 5,000-task checkpoint and plan).
        None => Ok((store.open(&id)?, None)),
    })
    .await
    .map_err(|e| ApiError::Join(e.to_string()))??;
    if app.watchers.count() >= MAX_FEEDS {
        return Err(ApiError::Busy(format!("{MAX_FEEDS} live feeds are open; try again later")));
    }
    let since = q.since.unwrap_or(0);
    let offset = q.offset.unwrap_or(0);
    // A client has nothing to say but Close: its frames are kept tiny.
    let ws = ws.max_message_size(MAX_CLIENT_MESSAGE).max_frame_size(MAX_CLIENT_MESSAGE);
    Ok(ws.on_upgrade(move |socket| feed(socket, app, run, since, task.map(|t| (t, offset)))))
}

/// What one tick found.
struct News {
    entries: Vec<Entry>,
    log: Option<(u64, u64, String)>,
    gone: bool,
}

/// Why a feed stops (said to the page in an `error` message).
#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("the run's event journal was truncated")]
    Truncated,
    #[error("{0}")]
    Journal(#[from] journal::ReadError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The reading side of one feed (runs on the blocking pool each tick).
struct Cursor {
    run: RunDir,
    journal: Option<std::fs::File>,
    journal_offset: u64,
    last_seq: u64,
    log: Option<(String, u64)>,
    /// The log, once it exists (opened once, read by offset).
    log_file: Option<std::fs::File>,
    ticks: u64,
}

impl Cursor {
    fn poll(&mut self) -> Result<News, FeedError> {
        self.ticks += 1;
        // Every 40 ticks (a second): is the run directory still there?
        let gone = self.ticks.is_multiple_of(40) && nix::sys::stat::fstat(self.run.fd()).is_ok_and(|s| s.st_nlink == 0);
        if self.journal.is_none() {
            self.journal = at::open_read(self.run.fd(), Path::new(journal::FILE)).ok();
        }
        let mut entries = Vec::new();
        if let Some(f) = self.journal.as_mut() {
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            if size < self.journal_offset {
                return Err(FeedError::Truncated);
            }
            if size > self.journal_offset {
                let b = journal::read_from(f, self.journal_offset, READ_PER_TICK)?;
                self.journal_offset = b.offset;
                for e in b.entries {
                    if e.seq > self.last_seq {
                        self.last_seq = e.seq;
                        entries.push(e);
                    }
                }
            }
        }
        let mut log = None;
        if let Some((task, offset)) = self.log.as_mut() {
            if self.log_file.is_none() {
                self.log_file = crate::store::open_log(&self.run, task)?;
            }
            if let Some(f) = self.log_file.as_mut() {
                let r = crate::store::read_log_from(f, *offset, LOG_CHUNK)?;
                if r.next > r.offset {
                    log = Some((r.offset, r.next, r.text));
                    *offset = r.next;
                }
            }
        }
        Ok(News { entries, log, gone })
    }
}

async fn feed(mut socket: WebSocket, app: Arc<App>, run: RunDir, since: u64, log: Option<(String, u64)>) {
    let task = log.as_ref().map(|(t, _)| t.clone());
    let mut cursor =
        Some(Cursor { run, journal: None, journal_offset: 0, last_seq: since, log, log_file: None, ticks: 0 });
    let _watching = app.watchers.enter();
    let mut closing = app.closing.clone();
    loop {
        let Some(mut c) = cursor.take() else { return };
        let Ok(turn) = app.reads.acquire().await else { return };
        let polled = tokio::task::spawn_blocking(move || {
            let r = c.poll();
            (c, r)
        })
        .await;
        drop(turn);
        let Ok((c, result)) = polled else { return };
        cursor = Some(c);
        let news = match result {
            Ok(n) => n,
            Err(e) => {
                let message = e.to_string();
                let _ = socket.send(text(&serde_json::json!({"type": "error", "message": message}))).await;
                return;
            }
        };
        if !news.entries.is_empty() {
            for chunk in news.entries.chunks(500) {
                let Ok(entries) = serde_json::to_string(chunk) else { return };
                let m = format!("{{\"type\":\"events\",\"entries\":{entries}}}");
                if socket.send(Message::Text(m.into())).await.is_err() {
                    return;
                }
            }
        }
        if let (Some((offset, next, t)), Some(task)) = (news.log, &task) {
            let m = serde_json::json!({"type": "log", "task": task, "offset": offset, "next": next, "text": t});
            if socket.send(text(&m)).await.is_err() {
                return;
            }
        }
        if news.gone {
            let m = serde_json::json!({"type": "error", "message": "the run directory was deleted"});
            let _ = socket.send(text(&m)).await;
            return;
        }
        // Wait for the next tick; what the client sends does not bring it forward.
        let next = tokio::time::Instant::now() + TICK;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => break,
                _ = closing.changed() => return,
                msg = socket.recv() => match msg {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}

fn text(v: &serde_json::Value) -> Message {
    Message::Text(v.to_string().into())
}
