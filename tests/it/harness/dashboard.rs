//! `orchestra dashboard` as a user starts it: the built binary on a free
//! loopback port (`--bind 127.0.0.1:0`; the address is read from its first
//! line), over a runs directory, killed when dropped. HTTP through reqwest
//! (blocking), the live feed through tungstenite (the WebSocket library
//! axum itself uses).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running dashboard.
pub struct Dashboard {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// The token it made and showed (an operator dashboard without one
    /// given): sent with every request of [`Dashboard::request`] and [`Dashboard::live`].
    pub token: Option<String>,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: reqwest::header::HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Dashboard {
    /// Start `orchestra dashboard --bind 127.0.0.1:0 --runs-dir RUNS EXTRA…`; waits for its address.
    pub fn start(runs: &Path, extra: &[&str]) -> Dashboard {
        Dashboard::start_env(runs, extra, &[])
    }

    /// As [`Dashboard::start`] with environment variables.
    pub fn start_env(runs: &Path, extra: &[&str], env: &[(&str, &str)]) -> Dashboard {
        let mut c = Command::new(super::orchestra());
        c.args(["dashboard", "--bind", "127.0.0.1:0", "--runs-dir"]).arg(runs).args(extra);
        c.env_remove("ORCHESTRA_DASHBOARD_TOKEN");
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("orchestra dashboard");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The first line names the address; the rest is drained (the pipe must not fill).
            let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
            if let Some(first) = lines.next() {
                let _ = tx.send(first);
            }
            lines.for_each(drop);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the dashboard printed nothing in 30 s");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        let token = line.split("login?token=").nth(1).map(|t| t.trim().to_string());
        Dashboard { child, base: format!("http://{addr}"), addr, token }
    }

    /// A client that sends no cookies and follows no redirects.
    pub fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Answer {
        self.request(Dashboard::client().get(format!("{}{path}", self.base)))
    }

    /// Send a request (with the token it showed, if any).
    pub fn request(&self, r: reqwest::blocking::RequestBuilder) -> Answer {
        let r = match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        };
        let resp = r.send().expect("dashboard request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().unwrap_or_default();
        Answer { status, headers, body }
    }

    /// The CSRF token the pages embed.
    pub fn csrf(&self) -> String {
        let page = self.get("/").body;
        page.split("name=\"csrf\" content=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string()
    }

    /// Open the live feed at `path_and_query` (e.g. `/api/runs/ID/live?since=0`).
    pub fn live(&self, path_and_query: &str) -> Feed {
        use tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{}{path_and_query}", self.addr).into_client_request().unwrap();
        if let Some(t) = &self.token {
            req.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        let (socket, _) = tungstenite::connect(req).expect("websocket");
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        }
        Feed { socket }
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A live feed.
pub struct Feed {
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
}

impl Feed {
    /// Messages until `done` says so or `limit` passes (panics then).
    pub fn until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let end = Instant::now() + limit;
        let mut seen = Vec::new();
        while Instant::now() < end {
            match self.socket.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    let stop = done(&v);
                    seen.push(v);
                    if stop {
                        return seen;
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("feed: {e} after {seen:?}"),
            }
        }
        panic!("the feed did not deliver what was awaited within {limit:?}: {seen:?}")
    }

    /// Close the socket.
    pub fn close(mut self) {
        let _ = self.socket.close(None);
    }
}
