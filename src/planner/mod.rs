//! Planners (L2): turn a free-text intent such as "build and test" into a [`Plan`].
//!
//! Guarantees: a planner only *proposes*. The caller validates every plan it
//! returns against the plan schema ([`crate::plan::validate`]) and the tool
//! whitelist ([`crate::plan::tools::Whitelist::check`]) exactly as it would a
//! plan file, and the sandbox policy still bounds each task, so a planner can
//! never widen what is allowed. The embedded [`OfflinePlanner`] needs no
//! network and no model: it reads only the top level of the workspace, never
//! runs anything, and returns the same plan for the same workspace and intent.

pub mod offline;

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
        "the offline planner does not understand {intent:?}; it understands {understood}; \
         an LLM planner can be configured for other intents"
    )]
    NotUnderstood {
        /// The intent as given.
        intent: String,
        /// The intents this planner understands, in words.
        understood: String,
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
