//! `orchestra dashboard`: a web UI and JSON API over a runs directory, live
//! task states and log lines over WebSocket, operator control (pause,
//! continue, cancel) and Prometheus metrics.
//!
//! The dashboard reads what runs leave in `runs/` (the index, checkpoints,
//! the event journal `events.jsonl`, logs, reports, artifacts) and never
//! writes there except the control file of a run an operator controls.

pub mod metrics;
