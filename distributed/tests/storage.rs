//! Content-addressed blob storage on real stores: a local directory, and
//! SeaweedFS's S3 gateway (started per test; `weed` and `curl` must be on
//! PATH, the tests fail otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/seaweed.rs"]
mod seaweed;

use orchestra_distributed::storage::{Blob, Blobs, Credentials, Options, Retry, StorageError};
use seaweed::Seaweed;
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Deterministic, incompressible-looking content of `len` bytes.
fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = Sha256::digest([seed]).to_vec();
    while out.len() < len {
        block = Sha256::digest(&block).to_vec();
        out.extend_from_slice(&block);
    }
    out.truncate(len);
    out
}

fn hex_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn object_path(root: &Path, blob: &Blob) -> std::path::PathBuf {
    root.join("sha256").join(&blob.sha256[..2]).join(&blob.sha256)
}

fn assert_one_line(e: &StorageError) -> String {
    let msg = e.to_string();
    assert!(!msg.contains('\n') && !msg.is_empty(), "not one line: {msg:?}");
    msg
}

#[test]
fn local_round_trip_by_file_and_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("blobs/nested");
    let blobs = Blobs::open(root.to_str().unwrap()).unwrap();
    assert!(root.is_dir(), "open creates the directory");
    blobs.check().unwrap();
    assert_eq!(blobs.describe(), format!("local directory {}", root.canonicalize().unwrap().display()));

    // Small (one write) and large (streamed: more than one 8 MiB part).
    for (len, seed) in [(0usize, 0u8), (3 * 1024 * 1024, 1), (17 * 1024 * 1024 + 5, 2)] {
        let data = content(len, seed);
        let src = tmp.path().join(format!("src-{len}"));
        std::fs::write(&src, &data).unwrap();
        let blob = blobs.put_file(&src).unwrap();
        assert_eq!(blob, Blob { sha256: hex_of(&data), size: len as u64 });
        let stored = object_path(&root, &blob);
        assert_eq!(std::fs::read(&stored).unwrap(), data, "the object is at <root>/sha256/<2>/<hex>");
        let mode = std::fs::metadata(&stored).unwrap().mode() & 0o7777;
        assert!(mode & 0o600 == 0o600 && mode & 0o7133 == 0, "0644 less the umask: {mode:o}");

        let dest = tmp.path().join(format!("out/{len}"));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        blobs.get_to_file(&blob, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(blobs.get_bytes(&blob, len as u64).unwrap(), data);
    }
    // No temporary files left behind anywhere.
    let leftovers: Vec<_> =
        walk(tmp.path()).into_iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.')).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // put_bytes and put_file agree; file:// URLs open the same store.
    let same = Blobs::open(&format!("file://{}", root.display())).unwrap();
    let b = same.put_bytes(b"hello\n").unwrap();
    assert_eq!(b.sha256, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    assert_eq!(blobs.get_bytes(&b, 6).unwrap(), b"hello\n");
    let json = serde_json::to_string(&b).unwrap();
    assert_eq!(serde_json::from_str::<Blob>(&json).unwrap(), b);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn local_put_of_present_content_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(tmp.path().join("b").to_str().unwrap()).unwrap();
    for len in [1000usize, 9 * 1024 * 1024] {
        let data = content(len, 7);
        let src = tmp.path().join("src");
        std::fs::write(&src, &data).unwrap();
        let blob = blobs.put_file(&src).unwrap();
        let stored = object_path(&tmp.path().join("b"), &blob);
        let before = std::fs::metadata(&stored).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(blobs.put_file(&src).unwrap(), blob);
        assert_eq!(blobs.put_bytes(&data).unwrap(), blob);
        let after = std::fs::metadata(&stored).unwrap();
        assert_eq!(
            (before.ino(), before.mtime_nsec(), before.mtime()),
            (after.ino(), after.mtime_nsec(), after.mtime())
        );

        // An object of the wrong size (damaged) is replaced by a put.
        std::fs::write(&stored, b"short").unwrap();
        blobs.put_file(&src).unwrap();
        assert_eq!(std::fs::read(&stored).unwrap(), data);
    }
}

#[test]
fn local_corrupt_object_is_detected_and_nothing_is_left_at_dest() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("b");
    let blobs = Blobs::open(root.to_str().unwrap()).unwrap();
    let data = content(100_000, 3);
    let blob = blobs.put_bytes(&data).unwrap();
    let stored = object_path(&root, &blob);

    // Same size, one byte flipped: the hash catches it.
    let mut bad = data.clone();
    bad[50_000] ^= 1;
    std::fs::write(&stored, &bad).unwrap();
    let dest = tmp.path().join("dest");
    let e = blobs.get_to_file(&blob, &dest).unwrap_err();
    let msg = assert_one_line(&e);
    assert!(matches!(&e, StorageError::Corrupt { got, .. } if *got == format!("sha256:{}", hex_of(&bad))), "{msg}");
    assert!(msg.contains(&blob.sha256) && msg.contains(&blobs.describe()), "{msg}");
    assert!(!dest.exists(), "nothing at dest");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "no temporary file left beside dest");
    assert!(matches!(blobs.get_bytes(&blob, u64::MAX), Err(StorageError::Corrupt { .. })));

    // An existing file at dest is left as it was.
    std::fs::write(&dest, b"previous").unwrap();
    assert!(blobs.get_to_file(&blob, &dest).is_err());
    assert_eq!(std::fs::read(&dest).unwrap(), b"previous");

    // Truncated: the size catches it.
    std::fs::write(&stored, &data[..10]).unwrap();
    let e = blobs.get_to_file(&blob, &tmp.path().join("dest2")).unwrap_err();
    assert!(matches!(&e, StorageError::Corrupt { got, .. } if got == "10 bytes"), "{e}");
    assert!(!tmp.path().join("dest2").exists());

    // A blob that claims another size than the stored object.
    std::fs::write(&stored, &data).unwrap();
    let lying = Blob { size: blob.size + 1, ..blob.clone() };
    assert!(matches!(blobs.get_bytes(&lying, u64::MAX), Err(StorageError::Corrupt { .. })));
    // And the intact object downloads again.
    blobs.get_to_file(&blob, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
}

#[test]
fn bad_blob_hashes_are_refused_before_any_key_is_built() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("b");
    let blobs = Blobs::open(root.to_str().unwrap()).unwrap();
    // Something a forged hash could reach, were it used as a path.
    std::fs::write(tmp.path().join("secret"), b"secret").unwrap();
    let good = hex_of(b"x");
    for bad in [
        String::new(),
        "../../secret".to_string(),
        format!("../{}", &good[3..]),
        good.to_uppercase(),
        good[..63].to_string(),
        format!("{good}0"),
        format!("{}/{}", &good[..31], &good[32..]),
        format!("{}g", &good[..63]),
        format!("{}\u{e9}", &good[..62]),
    ] {
        let blob = Blob { sha256: bad.clone(), size: 6 };
        let dest = tmp.path().join("dest");
        let e = blobs.get_to_file(&blob, &dest).unwrap_err();
        assert!(matches!(e, StorageError::BadHash { .. }), "{bad:?}: {e}");
        assert_one_line(&e);
        assert!(!dest.exists());
        assert!(matches!(blobs.get_bytes(&blob, 100), Err(StorageError::BadHash { .. })), "{bad:?}");
        assert!(blob.validate().is_err());
    }
    assert!(Blob::of(b"x").validate().is_ok());
}

#[test]
fn local_missing_blob_and_size_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(tmp.path().join("b").to_str().unwrap()).unwrap();
    let absent = Blob::of(b"never stored");
    let dest = tmp.path().join("dest");
    let e = blobs.get_to_file(&absent, &dest).unwrap_err();
    assert!(matches!(&e, StorageError::Missing { blob, .. } if *blob == absent), "{e}");
    assert_eq!(
        assert_one_line(&e),
        format!("{}: blob sha256:{} (12 bytes) is missing", blobs.describe(), absent.sha256)
    );
    assert!(!dest.exists());
    assert!(matches!(blobs.get_bytes(&absent, 100), Err(StorageError::Missing { .. })));

    let present = blobs.put_bytes(&content(5000, 1)).unwrap();
    let e = blobs.get_bytes(&present, 4999).unwrap_err();
    assert!(matches!(e, StorageError::TooLarge { max: 4999, .. }), "{e}");
    assert_eq!(blobs.get_bytes(&present, 5000).unwrap().len(), 5000);
}

#[test]
fn urls_are_parsed_strictly() {
    for bad in [
        "relative/dir",
        "file://host/dir",
        "s3://bucket?endpoint=http://127.0.0.1:9&colour=blue",
        "s3://bucket?regoin=us-east-1",
        "s3://Bucket",
        "s3://bucket/../x",
        "gs://bucket",
    ] {
        let e = Blobs::open(bad).unwrap_err();
        assert!(matches!(e, StorageError::BadUrl { .. }), "{bad}: {e}");
        assert!(assert_one_line(&e).contains(bad), "{e}");
    }
    let e = Blobs::open("s3://bucket?colour=blue").unwrap_err();
    assert!(e.to_string().contains("unknown setting `colour`"), "{e}");
}

#[test]
fn a_store_is_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Blobs>();
    let tmp = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(tmp.path().to_str().unwrap()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let blobs = &blobs;
            s.spawn(move || {
                for i in 0..10u8 {
                    // Threads store the same contents concurrently.
                    let data = content(10_000, i);
                    let blob = blobs.put_bytes(&data).unwrap();
                    assert_eq!(blobs.get_bytes(&blob, 10_000).unwrap(), data, "thread {t}");
                }
            });
        }
    });
}

fn credentials(secret: &str) -> Options {
    Options {
        retry: Retry::default(),
        credentials: Some(Credentials { key_id: seaweed::ACCESS_KEY.into(), secret: secret.into(), token: None }),
    }
}

#[test]
fn s3_round_trip_dedup_and_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Seaweed::start(tmp.path());
    server.create_bucket("blobs");
    let url = server.url("blobs", "runs/r1");
    let blobs = Blobs::open_with(&url, credentials(seaweed::SECRET_KEY)).unwrap();
    assert_eq!(blobs.describe(), format!("s3://blobs/runs/r1 at {} (region us-east-1)", server.endpoint));
    blobs.check().unwrap();

    // 3 MB in one PUT.
    let data = content(3_000_000, 9);
    let src = tmp.path().join("report.bin");
    std::fs::write(&src, &data).unwrap();
    let blob = blobs.put_file(&src).unwrap();
    assert_eq!(blob, Blob { sha256: hex_of(&data), size: 3_000_000 });
    let key = format!("runs/r1/sha256/{}/{}", &blob.sha256[..2], blob.sha256);
    let (status, stored) = server.get_object("blobs", &key);
    assert_eq!(status, 200, "the object is at {key}");
    assert!(stored == data, "the server holds the file's bytes at {key}");
    let dest = tmp.path().join("back.bin");
    blobs.get_to_file(&blob, &dest).unwrap();
    assert!(std::fs::read(&dest).unwrap() == data);

    // A second put of the same content is skipped (the object is not rewritten).
    let modified = server.last_modified("blobs", &key);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(blobs.put_file(&src).unwrap(), blob);
    assert_eq!(blobs.put_bytes(&data).unwrap(), blob);
    assert_eq!(server.last_modified("blobs", &key), modified);

    // More than one part: a multipart upload, then ranged reads.
    let big = content(17 * 1024 * 1024 + 3, 10);
    let big_src = tmp.path().join("artifact.bin");
    std::fs::write(&big_src, &big).unwrap();
    let big_blob = blobs.put_file(&big_src).unwrap();
    let (status, stored) =
        server.get_object("blobs", &format!("runs/r1/sha256/{}/{}", &big_blob.sha256[..2], big_blob.sha256));
    assert_eq!(status, 200);
    assert!(stored == big);
    assert!(blobs.get_bytes(&big_blob, u64::MAX).unwrap() == big);

    // Threads share the store (one runtime, requests from several threads).
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let blobs = &blobs;
            s.spawn(move || {
                for i in 0..3u8 {
                    let data = content(200_000, 100 + i);
                    let blob = blobs.put_bytes(&data).unwrap();
                    assert!(blobs.get_bytes(&blob, 200_000).unwrap() == data, "thread {t}");
                }
            });
        }
    });

    // Missing blob.
    let absent = Blob::of(b"absent");
    let e = blobs.get_to_file(&absent, &tmp.path().join("absent")).unwrap_err();
    assert!(matches!(e, StorageError::Missing { .. }), "{e}");
    assert!(!tmp.path().join("absent").exists());

    // A missing bucket: one clear line, not retried.
    let nobucket = Blobs::open_with(&server.url("no-such-bucket", ""), credentials(seaweed::SECRET_KEY)).unwrap();
    let started = Instant::now();
    let e = nobucket.check().unwrap_err();
    let msg = assert_one_line(&e);
    assert!(matches!(e, StorageError::Refused { .. }), "{msg}");
    assert!(msg.starts_with(&nobucket.describe()) && msg.contains("NoSuchBucket"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(2), "a refusal is not retried: {:?}", started.elapsed());

    // A wrong secret key: refused, the secret never shown.
    let wrong = Blobs::open_with(&url, credentials("not-the-secret")).unwrap();
    let e = wrong.check().unwrap_err();
    let msg = assert_one_line(&e);
    assert!(matches!(e, StorageError::Refused { .. }), "{msg}");
    assert!(msg.contains("SignatureDoesNotMatch"), "{msg}");
    assert!(!msg.contains("not-the-secret") && !format!("{wrong:?}").contains("not-the-secret"), "{msg}");
    assert!(matches!(wrong.put_bytes(b"x"), Err(StorageError::Refused { .. })));
    // An unknown access key.
    let stranger = Blobs::open_with(
        &url,
        Options {
            credentials: Some(Credentials { key_id: "nobody".into(), secret: "x".into(), token: None }),
            ..Options::default()
        },
    )
    .unwrap();
    let e = stranger.check().unwrap_err();
    assert!(matches!(e, StorageError::Refused { .. }), "{e}");
    assert_one_line(&e);
}

#[test]
fn s3_outage_is_retried_within_bounds_and_a_restart_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Seaweed::start(tmp.path());
    server.create_bucket("outage");
    let url = server.url("outage", "");
    let blobs = Blobs::open_with(&url, credentials(seaweed::SECRET_KEY)).unwrap();
    let before = blobs.put_bytes(b"stored before the outage").unwrap();

    server.kill();
    // Default policy: 6 tries, 100 ms doubling, at most 2 s apart.
    let started = Instant::now();
    let e = blobs.put_bytes(b"stored during the outage").unwrap_err();
    let elapsed = started.elapsed();
    let msg = assert_one_line(&e);
    assert!(matches!(e, StorageError::Unreachable { tries: 6, .. }), "{msg}");
    assert!(msg.starts_with(&blobs.describe()), "{msg}");
    assert!(msg.to_lowercase().contains("connection refused"), "the cause is named: {msg}");
    assert!(elapsed >= Duration::from_millis(500), "retried with backoff (5 waits of at least 100 ms): {elapsed:?}");
    assert!(elapsed < Duration::from_secs(15), "bounded: {elapsed:?}");
    assert!(e.is_unreachable());

    // A shorter policy gives up sooner.
    let quick = Blobs::open_with(
        &url,
        Options {
            retry: Retry { tries: 2, first_backoff: Duration::from_millis(10), ..Retry::default() },
            ..credentials(seaweed::SECRET_KEY)
        },
    )
    .unwrap();
    let started = Instant::now();
    let e = quick.get_bytes(&before, 100).unwrap_err();
    assert!(matches!(e, StorageError::Unreachable { tries: 2, .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let e = quick.check().unwrap_err();
    assert!(matches!(e, StorageError::Unreachable { .. }), "{e}");

    // Same data directory, same ports: the store works again.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = blobs.check() {
        assert!(Instant::now() < deadline, "the bucket did not come back: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = blobs.put_bytes(b"stored during the outage").unwrap();
    let (status, stored) = server.get_object("outage", &format!("sha256/{}/{}", &after.sha256[..2], after.sha256));
    assert_eq!((status, stored.as_slice()), (200, &b"stored during the outage"[..]));
    assert_eq!(blobs.get_bytes(&before, 100).unwrap(), b"stored before the outage");
}

/// A loopback HTTP server answering every request with `status` and
/// `body` (or, when `status` is 0, never answering); counts the requests.
struct Scripted {
    endpoint: String,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn scripted(status: u16, body: &'static str) -> Scripted {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = requests.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let count = count.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut sink = vec![0u8; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut sink);
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if status == 0 {
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                }
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} Scripted\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    Scripted { endpoint, requests }
}

fn scripted_store(server: &Scripted, retry: Retry) -> Blobs {
    let url = format!("s3://bucket?endpoint={}", server.endpoint);
    Blobs::open_with(&url, Options { retry, ..credentials("secret") }).unwrap()
}

#[test]
fn s3_5xx_and_timeouts_are_retried_4xx_are_not() {
    let quick =
        Retry { first_backoff: Duration::from_millis(10), max_backoff: Duration::from_millis(40), ..Retry::default() };
    let requests = |s: &Scripted| s.requests.load(std::sync::atomic::Ordering::SeqCst);

    let busy = scripted(
        503,
        "<?xml version=\"1.0\"?>\n<Error>\n<Code>SlowDown</Code>\n<Message>Please reduce your request rate.</Message>\n</Error>",
    );
    let e = scripted_store(&busy, quick).check().unwrap_err();
    let msg = assert_one_line(&e);
    assert!(matches!(e, StorageError::Unreachable { tries: 6, .. }), "{msg}");
    // object_store keeps no body of a 5xx answer.
    assert!(msg.ends_with("HTTP 503 Service Unavailable"), "{msg}");
    assert_eq!(requests(&busy), 6, "6 tries");
    let e = scripted_store(&busy, quick).put_bytes(b"x").unwrap_err();
    assert!(matches!(e, StorageError::Unreachable { .. }), "{e}");

    let denied = scripted(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
    let e = scripted_store(&denied, quick).check().unwrap_err();
    let msg = assert_one_line(&e);
    assert!(matches!(e, StorageError::Refused { .. }), "{msg}");
    assert!(msg.ends_with("refused: AccessDenied: Access Denied"), "{msg}");
    assert_eq!(requests(&denied), 1, "a refusal is not retried");

    // No answer at all: each try times out.
    let silent = scripted(0, "");
    let started = Instant::now();
    let e = scripted_store(&silent, Retry { tries: 2, request_timeout: Duration::from_millis(300), ..quick })
        .check()
        .unwrap_err();
    let msg = assert_one_line(&e);
    assert!(matches!(e, StorageError::Unreachable { tries: 2, .. }), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(requests(&silent), 2, "{msg}");
}
