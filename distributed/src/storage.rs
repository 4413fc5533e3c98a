//! Content-addressed blobs (logs, reports, artifacts) in a local directory or
//! an S3-compatible bucket. (Being written: see the storage helper's brief.)
