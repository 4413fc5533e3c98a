//! A real browser for the dashboard tests: Debian's headless Chromium
//! (`/usr/bin/chromium`, package chromium) driven over WebDriver by Debian's
//! `chromedriver` (package chromium-driver) through fantoccini.
//!
//! Guarantees: [`Browser::start`] panics, naming the package, when either
//! program is missing (no test is skipped); chromedriver listens on a free
//! loopback port only; each browser has a fresh profile directory of its own;
//! on drop the WebDriver session is closed and chromedriver's whole process
//! group — Chromium and its helpers included — is killed, then any process
//! still naming this browser's profile directory, and the profile is
//! removed. Screenshots go to `target/test-artifacts/dashboard/`.
//!
//! The WebDriver client is asynchronous; this wrapper owns a single-threaded
//! tokio runtime and offers blocking calls, so a test reads top to bottom.
//! It uses nothing of the rest of the harness: the dashboard's browser
//! benchmark (`dashboard/benches/browser.rs`) includes this same file.

use fantoccini::{Client, ClientBuilder, Locator};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Chromium launcher.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One headless Chromium with its chromedriver.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    profile: tempfile::TempDir,
}

/// `target/test-artifacts/dashboard/` (created).
pub fn artifacts_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("test-artifacts/dashboard");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

#[track_caller]
fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).is_file(),
        "{path} is missing: the browser tests need Debian's {package} (apt-get install chromium chromium-driver)"
    );
}

impl Browser {
    /// Start chromedriver on a free loopback port and open a headless Chromium session.
    pub fn start() -> Browser {
        require(CHROMIUM, "chromium");
        require(CHROMEDRIVER, "chromium-driver");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&base).expect("create the browser base dir");
        let profile = tempfile::Builder::new().prefix("chromium").tempdir_in(&base).expect("profile dir");
        let log = profile.path().join("chromedriver.log");
        let port = free_port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("chromedriver log"))
            .stderr(Stdio::null());
        // Its own process group: Chromium and every helper it starts are in
        // it, so one signal ends them all.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd.spawn().unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));
        let mut b = Browser { rt, client: None, driver, profile };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || b.driver.try_wait().ok().flatten().is_some() {
                panic!("chromedriver did not listen on port {port} within 30 s:\n{}", b.driver_log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-extensions",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", b.profile.path().join("profile").display()),
                ],
            },
        });
        let serde_json::Value::Object(caps) = caps else { unreachable!("a JSON object") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let session = b.rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(60),
                ClientBuilder::new(connector).capabilities(caps).connect(&url),
            )
            .await
        });
        match session {
            Ok(Ok(c)) => b.client = Some(c),
            Ok(Err(e)) => panic!("no Chromium session from chromedriver: {e}\n{}", b.driver_log()),
            Err(_) => panic!("no Chromium session from chromedriver within 60 s\n{}", b.driver_log()),
        }
        b
    }

    fn driver_log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.profile.path().join("chromedriver.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a session")
    }

    /// Navigate to `url` and wait for its load event.
    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.client().goto(url)).unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Reload the page.
    pub fn refresh(&self) {
        self.rt.block_on(self.client().refresh()).unwrap_or_else(|e| panic!("refresh: {e}"));
    }

    /// Run `script` (a function body: `return …`) in the page; its value.
    pub fn js(&self, script: &str) -> serde_json::Value {
        self.js_with(script, Vec::new())
    }

    /// As [`Browser::js`] with `arguments[0…]`.
    pub fn js_with(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.rt.block_on(self.client().execute(script, args)).unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// Run `script` asynchronously: it ends by calling its last argument
    /// with its value (WebDriver's script timeout, 30 s, applies).
    pub fn js_async(&self, script: &str) -> serde_json::Value {
        self.rt
            .block_on(self.client().execute_async(script, Vec::new()))
            .unwrap_or_else(|e| panic!("async script {script:?}: {e}"))
    }

    /// Evaluate `script` every 25 ms until it returns a truthy value (which is
    /// returned) or `limit` passes: then a screenshot `<what>-timeout.png` is
    /// saved and the test fails.
    pub fn wait_js(&self, what: &str, limit: Duration, script: &str) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.js(script);
            let truthy = match &v {
                serde_json::Value::Null => false,
                serde_json::Value::Bool(b) => *b,
                serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                serde_json::Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("{what}-timeout"));
                panic!("waited {limit:?} for {what} ({script}); last value {v}; screenshot {}", shot.display());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Click the element `css` selects.
    pub fn click(&self, css: &str) {
        self.rt
            .block_on(async {
                let e = self.client().find(Locator::Css(css)).await?;
                e.click().await
            })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The rendered text of the element `css` selects.
    pub fn text(&self, css: &str) -> String {
        self.rt
            .block_on(async { self.client().find(Locator::Css(css)).await?.text().await })
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Save a PNG of the viewport as `target/test-artifacts/dashboard/<name>.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.rt.block_on(self.client().screenshot()).unwrap_or_else(|e| panic!("screenshot: {e}"));
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), c.close()).await });
        }
        let pgid = nix::unistd::Pid::from_raw(self.driver.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A helper that left the group still names this browser's profile.
        let marker = self.profile.path().display().to_string();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
            if String::from_utf8_lossy(&cmdline).contains(&marker) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}
