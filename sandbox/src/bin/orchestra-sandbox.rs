//! `orchestra-sandbox`: the in-container supervisor, built static and small
//! (the jail and its supervisor, no container engine client, no HTTP, no async
//! runtime). The container backends mount it read-only into every container
//! and run it as the container's command; see [`orchestra_sandbox::inner`].

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(orchestra_sandbox::inner::main(std::env::args_os().skip(1)).code())
}
