//! The `planner:` section of the project config: which planner backends to
//! ask, in which order, and how far replanning may go.
//!
//! Guarantees: parsing is strict (unknown fields are errors); API keys are
//! never part of the config, only the *names* of the environment variables
//! that hold them; the embedded offline planner is always the last backend,
//! whether or not it is listed.

use crate::policy::HumanDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default request timeout of a backend.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default retries after a 429, a 5xx or a connection error.
pub const DEFAULT_RETRIES: u32 = 2;
/// Default delay before the first retry (doubled for each further one).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// Default bound on replans per run.
pub const DEFAULT_MAX_REPLANS: u32 = 2;
/// Default extra attempts for a failure the analysis calls transient.
pub const DEFAULT_TRANSIENT_RETRIES: u32 = 2;

fn default_max_replans() -> u32 {
    DEFAULT_MAX_REPLANS
}

fn default_transient_retries() -> u32 {
    DEFAULT_TRANSIENT_RETRIES
}

/// `planner:` in the project config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannerConfig {
    /// Backends, tried in order; the offline planner is always appended last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<BackendConfig>,
    /// How many times one run may replace its plan after permanent failures (0: never replan).
    #[serde(default = "default_max_replans")]
    pub max_replans: u32,
    /// Replan runs started from a plan file too (default: only runs started from an intent).
    #[serde(default)]
    pub replan_plan_files: bool,
    /// Policies a planner-made plan may name in `policy:` (plan or task level).
    /// Empty (the default): a planner-made plan may name none; its tasks get the
    /// tool's, the config's or the `default` policy, or `--policy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_policies: Vec<String>,
    /// Extra attempts for a failure that the failure analysis calls transient
    /// (network, lock contention, out of memory), beyond the task's own `retries`.
    #[serde(default = "default_transient_retries")]
    pub transient_retries: u32,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            backends: Vec::new(),
            max_replans: DEFAULT_MAX_REPLANS,
            replan_plan_files: false,
            allowed_policies: Vec::new(),
            transient_retries: DEFAULT_TRANSIENT_RETRIES,
        }
    }
}

/// One planner backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackendConfig {
    /// An OpenAI-compatible chat-completions API (OpenAI, llama.cpp's server, Ollama, vLLM, ...).
    Openai {
        /// A name for messages (default `openai`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The API base, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`
        /// (`/chat/completions` is appended).
        base_url: String,
        /// The model name.
        model: String,
        /// The environment variable holding the API key (none: no `Authorization` header, for local servers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_key_env: Option<String>,
        /// Timeout of one request (default 120s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<HumanDuration>,
        /// Retries after a 429, a 5xx or a connection error (default 2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retries: Option<u32>,
        /// Delay before the first retry, doubled for each further one (default 1s); `Retry-After` wins, capped at 60s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backoff: Option<HumanDuration>,
    },
    /// The Anthropic Messages API.
    Anthropic {
        /// A name for messages (default `anthropic`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The API base (default `https://api.anthropic.com`; `/v1/messages` is appended).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
        /// The model name.
        model: String,
        /// The environment variable holding the API key (default `ANTHROPIC_API_KEY`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_key_env: Option<String>,
        /// `max_tokens` of the answer (default 4096).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_tokens: Option<u32>,
        /// Timeout of one request (default 120s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<HumanDuration>,
        /// Retries after a 429, a 5xx or a connection error (default 2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retries: Option<u32>,
        /// Delay before the first retry, doubled for each further one (default 1s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backoff: Option<HumanDuration>,
    },
    /// Any program that reads the prompt on stdin and prints a plan on stdout
    /// (e.g. an agent CLI in print mode). It runs on the host, unsandboxed, like
    /// any other program the trusted config names.
    Command {
        /// A name for messages (default: the program's file name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Program and arguments (no shell).
        argv: Vec<String>,
        /// Timeout of one call (default 120s); the program is killed after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<HumanDuration>,
    },
    /// The embedded offline planner (always last; listing it has no further effect).
    Offline,
}

impl BackendConfig {
    /// The backend's name in messages and records.
    pub fn name(&self) -> String {
        match self {
            BackendConfig::Openai { name, .. } => name.clone().unwrap_or_else(|| "openai".into()),
            BackendConfig::Anthropic { name, .. } => name.clone().unwrap_or_else(|| "anthropic".into()),
            BackendConfig::Command { name, argv, .. } => name.clone().unwrap_or_else(|| {
                argv.first().map(|p| p.rsplit('/').next().unwrap_or(p).to_string()).unwrap_or_else(|| "command".into())
            }),
            BackendConfig::Offline => "offline".into(),
        }
    }

    /// The environment variable holding this backend's key, if it has one.
    pub fn api_key_env(&self) -> Option<String> {
        match self {
            BackendConfig::Openai { api_key_env, .. } => api_key_env.clone(),
            BackendConfig::Anthropic { api_key_env, .. } => {
                Some(api_key_env.clone().unwrap_or_else(|| "ANTHROPIC_API_KEY".into()))
            }
            BackendConfig::Command { .. } | BackendConfig::Offline => None,
        }
    }
}

/// A planner section that serde accepts but that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlannerConfigError {
    /// A base URL of another scheme.
    #[error("planner base_url {0:?} must start with http:// or https://")]
    Url(String),
    /// An empty model name (the backend: `openai`, `anthropic`).
    #[error("planner backend {0}: model must not be empty")]
    Model(&'static str),
    /// A command backend without a program.
    #[error("planner backend command: argv must name a program")]
    Argv,
    /// An `api_key_env` that is not a variable name.
    #[error("planner backend {backend}: api_key_env {var:?} is not a variable name")]
    KeyVariable {
        /// The backend's name.
        backend: String,
        /// The value given.
        var: String,
    },
}

impl PlannerConfig {
    /// Check what serde cannot: non-empty argv and URLs, sane names.
    pub fn check(&self) -> Result<(), PlannerConfigError> {
        for b in &self.backends {
            match b {
                BackendConfig::Openai { base_url, model, .. } => {
                    check_url(base_url)?;
                    if model.is_empty() {
                        return Err(PlannerConfigError::Model("openai"));
                    }
                }
                BackendConfig::Anthropic { base_url, model, .. } => {
                    if let Some(u) = base_url {
                        check_url(u)?;
                    }
                    if model.is_empty() {
                        return Err(PlannerConfigError::Model("anthropic"));
                    }
                }
                BackendConfig::Command { argv, .. } => {
                    if argv.first().is_none_or(|p| p.is_empty()) {
                        return Err(PlannerConfigError::Argv);
                    }
                }
                BackendConfig::Offline => {}
            }
            if let Some(k) = b.api_key_env()
                && (k.is_empty() || k.contains('='))
            {
                return Err(PlannerConfigError::KeyVariable { backend: b.name().to_string(), var: k.to_string() });
            }
        }
        Ok(())
    }
}

fn check_url(u: &str) -> Result<(), PlannerConfigError> {
    if u.starts_with("http://") || u.starts_with("https://") {
        Ok(())
    } else {
        Err(PlannerConfigError::Url(u.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use crate::config;

    fn load(yaml: &str) -> Result<config::Loaded, crate::yaml::LocatedError> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, yaml).unwrap_or_else(|e| panic!("{e}"));
        config::load(Some(&p), dir.path())
    }

    #[test]
    fn the_planner_section_is_strict_and_has_safe_defaults() {
        let l = load("version: 1\n").unwrap();
        assert_eq!(l.config.planner, super::PlannerConfig::default());
        assert_eq!(l.config.planner.max_replans, 2);
        assert!(l.config.planner.allowed_policies.is_empty() && !l.config.planner.replan_plan_files);
        let l = load(
            "planner:\n  backends:\n  - {kind: openai, base_url: 'http://127.0.0.1:1/v1', model: m, timeout: 3s}\n  - {kind: anthropic, model: c}\n  - {kind: command, argv: [agent, -p]}\n  max_replans: 0\n",
        )
        .unwrap();
        let b = &l.config.planner.backends;
        assert_eq!(b.len(), 3);
        assert_eq!(b[1].api_key_env().as_deref(), Some("ANTHROPIC_API_KEY"));
        assert_eq!(b[2].name(), "agent");
        let e = load("planner:\n  backends:\n  - {kind: openai, base_url: 'http://x', model: m, api_key: sk-123}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("api_key"), "a key in the config is refused: {e}");
        let e = load("planner:\n  backends:\n  - {kind: gemini, model: m}\n").unwrap_err().to_string();
        assert!(e.contains("gemini"), "{e}");
        let e =
            load("planner:\n  backends:\n  - {kind: openai, base_url: 'ftp://x', model: m}\n").unwrap_err().to_string();
        assert!(e.contains("http://"), "{e}");
        let e = load("planner:\n  backends:\n  - {kind: command, argv: []}\n").unwrap_err().to_string();
        assert!(e.contains("argv"), "{e}");
        assert!(load("planner:\n  max_replan: 1\n").is_err());
    }
}
