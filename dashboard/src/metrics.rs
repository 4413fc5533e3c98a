//! `/metrics`: the Prometheus text exposition of what the dashboard sees in
//! the runs directory (prometheus-client).
//!
//! Interface (the server calls only this):
//! - [`Metrics::new`] builds the registry;
//! - [`Metrics::observe`] counts one journal entry of run `run_id`
//!   (`runs/<id>/events.jsonl`, see `orchestra_orchestrator::runstore::journal`);
//! - [`Metrics::encode`] renders the text format.

use orchestra_orchestrator::runstore::journal::Entry;

/// The dashboard's metrics.
#[derive(Debug, Default)]
pub struct Metrics {}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Metrics {
        Metrics {}
    }

    /// Count one journal entry of run `run_id`.
    pub fn observe(&self, _run_id: &str, _entry: &Entry) {}

    /// Set the fleet gauges (queue depth, live workers).
    pub fn set_fleet(&self, _depth: i64, _workers: i64) {}

    /// Count one audit verification.
    pub fn audit_verified(&self, _ok: bool) {}

    /// The Prometheus text format.
    pub fn encode(&self) -> String {
        String::new()
    }
}
