//! Storage URLs: what [`super::Blobs::open`] accepts, parsed strictly.
//!
//! - a plain absolute path, or `file:///abs/dir` (percent-escapes decoded):
//!   a local directory;
//! - `s3://BUCKET[/PREFIX][?endpoint=URL&region=R]`: an S3 bucket, objects
//!   under PREFIX (segments of letters, digits, `.`, `_`, `-`; no `.`/`..`).
//!
//! Anything else — other schemes, relative paths, a `file://host/`, unknown or
//! repeated query keys, an endpoint that is not `http(s)://host[:port]` — is a
//! [`StorageError::BadUrl`].

use super::StorageError;
use std::path::PathBuf;

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A local directory (absolute).
    Local(PathBuf),
    /// An S3 bucket.
    S3(S3Location),
}

/// An S3 bucket, a key prefix and the service that holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Location {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
    /// `http(s)://host[:port]` without a trailing `/`; `None`: AWS.
    pub endpoint: Option<String>,
    pub region: String,
}

/// The region when the URL names none.
const DEFAULT_REGION: &str = "us-east-1";

pub(crate) fn parse(url: &str) -> Result<Location, StorageError> {
    let bad = |reason: &str| StorageError::BadUrl { url: url.to_string(), reason: reason.to_string() };
    if url.starts_with('/') {
        return Ok(Location::Local(PathBuf::from(url)));
    }
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(bad("a file URL names a local absolute directory: file:///abs/dir"));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("a file URL takes no query or fragment"));
        }
        let bytes = percent_decode(rest).ok_or_else(|| bad("bad percent-escape"))?;
        use std::os::unix::ffi::OsStringExt;
        return Ok(Location::Local(PathBuf::from(std::ffi::OsString::from_vec(bytes))));
    }
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(bad(
            "expected an absolute directory, file:///abs/dir or s3://BUCKET[/PREFIX][?endpoint=URL&region=R]",
        ));
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.contains('#') {
        return Err(bad("an s3 URL takes no fragment"));
    }
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    check_bucket(bucket).map_err(bad)?;
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    if !prefix.is_empty() {
        for segment in prefix.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(bad("the prefix has an empty, `.` or `..` segment"));
            }
            if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
                return Err(bad("prefix segments are letters, digits, `.`, `_` and `-`"));
            }
        }
    }
    let mut endpoint = None;
    let mut region = None;
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let (key, value) = pair.split_once('=').ok_or_else(|| bad("query settings are KEY=VALUE"))?;
        let value = percent_decode(value)
            .and_then(|v| String::from_utf8(v).ok())
            .ok_or_else(|| bad("bad percent-escape in the query"))?;
        let slot = match key {
            "endpoint" => &mut endpoint,
            "region" => &mut region,
            _ => return Err(bad(&format!("unknown setting `{key}` (known: endpoint, region)"))),
        };
        if slot.replace(value).is_some() {
            return Err(bad(&format!("`{key}` is given twice")));
        }
    }
    let endpoint = endpoint.map(|e| check_endpoint(&e).map_err(bad)).transpose()?;
    let region = match region {
        Some(r) if r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            return Err(bad("a region is letters, digits and `-`"));
        }
        Some(r) => r,
        None => DEFAULT_REGION.to_string(),
    };
    Ok(Location::S3(S3Location { bucket: bucket.to_string(), prefix: prefix.to_string(), endpoint, region }))
}

/// S3's bucket naming rules (3 to 63 of lowercase letters, digits, `.`, `-`;
/// a letter or digit at both ends).
fn check_bucket(bucket: &str) -> Result<(), &'static str> {
    let b = bucket.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !(3..=63).contains(&b.len())
        || !b.iter().all(|c| edge(c) || *c == b'.' || *c == b'-')
        || !b.first().is_some_and(edge)
        || !b.last().is_some_and(edge)
    {
        return Err("a bucket name is 3 to 63 lowercase letters, digits, `.` and `-`");
    }
    Ok(())
}

/// `http(s)://host[:port]`, returned without a trailing `/`.
fn check_endpoint(endpoint: &str) -> Result<String, &'static str> {
    let trimmed = endpoint.strip_suffix('/').unwrap_or(endpoint);
    let authority = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or("the endpoint is an http:// or https:// URL")?;
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err("the endpoint is scheme://host[:port], nothing more");
    }
    Ok(trimmed.to_string())
}

/// Decodes `%XX` escapes; `None` for a malformed one.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(url: &str) -> S3Location {
        match parse(url) {
            Ok(Location::S3(s)) => s,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn local_forms() {
        assert_eq!(parse("/var/blobs").unwrap(), Location::Local("/var/blobs".into()));
        assert_eq!(parse("file:///var/my%20blobs").unwrap(), Location::Local("/var/my blobs".into()));
        for bad in ["relative/dir", "file://host/dir", "file:///d?x=1", "file:///d%zz", "", "http://x/y"] {
            assert!(matches!(parse(bad), Err(StorageError::BadUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn s3_forms() {
        let l = s3("s3://bucket-1");
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str(), l.endpoint, l.region.as_str()),
            ("bucket-1", "", None, "us-east-1")
        );
        let l = s3("s3://b.b/runs/blobs/?endpoint=http://127.0.0.1:8333/&region=eu-west-3");
        assert_eq!(l.prefix, "runs/blobs");
        assert_eq!(l.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert_eq!(l.region, "eu-west-3");
        let l = s3("s3://bbb?endpoint=https%3A%2F%2Fs3.example.com");
        assert_eq!(l.endpoint.as_deref(), Some("https://s3.example.com"));
        for bad in [
            "s3://",
            "s3://B",
            "s3://UPPER",
            "s3://-bb",
            "s3://bbb//x",
            "s3://bbb/a/../b",
            "s3://bbb/a b",
            "s3://bbb?endpoint=ftp://x",
            "s3://bbb?endpoint=http://x/path",
            "s3://bbb?endpoint=http://u@x",
            "s3://bbb?region=us-east-1&region=eu-west-1",
            "s3://bbb?colour=blue",
            "s3://bbb?endpoint",
            "s3://bbb?region=",
        ] {
            assert!(matches!(parse(bad), Err(StorageError::BadUrl { .. })), "{bad}");
        }
    }
}
