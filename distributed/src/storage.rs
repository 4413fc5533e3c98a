//! Content-addressed blobs (task logs, reports, artifacts) in a local
//! directory or an S3-compatible bucket: workers upload, the orchestrator
//! downloads.
//!
//! Guarantees:
//! - A blob is stored under `<prefix>/sha256/<first two hex>/<hex>` of its
//!   content; a [`Blob`]'s hash is checked to be 64 lowercase hex digits
//!   before it is used in a key (blobs are named by network messages).
//! - Puts are whole-object: S3 makes a PUT (and a completed multipart upload)
//!   visible at once; a local store writes a temporary file beside the
//!   object and renames it into place, and [`Blobs::sync`] makes every put
//!   before it durable (one `syncfs`; S3 acknowledges only stored objects). A
//!   file that changes while it is uploaded is refused
//!   ([`StorageError::Changed`]) before anything becomes visible.
//! - A put of content already present (a HEAD finds an object of its size)
//!   writes nothing.
//! - A download is verified (size and sha256) before it is visible: into a
//!   temporary file beside the destination, fsynced, renamed; on any failure
//!   nothing is left at the destination.
//! - Transient failures of an S3 store (connect errors, timeouts, 5xx) are
//!   retried with bounded exponential backoff ([`Retry`]), then reported as
//!   [`StorageError::Unreachable`]; refusals (no such bucket, bad
//!   credentials, access denied) are not retried. Every error is one line
//!   naming the store ([`Blobs::describe`], never credentials).
//!
//! The API is synchronous: an S3 store owns a current-thread tokio runtime
//! (created once) and blocks on it, so it must not be called from inside an
//! async runtime (a local store uses plain file I/O). A [`Blobs`] is
//! `Send + Sync`; threads may share it.

mod error;
mod local;
mod location;
mod s3;

pub use error::StorageError;

use location::{Location, S3Location};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Files up to this size are uploaded in one PUT (read once, into memory);
/// larger ones in multipart uploads of parts this size. Downloads fetch
/// ranges this size.
const CHUNK: u64 = 8 * 1024 * 1024;

/// A blob: the sha256 and the size of some content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Blob {
    /// Lowercase hex.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

impl Blob {
    /// The blob of `bytes`.
    pub fn of(bytes: &[u8]) -> Blob {
        Blob { sha256: hex(&Sha256::digest(bytes)), size: bytes.len() as u64 }
    }

    /// Refuses a hash that is not 64 lowercase hex digits.
    pub fn validate(&self) -> Result<(), StorageError> {
        let s = &self.sha256;
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(())
        } else {
            Err(StorageError::BadHash { value: s.chars().take(80).collect() })
        }
    }
}

impl fmt::Display for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{} ({} bytes)", self.sha256, self.size)
    }
}

/// How an S3 store's requests are retried (object_store's retry loop:
/// connect errors, timeouts and 5xx/429 answers are retried; other answers
/// are not). The first wait is `first_backoff`; each next one is drawn
/// between `first_backoff` and twice the previous, at most `max_backoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries of one request, the first included (at least 1).
    pub tries: u32,
    /// The first wait.
    pub first_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// The longest one request (a part of at most 8 MiB) may take.
    pub request_timeout: Duration,
    /// The longest a connection may take to open.
    pub connect_timeout: Duration,
}

impl Default for Retry {
    /// 6 tries, 100 ms doubling to at most 2 s (about 3 s of waiting in
    /// all); 60 s per request, 5 s per connect.
    fn default() -> Retry {
        Retry {
            tries: 6,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// S3 credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// AWS_ACCESS_KEY_ID.
    pub key_id: String,
    /// AWS_SECRET_ACCESS_KEY.
    pub secret: String,
    /// AWS_SESSION_TOKEN, for temporary credentials.
    pub token: Option<String>,
}

impl Credentials {
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (if set)
    /// AWS_SESSION_TOKEN; `None` unless the first two are set and not empty.
    pub fn from_env() -> Option<Credentials> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Some(Credentials {
            key_id: var("AWS_ACCESS_KEY_ID")?,
            secret: var("AWS_SECRET_ACCESS_KEY")?,
            token: var("AWS_SESSION_TOKEN"),
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// How [`Blobs::open_with`] opens a store.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The retry policy of an S3 store.
    pub retry: Retry,
    /// The credentials of an S3 store; `None`: [`Credentials::from_env`].
    pub credentials: Option<Credentials>,
}

/// A blob store (see the module documentation).
pub struct Blobs {
    backend: Backend,
    description: String,
}

enum Backend {
    Local(local::Dir),
    S3(s3::Bucket),
}

impl fmt::Debug for Blobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blobs").field("store", &self.description).finish_non_exhaustive()
    }
}

/// The directory a storage URL names, when it names a local one (whether or
/// not it exists yet).
pub fn local_dir(url: &str) -> Option<PathBuf> {
    match location::parse(url).ok()? {
        Location::Local(dir) => Some(std::fs::canonicalize(&dir).unwrap_or(dir)),
        Location::S3(_) => None,
    }
}

impl Blobs {
    /// Opens the store at `url`: a plain absolute path or `file:///abs/dir`
    /// (a local directory, created if absent), or
    /// `s3://BUCKET[/PREFIX][?endpoint=URL&region=R]` (credentials from
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; endpoint
    /// default AWS, region default us-east-1; path-style requests, plain http
    /// allowed when the endpoint is http://). Unknown query keys are errors.
    /// Nothing is sent over the network: see [`Blobs::check`].
    pub fn open(url: &str) -> Result<Blobs, StorageError> {
        Blobs::open_with(url, Options::default())
    }

    /// [`Blobs::open`] with a retry policy and credentials.
    pub fn open_with(url: &str, options: Options) -> Result<Blobs, StorageError> {
        match location::parse(url)? {
            Location::Local(dir) => {
                let dir = local::Dir::open(&dir)?;
                let description = format!("local directory {}", dir.root.display());
                Ok(Blobs { backend: Backend::Local(dir), description })
            }
            Location::S3(s3) => {
                let description = describe_s3(&s3);
                let credentials = options
                    .credentials
                    .or_else(Credentials::from_env)
                    .ok_or_else(|| StorageError::NoCredentials { store: description.clone() })?;
                let bucket = s3::Bucket::open(url, &s3, credentials, &options.retry, description.clone())?;
                Ok(Blobs { backend: Backend::S3(bucket), description })
            }
        }
    }

    /// One round trip proving the store is usable: for S3 a listing of the
    /// prefix (the bucket exists, the credentials are accepted); for a local
    /// directory, a file created in it and removed.
    pub fn check(&self) -> Result<(), StorageError> {
        match &self.backend {
            Backend::Local(dir) => dir.check(),
            Backend::S3(bucket) => bucket.check(),
        }
    }

    /// Stores the content of the file at `path` (read once when at most
    /// 8 MiB; else hashed, then streamed, and made visible only if the
    /// streamed content still has that hash).
    pub fn put_file(&self, path: &Path) -> Result<Blob, StorageError> {
        let io = |source| StorageError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() <= CHUNK {
            let mut bytes = Vec::new();
            Read::take(&mut file, CHUNK + 1).read_to_end(&mut bytes).map_err(io)?;
            if bytes.len() as u64 <= CHUNK {
                return self.put_bytes(&bytes);
            }
            // It grew while being read: stream it.
        }
        file.rewind().map_err(io)?;
        let blob = hash_reader(&mut file).map_err(io)?;
        if self.present(&blob)? {
            return Ok(blob);
        }
        file.rewind().map_err(io)?;
        let key = key(&blob);
        let mut parts = FileParts { file, path, blob: &blob, hasher: Sha256::new(), size: 0 };
        match &self.backend {
            Backend::Local(dir) => dir.put(&key, |out| {
                loop {
                    let part = parts.next_part()?;
                    if part.is_empty() {
                        return parts.finish();
                    }
                    out.write_all(&part).map_err(|source| StorageError::Io { path: dir.root.join(&key), source })?;
                }
            })?,
            Backend::S3(bucket) => bucket.put_parts(&key, &mut parts)?,
        }
        tracing::debug!(store = %self.description, %blob, "stored (streamed)");
        Ok(blob)
    }

    /// Stores `bytes` (one PUT).
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Blob, StorageError> {
        let blob = Blob::of(bytes);
        if self.present(&blob)? {
            return Ok(blob);
        }
        let key = key(&blob);
        match &self.backend {
            Backend::Local(dir) => dir.put(&key, |out| {
                out.write_all(bytes).map_err(|source| StorageError::Io { path: dir.root.join(&key), source })
            })?,
            Backend::S3(bucket) => bucket.put(&key, bytes.to_vec())?,
        }
        tracing::debug!(store = %self.description, %blob, "stored");
        Ok(blob)
    }

    /// Makes every put before it durable (a local store: one `syncfs` of its
    /// file system; S3 acknowledged each put once stored).
    pub fn sync(&self) -> Result<(), StorageError> {
        match &self.backend {
            Backend::Local(dir) => dir.sync(),
            Backend::S3(_) => Ok(()),
        }
    }

    /// Downloads `blob` into `dest` (a temporary file in dest's directory,
    /// verified, fsynced, renamed over `dest`). On any error nothing is left
    /// at `dest` (an existing file there is not touched).
    pub fn get_to_file(&self, blob: &Blob, dest: &Path) -> Result<(), StorageError> {
        blob.validate()?;
        let key = key(blob);
        self.expect_size(blob, &key)?;
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir_io = |source| StorageError::Io { path: dir.to_path_buf(), source };
        use std::os::unix::fs::PermissionsExt;
        let mut tmp = tempfile::Builder::new()
            .prefix(".blob-")
            .suffix(".part")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(dir_io)?;
        let tmp_path = tmp.path().to_path_buf();
        let tmp_io = |source| StorageError::Io { path: tmp_path.clone(), source };
        let mut hasher = Sha256::new();
        self.fetch(blob, &key, |chunk| {
            hasher.update(chunk);
            tmp.write_all(chunk).map_err(tmp_io)
        })?;
        self.verify(blob, &hasher.finalize())?;
        tmp.as_file().sync_all().map_err(tmp_io)?;
        tmp.persist(dest).map_err(|e| StorageError::Io { path: dest.to_path_buf(), source: e.error })?;
        local::sync_dir(dir)
    }

    /// The content of `blob`, verified; refused without a request when the
    /// blob is larger than `max` bytes.
    pub fn get_bytes(&self, blob: &Blob, max: u64) -> Result<Vec<u8>, StorageError> {
        blob.validate()?;
        if blob.size > max {
            return Err(StorageError::TooLarge { blob: blob.clone(), max });
        }
        let key = key(blob);
        self.expect_size(blob, &key)?;
        let mut out = Vec::with_capacity(usize::try_from(blob.size).unwrap_or(0));
        self.fetch(blob, &key, |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })?;
        self.verify(blob, &Sha256::digest(&out))?;
        Ok(out)
    }

    /// The store for messages: `local directory /abs`,
    /// `s3://bucket/prefix at ENDPOINT (region R)` or
    /// `s3://bucket/prefix (AWS, region R)`; never credentials.
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match &self.backend {
            Backend::Local(dir) => dir.head(key),
            Backend::S3(bucket) => bucket.head(key),
        }
    }

    /// Whether the store holds an object of `blob`'s size under its key.
    fn present(&self, blob: &Blob) -> Result<bool, StorageError> {
        match self.head(&key(blob))? {
            Some(size) if size == blob.size => {
                tracing::debug!(store = %self.description, %blob, "already stored");
                Ok(true)
            }
            Some(size) => {
                tracing::warn!(store = %self.description, %blob, size, "the stored object has another size; replacing it");
                Ok(false)
            }
            None => Ok(false),
        }
    }

    fn missing(&self, blob: &Blob) -> StorageError {
        StorageError::Missing { store: self.description.clone(), blob: blob.clone() }
    }

    fn corrupt(&self, blob: &Blob, got: String) -> StorageError {
        StorageError::Corrupt { store: self.description.clone(), blob: blob.clone(), got }
    }

    /// Missing unless the store holds the key; Corrupt unless its size is
    /// the blob's.
    fn expect_size(&self, blob: &Blob, key: &str) -> Result<(), StorageError> {
        match self.head(key)? {
            Some(size) if size == blob.size => Ok(()),
            Some(size) => Err(self.corrupt(blob, format!("{size} bytes"))),
            None => Err(self.missing(blob)),
        }
    }

    /// Reads the object in ranges of [`CHUNK`] bytes into `sink`.
    fn fetch(
        &self,
        blob: &Blob,
        key: &str,
        mut sink: impl FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut start = 0;
        while start < blob.size {
            let len = CHUNK.min(blob.size - start);
            let bytes = match &self.backend {
                Backend::Local(dir) => dir.read_range(key, start, len)?,
                Backend::S3(bucket) => bucket.read_range(key, start, len)?,
            };
            let bytes = bytes.ok_or_else(|| self.missing(blob))?;
            if bytes.len() as u64 != len {
                return Err(self.corrupt(blob, format!("shorter than {} bytes", blob.size)));
            }
            sink(&bytes)?;
            start += len;
        }
        Ok(())
    }

    fn verify(&self, blob: &Blob, digest: &[u8]) -> Result<(), StorageError> {
        let got = hex(digest);
        if got == blob.sha256 { Ok(()) } else { Err(self.corrupt(blob, format!("sha256:{got}"))) }
    }
}

/// The key of `blob` below the store's prefix; its hash is validated by
/// the caller (or computed here).
fn key(blob: &Blob) -> String {
    let hex = &blob.sha256;
    format!("sha256/{}/{hex}", hex.get(..2).unwrap_or_default())
}

/// Where the next part of a streamed upload comes from.
trait Parts {
    /// The next part (empty at the end).
    fn next_part(&mut self) -> Result<Vec<u8>, StorageError>;
    /// Whether what was read is what was to be stored (checked before the
    /// upload completes).
    fn finish(&mut self) -> Result<(), StorageError>;
}

/// A file streamed in parts, checked against the blob it was hashed to.
struct FileParts<'a> {
    file: File,
    path: &'a Path,
    blob: &'a Blob,
    hasher: Sha256,
    size: u64,
}

impl Parts for FileParts<'_> {
    fn next_part(&mut self) -> Result<Vec<u8>, StorageError> {
        let mut part = Vec::new();
        Read::take(&mut self.file, CHUNK)
            .read_to_end(&mut part)
            .map_err(|source| StorageError::Io { path: self.path.to_path_buf(), source })?;
        self.hasher.update(&part);
        self.size += part.len() as u64;
        if self.size > self.blob.size {
            return Err(StorageError::Changed { path: self.path.to_path_buf() });
        }
        Ok(part)
    }

    fn finish(&mut self) -> Result<(), StorageError> {
        let digest = std::mem::take(&mut self.hasher).finalize();
        if self.size == self.blob.size && hex(&digest) == self.blob.sha256 {
            Ok(())
        } else {
            Err(StorageError::Changed { path: self.path.to_path_buf() })
        }
    }
}

fn describe_s3(s3: &S3Location) -> String {
    let mut out = format!("s3://{}", s3.bucket);
    if !s3.prefix.is_empty() {
        out.push('/');
        out.push_str(&s3.prefix);
    }
    match &s3.endpoint {
        Some(endpoint) => out.push_str(&format!(" at {endpoint} (region {})", s3.region)),
        None => out.push_str(&format!(" (AWS, region {})", s3.region)),
    }
    out
}

/// A blob's name and size for what `reader` yields to its end.
pub(crate) fn hash_reader(reader: &mut impl Read) -> std::io::Result<Blob> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(Blob { sha256: hex(&hasher.finalize()), size })
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
