//! TLS to a `tcp://` Docker engine of a `workers:` entry (its `tls:` block):
//! the engine's HTTP API over rustls (ring), through bollard's custom
//! transport.
//!
//! Guarantees:
//! - the engine's certificate is verified against the entry's CA bundle
//!   only (no system roots) and against the address's host name or IP;
//! - every file (CA, client certificate, key) is read and parsed, and the key
//!   checked against the certificate, when the client is built: before any
//!   connection, so a missing, unreadable or invalid file, or a key that is
//!   not the certificate's, is an error before anything starts;
//! - the connector speaks HTTPS only: there is no fallback to plain HTTP;
//! - no session is resumed: each connection is a full handshake.

use bollard::{BollardRequest, Docker};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a TLS client for an engine could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("tls.{field} {}: cannot read it ({source})", path.display())]
    Read {
        /// `ca`, `cert` or `key`.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file holds no usable PEM object of the kind wanted.
    #[error("tls.{field} {}: {reason}", path.display())]
    Pem {
        /// `ca`, `cert` or `key`.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("tls.key {} does not match tls.cert {} ({reason})", key.display(), cert.display())]
    Mismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
        /// rustls' words.
        reason: String,
    },
    /// The engine address.
    #[error("{0}")]
    Address(String),
    /// rustls refused the configuration.
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
}

/// The files of a `tls:` block, `~` and `dir` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// The CA bundle.
    pub ca: PathBuf,
    /// The client certificate and its key.
    pub client: Option<(PathBuf, PathBuf)>,
}

fn home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(h)) => PathBuf::from(h).join(rest),
        _ => p.to_path_buf(),
    }
}

impl Files {
    /// The files `tls` names (the config checked its shape: `dir`, or `ca`
    /// with `cert` and `key` both or neither).
    pub fn of(tls: &crate::config::EngineTls) -> Files {
        if let Some(dir) = &tls.dir {
            let dir = home(dir);
            return Files { ca: dir.join("ca.pem"), client: Some((dir.join("cert.pem"), dir.join("key.pem"))) };
        }
        let ca = home(tls.ca.as_deref().unwrap_or(Path::new("")));
        let client = match (&tls.cert, &tls.key) {
            (Some(c), Some(k)) => Some((home(c), home(k))),
            _ => None,
        };
        Files { ca, client }
    }
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { field, path: path.to_path_buf(), source })
}

fn certs(field: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(field, path)?;
    let bad = |reason: String| TlsError::Pem { field, path: path.to_path_buf(), reason };
    let list: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("not a valid PEM file ({e})")))?;
    if list.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(list)
}

/// `host:port` of a `tcp://` address, and the name its certificate must carry.
pub fn split_address(address: &str) -> Result<(String, ServerName<'static>), TlsError> {
    let bad = |why: &str| TlsError::Address(format!("{address:?}: {why}"));
    let rest = address.strip_prefix("tcp://").ok_or_else(|| bad("not a tcp:// address"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port (tcp://HOST:PORT)"))?;
    if port.parse::<u16>().is_err() || host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return Err(bad("not tcp://HOST:PORT"));
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let name = ServerName::try_from(bare.to_string()).map_err(|_| bad("not a host name or IP address"))?;
    Ok((rest.to_string(), name))
}

/// The rustls client configuration for `files` (every file read and checked now).
pub fn config(files: &Files) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs("ca", &files.ca)? {
        roots.add(c).map_err(|e| TlsError::Pem {
            field: "ca",
            path: files.ca.clone(),
            reason: format!("not a usable CA certificate ({e})"),
        })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots);
    let Some((cert, key)) = &files.client else { return Ok(builder.with_no_client_auth()) };
    let chain = certs("cert", cert)?;
    let key_bytes = read("key", key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| TlsError::Pem {
        field: "key",
        path: key.clone(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key in it".into(),
            e => format!("not a valid PEM private key ({e})"),
        },
    })?;
    let mismatch = |reason: String| TlsError::Mismatch { key: key.clone(), cert: cert.clone(), reason };
    let why = |e: rustls::Error| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            mismatch("its public key is not the certificate's".into())
        }
        e => mismatch(e.to_string()),
    };
    let certified = rustls::sign::CertifiedKey::from_der(chain.clone(), private.clone_key(), &provider).map_err(why)?;
    // `from_der` lets an undecidable pair through; here it must be decided.
    certified.keys_match().map_err(why)?;
    builder.with_client_auth_cert(chain, private).map_err(why)
}

/// A bollard client for the `tcp://` engine `address` over TLS with `files`.
pub fn client(
    address: &str,
    files: &Files,
    timeout: u64,
    version: &bollard::ClientVersion,
) -> Result<Docker, TlsError> {
    let (host_port, _name) = split_address(address)?;
    let mut tls = config(files)?;
    // Every connection a full handshake: the engine checks the client
    // certificate each time, and a terminator that verifies clients without
    // a session id context (socat) refuses resumed sessions.
    tls.resumption = rustls::client::Resumption::disabled();
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    // The https:// URIs go through this connector only after TLS wraps it.
    http.enforce_http(false);
    http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let mut builder = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    builder.pool_max_idle_per_host(0);
    let http_client = Arc::new(builder.build(https));
    let transport = move |req: BollardRequest| {
        let c = Arc::clone(&http_client);
        async move { c.request(req).await.map_err(bollard::errors::Error::from) }
    };
    Docker::connect_with_custom_transport(transport, Some(format!("https://{host_port}")), timeout, version)
        .map_err(|e| TlsError::Address(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_port_and_the_name_to_verify() {
        let (hp, name) = split_address("tcp://127.0.0.1:2376").unwrap();
        assert_eq!(hp, "127.0.0.1:2376");
        assert!(matches!(name, ServerName::IpAddress(_)));
        let (hp, name) = split_address("tcp://build1.example.net:2376/").unwrap();
        assert_eq!(hp, "build1.example.net:2376");
        assert!(matches!(name, ServerName::DnsName(_)));
        assert!(split_address("tcp://[::1]:2376").is_ok());
        for bad in ["tcp://host", "tcp://host:x", "tcp://:2376", "unix:///x", "tcp://a@b:1", "tcp://h:1/path"] {
            assert!(split_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dir_means_dockers_file_names() {
        let t = crate::config::EngineTls { dir: Some("/c".into()), ca: None, cert: None, key: None };
        assert_eq!(
            Files::of(&t),
            Files { ca: "/c/ca.pem".into(), client: Some(("/c/cert.pem".into(), "/c/key.pem".into())) }
        );
    }

    #[test]
    fn missing_and_non_pem_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let text = d.path().join("t.pem");
        std::fs::write(&text, "hello\n").unwrap();
        let e = config(&Files { ca: d.path().join("none.pem"), client: None }).unwrap_err().to_string();
        assert!(e.starts_with("tls.ca ") && e.contains("none.pem: cannot read it"), "{e}");
        let e = config(&Files { ca: text.clone(), client: None }).unwrap_err().to_string();
        assert!(e.contains("t.pem: no PEM certificate in it"), "{e}");
    }
}
