//! `orchestra-sandbox`: the in-container supervisor, built static and small
//! (the jail and its supervisor, no container engine client, no HTTP, no async
//! runtime). The container backends mount it read-only into every container
//! and run it as the container's command; see [`orchestra_sandbox::inner`].
#![deny(unsafe_code)]

/// The exit status of a supervisor that failed inside (a bug): the host reads
/// it as "the supervisor ended without a report", never as the task's signal.
const INTERNAL_ERROR: i32 = 101;

fn main() -> std::process::ExitCode {
    // Built with panic = "abort": without this hook a panic would end the
    // supervisor with SIGABRT, which the host would take for the task's.
    std::panic::set_hook(Box::new(|info| {
        orchestra_sandbox::say!("orchestra-sandbox: internal error: {info}");
        std::process::exit(INTERNAL_ERROR);
    }));
    std::process::ExitCode::from(orchestra_sandbox::inner::main(std::env::args_os().skip(1)).code())
}
