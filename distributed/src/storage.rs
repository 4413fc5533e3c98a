//! Content-addressed blobs (logs, reports, artifacts) in a local directory or
//! an S3-compatible bucket. (Placeholder until the storage module lands.)

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Blob {
    /// Lowercase hex.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

/// Placeholder.
#[derive(Debug, thiserror::Error)]
#[error("storage unavailable")]
pub struct StorageError;

/// Placeholder.
pub struct Blobs;
#[allow(missing_docs, clippy::missing_errors_doc)]
impl Blobs {
    pub fn open(_url: &str) -> Result<Blobs, StorageError> {
        Err(StorageError)
    }
    pub fn check(&self) -> Result<(), StorageError> {
        Err(StorageError)
    }
    pub fn put_file(&self, _p: &std::path::Path) -> Result<Blob, StorageError> {
        Err(StorageError)
    }
    pub fn put_bytes(&self, _b: &[u8]) -> Result<Blob, StorageError> {
        Err(StorageError)
    }
    pub fn get_to_file(&self, _b: &Blob, _d: &std::path::Path) -> Result<(), StorageError> {
        Err(StorageError)
    }
    pub fn get_bytes(&self, _b: &Blob, _max: u64) -> Result<Vec<u8>, StorageError> {
        Err(StorageError)
    }
    pub fn describe(&self) -> String {
        String::new()
    }
}
