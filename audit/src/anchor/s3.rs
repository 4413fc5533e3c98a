//! S3 anchors: checkpoint notes kept as objects in an S3-compatible bucket,
//! ideally one with object lock, under credentials the log's host cannot use
//! to delete (SECURITY.md §8).
//!
//! URL: `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&lock=MODE&retain=DAYS]`.
//! `endpoint` defaults to `https://s3.REGION.amazonaws.com`, `region` to
//! `us-east-1`; requests are path-style (`ENDPOINT/BUCKET/KEY`) and signed with
//! AWS Signature V4 from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and
//! `AWS_SESSION_TOKEN` when set). `lock` is `auto` (default: a retention in
//! COMPLIANCE mode when the bucket has object lock enabled, none otherwise),
//! `compliance` or `governance` (that mode, and a bucket without object lock
//! is an error), or `off`; `retain` is the retention in days (default 365).
//!
//! Guarantees: a note is written only where no object exists: read first, then
//! a conditional put (`If-None-Match: *`), then read back; an existing object
//! with another head is a conflict and is never overwritten by this code. A
//! server that ignores `If-None-Match` leaves one race: two writers pushing
//! different notes for one size between the first read and the put; the
//! loser's read-back sees the other note and reports the conflict, but the
//! bucket keeps only the last note unless it is versioned (object lock implies
//! versioning, which keeps both).
//!
//! Why a small signer and not `object_store` (Apache Arrow, feature `aws`):
//! that crate does create-once puts (`PutMode::Create`) but, as of 0.13, sets
//! no object lock headers on a put and lists no object versions, both of
//! which this anchor needs, and it is async; the signed requests here go
//! through the `reqwest` the CLI already carries, with `hmac` as the only new
//! crate.

use super::AnchorError;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How notes are retained under object lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// COMPLIANCE retention if the bucket has object lock enabled.
    Auto,
    /// This retention mode; a bucket without object lock is an error.
    Compliance,
    /// GOVERNANCE retention; a bucket without object lock is an error.
    Governance,
    /// No retention.
    Off,
}

/// An S3 anchor's place and settings (parsed from its URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Anchor {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// `scheme://host[:port]`, no trailing `/`.
    pub endpoint: String,
    /// The signing region.
    pub region: String,
    /// Object lock use.
    pub lock: Lock,
    /// Retention in days under object lock.
    pub retain_days: u32,
    /// Credentials given in code (else the standard AWS variables are read).
    pub credentials: Option<Credentials>,
}

/// An access key and its secret (the secret is never shown by `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.key_id)
    }
}

/// One S3 answer.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// URI encoding as Signature V4 wants it (`/` kept when `slash`).
fn enc(s: &str, slash: bool) -> String {
    let mut o = String::new();
    for &b in s.as_bytes() {
        if unreserved(b) || (slash && b == b'/') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn dec(s: &str) -> String {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        let hexv = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(|&c| hexv(c)), b.get(i + 2).and_then(|&c| hexv(c)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hexs(b: &[u8]) -> String {
    crate::keys::hex(b)
}

fn hmac(key: &[u8], msg: &str) -> Vec<u8> {
    #[allow(clippy::expect_used)] // HMAC takes a key of any length.
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(msg.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// `(YYYYMMDD, YYYYMMDDTHHMMSSZ, YYYY-MM-DDTHH:MM:SSZ)` of a time.
fn stamps(t: SystemTime) -> (String, String, String) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z"),
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
    )
}

impl S3Anchor {
    /// Parse `s3://BUCKET[/PREFIX][?k=v&...]`; `None` when not an `s3://` URL.
    pub fn parse(url: &str) -> Option<Result<S3Anchor, AnchorError>> {
        let rest = url.strip_prefix("s3://")?;
        let bad = |why: &str| AnchorError::Url(format!("{url}: {why}"));
        let (place, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = place.split_once('/').unwrap_or((place, ""));
        if bucket.is_empty()
            || !bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Some(Err(bad("the bucket name is missing or not a valid S3 bucket name")));
        }
        let mut a = S3Anchor {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: String::new(),
            region: "us-east-1".into(),
            lock: Lock::Auto,
            retain_days: 365,
            credentials: None,
        };
        let mut endpoint = None;
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = dec(v);
            match k {
                "endpoint" => endpoint = Some(v.trim_end_matches('/').to_string()),
                "region" if !v.is_empty() => a.region = v,
                "lock" => {
                    a.lock = match v.as_str() {
                        "auto" => Lock::Auto,
                        "compliance" => Lock::Compliance,
                        "governance" => Lock::Governance,
                        "off" => Lock::Off,
                        _ => return Some(Err(bad("lock= wants auto, compliance, governance or off"))),
                    }
                }
                "retain" => match v.parse::<u32>() {
                    Ok(n) if n > 0 => a.retain_days = n,
                    _ => return Some(Err(bad("retain= wants a number of days > 0"))),
                },
                _ => return Some(Err(bad(&format!("unknown setting {k:?} (endpoint, region, lock, retain)")))),
            }
        }
        a.endpoint = endpoint.unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", a.region));
        match reqwest::Url::parse(&a.endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/" => {}
            _ => return Some(Err(bad("endpoint= wants http(s)://host[:port]"))),
        }
        Some(Ok(a))
    }

    /// The anchor as a URL (parses back to the same anchor).
    pub fn url(&self) -> String {
        let lock = match self.lock {
            Lock::Auto => "auto",
            Lock::Compliance => "compliance",
            Lock::Governance => "governance",
            Lock::Off => "off",
        };
        let prefix = if self.prefix.is_empty() { String::new() } else { format!("/{}", self.prefix) };
        format!(
            "s3://{}{prefix}?endpoint={}&region={}&lock={lock}&retain={}",
            self.bucket, self.endpoint, self.region, self.retain_days
        )
    }

    /// The object key of a log's directory (ends in `/`).
    pub fn log_prefix(&self, log_hex: &str) -> String {
        if self.prefix.is_empty() { format!("{log_hex}/") } else { format!("{}/{log_hex}/", self.prefix) }
    }

    /// `s3://bucket/key`, for messages.
    pub fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn err(&self, what: &str, a: &Answer) -> AnchorError {
        let body = String::from_utf8_lossy(&a.body);
        let code = tag(&body, "Code").unwrap_or_default();
        let msg = tag(&body, "Message").unwrap_or_default();
        AnchorError::S3 {
            url: self.url(),
            reason: format!("{what}: HTTP {} {code} {msg}", a.status).trim().to_string(),
        }
    }

    /// One signed request: `key` empty for the bucket itself (public for
    /// the calls an anchor does not make: creating the bucket, probing it).
    pub fn request(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<Answer, AnchorError> {
        let (key_id, secret) = match &self.credentials {
            Some(c) => (c.key_id.clone(), c.secret.clone()),
            None => (
                std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
                std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
            ),
        };
        if key_id.is_empty() || secret.is_empty() {
            return Err(AnchorError::S3 {
                url: self.url(),
                reason: "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
            });
        }
        let token = std::env::var("AWS_SESSION_TOKEN").ok().filter(|t| !t.is_empty());
        let parsed = reqwest::Url::parse(&self.endpoint)
            .map_err(|e| AnchorError::S3 { url: self.url(), reason: format!("endpoint: {e}") })?;
        let host = match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_string(),
        };
        let path = if key.is_empty() { format!("/{}", self.bucket) } else { format!("/{}/{key}", self.bucket) };
        let canon_path = enc(&path, true);
        let mut q: Vec<(String, String)> = query.iter().map(|(k, v)| (enc(k, false), enc(v, false))).collect();
        q.sort();
        let canon_query = q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        let (date, amz_date, _) = stamps(SystemTime::now());
        let payload = hexs(&Sha256::digest(body));
        let mut hs: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("x-amz-content-sha256".into(), payload.clone()),
            ("x-amz-date".into(), amz_date.clone()),
        ];
        if let Some(t) = &token {
            hs.push(("x-amz-security-token".into(), t.clone()));
        }
        hs.extend(headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())));
        hs.sort();
        let signed = hs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
        let canon_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let creq = format!("{method}\n{canon_path}\n{canon_query}\n{canon_headers}\n{signed}\n{payload}");
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hexs(&Sha256::digest(creq.as_bytes())));
        let mut k = hmac(format!("AWS4{secret}").as_bytes(), &date);
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            k = hmac(&k, part);
        }
        let sig = hexs(&hmac(&k, &to_sign));
        let auth = format!("AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed}, Signature={sig}");
        let url = if canon_query.is_empty() {
            format!("{}{canon_path}", self.endpoint)
        } else {
            format!("{}{canon_path}?{canon_query}", self.endpoint)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| AnchorError::S3 { url: self.url(), reason: e.to_string() })?;
        let body = body.to_vec();
        let me = self.url();
        // reqwest's blocking client must not run inside an async runtime: a
        // thread of its own keeps this callable from anywhere.
        std::thread::scope(|s| {
            s.spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .connect_timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|e| AnchorError::S3 { url: me.clone(), reason: e.to_string() })?;
                let mut rb = client.request(method, &url).header("authorization", auth).body(body);
                for (k, v) in hs.iter().filter(|(k, _)| k != "host") {
                    rb = rb.header(k.as_str(), v.as_str());
                }
                let resp = rb.send().map_err(|e| AnchorError::Unreachable { url: me.clone(), reason: chain(&e) })?;
                let status = resp.status().as_u16();
                let body =
                    resp.bytes().map_err(|e| AnchorError::Unreachable { url: me.clone(), reason: chain(&e) })?.to_vec();
                Ok(Answer { status, body })
            })
            .join()
            .unwrap_or_else(|_| Err(AnchorError::S3 { url: self.url(), reason: "the request thread panicked".into() }))
        })
    }

    /// The object's bytes, `None` if there is none.
    pub(super) fn get(&self, key: &str) -> Result<Option<Vec<u8>>, AnchorError> {
        let a = self.request("GET", key, &[], &[], b"")?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 if tag(&String::from_utf8_lossy(&a.body), "Code").as_deref() != Some("NoSuchBucket") => Ok(None),
            _ => Err(self.err(&format!("GET {key}"), &a)),
        }
    }

    /// Whether the bucket has object lock enabled.
    pub fn object_lock_enabled(&self) -> Result<bool, AnchorError> {
        let a = self.request("GET", "", &[("object-lock", "")], &[], b"")?;
        let body = String::from_utf8_lossy(&a.body);
        match a.status {
            200 => Ok(tag(&body, "ObjectLockEnabled").as_deref() == Some("Enabled")),
            404 | 400 if body.contains("ObjectLockConfigurationNotFound") => Ok(false),
            _ => Err(self.err("GET ?object-lock", &a)),
        }
    }

    /// Put `note` at `key` only if no object is there. `Ok(true)` when
    /// written, `Ok(false)` when an object exists (412/409).
    pub(super) fn put_new(&self, key: &str, note: &[u8]) -> Result<bool, AnchorError> {
        use base64::Engine as _;
        let mut headers = vec![
            ("if-none-match", "*".to_string()),
            ("content-type", "text/plain; charset=utf-8".to_string()),
            ("x-amz-checksum-sha256", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(note))),
        ];
        let mode = match self.lock {
            Lock::Off => None,
            Lock::Auto => self.object_lock_enabled()?.then_some("COMPLIANCE"),
            Lock::Compliance | Lock::Governance => {
                if !self.object_lock_enabled()? {
                    return Err(AnchorError::S3 {
                        url: self.url(),
                        reason: "lock= asks for a retention but the bucket has no object lock enabled".into(),
                    });
                }
                Some(if self.lock == Lock::Compliance { "COMPLIANCE" } else { "GOVERNANCE" })
            }
        };
        if let Some(mode) = mode {
            let until = SystemTime::now() + Duration::from_secs(u64::from(self.retain_days) * 86400);
            headers.push(("x-amz-object-lock-mode", mode.to_string()));
            headers.push(("x-amz-object-lock-retain-until-date", stamps(until).2));
        }
        let a = self.request("PUT", key, &[], &headers, note)?;
        match a.status {
            200 | 201 => Ok(true),
            412 | 409 => Ok(false),
            _ => Err(self.err(&format!("PUT {key}"), &a)),
        }
    }

    /// Every version and delete marker under `prefix` (newest first per key).
    pub(super) fn list_versions(&self, prefix: &str) -> Result<Vec<Version>, AnchorError> {
        let (mut out, mut marker) = (Vec::new(), None::<(String, String)>);
        loop {
            let mut q = vec![("versions", ""), ("prefix", prefix)];
            if let Some((k, v)) = &marker {
                q.push(("key-marker", k.as_str()));
                q.push(("version-id-marker", v.as_str()));
            }
            let a = self.request("GET", "", &q, &[], b"")?;
            if a.status != 200 {
                return Err(self.err(&format!("list versions {prefix}"), &a));
            }
            let body = String::from_utf8_lossy(&a.body).into_owned();
            // Versions and markers keep their order in the answer.
            let mut rest = body.as_str();
            loop {
                let (v, m) = (rest.find("<Version>"), rest.find("<DeleteMarker>"));
                let (at, close, deleted) = match (v, m) {
                    (Some(v), Some(m)) if m < v => (m, "</DeleteMarker>", true),
                    (Some(v), _) => (v, "</Version>", false),
                    (None, Some(m)) => (m, "</DeleteMarker>", true),
                    (None, None) => break,
                };
                let Some(end) = rest[at..].find(close) else { break };
                let item = &rest[at..at + end];
                out.push(Version {
                    key: unxml(&tag(item, "Key").unwrap_or_default()),
                    version_id: unxml(&tag(item, "VersionId").unwrap_or_default()),
                    delete_marker: deleted,
                });
                rest = &rest[at + end..];
            }
            marker = match (tag(&body, "IsTruncated").as_deref(), tag(&body, "NextKeyMarker")) {
                (Some("true"), Some(k)) => {
                    Some((unxml(&k), unxml(&tag(&body, "NextVersionIdMarker").unwrap_or_default())))
                }
                _ => return Ok(out),
            };
        }
    }

    /// One version of an object.
    pub(super) fn get_version(&self, key: &str, version_id: &str) -> Result<Option<Vec<u8>>, AnchorError> {
        let a = self.request("GET", key, &[("versionId", version_id)], &[], b"")?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 => Ok(None),
            _ => Err(self.err(&format!("GET {key} version {version_id}"), &a)),
        }
    }

    /// Every key under `prefix`.
    pub(super) fn list(&self, prefix: &str) -> Result<Vec<String>, AnchorError> {
        let (mut keys, mut token) = (Vec::new(), None::<String>);
        loop {
            let mut q = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(t) = &token {
                q.push(("continuation-token", t.as_str()));
            }
            let a = self.request("GET", "", &q, &[], b"")?;
            if a.status != 200 {
                return Err(self.err(&format!("list {prefix}"), &a));
            }
            let body = String::from_utf8_lossy(&a.body).into_owned();
            keys.extend(tags(&body, "Key").into_iter().map(|k| unxml(&k)));
            token = match (tag(&body, "IsTruncated").as_deref(), tag(&body, "NextContinuationToken")) {
                (Some("true"), Some(t)) => Some(unxml(&t)),
                _ => return Ok(keys),
            };
        }
    }
}

/// One entry of a version listing.
#[derive(Debug, Clone)]
pub(super) struct Version {
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
}

/// The error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

fn tags(body: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

fn tag(body: &str, name: &str) -> Option<String> {
    tags(body, name).into_iter().next()
}

fn unxml(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199); // 2024-02-29T23:59:59Z
        assert_eq!(stamps(t), ("20240229".into(), "20240229T235959Z".into(), "2024-02-29T23:59:59Z".into()));
        assert_eq!(stamps(UNIX_EPOCH).1, "19700101T000000Z");
    }

    #[test]
    fn urls_parse_with_defaults_and_round_trip() {
        let a = S3Anchor::parse("s3://notes/org/ci").and_then(Result::ok);
        let a = a.as_ref();
        assert_eq!(a.map(|a| a.endpoint.as_str()), Some("https://s3.us-east-1.amazonaws.com"));
        assert_eq!(a.map(|a| a.prefix.as_str()), Some("org/ci"));
        assert_eq!(a.map(|a| a.lock), Some(Lock::Auto));
        let b =
            S3Anchor::parse("s3://b?endpoint=http%3A%2F%2F127.0.0.1%3A8333&region=eu-west-1&lock=governance&retain=7")
                .and_then(Result::ok);
        assert_eq!(b.as_ref().map(|b| b.endpoint.as_str()), Some("http://127.0.0.1:8333"));
        let again = b.as_ref().and_then(|b| S3Anchor::parse(&b.url())).and_then(Result::ok);
        assert_eq!(again, b);
        assert_eq!(b.map(|b| (b.lock, b.retain_days)), Some((Lock::Governance, 7)));
        for bad in
            ["s3://", "s3://Upper", "s3://b?lock=worm", "s3://b?retain=0", "s3://b?x=1", "s3://b?endpoint=ftp://h"]
        {
            assert!(matches!(S3Anchor::parse(bad), Some(Err(AnchorError::Url(_)))), "{bad}");
        }
        assert!(S3Anchor::parse("/dir").is_none());
    }
}
