//! `orchestra config check|schema`: validate the project config, print its schema.

use crate::config;
use crate::exit::Exit;
use crate::policy::load_policy;
use clap::Subcommand;
use std::path::PathBuf;

/// Config subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config (default: `.orchestra/config.yaml`, or `$ORCHESTRA_CONFIG`) with
    /// its `ORCHESTRA_*` overrides: strict YAML, the tool whitelist, and every policy it
    /// names loaded with the config's `security:` block applied. Errors carry file:line:col.
    Check {
        /// The config file.
        file: Option<PathBuf>,
        /// The workspace whose `.orchestra/config.yaml` is checked when no file is given.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Print the JSON Schema of config files (committed as `policies/config.schema.json`).
    Schema,
}

/// Run a config subcommand.
pub fn run(cmd: ConfigCommand) -> Exit {
    match cmd {
        ConfigCommand::Schema => {
            outln!("{}", serde_json::to_string_pretty(&config::json_schema()).unwrap_or_default());
            Exit::Ok
        }
        ConfigCommand::Check { file, workdir } => {
            let ws = workdir.unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
            let loaded = match config::load(file.as_deref(), &ws) {
                Ok(l) => l,
                Err(e) => return super::config_error(e),
            };
            if let Err(e) = config::env_flags() {
                return super::config_error(e);
            }
            // Every policy the config can hand a task: its default and each tool's.
            let mut specs: Vec<(String, String)> = Vec::new();
            let default = loaded.config.policy.clone().unwrap_or_else(|| "default".to_string());
            specs.push(("policy".to_string(), default));
            for (name, tool) in loaded.whitelist.iter() {
                if let Some(p) = &tool.policy {
                    specs.push((format!("tools.{name}.policy"), p.clone()));
                }
            }
            for (key, spec) in &specs {
                let (mut policy, origin) = match load_policy(spec) {
                    Ok(p) => p,
                    Err(e) => return super::config_error(format!("{}: {key}: {e}", loaded.origin)),
                };
                if let Some(sec) = &loaded.config.security
                    && let Err(e) = config::apply_security(sec, &mut policy)
                {
                    return super::config_error(format!("{}: {key} ({origin}): {e}", loaded.origin));
                }
            }
            let c = &loaded.config;
            // Config values are quoted: fenced under GitHub Actions.
            super::print_quoted_out(&format!(
                "{}: ok ({} tools, default policy {}, concurrency {}, runs_dir {}{})",
                loaded.origin,
                loaded.whitelist.iter().count(),
                c.policy.as_deref().unwrap_or("default"),
                c.concurrency.map(|n| n.to_string()).unwrap_or_else(|| "auto".into()),
                c.runs_dir.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "runs".into()),
                c.security
                    .as_ref()
                    .and_then(|s| s.sandbox_mode)
                    .map(|m| format!(", sandbox_mode {}", m.as_str()))
                    .unwrap_or_default(),
            ));
            Exit::Ok
        }
    }
}
