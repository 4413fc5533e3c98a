//! Planners (L2): turn a free-text intent such as "build and test" into a [`Plan`].
//!
//! Guarantees: a planner only *proposes*. The caller validates every plan it
//! returns against the plan schema ([`crate::plan::validate`]) and the tool
//! whitelist ([`crate::plan::tools::Whitelist::check`]) exactly as it would a
//! plan file, and the sandbox policy still bounds each task, so a planner can
//! never widen what is allowed. The embedded [`OfflinePlanner`] needs no
//! network and no model: it reads only the top level of the workspace, never
//! runs anything, and returns the same plan for the same workspace and intent.
//!
//! LLM backends ([`openai`], [`anthropic`], [`command`]) are configured in the
//! project config's `planner:` section ([`settings`]) and asked in order by the
//! fallback [`chain`], the offline planner last. They see a redacted prompt
//! ([`prompt`]) and their answers pass the same checks as a plan file, plus a
//! policy rule. [`analysis`] tells transient failures (retry) from permanent
//! ones (replan).

pub mod analysis;
pub mod anthropic;
pub mod chain;
pub mod command;
pub mod http;
pub mod offline;
pub mod openai;
pub mod prompt;
pub mod settings;

pub use chain::Chain;
pub use offline::OfflinePlanner;

use crate::plan::Plan;
use std::path::{Path, PathBuf};

/// Something that proposes a plan for an intent in a workspace.
pub trait Planner {
    /// A short name for messages and the run record (`offline`).
    fn name(&self) -> &str;

    /// Propose a plan for `intent` in `workspace`. The result still has to pass
    /// plan validation and the tool whitelist before anything runs.
    fn plan(&self, intent: &str, workspace: &Path) -> Result<Plan, PlanError>;
}

/// Why a planner could not propose a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The intent is not one this planner understands.
    #[error(
        "the offline planner cannot plan {intent:?}: {why}; write e.g. {} \
         (an LLM planner can be configured for other intents)",
        offline::EXAMPLES
    )]
    NotUnderstood {
        /// The intent as given.
        intent: String,
        /// What the planner understood, and why that is not enough.
        why: String,
    },
    /// No project file the planner recognises is in the workspace.
    #[error("no project found in {}: looked for {}", workspace.display(), offline::PROJECT_FILES.join(", "))]
    NoProject {
        /// The workspace that was searched (top level only).
        workspace: PathBuf,
    },
    /// Projects were found, but none has a step for what the intent asks.
    #[error("nothing to do for {intent:?} in {}: {why}", workspace.display())]
    NothingToDo {
        /// The intent as given.
        intent: String,
        /// The workspace.
        workspace: PathBuf,
        /// What was found and what is missing.
        why: String,
    },
    /// A project file could not be understood (e.g. `package.json` is not JSON).
    #[error("{}: {why}", path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The workspace or a project file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The planner `orchestra run "intent"` and `orchestra plan "intent"` use
/// when none is configured: the embedded [`OfflinePlanner`].
pub fn default_planner() -> Box<dyn Planner> {
    Box::new(OfflinePlanner)
}

/// A backend that answers a conversation with text (an LLM API or a program).
pub trait Backend: Send + Sync {
    /// Name in messages and records.
    fn name(&self) -> &str;

    /// The answer to the conversation (whose messages are already redacted).
    fn complete(&self, conv: &prompt::Conversation) -> Result<String, BackendError>;
}

/// Why a backend gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// Not usable here (key variable unset, program missing).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// An HTTP error status (after the retries, for 429 and 5xx).
    #[error("{url}: HTTP {status}: {body}")]
    Http {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// No answer in time.
    #[error("{url}: no answer within {after:?}")]
    Timeout {
        /// The URL or program.
        url: String,
        /// The timeout.
        after: std::time::Duration,
    },
    /// Connection or I/O error (after the retries).
    #[error("{0}")]
    Transport(String),
    /// An answer without the expected shape.
    #[error("{0}")]
    BadResponse(String),
}

/// The API key in environment variable `var`; unset or empty makes the backend unavailable.
pub(crate) fn read_key(var: &str) -> Result<String, BackendError> {
    match std::env::var(var) {
        Ok(k) if !k.trim().is_empty() => Ok(k.trim().to_string()),
        _ => Err(BackendError::Unavailable(format!("the environment variable {var} (the API key) is not set"))),
    }
}
