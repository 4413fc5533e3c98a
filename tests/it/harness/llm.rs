//! The planner (L2) tests' fakes: OpenAI-compatible and Anthropic servers on
//! loopback (real HTTP/1.1, real JSON, scripted answers, every request
//! recorded), and a [`World`] whose config points at them.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::out::Out;
use super::run::SH_TOOL;
use super::world::World;

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An assistant message with this text (wrapped in the API's JSON).
    Text(String),
    /// A raw HTTP status with a body and extra headers.
    Status(u16, String, Vec<(String, String)>),
    /// Say nothing for this long, then close.
    Hang(Duration),
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the request body is JSON")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    OpenAi,
    Anthropic,
}

/// A scripted fake API server on 127.0.0.1.
pub struct Fake {
    pub api: Api,
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Fake {
    pub fn start(api: Api, replies: Vec<Reply>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(replies)));
        let r = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (r, s) = (r.clone(), script.clone());
                std::thread::spawn(move || serve(conn, api, &r, &s));
            }
        });
        Fake { api, port, received }
    }

    /// The base URL to put in the config.
    pub fn base_url(&self) -> String {
        match self.api {
            Api::OpenAi => format!("http://127.0.0.1:{}/v1", self.port),
            Api::Anthropic => format!("http://127.0.0.1:{}", self.port),
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, api: Api, received: &Mutex<Vec<Received>>, script: &Mutex<VecDeque<Reply>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    // METHOD PATH VERSION; the method is not recorded (the clients only POST).
    let path = parts.nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    received.lock().unwrap().push(Received { path, headers, body: String::from_utf8_lossy(&body).into_owned() });
    let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::Status(
        503,
        "{\"error\":\"no script left\"}".into(),
        vec![],
    ));
    let mut conn = conn;
    let (status, body, extra) = match reply {
        Reply::Hang(d) => {
            std::thread::sleep(d);
            return;
        }
        Reply::Status(code, body, extra) => (code, body, extra),
        Reply::Text(text) => {
            let body = match api {
                Api::OpenAi => serde_json::json!({"id": "x", "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}),
                Api::Anthropic => serde_json::json!({"id": "x", "type": "message", "role": "assistant",
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"}),
            };
            (200, body.to_string(), vec![])
        }
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
    let _ = conn.flush();
}

/// A plan answer as a model would give it: prose around a fenced YAML block.
pub fn answer(yaml: &str) -> Reply {
    Reply::Text(format!("Here is the plan.\n\n```yaml\n{yaml}```\n"))
}

impl World {
    /// A world whose config whitelists sh and holds `planner_yaml`.
    pub fn planner(planner_yaml: &str) -> World {
        World::create("l2-tests", "p", &format!("{SH_TOOL}{planner_yaml}"))
    }

    /// `orchestra plan TARGET --config CFG`.
    pub fn plan(&self, target: &str, extra: &[&str]) -> Out {
        let cfg = self.config.display().to_string();
        let mut args = vec!["plan", target, "--config", &cfg];
        args.extend_from_slice(extra);
        self.orchestra(&args)
    }

    /// `orchestra run TARGET --config CFG --runs-dir RUNS --audit-dir AUDIT EXTRA`.
    pub fn run(&self, target: &str, extra: &[&str]) -> Out {
        let (cfg, runs, audit) =
            (self.config.display().to_string(), self.runs.display().to_string(), self.audit.display().to_string());
        let mut args = vec!["run", target, "--config", &cfg, "--runs-dir", &runs, "--audit-dir", &audit, "-j", "1"];
        args.extend_from_slice(extra);
        self.orchestra(&args)
    }

    /// Audit records of a kind, as JSON.
    pub fn audit_kind(&self, kind: &str) -> Vec<serde_json::Value> {
        let audit = self.audit.display().to_string();
        let o = self.orchestra(&["audit", "show", &audit, "--kind", kind, "--json"]);
        o.assert_code(0);
        o.stdout.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}
