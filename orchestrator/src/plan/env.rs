//! Which environment variables a plan (or a planner's plan) may set on a task.
//!
//! The whitelist decides which program a task runs and with which arguments;
//! a plan's `env:` must not undo that. Guarantee: a plan variable that can
//! change WHICH CODE a whitelisted tool runs — the program itself (`PATH`),
//! code injected into every dynamically linked process (`LD_*`, `GCONV_PATH`),
//! startup files and options of interpreters and runtimes (`BASH_ENV`, `ENV`,
//! `NODE_OPTIONS`, `PERL5OPT`, `PYTHONSTARTUP`, `JAVA_TOOL_OPTIONS`, …), the
//! compilers, wrappers and runners build tools start (`RUSTC_WRAPPER`,
//! `CARGO_TARGET_*_RUNNER`, `CC`, `GOFLAGS=-toolexec`, `MAKEFLAGS`), and hooks
//! or helper programs read from configuration (`GIT_*`, `HOME`,
//! `npm_config_*`, `EDITOR`) — is refused when the plan is checked (exit 1,
//! `file:line:col` when the plan is a file), unless the project config lists
//! its name under `allow_task_env`. Three values are accepted because they only
//! narrow what runs: `GOTOOLCHAIN=local`, `RUSTUP_AUTO_INSTALL=0` (any other
//! value of either would download and run another toolchain), and a
//! `PYTHONPATH` made of relative
//! paths inside the workspace (`python3 -m` already puts the workspace first
//! on `sys.path`). Names are compared case-insensitively (npm reads
//! `npm_config_*` in any case); a name that is not a plain identifier is
//! refused too.
//!
//! The policy's own `environment:` is the administrator's and is not
//! checked here; the program is resolved on the policy's `PATH` before any
//! plan variable applies ([`super::program`]).

use super::{Dag, Task};
use crate::yaml::{LocatedError, position};

/// Names refused exactly (upper case).
pub const REFUSED: &[&str] = &[
    // Which program runs, and where helper programs are looked up.
    "PATH",
    "SHELL",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "BROWSER",
    "SSH_ASKPASS",
    // Configuration files that name programs and hooks (~/.gitconfig, ~/.npmrc, ~/.cargo).
    "HOME",
    "XDG_CONFIG_HOME",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    // glibc: loadable modules.
    "GCONV_PATH",
    // Shells: startup files, exported options and functions.
    "BASH_ENV",
    "ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    // Interpreters and runtimes.
    "NODE_OPTIONS",
    "NODE_PATH",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "PERL5DB",
    "RUBYOPT",
    "RUBYLIB",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONBREAKPOINT",
    "PYTHONWARNINGS",
    "PYTHONEXECUTABLE",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "MAVEN_OPTS",
    "GRADLE_OPTS",
    "GRADLE_USER_HOME",
    // Compilers, wrappers and flags that choose them (`-B`, `-fplugin`, `-C linker=`).
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTDOC",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CC",
    "CXX",
    "CPP",
    "LD",
    "AR",
    "AS",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "CMAKE_TOOLCHAIN_FILE",
    "MAKEFLAGS",
    "MFLAGS",
    "GNUMAKEFLAGS",
    "MAKEFILES",
    "GOFLAGS",
    "GOROOT",
    "GOTOOLDIR",
    "GOENV",
    "GOPATH",
    "GOEXPERIMENT",
];

/// Name prefixes refused (upper case).
pub const REFUSED_PREFIXES: &[&str] = &[
    "LD_",
    "DYLD_",
    "BASH_FUNC_",
    "GIT_",
    "NPM_CONFIG_",
    "CARGO_BUILD_",
    "CARGO_TARGET_",
    "CARGO_HOST_",
    "CARGO_REGISTRIES_",
    "CARGO_SOURCE_",
    "CARGO_ALIAS_",
    "CGO_",
];

/// Names a refused prefix would catch that are plain settings.
const PREFIX_EXCEPTIONS: &[&str] = &["CARGO_TARGET_DIR"];

/// Why a plan variable is refused, or `None` when it may be set.
pub fn refusal(name: &str, value: &str) -> Option<&'static str> {
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Some("not a plain variable name");
    }
    let upper = name.to_ascii_uppercase();
    match upper.as_str() {
        "GOTOOLCHAIN" if value == "local" => return None,
        "GOTOOLCHAIN" => return Some("it makes the go tool download and run another toolchain"),
        "RUSTUP_AUTO_INSTALL" if value == "0" => return None,
        "RUSTUP_AUTO_INSTALL" => return Some("it makes rustup download and install a toolchain"),
        "PYTHONPATH" if value.split(':').all(workspace_relative) => return None,
        "PYTHONPATH" => {
            return Some(
                "it makes Python import code from outside the workspace (relative paths inside it are allowed)",
            );
        }
        _ => {}
    }
    if upper == "PATH" {
        return Some("it chooses which program runs (tools are resolved on the policy's PATH)");
    }
    if REFUSED.contains(&upper.as_str()) {
        return Some("it can change which code a whitelisted tool runs");
    }
    if !PREFIX_EXCEPTIONS.contains(&upper.as_str()) && REFUSED_PREFIXES.iter().any(|p| upper.starts_with(p)) {
        return Some("it can change which code a whitelisted tool runs");
    }
    None
}

/// `src`, `lib/py`: relative, no `..`, not empty.
fn workspace_relative(part: &str) -> bool {
    let p = std::path::Path::new(part);
    !part.is_empty()
        && p.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

/// Check every task's `env:` names; `allowed` are the config's `allow_task_env`.
/// `text` is the plan file's text when the plan came from one (to point at the variable).
pub fn check(dag: &Dag, origin: &str, allowed: &[String], text: Option<&str>) -> Result<(), LocatedError> {
    for t in &dag.plan.tasks {
        for (k, v) in &t.env {
            if allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                continue;
            }
            if let Some(why) = refusal(k, v) {
                return Err(LocatedError::new(
                    origin,
                    locate(t, k, text),
                    format!(
                        "task {:?}: env {k} is refused: {why}; list it under `allow_task_env` in the project config to allow it knowingly",
                        t.id()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Where `key` is set in `task`'s `env:`: the first line at or after the task's
/// id holding `key:` (block or flow style), else the task's id.
fn locate(task: &Task, key: &str, text: Option<&str>) -> Option<(u64, u64)> {
    let at = position(&task.id.referenced)?;
    let Some(text) = text else { return Some(at) };
    for (n, line) in text.lines().enumerate().skip(at.0.saturating_sub(1) as usize) {
        let mut from = 0;
        while let Some(i) = line[from..].find(key) {
            let col = from + i;
            let before = line[..col].chars().last();
            let after = line[col + key.len()..].trim_start();
            let starts = before.is_none_or(|c| matches!(c, ' ' | '{' | ',' | '"' | '\'' | '\t'));
            let quoted = after.strip_prefix(['"', '\'']).unwrap_or(after);
            if starts && quoted.trim_start().starts_with(':') {
                return Some((n as u64 + 1, col as u64 + 1));
            }
            from = col + key.len();
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{parse, validate};

    #[test]
    fn code_choosing_variables_are_refused_and_plain_ones_pass() {
        for bad in [
            "PATH",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_AUDIT",
            "BASH_ENV",
            "ENV",
            "NODE_OPTIONS",
            "PERL5OPT",
            "RUSTC_WRAPPER",
            "GIT_CONFIG_PARAMETERS",
            "GIT_SSH_COMMAND",
            "npm_config_script_shell",
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
            "BASH_FUNC_make%%",
            "GOFLAGS",
            "path",
            "",
        ] {
            assert!(refusal(bad, "x").is_some(), "{bad}");
        }
        for ok in ["CI", "RUST_BACKTRACE", "CARGO_TARGET_DIR", "NODE_ENV", "TOKEN", "GOPROXY", "LANG"] {
            assert_eq!(refusal(ok, "x"), None, "{ok}");
        }
        assert_eq!(refusal("GOTOOLCHAIN", "local"), None);
        assert!(refusal("GOTOOLCHAIN", "go1.99").is_some());
        assert_eq!(refusal("RUSTUP_AUTO_INSTALL", "0"), None);
        assert!(refusal("RUSTUP_AUTO_INSTALL", "1").is_some());
        assert_eq!(refusal("PYTHONPATH", "src:lib/py"), None);
        for bad in ["/tmp/x", "../up", "src:/opt", ""] {
            assert!(refusal("PYTHONPATH", bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn a_refusal_points_at_the_variable_and_the_config_may_allow_it() {
        let text = "tasks:\n- id: t\n  tool: cargo\n  args: [build]\n  env:\n    CI: 'true'\n    PATH: /ws/bin\n- {id: u, tool: cargo, env: {A: b, LD_PRELOAD: /ws/x.so}}\n";
        let dag = validate(parse(text, "p.yaml").unwrap(), "p.yaml").unwrap();
        let e = check(&dag, "p.yaml", &[], Some(text)).unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:7:5: task \"t\": env PATH is refused: it chooses which program runs"), "{e}");
        let e = check(&dag, "p.yaml", &["path".into()], Some(text)).unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:8:36: task \"u\": env LD_PRELOAD is refused"), "{e}");
        check(&dag, "p.yaml", &["PATH".into(), "LD_PRELOAD".into()], Some(text)).unwrap();
    }
}
