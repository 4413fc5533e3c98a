//! An S3 bucket (AWS or any S3 API) as a blob store, through object_store.
//!
//! A PUT and a completed multipart upload become visible at once (S3
//! semantics); an upload whose content turns out wrong is aborted before
//! completion. object_store retries transient failures per [`Retry`].
//! Requests run on a current-thread tokio runtime owned by the bucket.

use super::location::S3Location;
use super::{Credentials, Parts, Retry, StorageError, error};
use object_store::path::Path as Key;
use object_store::{MultipartUpload, ObjectStore, PutPayload};
use std::time::{Duration, Instant};

/// An open S3 store.
pub(crate) struct Bucket {
    runtime: tokio::runtime::Runtime,
    store: object_store::aws::AmazonS3,
    /// With a trailing `/`, or empty.
    prefix: String,
    description: String,
}

impl Bucket {
    pub fn open(
        url: &str,
        s3: &S3Location,
        credentials: Credentials,
        retry: &Retry,
        description: String,
    ) -> Result<Bucket, StorageError> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(StorageError::Runtime)?;
        let retry_config = object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: retry.first_backoff,
                max_backoff: retry.max_backoff,
                base: 2.0,
            },
            max_retries: retry.tries.saturating_sub(1) as usize,
            // The tries bound the retries; this only caps a pathological case.
            retry_timeout: Duration::from_secs(300),
        };
        let client = object_store::ClientOptions::new()
            .with_timeout(retry.request_timeout)
            .with_connect_timeout(retry.connect_timeout);
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s3.bucket)
            .with_region(&s3.region)
            .with_access_key_id(credentials.key_id)
            .with_secret_access_key(credentials.secret)
            .with_virtual_hosted_style_request(false)
            .with_retry(retry_config)
            .with_client_options(client);
        if let Some(token) = credentials.token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &s3.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        let store =
            builder.build().map_err(|e| StorageError::BadUrl { url: url.to_string(), reason: e.to_string() })?;
        let prefix = if s3.prefix.is_empty() { String::new() } else { format!("{}/", s3.prefix) };
        Ok(Bucket { runtime, store, prefix, description })
    }

    fn key(&self, key: &str) -> Key {
        Key::from(format!("{}{key}", self.prefix))
    }

    fn fail(&self, started: Instant, e: &object_store::Error) -> StorageError {
        error::classify(&self.description, started, e)
    }

    /// Lists the prefix (one request: the bucket exists, the credentials
    /// are accepted).
    pub fn check(&self) -> Result<(), StorageError> {
        let started = Instant::now();
        let prefix = Key::from(self.prefix.as_str());
        let prefix = (!self.prefix.is_empty()).then_some(&prefix);
        self.runtime.block_on(self.store.list_with_delimiter(prefix)).map_err(|e| self.fail(started, &e))?;
        Ok(())
    }

    /// The size of the object at `key`, `None` when there is none.
    pub fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let started = Instant::now();
        match self.runtime.block_on(self.store.head(&self.key(key))) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(started, &e)),
        }
    }

    /// One PUT.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let started = Instant::now();
        self.runtime
            .block_on(self.store.put(&self.key(key), PutPayload::from(bytes)))
            .map_err(|e| self.fail(started, &e))?;
        Ok(())
    }

    /// A multipart upload of `parts`, completed only if `parts.finish()`
    /// agrees; aborted on any error.
    pub fn put_parts(&self, key: &str, parts: &mut dyn Parts) -> Result<(), StorageError> {
        let started = Instant::now();
        let mut upload =
            self.runtime.block_on(self.store.put_multipart(&self.key(key))).map_err(|e| self.fail(started, &e))?;
        if let Err(e) = self.send_parts(upload.as_mut(), parts) {
            if let Err(abort) = self.runtime.block_on(upload.abort()) {
                tracing::warn!(store = %self.description, key, error = %abort, "cannot abort a multipart upload");
            }
            return Err(e);
        }
        let started = Instant::now();
        self.runtime.block_on(upload.complete()).map_err(|e| self.fail(started, &e))?;
        Ok(())
    }

    fn send_parts(&self, upload: &mut dyn MultipartUpload, parts: &mut dyn Parts) -> Result<(), StorageError> {
        loop {
            let part = parts.next_part()?;
            if part.is_empty() {
                return parts.finish();
            }
            let started = Instant::now();
            self.runtime.block_on(upload.put_part(PutPayload::from(part))).map_err(|e| self.fail(started, &e))?;
        }
    }

    /// `len` bytes of the object at `key` from `start`; `None` when there is
    /// no object.
    pub fn read_range(&self, key: &str, start: u64, len: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let started = Instant::now();
        match self.runtime.block_on(self.store.get_range(&self.key(key), start..start + len)) {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(started, &e)),
        }
    }
}
