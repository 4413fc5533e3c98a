//! Orchestra: run untrusted build and agent work inside an isolation boundary
//! chosen by a declared security policy, with every action in a signed,
//! hash-chained audit log.
//!
//! Where things live (a workspace of crates; this one is the command line, the
//! others are re-exported under their old names):
//! - [`policy`] (crate `orchestra-policy`, `policies/`): the policy types,
//!   presets and strict loading; [`exit`]: the exit-code contract.
//! - [`sandbox`] (crate `orchestra-sandbox`, `sandbox/`): the backends behind
//!   one trait; [`sandbox::jail`] is the namespaces + landlock + seccomp jail
//!   (network is denied by the empty network namespace of
//!   `sandbox/src/jail/mod.rs` and judged in `sandbox/src/jail/decide.rs`),
//!   [`sandbox::sys`] is the only home of `unsafe`; its `orchestra-sandbox`
//!   binary is the static in-container supervisor.
//! - [`audit`] (crate `orchestra-audit`, `audit/`): the append-only signed log
//!   (records are hashed and chained in `audit/src/record.rs` and appended by
//!   `audit/src/writer.rs`; checkpoints are signed in `audit/src/checkpoint.rs`).
//! - [`orchestrator`], [`planner`], [`plan`], [`runstore`], [`ci`], [`config`]
//!   (crate `orchestra-orchestrator`, `orchestrator/`): runs.
//! - [`cli`]: the command line.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub use orchestra_audit as audit;
pub use orchestra_orchestrator::{ci, config, orchestrator, plan, planner, runstore};
pub use orchestra_policy as policy;
pub use orchestra_policy::{exit, yaml};
pub use orchestra_sandbox as sandbox;

pub mod cli;
