//! `orchestra policy check|show|schema`.

use crate::exit::Exit;
use crate::policy::{Policy, load_policy};
use clap::Subcommand;

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file or preset; errors carry file:line:col.
    Check {
        /// A policy file or preset name.
        policy: String,
    },
    /// Print the effective policy after defaults, as YAML (or JSON), with its hash.
    Show {
        /// A policy file or preset name.
        policy: String,
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Print the AppArmor profile for container tasks under a policy, or with
    /// --jail for jail tasks in one workspace (load it with `sudo
    /// apparmor_parser -r`; used where the host's kernel has AppArmor and the
    /// profile is loaded, as the policy's `mac.apparmor` says).
    Apparmor {
        /// A policy file or preset name.
        policy: String,
        /// The profile of jail tasks (entered at the task's exec), which
        /// depends on the workspace and the home as well as on the policy.
        #[arg(long)]
        jail: bool,
        /// With --jail: the workspace the tasks run in (default: the current
        /// directory, as `orchestra exec` takes it).
        #[arg(long, requires = "jail")]
        workdir: Option<std::path::PathBuf>,
        /// With --jail: the home `~` stands for in the policy (default:
        /// $HOME, as `orchestra exec` takes it).
        #[arg(long, requires = "jail")]
        home: Option<std::path::PathBuf>,
    },
    /// Learn a policy: run a command under a base policy with denials that do
    /// not kill it, widen the policy by what was denied until nothing new is,
    /// check it, and print it with each widening explained.
    Learn(super::learn::LearnArgs),
    /// Print the JSON Schema of policy files.
    Schema,
    /// List the built-in presets.
    List,
}

/// Run a policy subcommand.
pub fn run(cmd: PolicyCommand) -> Exit {
    match cmd {
        PolicyCommand::Check { policy } => match load_policy(&policy) {
            Ok((p, origin)) => {
                super::print_quoted_out(&format!(
                    "{origin}: ok (policy {} sha256:{})",
                    p.name.as_deref().unwrap_or("unnamed"),
                    p.hash()
                ));
                Exit::Ok
            }
            Err(e) => super::config_error(e),
        },
        PolicyCommand::Show { policy, json } => match load_policy(&policy) {
            Ok((p, origin)) => {
                if json {
                    let v = serde_json::json!({"origin": origin, "sha256": p.hash(), "policy": p});
                    outln!("{}", crate::ci::github::json_pretty(&v));
                } else {
                    // Policy values are quoted config: fenced under GitHub Actions when piped to the runner.
                    let text = format!("# effective policy from {origin}\n# sha256:{}\n{}", p.hash(), p.to_yaml());
                    super::print_quoted_out(&text);
                }
                Exit::Ok
            }
            Err(e) => super::config_error(e),
        },
        PolicyCommand::Apparmor { policy, jail: true, workdir, home } => match load_policy(&policy) {
            Ok((p, _)) => {
                let workdir = match workdir.map(Ok).unwrap_or_else(std::env::current_dir) {
                    Ok(w) => w,
                    Err(e) => return super::config_error(format!("current directory: {e}")),
                };
                // Resolved as `orchestra exec` resolves its workdir: the
                // profile names the path the task sees.
                let workdir = match std::fs::canonicalize(&workdir) {
                    Ok(w) => w,
                    Err(e) => return super::config_error(format!("--workdir {}: {e}", workdir.display())),
                };
                let home = home.unwrap_or_else(crate::sandbox::mac::jail::invoking_home);
                let view = crate::sandbox::mac::jail::JailView { workdir: &workdir, home: &home };
                match crate::sandbox::mac::jail::jail_profile(&p, &view) {
                    Ok(profile) => {
                        out!("{}", profile.text);
                        Exit::Ok
                    }
                    Err(e) => super::config_error(format!("{policy}: {e}")),
                }
            }
            Err(e) => super::config_error(e),
        },
        PolicyCommand::Apparmor { policy, .. } => match load_policy(&policy) {
            Ok((p, _)) => match crate::sandbox::mac::apparmor_profile(
                &p,
                std::path::Path::new(crate::policy::volume::CONTAINER_WORKDIR),
            ) {
                Ok(text) => {
                    out!("{text}");
                    Exit::Ok
                }
                Err(e) => super::config_error(format!("{policy}: {e}")),
            },
            Err(e) => super::config_error(e),
        },
        PolicyCommand::Learn(args) => super::learn::run(args),
        PolicyCommand::Schema => {
            outln!("{}", serde_json::to_string_pretty(&Policy::json_schema()).unwrap_or_default());
            Exit::Ok
        }
        PolicyCommand::List => {
            for name in crate::policy::presets::names() {
                let desc = crate::policy::presets::get(name)
                    .and_then(|t| crate::policy::parse_policy(t, name).ok())
                    .and_then(|p| p.description)
                    .unwrap_or_default();
                outln!("{name:<16} {desc}");
            }
            Exit::Ok
        }
    }
}
