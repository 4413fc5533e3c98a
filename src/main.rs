//! The `orchestra` binary: a thin shell over the library's CLI.

fn main() -> std::process::ExitCode {
    orchestra::cli::main()
}
