//! The tool whitelist: which programs a plan may run, with which arguments.
//!
//! Guarantees: a task runs only if its `tool` is listed, its first argument is
//! one of the tool's `subcommands` (when it lists any), and every argument
//! fully matches one of the tool's `args` patterns (anchored regular
//! expressions). A program that is a shell must be declared `shell: true`
//! explicitly; nothing else may take a script. The whitelist narrows what a
//! planner can ask for; the sandbox policy still bounds what the program can do.

use super::{Dag, Task};
use crate::yaml::{LocatedError, position};
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The built-in whitelist (`policies/tools.yaml`), used unless the config opts out.
pub const BUILTIN: &str = include_str!("../../../policies/tools.yaml");

/// Program names treated as shells (they must be declared `shell: true`).
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash", "busybox", "fish", "csh", "tcsh"];

/// Why a task is not allowed by the whitelist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhitelistError {
    /// The tool is not whitelisted.
    #[error("task {task:?} uses tool {tool:?}, which is not in the whitelist (allowed: {known})")]
    UnknownTool {
        /// The task id.
        task: String,
        /// The tool.
        tool: String,
        /// The whitelisted tools, comma-separated.
        known: String,
    },
    /// The first argument is not one of the tool's subcommands.
    #[error("task {task:?}: tool {tool:?} allows only the subcommands {allowed} (got {got})")]
    Subcommand {
        /// The task id.
        task: String,
        /// The tool.
        tool: String,
        /// The allowed subcommands, comma-separated.
        allowed: String,
        /// What the task gave (quoted), or `none`.
        got: String,
    },
    /// An argument no pattern admits.
    #[error("task {task:?}: argument {arg:?} is not allowed for tool {tool:?} (patterns: {patterns})")]
    Argument {
        /// The task id.
        task: String,
        /// The argument.
        arg: String,
        /// The tool.
        tool: String,
        /// The patterns, `|`-separated, or `none`.
        patterns: String,
    },
}

/// One whitelisted tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// The program (a name looked up on the task's PATH, or an absolute path).
    pub program: String,
    /// Allowed first arguments (e.g. `build`, `test`); empty means any that `args` allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subcommands: Vec<String>,
    /// Regular expressions (anchored at both ends); every argument after the
    /// subcommand must match one of them. Empty means no further arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The program is a shell and may take a script (`-c SCRIPT`): allow it knowingly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shell: bool,
    /// Policy (file or preset) for tasks using this tool, unless the task or `--policy` names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// What the tool is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The file holding the built-in whitelist.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsFile {
    tools: BTreeMap<String, ToolSpec>,
}

/// A compiled whitelist.
#[derive(Debug, Clone)]
pub struct Whitelist {
    tools: BTreeMap<String, Compiled>,
}

#[derive(Debug, Clone)]
struct Compiled {
    spec: ToolSpec,
    args: Vec<Regex>,
}

impl Whitelist {
    /// The built-in whitelist.
    pub fn builtin() -> Result<BTreeMap<String, ToolSpec>, LocatedError> {
        let file: ToolsFile = crate::yaml::from_str(BUILTIN, "policies/tools.yaml")?;
        Ok(file.tools)
    }

    /// Compile tool specs; `origin` names their source in errors.
    pub fn compile(specs: &BTreeMap<String, ToolSpec>, origin: &str) -> Result<Whitelist, LocatedError> {
        let mut tools = BTreeMap::new();
        for (name, spec) in specs {
            let err = |m: String| LocatedError::new(origin, None, format!("tool {name:?}: {m}"));
            if spec.program.is_empty() {
                return Err(err("program must not be empty".into()));
            }
            let base = spec.program.rsplit('/').next().unwrap_or(&spec.program);
            if SHELLS.contains(&base) && !spec.shell {
                return Err(err(format!(
                    "{} is a shell: declare `shell: true` to allow shell scripts knowingly",
                    spec.program
                )));
            }
            let mut args = Vec::new();
            for pat in &spec.args {
                let re = Regex::new(&format!("^(?:{pat})$")).map_err(|e| err(format!("pattern {pat:?}: {e}")))?;
                args.push(re);
            }
            tools.insert(name.clone(), Compiled { spec: spec.clone(), args });
        }
        Ok(Whitelist { tools })
    }

    /// The tool spec for a name.
    pub fn get(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.get(name).map(|c| &c.spec)
    }

    /// Names and specs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ToolSpec)> {
        self.tools.iter().map(|(n, c)| (n.as_str(), &c.spec))
    }

    /// The argv a task runs: the tool's program, then the task's arguments.
    pub fn argv(&self, task: &Task) -> Option<Vec<String>> {
        let spec = self.get(&task.tool.value)?;
        Some(std::iter::once(spec.program.clone()).chain(task.args.iter().cloned()).collect())
    }

    /// Check one task against the whitelist.
    pub fn check_task(&self, task: &Task) -> Result<(), WhitelistError> {
        let Some(tool) = self.tools.get(&task.tool.value) else {
            return Err(WhitelistError::UnknownTool {
                task: task.id().to_string(),
                tool: task.tool.value.clone(),
                known: self.tools.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        };
        let mut rest = task.args.as_slice();
        if !tool.spec.subcommands.is_empty() {
            match rest.first() {
                Some(first) if tool.spec.subcommands.iter().any(|s| s == first) => rest = &rest[1..],
                other => {
                    return Err(WhitelistError::Subcommand {
                        task: task.id().to_string(),
                        tool: task.tool.value.clone(),
                        allowed: tool.spec.subcommands.join(", "),
                        got: other.map(|s| format!("{s:?}")).unwrap_or_else(|| "none".into()),
                    });
                }
            }
        }
        for a in rest {
            if !tool.args.iter().any(|re| re.is_match(a)) {
                return Err(WhitelistError::Argument {
                    task: task.id().to_string(),
                    arg: a.clone(),
                    tool: task.tool.value.clone(),
                    patterns: if tool.spec.args.is_empty() { "none".to_string() } else { tool.spec.args.join(" | ") },
                });
            }
        }
        Ok(())
    }

    /// Check every task of a plan; the first refusal names the task and its position.
    pub fn check(&self, dag: &Dag, origin: &str) -> Result<(), LocatedError> {
        for t in &dag.plan.tasks {
            self.check_task(t).map_err(|m| LocatedError::new(origin, position(&t.tool.referenced), m.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{parse, validate};

    fn wl(yaml: &str) -> Result<Whitelist, LocatedError> {
        let f: ToolsFile = crate::yaml::from_str(yaml, "t.yaml")?;
        Whitelist::compile(&f.tools, "t.yaml")
    }

    #[test]
    fn builtin_whitelist_compiles_and_has_no_shell() {
        let specs = Whitelist::builtin().unwrap();
        let w = Whitelist::compile(&specs, "builtin").unwrap();
        assert!(w.get("cargo").is_some());
        assert!(w.iter().all(|(_, s)| !s.shell), "no shell is whitelisted by default");
    }

    #[test]
    fn unlisted_tools_subcommands_and_arguments_are_refused() {
        let w = wl("tools:\n  cargo:\n    program: cargo\n    subcommands: [build, test]\n    args: ['--release', '-p', '[a-z_-]+']\n").unwrap();
        let plan = |args: &str| {
            let p = parse(&format!("tasks:\n- id: b\n  tool: cargo\n  args: {args}\n"), "p.yaml").unwrap();
            let d = validate(p, "p.yaml").unwrap();
            w.check(&d, "p.yaml").map_err(|e| e.to_string())
        };
        assert!(plan("[build, --release, -p, foo]").is_ok());
        assert!(plan("[install, foo]").unwrap_err().contains("only the subcommands build, test"));
        let e = plan("[build, --config=evil]").unwrap_err();
        assert!(e.starts_with("p.yaml:3:9: task \"b\": argument \"--config=evil\""), "{e}");
        let p = parse("tasks:\n- {id: x, tool: curl, args: [example.com]}\n", "p.yaml").unwrap();
        let e = w.check(&validate(p, "p.yaml").unwrap(), "p.yaml").unwrap_err().to_string();
        assert!(e.contains("task \"x\" uses tool \"curl\", which is not in the whitelist (allowed: cargo)"), "{e}");
    }

    #[test]
    fn patterns_are_anchored() {
        let w = wl("tools:\n  make:\n    program: make\n    args: ['test']\n").unwrap();
        let t = crate::plan::Task::new("t", "make", &["test; rm -rf /"]);
        assert!(w.check_task(&t).is_err());
        assert!(w.check_task(&crate::plan::Task::new("t", "make", &["test"])).is_ok());
    }

    #[test]
    fn meson_is_set_up_compiled_and_tested_with_nothing_that_downloads_or_runs_other_code() {
        let specs = Whitelist::builtin().unwrap();
        let w = Whitelist::compile(&specs, "builtin").unwrap();
        let ok = |args: &[&str]| w.check_task(&crate::plan::Task::new("t", "meson", args)).is_ok();
        assert!(ok(&["setup", "build", "--wrap-mode=nodownload"]));
        assert!(ok(&["compile", "-C", "build"]));
        assert!(ok(&["test", "-C", "build", "--print-errorlogs", "test_multi"]));
        for bad in [
            &["install", "-C", "build"][..],
            &["subprojects", "download"],
            &["wrap", "install", "zlib"],
            &["build"],
            &["setup", "build", "-Dprefix=/usr"],
            &["setup", "build", "--native-file", "n.ini"],
            &["setup", "build", "--wrap-mode=default"],
            &["setup", "../out"],
            &["setup", "/tmp/out"],
            &["test", "-C", "build", "--wrapper=sh"],
            &["test", "-C", "build", "--gdb"],
        ] {
            assert!(!ok(bad), "meson {bad:?} was admitted");
        }
    }

    #[test]
    fn shells_must_be_declared() {
        let e = wl("tools:\n  sh:\n    program: /bin/sh\n    args: ['.*']\n").unwrap_err();
        assert!(e.to_string().contains("declare `shell: true`"), "{e}");
        assert!(wl("tools:\n  sh:\n    program: /bin/sh\n    shell: true\n    args: ['.*']\n").is_ok());
        assert!(wl("tools:\n  x:\n    program: x\n    args: ['(']\n").is_err());
    }
}
