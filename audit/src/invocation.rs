//! Who writes: the invocation (one `orchestra` process that appends records),
//! its host, its user and the CI job it runs in (FORMAT.md §5.3,
//! "Invocation fields").
//!
//! Guarantees: [`current`] is computed once per process and never changes;
//! its `id` is 16 random bytes in hex, so the records of two concurrent
//! `orchestra exec` processes never share one. Host, user and CI values are
//! read from the system and the environment as they are (bounded in length)
//! and are informative: any process can claim any of them.

use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// Longest host, user or CI value recorded, in bytes (longer ones are cut
/// at a character boundary).
pub const MAX_VALUE: usize = 256;

/// The writing process's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// 32 lowercase hex digits, random per process.
    pub id: String,
    /// The host name (`gethostname`), if it can be read.
    pub host: Option<String>,
    /// The real user id.
    pub uid: u32,
    /// The user's name from the user database, if it has one.
    pub user: Option<String>,
    /// The CI job, if the process runs under one.
    pub ci: Option<Map<String, Value>>,
}

/// GitHub Actions: the variables recorded and the names they are recorded under.
const GITHUB: &[(&str, &str)] = &[
    ("GITHUB_REPOSITORY", "repository"),
    ("GITHUB_WORKFLOW", "workflow"),
    ("GITHUB_JOB", "job"),
    ("GITHUB_RUN_ID", "run_id"),
    ("GITHUB_RUN_ATTEMPT", "run_attempt"),
];

/// GitLab CI: the same.
const GITLAB: &[(&str, &str)] =
    &[("CI_PROJECT_PATH", "project_path"), ("CI_PIPELINE_ID", "pipeline_id"), ("CI_JOB_ID", "job_id")];

fn bounded(mut s: String) -> String {
    if s.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The CI job described by `var` (an environment lookup): GitHub Actions
/// (`GITHUB_ACTIONS=true`), GitLab (`GITLAB_CI=true`), or any other CI that
/// sets `CI` to something other than empty, `0` or `false`.
pub fn ci_from(var: impl Fn(&str) -> Option<String>) -> Option<Map<String, Value>> {
    let (provider, fields) = if var("GITHUB_ACTIONS").as_deref() == Some("true") {
        ("github_actions", GITHUB)
    } else if var("GITLAB_CI").as_deref() == Some("true") {
        ("gitlab", GITLAB)
    } else if var("CI").is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false")) {
        ("other", &[][..])
    } else {
        return None;
    };
    let mut m = Map::new();
    m.insert("provider".into(), provider.into());
    for (env, name) in fields {
        if let Some(v) = var(env).filter(|v| !v.is_empty()) {
            m.insert((*name).into(), bounded(v).into());
        }
    }
    Some(m)
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // No randomness: the process id and the clock still tell concurrent processes apart.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        b[..4].copy_from_slice(&std::process::id().to_be_bytes());
        b[4..].copy_from_slice(&t.to_be_bytes()[4..]);
    }
    super::keys::hex(&b)
}

fn detect() -> Invocation {
    let uid = nix::unistd::getuid();
    Invocation {
        id: random_id(),
        host: nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).map(bounded),
        uid: uid.as_raw(),
        user: nix::unistd::User::from_uid(uid).ok().flatten().map(|u| bounded(u.name)),
        ci: ci_from(|k| std::env::var(k).ok()),
    }
}

/// This process's invocation.
pub fn current() -> &'static Invocation {
    static CURRENT: OnceLock<Invocation> = OnceLock::new();
    CURRENT.get_or_init(detect)
}

impl Invocation {
    /// The fields a body that opens an invocation's records carries:
    /// `host` (string or null), `user` (`{"uid": n, "name": string or
    /// null}`) and, under CI, `ci` (`{"provider": …, …}`).
    pub fn context(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("host".into(), self.host.clone().map_or(Value::Null, Value::from));
        m.insert("user".into(), json!({"uid": self.uid, "name": self.user}));
        if let Some(ci) = &self.ci {
            m.insert("ci".into(), Value::Object(ci.clone()));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn ci_jobs_are_recognised() {
        let gh = ci_from(env(&[
            ("GITHUB_ACTIONS", "true"),
            ("CI", "true"),
            ("GITHUB_RUN_ID", "123"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_JOB", "build"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_WORKFLOW", "ci"),
        ]));
        assert_eq!(
            gh.map(Value::Object),
            Some(json!({"provider": "github_actions", "run_id": "123", "run_attempt": "2", "job": "build",
                        "repository": "o/r", "workflow": "ci"}))
        );
        let gl = ci_from(env(&[("GITLAB_CI", "true"), ("CI_JOB_ID", "9"), ("CI_PIPELINE_ID", "8")]));
        assert_eq!(gl.map(Value::Object), Some(json!({"provider": "gitlab", "job_id": "9", "pipeline_id": "8"})));
        assert_eq!(ci_from(env(&[("CI", "1")])).map(Value::Object), Some(json!({"provider": "other"})));
        assert_eq!(ci_from(env(&[("CI", "false")])), None);
        assert_eq!(ci_from(env(&[])), None);
    }

    #[test]
    fn the_invocation_is_stable_and_random() {
        let a = current();
        assert_eq!(a.id.len(), 32);
        assert!(a.id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(current().id, a.id, "one id per process");
        assert_ne!(random_id(), random_id());
        assert_eq!(a.uid, nix::unistd::getuid().as_raw());
        let long = "é".repeat(200);
        assert!(bounded(long).len() <= MAX_VALUE);
    }
}
