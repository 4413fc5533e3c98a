//! Runs: what `orchestra run` and `orchestra resume` do between the command
//! line and the sandboxes.
//!
//! - [`plan`]: plans as DAGs of whitelisted tools, checked (cycles, the tool
//!   whitelist, the environment rule, program lookup) before anything runs.
//! - [`planner`]: intents turned into plans (offline, or an LLM backend) and
//!   replans after a failure.
//! - [`orchestrator`]: the scheduler, its typed event stream and observers
//!   (the audit writer), the `exec` protocol with its workers, the run report.
//! - [`runstore`]: run directories, the crash-safe checkpoint, the runs index.
//! - [`ci`]: JUnit, SARIF and GitHub Actions outputs.
//! - [`config`]: `.orchestra/config.yaml` and its `ORCHESTRA_*` overrides.
//!
//! The other crates are re-exported under the names these modules use.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub use orchestra_audit as audit;
pub use orchestra_policy as policy;
pub use orchestra_policy::{exit, yaml};
pub use orchestra_sandbox as sandbox;

pub mod ci;
pub mod config;
pub mod orchestrator;
pub mod plan;
pub mod planner;
pub mod runstore;
