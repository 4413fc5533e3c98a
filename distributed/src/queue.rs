//! The Redis Streams layout of a fleet, and the few commands on it.
//!
//! - Task streams: `orchestra:tasks` for tasks without labels, and
//!   `orchestra:tasks:<l1,l2,…>` (sorted) for tasks that need labels; every
//!   worker reads, in the consumer group `workers`, the streams of every
//!   subset of its labels. An entry has one field, `m`: a signed
//!   [`TaskMessage`](crate::message::TaskMessage).
//! - Leases: the worker that holds an entry re-claims it (`XCLAIM … JUSTID`,
//!   which resets its idle time without counting a delivery) every third of
//!   the lease while its task lives; any worker takes over an entry idle for a
//!   whole lease (`XAUTOCLAIM`). A long task on a live worker is thus never
//!   reclaimed, however long it runs.
//! - Fencing: each delivery of a message gets a token from `INCR
//!   orchestra:fence:<message id>`; the orchestrator accepts a result only
//!   when its token is the counter's current value.
//! - Replays: `orchestra:seen:<message id>` holds the stream entry a message
//!   id was first seen in; the same id in another entry is a replay.
//! - Results: `orchestra:results:<run id>`, signed worker events.
//! - Go-ahead: a worker runs a delivery only after the orchestrator answered
//!   its `started` event with a signed go-ahead naming the message, the token,
//!   the worker and the worker's nonce, pushed to `orchestra:go:<id>:<nonce>`
//!   (a message replayed after its run ended, or left over by a run that is
//!   gone, never gets one).
//! - Cancel: `orchestra:cancel:<message id>` exists when the orchestrator
//!   wants the attempt stopped.
//! - Workers: the hash `orchestra:workers` (name → JSON status), and the
//!   stream `orchestra:refused` of refused messages (capped).
//!
//! Credentials: `ORCHESTRA_REDIS_USERNAME` / `ORCHESTRA_REDIS_PASSWORD` from
//! the environment (an ACL user), sent with `AUTH` on every connection; a URL
//! with a password in it is refused (it would show in process listings and
//! logs). `rediss://` connects over TLS (rustls, the web PKI roots).

use std::time::Duration;

/// The consumer group of the task streams.
pub const GROUP: &str = "workers";
/// The worker registry hash.
pub const WORKERS: &str = "orchestra:workers";
/// The stream of refused messages.
pub const REFUSED: &str = "orchestra:refused";
/// How long a message id is remembered (replay window), seconds.
pub const SEEN_TTL_S: u64 = 7 * 24 * 3600;

/// Why the queue cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The URL is not a usable Redis URL.
    #[error("queue {url}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// Redis cannot be reached or refused a command.
    #[error("queue {url}: {source}")]
    Redis {
        /// The URL (without credentials).
        url: String,
        /// The cause.
        source: redis::RedisError,
    },
    /// A label is not a label.
    #[error("label {0:?}: labels are 1-32 characters of a-z, 0-9, '-', '_', '.'")]
    BadLabel(String),
}

/// A Redis queue URL with its credentials (from the environment).
#[derive(Clone)]
pub struct Queue {
    client: redis::Client,
    url: String,
    auth: Option<(Option<String>, String)>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Queue {
    /// Parse `url` (`redis://HOST:PORT[/DB]` or `rediss://…`); nothing is contacted.
    pub fn open(url: &str) -> Result<Queue, QueueError> {
        let bad = |reason: &str| QueueError::BadUrl { url: without_credentials(url), reason: reason.to_string() };
        let rest = url
            .strip_prefix("redis://")
            .or_else(|| url.strip_prefix("rediss://"))
            .ok_or_else(|| bad("expected redis://HOST:PORT or rediss://HOST:PORT"))?;
        let authority = rest.split('/').next().unwrap_or("");
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are refused; set ORCHESTRA_REDIS_USERNAME and ORCHESTRA_REDIS_PASSWORD",
            ));
        }
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let client = redis::Client::open(url).map_err(|e| bad(&e.to_string()))?;
        let password = std::env::var("ORCHESTRA_REDIS_PASSWORD").ok().filter(|p| !p.is_empty());
        let user = std::env::var("ORCHESTRA_REDIS_USERNAME").ok().filter(|u| !u.is_empty());
        Ok(Queue { client, url: url.to_string(), auth: password.map(|p| (user, p)) })
    }

    /// The URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, source: redis::RedisError) -> QueueError {
        QueueError::Redis { url: self.url.clone(), source }
    }

    /// A new connection (5 s to connect; replies within `read` plus any block time).
    pub fn connect(&self) -> Result<redis::Connection, QueueError> {
        let mut con = self.client.get_connection_with_timeout(Duration::from_secs(5)).map_err(|e| self.err(e))?;
        con.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| self.err(e))?;
        con.set_write_timeout(Some(Duration::from_secs(10))).map_err(|e| self.err(e))?;
        if let Some((user, pass)) = &self.auth {
            let mut c = redis::cmd("AUTH");
            if let Some(u) = user {
                c.arg(u);
            }
            c.arg(pass).query::<()>(&mut con).map_err(|e| self.err(e))?;
        }
        redis::cmd("PING").query::<()>(&mut con).map_err(|e| self.err(e))?;
        Ok(con)
    }

    /// Run `cmd` on `con`, as a [`QueueError`].
    pub fn query<T: redis::FromRedisValue>(
        &self,
        con: &mut redis::Connection,
        cmd: &redis::Cmd,
    ) -> Result<T, QueueError> {
        cmd.query(con).map_err(|e| self.err(e))
    }

    /// Create the group on `stream` (and the stream) if absent, reading from its start.
    pub fn ensure_group(&self, con: &mut redis::Connection, stream: &str) -> Result<(), QueueError> {
        match redis::cmd("XGROUP").arg("CREATE").arg(stream).arg(GROUP).arg("0").arg("MKSTREAM").query::<()>(con) {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }
}

/// `url` with any `user:password@` replaced by `***@` (errors are printed,
/// and end up in CI logs).
pub fn without_credentials(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// Check a label.
pub fn check_label(l: &str) -> Result<(), QueueError> {
    let ok = !l.is_empty()
        && l.len() <= 32
        && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok { Ok(()) } else { Err(QueueError::BadLabel(l.to_string())) }
}

/// The task stream for tasks that need `labels`.
pub fn tasks_stream(labels: &[String]) -> String {
    let mut l: Vec<&str> = labels.iter().map(String::as_str).collect();
    l.sort_unstable();
    l.dedup();
    if l.is_empty() { "orchestra:tasks".to_string() } else { format!("orchestra:tasks:{}", l.join(",")) }
}

/// The task streams a worker with `labels` reads: one per subset (labels
/// are capped at 8, so at most 256 streams).
pub fn worker_streams(labels: &[String]) -> Vec<String> {
    let mut l: Vec<String> = labels.to_vec();
    l.sort_unstable();
    l.dedup();
    l.truncate(8);
    (0u32..(1 << l.len()))
        .map(|mask| {
            let subset: Vec<String> =
                l.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| s.clone()).collect();
            tasks_stream(&subset)
        })
        .collect()
}

/// The fencing counter of a message.
pub fn fence_key(msg: &str) -> String {
    format!("orchestra:fence:{msg}")
}

/// Where a message id was first seen.
pub fn seen_key(msg: &str) -> String {
    format!("orchestra:seen:{msg}")
}

/// Where the orchestrator puts its go-ahead for one delivery.
pub fn go_key(msg: &str, nonce: &str) -> String {
    format!("orchestra:go:{msg}:{nonce}")
}

/// Set when the orchestrator wants the attempt stopped.
pub fn cancel_key(msg: &str) -> String {
    format!("orchestra:cancel:{msg}")
}

/// A run's result stream.
pub fn results_stream(run_id: &str) -> String {
    format!("orchestra:results:{run_id}")
}

/// The `m` field of a stream entry, as bytes.
pub fn entry_message(entry: &redis::streams::StreamId) -> Option<Vec<u8>> {
    match entry.map.get("m")? {
        redis::Value::BulkString(b) => Some(b.clone()),
        redis::Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_reads_every_stream_its_labels_can_serve() {
        let s = worker_streams(&["gpu".into(), "docker".into()]);
        assert_eq!(s.len(), 4);
        for want in
            [tasks_stream(&[]), tasks_stream(&["docker".into()]), tasks_stream(&["docker".into(), "gpu".into()])]
        {
            assert!(s.contains(&want), "{s:?} lacks {want}");
        }
        assert_eq!(tasks_stream(&["b".into(), "a".into(), "a".into()]), "orchestra:tasks:a,b");
        assert!(check_label("docker").is_ok());
        for bad in ["", "A", "a,b", "a:b", &"x".repeat(33)] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_url_with_a_password_or_another_scheme_is_refused() {
        assert!(Queue::open("redis://127.0.0.1:6379").is_ok());
        assert!(Queue::open("rediss://127.0.0.1:6379/2").is_ok());
        for bad in ["http://x", "redis://"] {
            let e = Queue::open(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("queue {bad}: ")), "{e}");
        }
        for (bad, shown) in
            [("redis://:pw@127.0.0.1:1", "redis://***@127.0.0.1:1"), ("redis://u:pw@h:1/0", "redis://***@h:1/0")]
        {
            let e = Queue::open(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("queue {shown}: credentials in the URL are refused")), "{e}");
            assert!(!e.contains("pw"), "{e}");
        }
    }
}
