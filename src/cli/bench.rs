//! `orchestra bench`: side-by-side performance ratios (filled in by the bench work).

use crate::exit::Exit;
use clap::Args;

/// Arguments of `orchestra bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of runs per measured command.
    #[arg(long, default_value_t = 50)]
    pub runs: usize,
}

/// Run the benchmarks.
pub fn run(_args: BenchArgs) -> Exit {
    super::config_error("bench is not implemented yet")
}
