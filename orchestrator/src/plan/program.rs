//! Resolving a whitelisted tool's program to the file that will run.
//!
//! Guarantee: for tasks whose sandbox sees the host's files (the jail), a
//! program named without a slash (`cargo`) is looked up on the policy's
//! `PATH` — never on a plan's `env:` — when the plan is checked, before any
//! task runs, and the task runs that absolute path, which the reports show.
//! The file found must lie outside the workspace (after resolving symlinks):
//! a tool name that would run a workspace file — because the policy's `PATH`
//! lists a workspace directory, or a relative `PATH` entry — is refused (exit
//! 1), as is a name found nowhere (the lookup could otherwise find a file a
//! task creates later). Absolute programs must lie outside the workspace too.
//!
//! Workspace programs by design: a program written as a relative path with a
//! slash (`./gradlew`) is the project's own script, run from the workspace on
//! purpose; the whitelist says so explicitly by spelling it that way. (Build
//! tools such as `cargo`, `make`, `npm`, `gradle` and `python3` also run the
//! workspace's code — build scripts, Makefiles, package scripts, tests — by
//! design: the sandbox policy, not the whitelist, bounds what that code does.)
//!
//! Container backends look programs up inside the image, on the container's
//! fixed `PATH`; their names are left as written.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How a program was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// An absolute path outside the workspace.
    Host(PathBuf),
    /// A relative path with a slash (`./gradlew`): a workspace script by design.
    Workspace(String),
}

impl Resolved {
    /// What argv[0] becomes.
    pub fn argv0(&self) -> String {
        match self {
            Resolved::Host(p) => p.to_string_lossy().into_owned(),
            Resolved::Workspace(s) => s.clone(),
        }
    }
}

/// Why a program cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// The program is a file tasks can write.
    #[error(
        "program {} is the workspace file {}, which tasks can write; a workspace script must be named by a relative path (e.g. ./gradlew) in the whitelist",
        program.display(),
        file.display()
    )]
    InWorkspace {
        /// The program as named or found.
        program: PathBuf,
        /// The file it is (symlinks resolved).
        file: PathBuf,
    },
    /// Found through a `PATH` entry, and refused.
    #[error("{error} (found through the policy's PATH entry {entry})")]
    OnPath {
        /// Why it is refused.
        error: Box<ProgramError>,
        /// The `PATH` entry.
        entry: String,
    },
    /// Not on the `PATH`.
    #[error("program {program:?} is not on the policy's PATH ({path})")]
    NotFound {
        /// The program.
        program: String,
        /// The `PATH` searched.
        path: String,
    },
}

/// Resolve `program` on `path_var` (the policy's `PATH`) for a task in `workspace`.
pub fn resolve(program: &str, path_var: Option<&str>, workspace: &Path) -> Result<Resolved, ProgramError> {
    if program.contains('/') {
        let p = Path::new(program);
        if !p.is_absolute() {
            return Ok(Resolved::Workspace(program.to_string()));
        }
        outside(p, workspace)?;
        return Ok(Resolved::Host(p.to_path_buf()));
    }
    let path_var = path_var.unwrap_or("");
    for dir in path_var.split(':') {
        let d = Path::new(dir);
        if dir.is_empty() || !d.is_absolute() {
            // An empty or relative entry means the task's working directory: the workspace.
            continue;
        }
        let candidate = d.join(program);
        let Ok(meta) = std::fs::metadata(&candidate) else { continue };
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            continue;
        }
        outside(&candidate, workspace)
            .map_err(|e| ProgramError::OnPath { error: Box::new(e), entry: dir.to_string() })?;
        return Ok(Resolved::Host(candidate));
    }
    Err(ProgramError::NotFound { program: program.to_string(), path: path_var.to_string() })
}

/// Refuse a program file inside the workspace (symlinks resolved).
fn outside(p: &Path, workspace: &Path) -> Result<(), ProgramError> {
    let real = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let ws = std::fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_path_buf());
    if real.starts_with(&ws) {
        return Err(ProgramError::InWorkspace { program: p.to_path_buf(), file: real });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_on_the_given_path_outside_the_workspace_only() {
        let ws = tempfile::tempdir().unwrap();
        let bin = ws.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let fake = bin.join("true");
        std::fs::write(&fake, "#!/bin/sh\necho pwned\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sys = std::fs::canonicalize("/usr/bin/true").unwrap();
        let r = resolve("true", Some("/usr/bin:/bin"), ws.path()).unwrap();
        assert!(matches!(&r, Resolved::Host(p) if std::fs::canonicalize(p).unwrap() == sys), "{r:?}");
        let e = resolve("true", Some(&format!("{}:/usr/bin", bin.display())), ws.path()).unwrap_err().to_string();
        assert!(e.contains("is the workspace file") && e.contains("PATH entry"), "{e}");
        // Relative and empty entries are the workspace: skipped.
        let r = resolve("true", Some("bin::.:/usr/bin"), ws.path()).unwrap();
        assert!(matches!(r, Resolved::Host(_)));
        let e = resolve("no-such-tool-xyz", Some("/usr/bin"), ws.path()).unwrap_err().to_string();
        assert!(e.contains("not on the policy's PATH"), "{e}");
        assert_eq!(resolve("./gradlew", None, ws.path()).unwrap(), Resolved::Workspace("./gradlew".into()));
        assert!(resolve(&fake.to_string_lossy(), None, ws.path()).is_err());
        // A host symlink into the workspace is refused too.
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&fake, elsewhere.path().join("true")).unwrap();
        assert!(resolve("true", Some(&elsewhere.path().to_string_lossy()), ws.path()).is_err());
    }
}
