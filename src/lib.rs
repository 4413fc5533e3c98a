//! Orchestra: run untrusted build and agent work inside an isolation boundary
//! chosen by a declared security policy, with every action in a signed,
//! hash-chained audit log.
//!
//! Where things live:
//! - [`policy`]: the policy types, presets and strict loading.
//! - [`sandbox`]: the backends behind one trait; [`sandbox::jail`] is the
//!   namespaces + landlock + seccomp jail (network is denied in
//!   `sandbox/jail/netns` and `sandbox/jail/seccomp`), [`sandbox::sys`] is the
//!   only home of `unsafe`.
//! - [`audit`]: the append-only signed log (records are signed in `audit`).
//! - [`cli`]: the command line; [`exit`]: the exit-code contract.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod audit;
pub mod ci;
pub mod cli;
pub mod config;
pub mod exit;
pub mod orchestrator;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod runstore;
pub mod sandbox;
pub mod yaml;
