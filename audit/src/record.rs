//! Records: the binary payload layout, canonical JSON bodies, and hashes
//! (FORMAT.md §5–§6).
//!
//! Payload: `seq u64 | time_us u64 | prev [32] | kind_len u8 | kind |
//! body_len u32 | body`, all integers big-endian. The record hash is
//! `SHA-256("orchestra.audit/v1 record\0" || payload)`; the first record's
//! `prev` is `SHA-256("orchestra.audit/v1 genesis\0" || log_id)`.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Domain-separation prefix of record hashes.
pub const RECORD_DOMAIN: &[u8] = b"orchestra.audit/v1 record\0";
/// Domain-separation prefix of the genesis value.
pub const GENESIS_DOMAIN: &[u8] = b"orchestra.audit/v1 genesis\0";

/// Why a payload is not a valid record, or a value has no canonical body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Shorter than the fixed part of the layout.
    #[error("record payload too short")]
    TooShort,
    /// Shorter than its kind length says.
    #[error("record payload too short for its kind")]
    TooShortForKind,
    /// The body length field disagrees with the payload.
    #[error("record body length does not match the payload")]
    BodyLength,
    /// The kind is not UTF-8.
    #[error("kind is not UTF-8")]
    KindNotUtf8,
    /// The kind is not `[a-z0-9_]{1,64}`.
    #[error("invalid kind {0:?}")]
    InvalidKind(String),
    /// The body is not UTF-8.
    #[error("body is not UTF-8")]
    BodyNotUtf8,
    /// The body is not JSON at all.
    #[error("body is not JSON: {0}")]
    BodyNotJson(String),
    /// The body is JSON but not an object.
    #[error("body is not a JSON object")]
    NotAnObject,
    /// The body is not in canonical form.
    #[error("body is not in canonical JSON form")]
    NotCanonical,
    /// Bytes follow the canonical object.
    #[error("body is not in canonical JSON form (trailing bytes)")]
    TrailingBytes,
    /// Object keys out of order or repeated.
    #[error("body keys are not sorted and unique")]
    KeysNotSorted,
    /// A body nests deeper than [`MAX_DEPTH`].
    #[error("body nests deeper than {MAX_DEPTH}")]
    BodyTooDeep,
    /// A value to encode nests deeper than [`MAX_DEPTH`].
    #[error("nests deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A body holds a number that is not an integer.
    #[error("non-integer number (audit bodies carry integers only)")]
    NonInteger,
    /// A value to encode holds a number that is not an integer.
    #[error("non-integer number {0} (audit bodies carry integers only; use e.g. milliseconds)")]
    NonIntegerValue(String),
    /// An integer outside [-2^63, 2^64 - 1].
    #[error("integer out of range")]
    OutOfRange,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number, 0 for the first record of the log.
    pub seq: u64,
    /// Wall-clock time of writing, microseconds since the Unix epoch.
    pub time_us: u64,
    /// Hash of the previous record (or the genesis value).
    pub prev: Hash,
    /// What happened (`task_started`, `violation`, ...): `[a-z0-9_]{1,64}`.
    pub kind: String,
    /// The body: canonical JSON text of an object.
    pub body: Vec<u8>,
}

/// The genesis value of a log: the `prev` of record 0.
pub fn genesis(log_id: &[u8; 16]) -> Hash {
    let mut h = Sha256::new();
    h.update(GENESIS_DOMAIN);
    h.update(log_id);
    h.finalize().into()
}

/// Whether `kind` is a valid record kind.
pub fn valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= 64
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Record {
    /// Encode the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(53 + self.kind.len() + self.body.len());
        self.encode_into(&mut out);
        out
    }

    /// Encode the payload, appending to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.time_us.to_be_bytes());
        out.extend_from_slice(&self.prev);
        out.push(self.kind.len() as u8);
        out.extend_from_slice(self.kind.as_bytes());
        out.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.body);
    }

    /// Decode and validate a payload: layout, kind, and canonical JSON object body.
    pub fn decode(p: &[u8]) -> Result<Record, RecordError> {
        let r = RecordRef::decode(p)?;
        Ok(Record { seq: r.seq, time_us: r.time_us, prev: r.prev, kind: r.kind.to_string(), body: r.body.to_vec() })
    }

    /// The body parsed as JSON (it was validated at decode or construction).
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A decoded record borrowing from its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Microseconds since the Unix epoch.
    pub time_us: u64,
    /// Hash of the previous record.
    pub prev: Hash,
    /// The kind.
    pub kind: &'a str,
    /// The canonical JSON body.
    pub body: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// Decode and validate a payload: layout, kind, and canonical JSON object body.
    pub fn decode(p: &'a [u8]) -> Result<RecordRef<'a>, RecordError> {
        let (seq, time_us, prev, kind, body) = split(p)?;
        let kind = std::str::from_utf8(kind).map_err(|_| RecordError::KindNotUtf8)?;
        if !valid_kind(kind) {
            return Err(RecordError::InvalidKind(kind.to_string()));
        }
        check_canonical(body)?;
        Ok(RecordRef { seq, time_us, prev, kind, body })
    }

    /// The body parsed as JSON.
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(self.body).unwrap_or(Value::Null)
    }
}

/// Hash of an encoded record payload.
pub fn record_hash(payload: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(RECORD_DOMAIN);
    h.update(payload);
    h.finalize().into()
}

type Parts<'a> = (u64, u64, Hash, &'a [u8], &'a [u8]);

fn split(p: &[u8]) -> Result<Parts<'_>, RecordError> {
    if p.len() < 53 {
        return Err(RecordError::TooShort);
    }
    let seq = super::format::be64(&p[0..8]);
    let time_us = super::format::be64(&p[8..16]);
    let mut prev = [0u8; 32];
    prev.copy_from_slice(&p[16..48]);
    let klen = p[48] as usize;
    let kend = 49 + klen;
    if p.len() < kend + 4 {
        return Err(RecordError::TooShortForKind);
    }
    let kind = &p[49..kend];
    let blen = super::format::be32(&p[kend..kend + 4]) as usize;
    if p.len() != kend + 4 + blen {
        return Err(RecordError::BodyLength);
    }
    Ok((seq, time_us, prev, kind, &p[kend + 4..]))
}

/// Encode a JSON value canonically (FORMAT.md §6): object members sorted by
/// the UTF-8 bytes of their keys, no whitespace, integers only, strings
/// escaped as serde_json/Python `json` do with non-ASCII left as UTF-8.
pub fn canonical_json(v: &Value) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::with_capacity(256);
    write_canonical(v, &mut out, 0)?;
    Ok(out)
}

fn write_canonical(v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), RecordError> {
    if depth > MAX_DEPTH {
        return Err(RecordError::TooDeep);
    }
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else {
                return Err(RecordError::NonIntegerValue(n.to_string()));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                if let Some(x) = m.get(k) {
                    write_canonical(x, out, depth + 1)?;
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Maximum nesting depth of a body (FORMAT.md §6).
pub const MAX_DEPTH: usize = 64;

/// Check that `body` is the canonical encoding of a JSON object (FORMAT.md
/// §6), in one pass without building a value: exactly the bytes
/// [`canonical_json`] produces are accepted.
pub fn check_canonical(body: &[u8]) -> Result<(), RecordError> {
    if std::str::from_utf8(body).is_err() {
        return Err(RecordError::BodyNotUtf8);
    }
    if body.first() != Some(&b'{') {
        return Err(RecordError::NotAnObject);
    }
    let mut c = Canon { b: body, i: 0 };
    c.value(0)?;
    if c.i != body.len() {
        return Err(RecordError::TrailingBytes);
    }
    Ok(())
}

struct Canon<'a> {
    b: &'a [u8],
    i: usize,
}

const NOT_CANONICAL: RecordError = RecordError::NotCanonical;

impl Canon<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn lit(&mut self, s: &[u8]) -> Result<(), RecordError> {
        if self.b[self.i..].starts_with(s) {
            self.i += s.len();
            Ok(())
        } else {
            Err(NOT_CANONICAL)
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), RecordError> {
        if depth > MAX_DEPTH {
            return Err(RecordError::BodyTooDeep);
        }
        match self.peek() {
            Some(b'n') => self.lit(b"null"),
            Some(b't') => self.lit(b"true"),
            Some(b'f') => self.lit(b"false"),
            Some(b'"') => self.string(None),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => {
                self.i += 1;
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.value(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(NOT_CANONICAL),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(());
                }
                let mut prev: Option<Vec<u8>> = None;
                loop {
                    let mut key = Vec::new();
                    if self.peek() != Some(b'"') {
                        return Err(NOT_CANONICAL);
                    }
                    self.string(Some(&mut key))?;
                    if prev.as_ref().is_some_and(|p| *p >= key) {
                        return Err(RecordError::KeysNotSorted);
                    }
                    prev = Some(key);
                    self.lit(b":")?;
                    self.value(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(NOT_CANONICAL),
                    }
                }
            }
            _ => Err(NOT_CANONICAL),
        }
    }

    fn number(&mut self) -> Result<(), RecordError> {
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
            return Err(NOT_CANONICAL);
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(RecordError::NonInteger);
        }
        // Range: [-2^63, 2^64 - 1].
        let text = std::str::from_utf8(digits).map_err(|_| NOT_CANONICAL)?;
        let ok = if neg { text.parse::<u64>().is_ok_and(|m| m <= 1 << 63) } else { text.parse::<u64>().is_ok() };
        if ok { Ok(()) } else { Err(RecordError::OutOfRange) }
    }

    /// A canonical string; with `out`, also its decoded bytes.
    fn string(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<(), RecordError> {
        self.i += 1;
        loop {
            let c = self.peek().ok_or(NOT_CANONICAL)?;
            self.i += 1;
            let decoded = match c {
                b'"' => return Ok(()),
                0..=0x1f => return Err(NOT_CANONICAL),
                b'\\' => {
                    let e = self.peek().ok_or(NOT_CANONICAL)?;
                    self.i += 1;
                    match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let h = self.b.get(self.i..self.i + 4).ok_or(NOT_CANONICAL)?;
                            self.i += 4;
                            let hex = |x: u8| match x {
                                b'0'..=b'9' => Some(x - b'0'),
                                b'a'..=b'f' => Some(x - b'a' + 10),
                                _ => None,
                            };
                            let (Some(0), Some(0), Some(hi), Some(lo)) = (hex(h[0]), hex(h[1]), hex(h[2]), hex(h[3]))
                            else {
                                return Err(NOT_CANONICAL);
                            };
                            let v = hi << 4 | lo;
                            if v >= 0x20 || matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return Err(NOT_CANONICAL);
                            }
                            v
                        }
                        _ => return Err(NOT_CANONICAL),
                    }
                }
                other => other,
            };
            if let Some(o) = out.as_deref_mut() {
                o.push(decoded);
            }
        }
    }
}

/// The reference check: parse and re-encode (slower; used in tests).
pub fn check_canonical_slow(body: &[u8]) -> Result<(), RecordError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| RecordError::BodyNotJson(e.to_string()))?;
    if !v.is_object() {
        return Err(RecordError::NotAnObject);
    }
    let again = canonical_json(&v)?;
    if again != body {
        return Err(RecordError::NotCanonical);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_and_escapes() {
        let v = json!({"b": 1, "a": [true, null, -5, "x\"\\\n\u{1}é"], "A": {}});
        let c = canonical_json(&v).unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&c), r#"{"A":{},"a":[true,null,-5,"x\"\\\n\u0001é"],"b":1}"#);
        assert!(check_canonical(&c).is_ok());
        assert!(check_canonical(br#"{"b":1,"a":2}"#).is_err());
        assert!(check_canonical(br#"{"a": 2}"#).is_err());
        assert!(check_canonical(br#"[1]"#).is_err());
        assert!(canonical_json(&json!({"t": 1.5})).is_err());
    }

    #[test]
    fn fast_check_agrees_with_reference() {
        let good = [
            json!({}),
            json!({"a": {"b": [1, -1, 0, u64::MAX, i64::MIN, null, true, false, [], {}]}}),
            json!({"\n": 1, "\"": 2, "\u{1f}": 3, "\u{7f}": 4, "é": 5, "e": 6, "\\": [""]}),
        ];
        for v in good {
            let c = canonical_json(&v).unwrap_or_default();
            assert_eq!(check_canonical(&c), Ok(()), "{}", String::from_utf8_lossy(&c));
            assert_eq!(check_canonical_slow(&c), Ok(()));
        }
        let bad: [&[u8]; 22] = [
            b"{\"a\":1,\"a\":2}",
            b"{\"b\":1,\"a\":2}",
            b"{ }",
            b"{\"a\": 1}",
            b"{\"a\":01}",
            b"{\"a\":-0}",
            b"{\"a\":1.0}",
            b"{\"a\":1e3}",
            b"{\"a\":\"\\/\"}",
            b"{\"a\":\"\\u0041\"}",
            b"{\"a\":\"\\u000a\"}",
            b"{\"a\":\"\\u001F\"}",
            b"{\"a\":\"\n\"}",
            b"{\"a\":18446744073709551616}",
            b"{\"a\":-9223372036854775809}",
            b"[]",
            b"{\"a\":1}x",
            b"{\"a\":tru}",
            b"{\"a\":[1,]}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\"}",
            b"",
        ];
        for b in bad {
            assert!(check_canonical(b).is_err(), "accepted {}", String::from_utf8_lossy(b));
            assert!(check_canonical_slow(b).is_err(), "slow accepted {}", String::from_utf8_lossy(b));
        }
        assert!(check_canonical(b"{\"a\":-9223372036854775808}").is_ok());
        // Keys sort by their decoded bytes, not their escaped form.
        let v = json!({"a\u{1}": 1, "a\"": 2});
        let c = canonical_json(&v).unwrap_or_default();
        assert!(check_canonical(&c).is_ok(), "{}", String::from_utf8_lossy(&c));
        let deep = (0..70).fold(json!(1), |v, _| json!([v]));
        assert!(canonical_json(&json!({"d": deep})).is_err());
    }

    #[test]
    fn record_roundtrip() {
        let r = Record { seq: 3, time_us: 9, prev: [1; 32], kind: "task_started".into(), body: br#"{"a":1}"#.to_vec() };
        let p = r.encode();
        assert_eq!(Record::decode(&p), Ok(r));
        assert!(Record::decode(&p[..p.len() - 1]).is_err());
    }
}
