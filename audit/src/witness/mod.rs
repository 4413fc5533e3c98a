//! Witnesses (C2SP `tlog-witness`, `tlog-cosignature`): independent servers
//! that cosign a log's checkpoints only when each is consistent with the
//! last one they cosigned, so a host that truncates, rolls back or forks its
//! log cannot get that history cosigned.
//!
//! - [`note`]: signed notes with a `tlog-checkpoint` text, read generically.
//! - [`cosig`]: witness keys and `cosignature/v1` (sign, verify).
//! - [`request`]: the `add-checkpoint` request body.
//! - [`server`]: the witness without HTTP: its checks, its crash-safe state.
//! - [`store`]: cosigned notes kept beside the log (`<log>/cosigned/`).
//! - [`client`]: submitting a checkpoint, with one retry on `409 Conflict`.
//!
//! What a valid cosignature guarantees: at its time the witness held a
//! trusted log key's signature on the checkpoint, and every checkpoint it had
//! cosigned for that origin before was a prefix of it (RFC 6962 consistency).
//! It says nothing about the records' content and nothing about extension
//! lines; it means something only if the witness runs where the log's host
//! cannot reach its key or state (SECURITY.md).

pub mod client;
pub mod cosig;
pub mod note;
pub mod request;
pub mod server;
pub mod store;

pub use cosig::{CosigError, WitnessKey, WitnessVerifier};
pub use note::{Note, TreeHead};
pub use server::{Verdict, Witness};
