//! Write-opens that reach no file (sweep 88, F1): the one rule telling when
//! an open outside the writable roots is answered ENOENT (or ENOTDIR) by the
//! supervisor, as the kernel would answer it, instead of being reported as
//! `fs.write`.
//!
//! Guarantees: [`nothing_to_write`] answers only for a path that is missing
//! in the jail, for a call that could then neither write nor create anything
//! there, and only where that path is missing on the host too — or where no
//! name is made at all. The supervisor fails the call itself (never lets it
//! continue), so a racer that makes the path later only makes its own retry
//! another judged call. It answers `None` (the call is judged as before) for
//! an existing path, for a creation in an existing directory, and for a
//! missing path below a directory the jail made or hid (a private home, the
//! jail root under one of the host's own top-level names, a decoy, /dev):
//! there a missing name says nothing about the host, and the attempt stays a
//! violation.

use super::plan::{JailPlan, Mount};
use std::path::{Component, Path};

/// What the jail holds at a path: `None` if nothing, else whether it is a
/// directory (symlinks are not followed; a resolved path holds none).
pub type Lookup<'a> = &'a dyn Fn(&Path) -> Option<bool>;

/// The errno for a write-open of `path` (absolute, resolved) that can reach
/// no file, or `None` when the call must be judged as a write. `creates`: the
/// call may make the final name (O_CREAT, `creat`); an O_TMPFILE open makes
/// no name (its path is the directory, which must exist).
///
/// Either way the deepest existing ancestor must show the host's own tree
/// (the bind of a host path at the same place, every path when the jail has
/// no mount namespace, or the jail's root when the first name is none of the
/// host's top-level names, `JailPlan::host_root_names`): only there does
/// "missing in the jail" mean "missing on the host", and an attempt on
/// something the jail hides (`~/.bashrc` opened `O_WRONLY|O_APPEND` with
/// `/home` absent from the jail) stays a write.
///
/// * Without `creates`, a missing final name is then the end of it: nothing
///   is opened, nothing made.
/// * With `creates`, the name's directory must be missing (or not a
///   directory) too: a name in an existing directory would be made.
pub fn nothing_to_write(plan: &JailPlan, path: &Path, creates: bool, lookup: Lookup<'_>) -> Option<i32> {
    if lookup(path).is_some() {
        return None;
    }
    let (deepest, is_dir) = path.ancestors().skip(1).find_map(|a| lookup(a).map(|d| (a, d)))?;
    let errno = if is_dir { libc::ENOENT } else { libc::ENOTDIR };
    if creates && is_dir && path.parent() == Some(deepest) {
        return None; // the name would be made in an existing directory
    }
    mirrors_host(plan, deepest, path).then_some(errno)
}

/// Whether what lies below `dir` (an existing directory of the jail, an
/// ancestor of `path`) on the way to `path` is what the host has there.
fn mirrors_host(plan: &JailPlan, dir: &Path, path: &Path) -> bool {
    if !plan.namespaces {
        return true; // the task sees the host's own tree
    }
    if plan.decoys.iter().any(|d| dir.starts_with(&d.path)) {
        return false;
    }
    let covering = plan.mounts.iter().filter(|m| dir.starts_with(m.dst())).max_by_key(|m| m.dst().components().count());
    if let Some(Mount::Bind { src, dst, .. }) = covering
        && src == dst
    {
        return true;
    }
    if dir != Path::new("/") {
        return false; // a directory the jail made: a home, a parent of a bind, /dev
    }
    let first = path.strip_prefix("/").ok().and_then(|r| r.components().next());
    match (first, &plan.host_root_names) {
        (Some(Component::Normal(name)), Some(names)) => {
            let name = name.to_string_lossy();
            !names.iter().any(|n| *n == name)
        }
        _ => false,
    }
}

/// The names in the host's `/` (lossily UTF-8: a name that does not convert
/// matches more, never less), read on the host side for the plan; `None` if
/// it cannot be read (then the jail's root mirrors nothing).
pub fn host_root_names() -> Option<Vec<String>> {
    let dir = std::fs::read_dir("/").ok()?;
    let mut names: Vec<String> =
        dir.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned())).collect();
    names.sort();
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jail::plan::Decoy;
    use std::collections::HashMap;
    use std::path::PathBuf;

    /// The jail of the sweep: a tmpfs root with the system binds, a private
    /// home for root, a bound workspace, /dev made by the jail.
    fn plan() -> JailPlan {
        let bind = |p: &str| Mount::Bind { src: p.into(), dst: p.into(), rw: false };
        JailPlan {
            mounts: vec![
                bind("/usr"),
                bind("/etc"),
                Mount::Symlink { target: "usr/bin".into(), dst: "/bin".into() },
                Mount::Dir { dst: "/root".into() },
                Mount::Bind { src: "/w".into(), dst: "/w".into(), rw: true },
                Mount::Tmpfs { dst: "/tmp".into(), size: None },
            ],
            decoys: vec![Decoy {
                path: "/etc/secret".into(),
                entries: vec![],
                is_dir: true,
                watched: true,
                canary: None,
            }],
            host_root_names: Some(["bin", "etc", "home", "root", "usr", "var", "w"].map(String::from).to_vec()),
            ..JailPlan::for_tests()
        }
    }

    /// What the jail holds: its directories, and the file /etc/passwd.
    fn jail() -> HashMap<PathBuf, bool> {
        let dirs = ["/", "/usr", "/usr/bin", "/etc", "/etc/secret", "/root", "/w", "/tmp", "/dev"];
        dirs.iter().map(|d| (PathBuf::from(d), true)).chain([(PathBuf::from("/etc/passwd"), false)]).collect()
    }

    fn answer(plan: &JailPlan, path: &str, creates: bool) -> Option<i32> {
        let j = jail();
        nothing_to_write(plan, Path::new(path), creates, &|p: &Path| j.get(p).copied())
    }

    #[test]
    fn a_missing_name_without_creation_reaches_nothing_where_the_jail_shows_the_host() {
        let p = plan();
        for path in ["/does-not-exist/", "/nothing-here", "/usr/no-such-file", "/etc/no/such/x"] {
            assert_eq!(answer(&p, path, false), Some(libc::ENOENT), "{path}");
        }
        // Where the jail hides or makes the tree, the attempt stays a write.
        for path in ["/home/u/.bashrc", "/var/log/x", "/dev/ptmx", "/root/.cache/x", "/etc/secret/k"] {
            assert_eq!(answer(&p, path, false), None, "{path}");
        }
        assert_eq!(answer(&p, "/etc/passwd/x", false), Some(libc::ENOTDIR));
        assert_eq!(answer(&p, "/etc/passwd", false), None, "it exists: judged");
    }

    #[test]
    fn a_creation_below_a_missing_directory_of_the_host_tree_reaches_nothing() {
        let p = plan();
        // tempfile's own test: the jail root, a name the host's / does not hold.
        assert_eq!(answer(&p, "/does-not-exist/.tmpAbc", true), Some(libc::ENOENT));
        // Below a mirror: missing in the jail is missing on the host.
        assert_eq!(answer(&p, "/usr/no-such-dir/x", true), Some(libc::ENOENT));
        assert_eq!(answer(&p, "/etc/no/such/x", true), Some(libc::ENOENT));
        assert_eq!(answer(&p, "/etc/passwd/x", true), Some(libc::ENOTDIR));
        // Without a mount namespace the jail's tree is the host's.
        let bare = JailPlan { namespaces: false, ..plan() };
        assert_eq!(answer(&bare, "/home/u/.bashrc", true), Some(libc::ENOENT));
    }

    #[test]
    fn a_creation_where_the_jail_hides_or_makes_the_tree_stays_a_write() {
        let p = plan();
        for path in [
            "/etc/newfile",      // an existing directory: the name would be made
            "/home/u/.bashrc",   // /home is the host's, hidden by the jail's root
            "/var/x",            // likewise
            "/root/.cache/x",    // the private home the jail made
            "/dev/pts/x",        // /dev is made by the jail
            "/etc/secret/sub/k", // below a decoy
            "/nothing-here",     // made in the jail's root
        ] {
            assert_eq!(answer(&p, path, true), None, "{path}");
        }
        // The host's top-level names unknown: the jail's root mirrors nothing.
        let unknown = JailPlan { host_root_names: None, ..plan() };
        assert_eq!(answer(&unknown, "/does-not-exist/x", true), None);
    }
}
