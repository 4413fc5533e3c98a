//! The command line (CONTRACTS.md §1): parsing, dispatch, and the exit-code edge.
//!
//! Parsing has no side effects; each subcommand module resolves its arguments
//! and returns an [`Exit`]. Clap's usage errors exit 1, `--help`/`--version` 0.

/// `print!` to orchestra's own stdout, without panicking ([`output`]).
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write(format_args!($($arg)*), false) };
}

/// `println!` to orchestra's own stdout, without panicking ([`output`]).
macro_rules! outln {
    () => { $crate::cli::output::write(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::cli::output::write(format_args!($($arg)*), true) };
}

pub mod anchor;
pub mod audit;
pub mod bench;
pub mod bench_run;
pub mod bench_survey;
pub mod config;
pub mod dashboard;
pub mod exec;
pub mod fleet;
pub mod fleet_engine;
pub mod fleet_fence;
pub mod fleet_ssh;
pub mod fleet_tls;
pub mod fleet_verify;
pub mod learn;
pub mod logs;
pub mod output;
pub mod policy;
pub mod pool;
pub mod probe;
pub mod progress;
pub mod prove;
pub mod prune;
pub mod replan;
pub mod retention;
pub mod run;
pub mod runs;
pub mod terminal;
pub mod timestamp;
pub mod witness;
pub mod workspace_diff;

use crate::exit::Exit;
use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

/// Run untrusted build and agent work inside a declared isolation boundary.
///
/// Every task runs under a security policy (a preset such as `default` or
/// `strict`, or a YAML file) in a landlock + seccomp + namespaces jail, or in
/// a hardened, network-isolated Docker or Podman container. A task that tries something its policy
/// denies is stopped and reported with exit code 4, naming the rule, and every
/// task is recorded in a signed, hash-chained audit log (`orchestra audit verify`).
///
/// Exit codes: 0 ok, 1 configuration or usage error (nothing ran), 2 a task
/// failed, 3 timeout, 4 security violation or exceeded limit.
#[derive(Debug, Parser)]
#[command(name = "orchestra", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one task under a policy; its stdout/stderr stream through unchanged.
    ///
    /// Example: `orchestra exec --policy strict -- make test`. After the task, one
    /// verdict line goes to stderr: `orchestra: <task> <ok|failed|timeout|violation> ...`.
    Exec(exec::ExecArgs),
    /// Plan (L2) and execute (L3) a DAG of sandboxed tasks; writes `runs/<run_id>/`.
    ///
    /// The argument is a plan file or a free-text intent ("build and test"),
    /// which the embedded offline planner turns into a plan from the project
    /// files it finds. Exit code: the worst task's (4 > 3 > 2 > 0); 1 if
    /// anything is refused before a task runs.
    Run(run::RunArgs),
    /// Continue an interrupted or failed run from its checkpoint.
    ///
    /// Re-runs what did not succeed, plus any succeeded task whose fingerprint
    /// (command, environment, policy, input files) changed, and its dependants.
    Resume(run::ResumeArgs),
    /// Print the plan that `run` would execute for an intent (YAML); run nothing.
    ///
    /// `--graph [dot|mermaid]` prints its DAG instead (Graphviz or a Mermaid flowchart).
    /// `--compare` asks every configured planner backend and shows their plans
    /// side by side; `orchestra plan diff A B` compares two plans (run ids or
    /// plan files): tasks and edges added, removed and changed.
    Plan(run::PlanArgs),
    /// List, show, compare and prune runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Print a run's task logs; `--follow` keeps printing while the run is in progress.
    ///
    /// Example: `orchestra logs 20261124T143025Z-7f3a test -f`. Without a task,
    /// every task's log in plan order, each under `==> TASK <==`. On a
    /// terminal, control characters from the log are shown escaped (`--raw`
    /// prints them as they are); into a pipe or a file the bytes are unchanged.
    Logs(logs::LogsArgs),
    /// Validate or display policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Validate the project config, or print its schema.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Inspect what this host can enforce.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// The pool of pre-created containers (`ORCHESTRA_CONTAINER_POOL=N`): status, drain.
    #[command(subcommand)]
    Pool(pool::PoolCommand),
    /// Verify, show and manage the signed audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run tasks from a distributed run's queue (`orchestra run --queue`) in this host's sandboxes.
    ///
    /// Example: `orchestra worker --queue redis://10.0.0.5:6379 --key worker.key
    /// --trust-orchestrator ed25519:… --capacity 2`. SIGTERM drains: running
    /// tasks finish and are reported, no new one is taken.
    Worker(fleet::WorkerArgs),
    /// Worker keys and the fleet's status.
    #[command(subcommand)]
    Workers(fleet::WorkersCommand),
    /// Serve a web UI and JSON API over the runs: live logs, the DAG, artifacts, comparison, pause.
    ///
    /// Example: `orchestra dashboard --operator`, then open http://127.0.0.1:7878/.
    /// Binds 127.0.0.1 by default; `/metrics` is the Prometheus endpoint. See
    /// docs/dashboard.md for the API.
    Dashboard(dashboard::DashboardArgs),
    /// Measure start-up and observation overhead against reference sandboxes, side by side.
    Bench(bench::BenchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to generate for.
        shell: clap_complete::Shell,
    },
    /// Write man pages for orchestra and its subcommands into a directory.
    Man {
        /// Output directory (created if missing).
        #[arg(long, default_value = "man")]
        out_dir: PathBuf,
    },
}

/// `orchestra sandbox ...`
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Report which isolation controls this host can enforce.
    Probe {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Entry point of the binary.
pub fn main() -> std::process::ExitCode {
    init_tracing();
    if let Some(args) = exec_args(std::env::args_os()) {
        return output::finish(exec::run(args), true).into();
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Exit::Ok,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Exit::Config,
                _ => Exit::Config,
            };
            let _ = e.print();
            return code.into();
        }
    };
    let tasks_ran = matches!(cli.command, Command::Exec(_) | Command::Run(_) | Command::Resume(_) | Command::Worker(_));
    output::finish(run(cli), tasks_ran).into()
}

/// The arguments of `orchestra exec …` parsed by the `exec` subcommand alone:
/// building the arguments of every other subcommand took ~0.3 ms of each
/// task's start. `None` unless `argv[1]` is `exec` and the parse succeeds:
/// help, `--version` (unknown here) and every error go through the whole
/// parser, which says them as ever (`exec_alone_parses_as_the_whole_cli_does`).
fn exec_args(argv: impl IntoIterator<Item = std::ffi::OsString>) -> Option<exec::ExecArgs> {
    use clap::{Args, FromArgMatches};
    let argv: Vec<std::ffi::OsString> = argv.into_iter().collect();
    if argv.get(1).is_none_or(|a| a != "exec") {
        return None;
    }
    let exec = <exec::ExecArgs as Args>::augment_args(clap::Command::new("exec"));
    let cli = clap::Command::new("orchestra").max_term_width(100).subcommand_required(true).subcommand(exec);
    let matches = cli.try_get_matches_from(argv).ok()?;
    match matches.subcommand() {
        Some(("exec", m)) => exec::ExecArgs::from_arg_matches(m).ok(),
        _ => None,
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORCHESTRA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(use_color())
        .without_time()
        .try_init();
}

/// Whether to colour output: a TTY, and neither `NO_COLOR` nor `CI` says otherwise.
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Print `text` on stdout so that no CI runner reads a line of it as a
/// workflow command ([`crate::ci::github::quoted_for_stdout`]).
pub fn print_quoted_out(text: &str) {
    out!("{}", String::from_utf8_lossy(&crate::ci::github::quoted_for_stdout(text)));
}

/// Dispatch a parsed command line.
pub fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Exec(args) => exec::run(args),
        Command::Run(args) => run::run(args),
        Command::Resume(args) => run::resume(args),
        Command::Plan(args) => run::plan_cmd(args),
        Command::Runs(cmd) => runs::run(cmd),
        Command::Logs(args) => logs::run(args),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Config(cmd) => config::run(cmd),
        Command::Sandbox(SandboxCommand::Probe { json }) => probe::run(json),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Pool(cmd) => pool::run(cmd),
        Command::Bench(args) => bench::run(args),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Worker(args) => fleet::worker(args),
        Command::Workers(cmd) => fleet::workers(cmd),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            // Into memory first: the generator panics on a write error.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "orchestra", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Exit::Ok
        }
        Command::Man { out_dir } => match write_man_pages(&out_dir) {
            Ok(n) => {
                crate::sandbox::say!("orchestra: wrote {n} man pages to {}", out_dir.display());
                Exit::Ok
            }
            Err(e) => {
                crate::sandbox::say!("orchestra: cannot write man pages to {}: {e}", out_dir.display());
                Exit::Config
            }
        },
    }
}

fn write_man_pages(dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let cmd = Cli::command();
    let mut count = 0;
    fn walk(cmd: &clap::Command, prefix: &str, dir: &std::path::Path, count: &mut usize) -> std::io::Result<()> {
        let name = if prefix.is_empty() { cmd.get_name().to_string() } else { format!("{prefix}-{}", cmd.get_name()) };
        let man = clap_mangen::Man::new(cmd.clone().name(name.clone()));
        let mut buf = Vec::new();
        man.render(&mut buf)?;
        std::fs::write(dir.join(format!("{name}.1")), buf)?;
        *count += 1;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, &name, dir, count)?;
        }
        Ok(())
    }
    walk(&cmd, "", dir, &mut count)?;
    Ok(count)
}

/// Print a one-line error for the user and return exit 1. The message may
/// quote plans, configs or planner answers: under GitHub Actions it is fenced
/// ([`crate::ci::github::print_quoted`]).
pub fn config_error(msg: impl std::fmt::Display) -> Exit {
    crate::ci::github::eprint_quoted(&format!("orchestra: error: {msg}"));
    Exit::Config
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    fn argv(args: &[&str]) -> Vec<std::ffi::OsString> {
        std::iter::once("orchestra").chain(args.iter().copied()).map(Into::into).collect()
    }

    #[test]
    fn exec_alone_parses_as_the_whole_cli_does() {
        use clap::Parser;
        use std::ffi::OsString;
        let dir = tempfile::tempdir().unwrap();
        let attempt = crate::orchestrator::exec_protocol::sample_attempt(dir.path()).unwrap();
        let run = crate::orchestrator::exec_protocol::command(std::path::Path::new("/usr/bin/orchestra"), &attempt, 7);
        let from_run: Vec<OsString> =
            std::iter::once(OsString::from("orchestra")).chain(run.get_args().map(Into::into)).collect();
        let parsed: Vec<Vec<OsString>> = vec![
            argv(&["exec", "--", "/bin/true"]),
            argv(&["exec", "-p", "strict", "--", "sh", "-c", "echo --policy x", "--help"]),
            argv(&[
                "exec",
                "--policy",
                "default",
                "--backend",
                "jail",
                "--workdir",
                "/tmp",
                "--timeout",
                "5m",
                "--audit-dir",
                "a",
                "--report",
                "r.json",
                "--name",
                "n",
                "--env",
                "A=B",
                "--env",
                "C=D=E",
                "--network",
                "loopback",
                "--ro",
                "/usr",
                "--ro",
                "/opt",
                "--rw",
                "/tmp",
                "--memory",
                "unlimited",
                "-t",
                "-i",
                "--run-id",
                "r1",
                "--bench-unobserved",
                "--",
                "make",
                "test",
            ]),
            argv(&["exec", "-ti", "--memory=2GiB", "--", "bash"]),
            from_run,
        ];
        for a in parsed {
            let whole = match super::Cli::try_parse_from(&a).unwrap().command {
                super::Command::Exec(e) => format!("{e:?}"),
                other => panic!("{a:?}: {other:?}"),
            };
            let alone = super::exec_args(a.clone()).unwrap_or_else(|| panic!("{a:?}: not parsed alone"));
            assert_eq!(format!("{alone:?}"), whole, "{a:?}");
        }
        // What the whole parser answers with a message (or not as exec) is left to it.
        let refused = [
            argv(&["exec"]),
            argv(&["exec", "--"]),
            argv(&["exec", "--help"]),
            argv(&["exec", "-h"]),
            argv(&["exec", "--version"]),
            argv(&["exec", "-V"]),
            argv(&["exec", "help"]),
            argv(&["exec", "true"]),
            argv(&["exec", "--bogus", "--", "true"]),
            argv(&["exec", "--env", "NOEQUALS", "--", "true"]),
            argv(&["exec", "--env", "ORCHESTRA_X=1", "--", "true"]),
            argv(&["exec", "--memory", "lots", "--", "true"]),
            argv(&["exec", "--network", "wide", "--", "true"]),
            argv(&["exec", "--policy", "--", "true"]),
        ];
        for a in refused {
            assert!(super::exec_args(a.clone()).is_none(), "{a:?}");
            assert!(super::Cli::try_parse_from(&a).is_err(), "{a:?}");
        }
        for a in [argv(&[]), argv(&["run", "x"]), argv(&["--version"]), argv(&["policy", "list"])] {
            assert!(super::exec_args(a.clone()).is_none(), "{a:?}");
        }
    }
}
