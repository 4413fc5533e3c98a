//! The one harness of the integration tests. Everything here drives the built
//! `orchestra` binary as a user would, from directories outside /tmp (the jail
//! gives tasks a private /tmp).
//!
//! - [`out`]: the binary and what one invocation left ([`Out`]: code, streams, report).
//! - [`jail`]: `orchestra exec` in a workspace with canaries and the attack helper ([`Env`]).
//! - [`world`] and [`run`]: `orchestra run`, its runs directory and CI outputs ([`World`]).
//! - [`llm`]: scripted fake planner APIs (used by the planner tests, imported explicitly).
//! - [`audit`]: deterministic audit logs, tamper cases and both verifiers (imported explicitly).
//! - [`process`], [`net`], [`containers`]: what the host sees (processes,
//!   listeners, containers left behind).
//! - [`fleet`], [`redis`], [`s3`]: distributed runs; [`rootfs`]: the offline
//!   skeleton images that [`sshd`] and [`worker_containers`] run host programs in;
//!   [`pki`]: a private CA and certificates; [`docker_tls`]: the engine behind TLS.
//!
//! - [`dashboard`]: `orchestra dashboard` on a free port, its HTTP API and live feed;
//!   [`browser`]: headless Chromium over WebDriver, to look at it as a person does.
//! - [`prometheus`]: a real Prometheus scraping it, and `promtool`.
//!
//! C helpers live in tests/support/ and are compiled by [`jail::compile_c`].

pub mod audit;
pub mod browser;
pub mod containers;
pub mod dashboard;
pub mod docker_tls;
pub mod fleet;
pub mod jail;
pub mod llm;
pub mod net;
pub mod out;
pub mod pki;
pub mod process;
pub mod prometheus;
pub mod redis;
pub mod rootfs;
pub mod run;
pub mod s3;
pub mod sshd;
pub mod worker_containers;
pub mod world;

pub use containers::*;
pub use jail::*;
pub use net::*;
pub use out::*;
pub use process::*;
pub use run::*;
pub use world::*;
