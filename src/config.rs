//! The project configuration (`.orchestra/config.yaml`, or `--config FILE`).
//!
//! Guarantees: parsing is strict (unknown fields are errors with
//! `file:line:col`); without a file the embedded defaults apply (built-in
//! policy presets and tool whitelist, local run directory), so `orchestra run`
//! needs no configuration and no server.

use crate::plan::tools::{ToolSpec, Whitelist};
use crate::yaml::LocatedError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the project config is looked for, relative to the workspace.
pub const DEFAULT_PATH: &str = ".orchestra/config.yaml";

fn default_version() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// The project configuration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version (1).
    #[serde(default = "default_version")]
    pub version: u32,
    /// Default policy (file or preset) for tasks whose plan or tool names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// How many tasks may run at once (default: the number of CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Where run directories go (default `runs`, relative to the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_dir: Option<PathBuf>,
    /// Start from the built-in tool whitelist (`policies/tools.yaml`); `false` allows only `tools`.
    #[serde(default = "yes")]
    pub builtin_tools: bool,
    /// Tools added to (or replacing) the built-in whitelist.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, ToolSpec>,
    /// Planner backends (L2) and replanning bounds (see `src/planner/settings.rs`).
    #[serde(default)]
    pub planner: crate::planner::settings::PlannerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: 1,
            policy: None,
            concurrency: None,
            runs_dir: None,
            builtin_tools: true,
            tools: BTreeMap::new(),
            planner: Default::default(),
        }
    }
}

/// A loaded config and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// `path` or `built-in defaults`.
    pub origin: String,
    /// The file, when there is one.
    pub path: Option<PathBuf>,
    /// The compiled tool whitelist.
    pub whitelist: Whitelist,
}

/// Load `explicit`, else `<workspace>/.orchestra/config.yaml` if present, else the defaults.
pub fn load(explicit: Option<&Path>, workspace: &Path) -> Result<Loaded, LocatedError> {
    let found = workspace.join(DEFAULT_PATH);
    let (config, origin, path) = match explicit {
        Some(p) => (read(p)?, p.to_string_lossy().into_owned(), Some(p.to_path_buf())),
        None if found.is_file() => (read(&found)?, found.to_string_lossy().into_owned(), Some(found.clone())),
        None => (Config::default(), "built-in defaults".to_string(), None),
    };
    if config.version != 1 {
        return Err(LocatedError::new(&origin, None, format!("unsupported config version {}", config.version)));
    }
    if config.concurrency == Some(0) {
        return Err(LocatedError::new(&origin, None, "concurrency must be at least 1"));
    }
    config.planner.check().map_err(|e| LocatedError::new(&origin, None, e))?;
    let mut specs = if config.builtin_tools { Whitelist::builtin()? } else { BTreeMap::new() };
    specs.extend(config.tools.clone());
    let whitelist = Whitelist::compile(&specs, &origin)?;
    Ok(Loaded { config, origin, path, whitelist })
}

fn read(path: &Path) -> Result<Config, LocatedError> {
    let origin = path.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path)
        .map_err(|e| LocatedError::new(&origin, None, format!("cannot read config: {e}")))?;
    crate::yaml::from_str(&text, &origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let l = load(None, dir.path()).unwrap();
        assert_eq!(l.origin, "built-in defaults");
        assert!(l.whitelist.get("cargo").is_some());
        assert!(l.whitelist.get("true").is_some());
    }

    #[test]
    fn config_is_strict_and_can_drop_builtins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "concurrency: 2\ntols: {}\n").unwrap();
        let e = load(Some(&p), dir.path()).unwrap_err().to_string();
        assert!(e.contains("c.yaml:2:1:") && e.contains("tols"), "{e}");
        std::fs::write(&p, "builtin_tools: false\ntools:\n  sh: {program: /bin/sh, shell: true, args: ['.*']}\n")
            .unwrap();
        let l = load(Some(&p), dir.path()).unwrap();
        assert!(l.whitelist.get("cargo").is_none() && l.whitelist.get("sh").is_some());
        std::fs::write(&p, "concurrency: 0\n").unwrap();
        assert!(load(Some(&p), dir.path()).is_err());
    }
}
