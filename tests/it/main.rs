//! Orchestra's integration tests: one binary, one harness ([`harness`]), one
//! module per subject. Run a subject with `cargo test --test it jail_hostile::`.

// Tests may unwrap and expect: a panic is the failure report (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod audit_anchor;
mod audit_anchor_s3;
mod audit_cli;
mod audit_fleet;
mod audit_forward_secure;
mod audit_full_disk;
mod audit_keys;
mod audit_ocsf;
mod audit_prove;
mod audit_retention;
mod audit_tail;
mod audit_tamper;
mod audit_timestamp;
mod audit_vectors;
mod audit_witness;
mod canaries;
mod ci_outputs;
mod conformance;
mod container_engine;
mod container_pool;
mod corpus;
mod dashboard;
mod dashboard_browser;
mod dashboard_metrics;
mod distributed;
mod distributed_containers;
mod distributed_engine;
mod distributed_faults;
mod distributed_redis_auth;
mod distributed_ssh;
mod distributed_trust;
mod docs_reference;
mod exec_audit;
mod exec_flags;
mod exec_integrity;
mod exec_tty;
mod exit_contract;
mod jail_benign;
mod jail_hidden;
mod jail_hostile;
mod jail_in_container;
mod jail_paths;
mod jail_setuid_syscalls;
mod jail_syscall_args;
mod jail_unprivileged;
mod mac_profiles;
mod one_checkout;
mod plan_graph;
mod planner_llm;
mod planner_offline;
mod policy_learn;
mod protected_mounts;
mod protected_paths;
mod readme;
mod run_e2e;
mod run_integrity;
mod runs_cli;
mod workspace_diff;
