//! The fleet's gauges for a distributed setup (`orchestra dashboard --queue
//! URL`): how many tasks wait or run in the Redis queue, and how many
//! workers heart-beat.
//!
//! Every [`SAMPLE`] the task streams (`orchestra:tasks*`) are found with
//! `SCAN … TYPE stream`; a stream's depth is its consumer group's `lag`
//! (entries not yet delivered) plus `pending` (delivered, not acknowledged).
//! A worker counts while its registry entry was refreshed within
//! [`ALIVE_MS`]. Reading only: the dashboard never writes to the queue. A
//! queue that cannot be reached is a warning once per outage, and the gauges
//! keep their last values.

use crate::App;
use orchestra_distributed::queue::{self, Queue, QueueError};
use orchestra_distributed::redis;
use std::sync::Arc;
use std::time::Duration;

/// How often the queue is sampled.
pub const SAMPLE: Duration = Duration::from_secs(2);

/// A worker not seen for this long is not counted.
pub const ALIVE_MS: u64 = 30_000;

/// The sampled figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FleetSample {
    /// Tasks waiting or running.
    pub depth: i64,
    /// Workers seen within [`ALIVE_MS`].
    pub workers: i64,
}

/// Sample `q` once.
pub fn sample(q: &Queue) -> Result<FleetSample, QueueError> {
    let mut con = q.connect()?;
    let mut streams: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let mut c = redis::cmd("SCAN");
        c.arg(cursor).arg("MATCH").arg("orchestra:tasks*").arg("TYPE").arg("stream").arg("COUNT").arg(500);
        let (next, keys): (u64, Vec<String>) = q.query(&mut con, &c)?;
        streams.extend(keys);
        cursor = next;
        if cursor == 0 || streams.len() > 10_000 {
            break;
        }
    }
    let mut depth = 0i64;
    for s in &streams {
        let mut c = redis::cmd("XINFO");
        c.arg("GROUPS").arg(s);
        let groups: Vec<std::collections::HashMap<String, redis::Value>> = q.query(&mut con, &c)?;
        for g in groups {
            let name = g.get("name").and_then(|v| redis::from_redis_value_ref::<String>(v).ok());
            if name.as_deref() != Some(queue::GROUP) {
                continue;
            }
            let num = |k: &str| g.get(k).and_then(|v| redis::from_redis_value_ref::<i64>(v).ok()).unwrap_or(0);
            depth += num("lag") + num("pending");
        }
    }
    let workers: std::collections::BTreeMap<String, String> =
        q.query(&mut con, redis::cmd("HGETALL").arg(queue::WORKERS))?;
    let now = orchestra_distributed::message::now_ms();
    let alive = workers
        .values()
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .filter(|v| v["seen_ms"].as_u64().is_some_and(|t| now.saturating_sub(t) <= ALIVE_MS))
        .count();
    Ok(FleetSample { depth, workers: alive as i64 })
}

/// Sample the queue until the process ends, setting the gauges.
pub async fn watch(app: Arc<App>, q: Queue) {
    let q = Arc::new(q);
    let mut warned = false;
    loop {
        let qq = q.clone();
        match tokio::task::spawn_blocking(move || sample(&qq)).await {
            Ok(Ok(s)) => {
                warned = false;
                app.metrics.set_fleet(s.depth, s.workers);
                if let Ok(mut f) = app.fleet.lock() {
                    *f = Some(s);
                }
            }
            Ok(Err(e)) => {
                if !warned {
                    tracing::warn!("fleet gauges: {e}");
                    warned = true;
                }
            }
            Err(_) => return,
        }
        tokio::time::sleep(SAMPLE).await;
    }
}
