//! Who may talk to the dashboard, and what every response carries.
//!
//! Guarantees:
//! - a dashboard bound to a non-loopback address, or with operator rights,
//!   starts only with a token ([`Access::new`]; the CLI makes one for a
//!   loopback operator); with a token set, every request but the assets must
//!   present it (`Authorization: Bearer`, or the session cookie that
//!   `/login?token=` sets: a value derived from the token, HttpOnly,
//!   SameSite=Strict), compared in constant time;
//! - on loopback without a token, the `Host` header must name a loopback
//!   address or `localhost` (a DNS-rebinding page cannot reach the API);
//! - state changes (`POST`) need operator rights (`--operator`), the
//!   per-server CSRF token in `X-Orchestra-CSRF` and, when the browser sends
//!   one, an `Origin` equal to the host asked; WebSocket upgrades with an
//!   `Origin` must come from the same host (no cross-site hijacking);
//! - every response carries a strict Content-Security-Policy (no inline
//!   script or style, nothing from elsewhere), `nosniff`, no referrer, no
//!   framing, and `no-store`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;

/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-orchestra-csrf";
/// The cookie that carries the access token.
pub const TOKEN_COOKIE: &str = "orchestra_token";

/// The policy every response carries.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Why the dashboard refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A non-loopback address without a token.
    #[error(
        "refusing to serve on {0} without a token: set ORCHESTRA_DASHBOARD_TOKEN or --token-file (anyone who can reach the address could read every run's logs)"
    )]
    NeedsToken(SocketAddr),
    /// No randomness for the CSRF token (never a guessable one instead).
    #[error("the system gave no randomness for the CSRF token")]
    NoRandomness,
    /// Operator rights without a token.
    #[error("--operator needs a token (any local process could control runs otherwise)")]
    OperatorNeedsToken,
    /// A token too short to resist guessing.
    #[error("the dashboard token must be at least 16 characters")]
    WeakToken,
}

/// The access rules of one server.
#[derive(Debug)]
pub struct Access {
    /// The address bound.
    pub bind: SocketAddr,
    /// SHA-256 of the access token, if one is required.
    token: Option<[u8; 32]>,
    /// The session cookie's value (derived from the token, so the cookie is
    /// never the token itself) and its SHA-256.
    session: Option<(String, [u8; 32])>,
    /// May pause, continue and cancel runs.
    pub operator: bool,
    /// The CSRF token pages embed (random per server start).
    pub csrf: String,
}

/// A fresh random token (32 hex digits), `None` if the system has no randomness to give.
pub fn new_token() -> Option<String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).ok()?;
    Some(hex(&b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|x| format!("{x:02x}")).collect()
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Equal in time independent of where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Access {
    /// The rules for `bind`, refusing a non-loopback bind without a token.
    pub fn new(bind: SocketAddr, token: Option<&str>, operator: bool) -> Result<Access, BindError> {
        if let Some(t) = token
            && t.trim().len() < 16
        {
            return Err(BindError::WeakToken);
        }
        if !bind.ip().is_loopback() && token.is_none() {
            return Err(BindError::NeedsToken(bind));
        }
        // Operator rights over loopback alone would be every local process's,
        // a task's with host networking included.
        if operator && token.is_none() {
            return Err(BindError::OperatorNeedsToken);
        }
        let csrf = new_token().ok_or(BindError::NoRandomness)?;
        let session = token.map(|t| {
            let v = hex(&digest(&format!("orchestra-dashboard-session\0{}", t.trim())));
            let d = digest(&v);
            (v, d)
        });
        Ok(Access { bind, token: token.map(|t| digest(t.trim())), session, operator, csrf })
    }

    /// The session cookie's value (with a token).
    pub fn session(&self) -> Option<&str> {
        self.session.as_ref().map(|(v, _)| v.as_str())
    }

    /// Whether a token is required.
    pub fn needs_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `candidate` is the token.
    pub fn token_ok(&self, candidate: &str) -> bool {
        self.token.as_ref().is_some_and(|t| same(t, &digest(candidate)))
    }

    fn presented(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.token else { return true };
        if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
            && let Some(t) = v.strip_prefix("Bearer ")
        {
            return same(want, &digest(t.trim()));
        }
        let Some((_, session)) = &self.session else { return false };
        for c in headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            for part in c.split(';') {
                if let Some(t) = part.trim().strip_prefix(TOKEN_COOKIE).and_then(|r| r.strip_prefix('='))
                    && same(session, &digest(t))
                {
                    return true;
                }
            }
        }
        false
    }

    /// Whether the `Host` header is acceptable (loopback without a token: loopback names only).
    fn host_ok(&self, headers: &HeaderMap) -> bool {
        if self.token.is_some() {
            return true;
        }
        let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host, |(h, _)| h),
        };
        name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether an `Origin` header (if any) names the host asked.
    fn origin_ok(headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
    }
}

fn refuse(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": msg}))).into_response()
}

/// Add the security headers to `r`.
pub fn harden(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
}

/// The middleware: host, token, CSRF and operator checks, then the headers.
pub async fn guard(State(access): State<Arc<Access>>, req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let r = if !access.host_ok(&headers) {
        refuse(StatusCode::MISDIRECTED_REQUEST, "this dashboard answers only to a loopback host name")
    } else if path == "/login" || path.starts_with("/assets/") {
        next.run(req).await
    } else if !access.presented(&headers) {
        if req.method() == Method::GET && !path.starts_with("/api/") && path != "/metrics" {
            let mut r = (StatusCode::UNAUTHORIZED, axum::response::Html(crate::pages::login_page())).into_response();
            harden(&mut r);
            return r;
        }
        refuse(StatusCode::UNAUTHORIZED, "a token is required (Authorization: Bearer, or /login?token=)")
    } else if req.method() == Method::POST {
        let csrf_ok = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) == Some(access.csrf.as_str());
        if !access.operator {
            refuse(StatusCode::FORBIDDEN, "this dashboard is read-only (start it with --operator to control runs)")
        } else if !csrf_ok || !Access::origin_ok(&headers) {
            refuse(StatusCode::FORBIDDEN, "missing or wrong CSRF token, or a cross-site request")
        } else {
            next.run(req).await
        }
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        refuse(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if headers.contains_key(header::UPGRADE) && !Access::origin_ok(&headers) {
        refuse(StatusCode::FORBIDDEN, "a cross-site WebSocket is refused")
    } else {
        next.run(req).await
    };
    let mut r = as_json_error(r).await;
    harden(&mut r);
    r
}

/// An error answer that is not JSON (a rejection of the framework's: a bad
/// query, body or upgrade) becomes `{"error": …}`, as the API promises.
async fn as_json_error(r: Response) -> Response {
    let status = r.status();
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r;
    }
    let bytes = axum::body::to_bytes(r.into_body(), 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let msg = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    (status, axum::Json(serde_json::json!({"error": msg}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_public_bind_needs_a_strong_token() {
        assert!(matches!(Access::new(addr("0.0.0.0:1"), None, false), Err(BindError::NeedsToken(_))));
        assert!(matches!(Access::new(addr("0.0.0.0:1"), Some("short"), false), Err(BindError::WeakToken)));
        let a = Access::new(addr("0.0.0.0:1"), Some("0123456789abcdef"), false).unwrap();
        assert!(a.token_ok("0123456789abcdef"));
        assert!(!a.token_ok("0123456789abcdeF"));
        assert!(Access::new(addr("127.0.0.1:1"), None, false).is_ok());
    }

    #[test]
    fn hosts_and_origins() {
        let a = Access::new(addr("127.0.0.1:1"), None, false).unwrap();
        let mut h = HeaderMap::new();
        for (host, ok) in [
            ("127.0.0.1:8080", true),
            ("localhost:1", true),
            ("[::1]:3", true),
            ("evil.example:8080", false),
            ("127.0.0.1.evil.example", false),
        ] {
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            assert_eq!(a.host_ok(&h), ok, "{host}");
        }
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9"));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:9"));
        assert!(Access::origin_ok(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!Access::origin_ok(&h));
    }
}
