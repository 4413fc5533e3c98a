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
//! logs). Every key orchestra touches starts with `orchestra:`, so an ACL
//! user limited to `~orchestra:*` (and without `@dangerous`) suffices.
//!
//! TLS: `rediss://` connects over TLS (rustls) and always verifies the
//! server's certificate and host name: against the web PKI roots, or, when
//! `ORCHESTRA_REDIS_CA` names a PEM bundle, against that bundle only (a
//! private CA). `ORCHESTRA_REDIS_CLIENT_CERT` + `ORCHESTRA_REDIS_CLIENT_KEY`
//! (PEM) add a client certificate (mutual TLS). These files are read and
//! parsed by [`Queue::open`], so an unreadable or invalid one is an error
//! before anything starts; a TLS variable with a plain `redis://` URL, and a
//! `#insecure` URL, are refused: there is no fallback to plain TCP or to an
//! unverified connection.

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
    /// A connection could not be made (with a hint at the setting to look at).
    #[error("queue {url}: {source}{hint}")]
    Connect {
        /// The URL (without credentials).
        url: String,
        /// The cause.
        source: redis::RedisError,
        /// `""`, or ` (what to check)`.
        hint: &'static str,
    },
    /// The TLS settings (`ORCHESTRA_REDIS_CA`, `…_CLIENT_CERT`, `…_CLIENT_KEY`) are unusable.
    #[error("queue {url}: {reason}")]
    Tls {
        /// The URL (without credentials).
        url: String,
        /// Why, naming the variable and its file.
        reason: String,
    },
    /// A label is not a label.
    #[error("label {0:?}: labels are 1-32 characters of a-z, 0-9, '-', '_', '.'")]
    BadLabel(String),
}

/// The PEM bundle of the CAs a `rediss://` server's certificate must chain to.
pub const ENV_CA: &str = "ORCHESTRA_REDIS_CA";
/// The client certificate (PEM chain) for mutual TLS.
pub const ENV_CLIENT_CERT: &str = "ORCHESTRA_REDIS_CLIENT_CERT";
/// The client certificate's private key (PEM).
pub const ENV_CLIENT_KEY: &str = "ORCHESTRA_REDIS_CLIENT_KEY";

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
    /// Parse `url` (`redis://HOST:PORT[/DB]` or `rediss://…`) and read the
    /// credentials and TLS files the environment names; nothing is contacted.
    pub fn open(url: &str) -> Result<Queue, QueueError> {
        Queue::open_with(url, &|k| std::env::var(k).ok())
    }

    /// As [`Queue::open`], with the environment given by `env`.
    fn open_with(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Queue, QueueError> {
        let shown = without_credentials(url);
        let bad = |reason: &str| QueueError::BadUrl { url: shown.clone(), reason: reason.to_string() };
        let (tls, rest) = match url.strip_prefix("rediss://") {
            Some(rest) => (true, rest),
            None => (
                false,
                url.strip_prefix("redis://").ok_or_else(|| bad("expected redis://HOST:PORT or rediss://HOST:PORT"))?,
            ),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are refused; set ORCHESTRA_REDIS_USERNAME and ORCHESTRA_REDIS_PASSWORD",
            ));
        }
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if rest.contains('#') {
            return Err(bad("a URL fragment (#insecure) is refused: the server's certificate is always verified"));
        }
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        let client = if tls {
            match tls_certificates(url, &env)
                .map_err(|e| QueueError::Tls { url: shown.clone(), reason: e.to_string() })?
            {
                Some(certs) => redis::Client::build_with_tls(url, certs)
                    .map_err(|e| QueueError::Tls { url: shown.clone(), reason: one_line(&e.to_string()) })?,
                None => redis::Client::open(url).map_err(|e| bad(&e.to_string()))?,
            }
        } else {
            if let Some(var) = [ENV_CA, ENV_CLIENT_CERT, ENV_CLIENT_KEY].into_iter().find(|v| env(v).is_some()) {
                return Err(QueueError::Tls {
                    url: shown,
                    reason: format!(
                        "{var} is set but the URL is plain redis://; use rediss:// (no fallback to plain TCP)"
                    ),
                });
            }
            redis::Client::open(url).map_err(|e| bad(&e.to_string()))?
        };
        let password = env("ORCHESTRA_REDIS_PASSWORD");
        let user = env("ORCHESTRA_REDIS_USERNAME");
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
        let fail = |source: redis::RedisError| {
            let hint = connect_hint(&self.url, &source);
            QueueError::Connect { url: self.url.clone(), source, hint }
        };
        let mut con = self.client.get_connection_with_timeout(Duration::from_secs(5)).map_err(fail)?;
        con.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| self.err(e))?;
        con.set_write_timeout(Some(Duration::from_secs(10))).map_err(|e| self.err(e))?;
        if let Some((user, pass)) = &self.auth {
            let mut c = redis::cmd("AUTH");
            if let Some(u) = user {
                c.arg(u);
            }
            c.arg(pass).query::<()>(&mut con).map_err(fail)?;
        }
        redis::cmd("PING").query::<()>(&mut con).map_err(fail)?;
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

    /// Run `pipe` (one round trip) and convert its replies.
    pub fn query_pipe<T: redis::FromRedisValue>(
        &self,
        con: &mut redis::Connection,
        pipe: &redis::Pipeline,
    ) -> Result<T, QueueError> {
        pipe.query(con).map_err(|e| self.err(e))
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

/// An entry a consumer of [`GROUP`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The entry's id.
    pub entry: String,
    /// The consumer (worker) holding it.
    pub consumer: String,
    /// Milliseconds since it was last claimed.
    pub idle_ms: u64,
}

impl Queue {
    /// Every entry of `stream` that a worker holds (delivered, not yet
    /// acknowledged); none when the stream or its group does not exist.
    pub fn held(&self, con: &mut redis::Connection, stream: &str) -> Result<Vec<Held>, QueueError> {
        const PAGE: usize = 1000;
        let mut out = Vec::new();
        let mut from = "-".to_string();
        loop {
            let mut c = redis::cmd("XPENDING");
            c.arg(stream).arg(GROUP).arg(&from).arg("+").arg(PAGE);
            let page: redis::streams::StreamPendingCountReply = match c.query(con) {
                Ok(p) => p,
                Err(e) if e.code() == Some("NOGROUP") => return Ok(out),
                Err(e) => return Err(self.err(e)),
            };
            let n = page.ids.len();
            for p in page.ids {
                from = format!("({}", p.id);
                out.push(Held { entry: p.id, consumer: p.consumer, idle_ms: p.last_delivered_ms as u64 });
            }
            if n < PAGE {
                return Ok(out);
            }
        }
    }

    /// Every task stream in this Redis (`orchestra:tasks`, `orchestra:tasks:<labels>`).
    pub fn task_streams(&self, con: &mut redis::Connection) -> Result<Vec<String>, QueueError> {
        let mut out = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let mut c = redis::cmd("SCAN");
            c.arg(&cursor).arg("MATCH").arg("orchestra:tasks*").arg("COUNT").arg(1000).arg("TYPE").arg("stream");
            let (next, keys): (String, Vec<String>) = self.query(con, &c)?;
            out.extend(keys.into_iter().filter(|k| k == "orchestra:tasks" || k.starts_with("orchestra:tasks:")));
            if next == "0" {
                out.sort_unstable();
                out.dedup();
                return Ok(out);
            }
            cursor = next;
        }
    }
}

/// Why the TLS material the environment names cannot be used; the text
/// names the variable and its file.
#[derive(Debug, thiserror::Error)]
enum TlsSetupError {
    #[error("{var}={path}: cannot read it: {source}")]
    Read { var: &'static str, path: String, source: std::io::Error },
    #[error("{var}={path}: no PEM {label} in it")]
    NoPem { var: &'static str, path: String, label: String },
    #[error("{0} is set without {1}")]
    HalfPair(&'static str, &'static str),
    #[error("{named}: {reason}")]
    Refused { named: String, reason: String },
}

/// A PEM file the environment names.
struct Pem {
    var: &'static str,
    path: String,
    bytes: Vec<u8>,
}

impl Pem {
    /// The file `var` names, if set; it must be readable and hold a PEM block whose label ends with `label`.
    fn read(
        env: &dyn Fn(&str) -> Option<String>,
        var: &'static str,
        label: &str,
    ) -> Result<Option<Pem>, TlsSetupError> {
        let Some(path) = env(var) else { return Ok(None) };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(source) => return Err(TlsSetupError::Read { var, path, source }),
        };
        let marker = format!("{label}-----");
        let found = String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::trim)
            .any(|l| l.starts_with("-----BEGIN ") && l.ends_with(&marker));
        if !found {
            return Err(TlsSetupError::NoPem { var, path, label: label.to_lowercase() });
        }
        Ok(Some(Pem { var, path, bytes }))
    }

    fn named(&self) -> String {
        format!("{}={}", self.var, self.path)
    }
}

/// The TLS material the environment names, parsed (`None`: none, so the web
/// PKI roots and no client certificate). The reason names the variable and its file.
fn tls_certificates(
    url: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<redis::TlsCertificates>, TlsSetupError> {
    let ca = Pem::read(env, ENV_CA, "CERTIFICATE")?;
    let cert = Pem::read(env, ENV_CLIENT_CERT, "CERTIFICATE")?;
    // "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY".
    let key = Pem::read(env, ENV_CLIENT_KEY, "PRIVATE KEY")?;
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => return Err(TlsSetupError::HalfPair(ENV_CLIENT_CERT, ENV_CLIENT_KEY)),
        (None, Some(_)) => return Err(TlsSetupError::HalfPair(ENV_CLIENT_KEY, ENV_CLIENT_CERT)),
    };
    // Each part parsed on its own first, so that an error names its file.
    let root_cert = match ca {
        Some(ca) => {
            let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(ca.bytes.clone()) };
            redis::Client::build_with_tls(url, certs)
                .map_err(|e| TlsSetupError::Refused { named: ca.named(), reason: one_line(&e.to_string()) })?;
            Some(ca.bytes)
        }
        None => None,
    };
    let client_tls = match client {
        Some((c, k)) => {
            let named = format!("{} / {}", c.named(), k.named());
            let tls = redis::ClientTlsConfig { client_cert: c.bytes, client_key: k.bytes };
            let certs = redis::TlsCertificates { client_tls: Some(tls.clone()), root_cert: None };
            redis::Client::build_with_tls(url, certs)
                .map_err(|e| TlsSetupError::Refused { named, reason: one_line(&e.to_string()) })?;
            Some(tls)
        }
        None => None,
    };
    if root_cert.is_none() && client_tls.is_none() {
        return Ok(None);
    }
    Ok(Some(redis::TlsCertificates { client_tls, root_cert }))
}

/// What to check when connecting to `url` failed with `e` (`""`: nothing specific).
fn connect_hint(url: &str, e: &redis::RedisError) -> &'static str {
    let text = e.to_string().to_ascii_lowercase();
    match e.code() {
        Some("NOAUTH") => return " (set ORCHESTRA_REDIS_USERNAME and ORCHESTRA_REDIS_PASSWORD)",
        Some("WRONGPASS") => return " (check ORCHESTRA_REDIS_USERNAME and ORCHESTRA_REDIS_PASSWORD)",
        _ => {}
    }
    if text.contains("unknownissuer") {
        " (the server's certificate is not signed by a CA orchestra trusts: set ORCHESTRA_REDIS_CA to its CA's PEM bundle)"
    } else if text.contains("certificaterequired") {
        " (the server asks for a client certificate: set ORCHESTRA_REDIS_CLIENT_CERT and ORCHESTRA_REDIS_CLIENT_KEY)"
    } else if url.starts_with("redis://")
        && ["connection reset", "broken pipe", "end of file", "unexpected eof"].iter().any(|t| text.contains(t))
    {
        " (a TLS port? use rediss://)"
    } else {
        ""
    }
}

/// `s` on one line (an error is one line on the terminal and in CI logs).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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

/// What went wrong on a message's last delivery (said by its worker, read by
/// the worker that gives up on it).
pub fn error_key(msg: &str) -> String {
    format!("orchestra:error:{msg}")
}

/// Set when the orchestrator wants the attempt stopped.
pub fn cancel_key(msg: &str) -> String {
    format!("orchestra:cancel:{msg}")
}

/// A run's deliveries that may still run, across its sessions: message id →
/// `"<stream> <entry>"` (written with each message; what a `resume` stops
/// and waits for before it starts anything).
pub fn sent_key(run_id: &str) -> String {
    format!("orchestra:sent:{run_id}")
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

    #[test]
    fn tls_files_are_read_when_the_queue_is_opened_and_a_bad_one_is_one_line_naming_it() {
        let dir = std::env::temp_dir().join(format!("orchestra-queue-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p.to_string_lossy().into_owned()
        };
        let missing = dir.join("missing.pem").to_string_lossy().into_owned();
        let not_pem = write("not.pem", "hello\n");
        let bad_b64 = write("bad.pem", "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n");
        let key_only = write("key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        let open = |url: &str, vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Queue::open_with(url, &move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        };
        let tls = "rediss://127.0.0.1:6380";
        for (url, vars, want) in [
            (tls, vec![(ENV_CA, missing.as_str())], format!("{ENV_CA}={missing}: cannot read it")),
            (tls, vec![(ENV_CA, not_pem.as_str())], format!("{ENV_CA}={not_pem}: no PEM certificate in it")),
            (tls, vec![(ENV_CA, key_only.as_str())], format!("{ENV_CA}={key_only}: no PEM certificate in it")),
            (tls, vec![(ENV_CA, bad_b64.as_str())], format!("{ENV_CA}={bad_b64}: ")),
            (
                tls,
                vec![(ENV_CLIENT_CERT, bad_b64.as_str())],
                format!("{ENV_CLIENT_CERT} is set without {ENV_CLIENT_KEY}"),
            ),
            (
                tls,
                vec![(ENV_CLIENT_KEY, key_only.as_str())],
                format!("{ENV_CLIENT_KEY} is set without {ENV_CLIENT_CERT}"),
            ),
            (
                tls,
                vec![(ENV_CLIENT_CERT, bad_b64.as_str()), (ENV_CLIENT_KEY, key_only.as_str())],
                format!("{ENV_CLIENT_CERT}={bad_b64} / {ENV_CLIENT_KEY}={key_only}: "),
            ),
            (
                "redis://127.0.0.1:6379",
                vec![(ENV_CA, not_pem.as_str())],
                format!("{ENV_CA} is set but the URL is plain redis://; use rediss://"),
            ),
        ] {
            let e = open(url, &vars).unwrap_err();
            assert!(matches!(e, QueueError::Tls { .. }), "{e:?}");
            let e = e.to_string();
            assert!(e.starts_with(&format!("queue {url}: {want}")), "{e}\nwant: {want}");
            assert!(!e.contains('\n'), "{e}");
        }
        // A fragment could ask redis-rs not to verify: refused.
        let e = open("rediss://127.0.0.1:6380/#insecure", &[]).unwrap_err().to_string();
        assert!(e.contains("is refused: the server's certificate is always verified"), "{e}");
        // Empty variables are unset.
        assert!(
            open("redis://127.0.0.1:6379", &[(ENV_CA, ""), ("ORCHESTRA_REDIS_PASSWORD", "")]).unwrap().auth.is_none()
        );
        let q = open("redis://127.0.0.1:6379", &[("ORCHESTRA_REDIS_USERNAME", "u"), ("ORCHESTRA_REDIS_PASSWORD", "p")]);
        assert_eq!(q.unwrap().auth, Some((Some("u".to_string()), "p".to_string())));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
