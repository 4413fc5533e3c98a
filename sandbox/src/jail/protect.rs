//! Which paths of a writable workspace are protected, and which of them get
//! a read-only bind.
//!
//! Guarantees, for a workspace `W`:
//! - every path of the policy's list (`Filesystem::protected_in`) and every
//!   file in use (the policy file) is protected by its name;
//! - each is also protected where it really is: the longest existing part of
//!   its path resolved (a `.git` that is a link to `W/realgit` protects
//!   `W/realgit/hooks`), when that lies in `W`;
//! - what git reads code from besides those is protected too, found in the
//!   repository as it is before the task: a `.git` that is a file (a linked
//!   worktree's or submodule's `gitdir:` pointer), the `commondir`,
//!   `config.worktree`, `config` and `hooks` of every submodule under
//!   `.git/modules` and of every linked worktree under `.git/worktrees`, the
//!   targets of links inside a hooks directory (`.git/hooks`, a
//!   `core.hooksPath` directory, a template directory's `hooks/`), and the files and directories
//!   `.git/config` and a `config.worktree` (config to git with
//!   `extensions.worktreeConfig`) name with `core.hooksPath`, `include.path`
//!   or `includeIf.*.path` or as a command's program or its words, and what
//!   the files they include name (review 78, F4), when they lie in `W`;
//!   likewise what the host's own (system, global) git configuration makes
//!   code in any work tree (a template directory too), and its included
//!   files in `W` ([`crate::changes::protected::hostconfig`]); each of
//!   these, reached through links, also by every link in `W` on its way,
//!   the last one too, resolved once as for nested repositories (review
//!   82, F1, F10): such a link stands for itself ([`Protected::links`]),
//!   not what lies beside its target; a submodule's or linked
//!   worktree's `config` is given up with the root's (`unprotected:
//!   [.git/config]`): writing either runs git's code alike;
//! - orchestra's own `W/.orchestra`, when it is absent: where it exists a
//!   read-only bind keeps it (plan.rs, the container engines' `:ro` volume),
//!   but orchestra does not make an empty one just for that (it is what `git
//!   clean -fdx` or `git stash -u` in a task removes), so an absent one is
//!   protected against creation like any absent protected path (a task could
//!   plant a `config.yaml` or an audit directory a later run trusts);
//! - a command's word that is absent or a directory, where an absent one
//!   would be code, is protected so that only a directory may be there
//!   (review 81, F5; review 82, F2: a directory one task made guards the
//!   name for the next as its absence did); such a directory is not bound;
//! - a protected file with more than one hard link is refused (fail closed):
//!   the task could write it through another name the bind does not cover;
//! - the protected paths that exist are returned for read-only binds (real
//!   files and directories, never links: a bind would follow one).

use super::plan::{Mount, PlanError};
use super::resolve::existing_prefix as resolve;
use crate::policy::Filesystem;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// The protected paths of a workspace ([`protect`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Protected {
    /// Every protected path (names and real places).
    pub paths: Vec<PathBuf>,
    /// Those absent or a directory that only a command's word names (not a
    /// hooks directory, no other reason): a directory may be made there
    /// (review 81, F5), and one that is there stays guarded so (review 82,
    /// F2; `JailPlan::dirs_allowed`, `Named::is_dir_only_at`); never bound.
    pub dirs_allowed: Vec<PathBuf>,
    /// Those that are links passed on the way to what git runs code from
    /// (review 82, F1, F10): each stands for itself, it must stay the link
    /// it is, while what lies beside its target is no code.
    pub links: Vec<PathBuf>,
    /// The patterns of paths the host's or the repository's git config
    /// names where a word cannot be read exactly (review 89, F1;
    /// `Kind::Pattern`), each with whether what lies below a match is code
    /// too: those that match at the start are among `paths`; one the task
    /// makes is judged after it (`changes::protected::Watch::after`).
    pub patterns: Vec<(crate::changes::protected::Pattern, bool)>,
}

/// The protected paths of `workdir` (names and real places), pushing a
/// read-only bind for each that exists onto `mounts` when `namespaces`.
pub(crate) fn protect(
    fs: &Filesystem,
    workdir: &Path,
    in_use: &[PathBuf],
    namespaces: bool,
    mounts: &mut Vec<Mount>,
) -> Result<Protected, PlanError> {
    let mut wanted: Vec<PathBuf> = fs.protected_in(workdir);
    wanted.extend(in_use.iter().filter(|p| p.starts_with(workdir) && p.as_path() != workdir).cloned());
    let GitCode { mut code, words, mut links, mut patterns } = git_code_paths(workdir, fs);
    wanted.append(&mut code);
    // What the host's own git configuration makes code in any work tree
    // (a relative `core.hooksPath` or program, a `~/` one), and an included
    // file of it that lies in the workspace, through links too (review 82,
    // F10: each link of a chain that lies in the workspace as well).
    let host = crate::changes::protected::hostconfig::host();
    let mut dir_only: Vec<PathBuf> = words;
    for n in &crate::changes::protected::hostconfig::with_mains(host.paths.clone(), workdir) {
        if let Some(p) = n.pattern() {
            patterns.push(p);
            continue;
        }
        let p = workdir.join(&n.path);
        if n.is_dir_only_at(&p) {
            dir_only.extend(reach(workdir, &n.path, &mut links));
            dir_only.push(p);
        } else if n.is_code_at(&p) {
            let real = reach(workdir, &n.path, &mut links);
            wanted.extend(hooks_dir_links(n.kind, real.as_deref()));
            wanted.extend(real);
            wanted.push(p);
        }
    }
    // Every path a pattern names that is there now: code as a command's
    // program or a hooks directory is (what the task makes there is judged
    // after it; one made and matched before a start is here the next time).
    patterns.sort_by_key(|(p, d)| (p.text(), *d));
    patterns.dedup();
    let matched = crate::changes::protected::found_matching(workdir, &patterns);
    for rel in &matched.paths {
        let real = reach(workdir, rel, &mut links);
        wanted.extend(real);
        wanted.push(workdir.join(rel));
    }
    for f in &host.files {
        if f.starts_with(workdir) {
            wanted.push(f.clone());
        }
        wanted.extend(reach(workdir, f, &mut links));
    }
    let mut real_of = Resolved::default();
    let dirs_allowed = dirs_allowed(&wanted, &dir_only, workdir, &mut real_of);
    wanted.extend(dir_only);
    let dot = workdir.join(".orchestra");
    if std::fs::symlink_metadata(&dot).is_err() {
        wanted.push(dot);
    }
    // Membership by hash: a host alias that runs `python3 -m …` names a
    // few thousand paths (bytecode, extension and runner-module names), so
    // a search of the list for each would be quadratic.
    let mut out: Vec<PathBuf> = Vec::new();
    let mut listed: HashSet<PathBuf> = HashSet::new();
    let mut bound: HashSet<PathBuf> = HashSet::new();
    let allowed: HashSet<&PathBuf> = dirs_allowed.iter().collect();
    let dot_git = workdir.join(".git");
    for p in wanted {
        // The `.git` entry stands for itself (a pointer or a link that must not
        // be replaced); what it leads to is protected part by part.
        let real = if p == dot_git { p.clone() } else { real_of.of(&p) };
        for q in [&p, &real] {
            if q.starts_with(workdir) && q.as_path() != workdir && listed.insert(q.clone()) {
                out.push(q.clone());
            }
        }
        // Where only a directory may be (review 82, F2), one that is there
        // is written below by builds: never bound read-only.
        if !real.starts_with(workdir)
            || real.as_path() == workdir
            || bound.contains(&real)
            || allowed.contains(&real)
            || allowed.contains(&p)
        {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&real) else { continue };
        if meta.is_file() && meta.nlink() > 1 {
            return Err(PlanError::Unenforceable(format!(
                "{} is protected but has {} hard links; a task could change it through another name (remove the extra links)",
                real.display(),
                meta.nlink()
            )));
        }
        if namespaces && (meta.is_file() || meta.is_dir()) {
            mounts.push(Mount::Bind { src: real.clone(), dst: real.clone(), rw: false });
            bound.insert(real);
        }
    }
    // A link passed on the way stands for itself: it must stay the link it
    // is (not be replaced), while what lies beside its target is no code.
    let mut own = Vec::new();
    let mut owned: HashSet<PathBuf> = HashSet::new();
    for l in links {
        if l.starts_with(workdir) && l.as_path() != workdir && owned.insert(l.clone()) {
            if listed.insert(l.clone()) {
                out.push(l.clone());
            }
            own.push(l);
        }
    }
    Ok(Protected { paths: out, dirs_allowed, links: own, patterns })
}

/// Where the path `named` (relative: from the work tree's top; absolute: as
/// it is) leads in `workdir`, if it lies there, pushing onto `links` every
/// link in the workspace passed on the way, the last one too (review 82,
/// F1, F10: a task replacing `bin/lint -> ../scripts/lint.sh`, a linked
/// hooks directory or a link of a chain `~/.gitconfig -> W/gitconfig ->
/// git/config` by its own file changes what git runs as much as writing
/// the target). The one resolution of such paths, the nested
/// repositories' too ([`crate::changes::protected::resolve_noting_links`]).
fn reach(workdir: &Path, named: &Path, links: &mut Vec<PathBuf>) -> Option<PathBuf> {
    use crate::changes::protected::{Resolved, resolve_noting_links};
    let mut passed = Vec::new();
    let r = resolve_noting_links(workdir, Path::new(""), named, &mut passed);
    links.extend(passed.iter().map(|l| workdir.join(l)));
    match r {
        Resolved::Inside(p) => Some(workdir.join(p)),
        Resolved::Outside(_) => None,
    }
}

/// The command words `words`, absent or a directory (names and real
/// places), that are protected for no other reason than `strict`'s: where
/// a directory may be made (review 81, F5: a directory is no code,
/// `Named::is_code_at`) and nothing else (review 82, F2).
fn dirs_allowed(strict: &[PathBuf], words: &[PathBuf], workdir: &Path, real: &mut Resolved) -> Vec<PathBuf> {
    if words.is_empty() {
        return Vec::new();
    }
    let mut other: HashSet<PathBuf> = strict.iter().cloned().collect();
    other.extend(strict.iter().map(|p| real.of(p)));
    let mut v: Vec<PathBuf> = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for w in words {
        for q in [w.clone(), real.of(w)] {
            if !other.contains(&q) && q.starts_with(workdir) && q.as_path() != workdir && seen.insert(q.clone()) {
                v.push(q);
            }
        }
    }
    v
}

/// Each path's real place, as [`resolve`] gives it, looked up once and
/// built on its directory's: the same path is asked for by
/// [`dirs_allowed`] and by [`protect`]'s loop, and thousands of them are
/// possible, most in a few directories (a module's bytecode and extension
/// names), so each directory is resolved once and each name costs one
/// `lstat` (a link among them is resolved in full).
#[derive(Default)]
struct Resolved(std::collections::HashMap<PathBuf, PathBuf>);

impl Resolved {
    fn of(&mut self, p: &Path) -> PathBuf {
        if let Some(r) = self.0.get(p) {
            return r.clone();
        }
        let plain = p.is_absolute() && p.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        let r = match (plain, p.parent(), p.file_name()) {
            (true, Some(dir), Some(name)) => {
                // The directory's real place, then the name in it: a plain
                // entry (or none) is the name appended, as `resolve` does
                // for the part past the longest existing one.
                let there = self.of(dir).join(name);
                match std::fs::symlink_metadata(&there) {
                    Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(&there).unwrap_or(there),
                    _ => there,
                }
            }
            _ => resolve(p),
        };
        self.0.insert(p.to_path_buf(), r.clone());
        r
    }
}

/// What the repository at `workdir` makes code ([`git_code_paths`]).
#[derive(Debug, Default)]
struct GitCode {
    /// The paths besides the policy's list from which git would run code.
    code: Vec<PathBuf>,
    /// Apart from them, the command words absent or a directory, where only
    /// a directory may be ([`Protected::dirs_allowed`]).
    words: Vec<PathBuf>,
    /// The links passed on the way to a path its configs name ([`reach`]),
    /// each protected as itself.
    links: Vec<PathBuf>,
    /// The patterns its configs name ([`Protected::patterns`]).
    patterns: Vec<(crate::changes::protected::Pattern, bool)>,
}

/// What git would run code from in the repository at `workdir`, besides
/// the policy's list (see the module doc), and apart from it the command
/// words absent or a directory where only a directory may be.
fn git_code_paths(workdir: &Path, fs: &Filesystem) -> GitCode {
    // A policy that accepts writes to the root's config (`git submodule update`
    // rewrites each submodule's `core.worktree`) accepts them to theirs.
    let root_config_kept = fs.protected_in(workdir).contains(&workdir.join(".git/config"));
    let dot_git = workdir.join(".git");
    let mut out = GitCode::default();
    let Ok(meta) = std::fs::symlink_metadata(&dot_git) else { return out };
    if !meta.is_dir() {
        // A `gitdir:` pointer file, or a link: the pointer itself.
        out.code.push(dot_git.clone());
    }
    let git = resolve(&dot_git);
    let mut dirs = vec![git.clone()];
    for sub in ["modules", "worktrees"] {
        dirs.extend(subdirs(&git.join(sub), 3));
    }
    for d in &dirs {
        // The repository's own config and hooks are in the policy's list
        // (where `unprotected` may give them up); its submodules' and
        // worktrees' are here, their config given up with the root's.
        if *d != git {
            for name in ["config", "hooks", "commondir", "config.worktree", "gitdir"] {
                if name != "config" || root_config_kept {
                    out.code.push(d.join(name));
                }
            }
        }
        for hook in links_in(&d.join("hooks")) {
            out.code.push(hook);
        }
        // A `config.worktree` is read as config (`extensions.worktreeConfig`,
        // which `git sparse-checkout` turns on): what it names too, and what
        // the files they include name (review 78, F4).
        config_paths(&[d.join("config"), d.join("config.worktree")], workdir, &mut out);
    }
    out
}

/// The directories below `dir` (submodules nest: `modules/a/modules/b`), up
/// to `depth` levels of `modules`/`worktrees`. A submodule named with a
/// slash (`libs/foo`, git's default name for a submodule at that path) has
/// its git directory deeper (`modules/libs/foo`): a directory that is no git
/// directory (no `HEAD`) is looked into, up to 8 name components (review
/// 62, F2).
fn subdirs(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut v = Vec::new();
    collect_subdirs(dir, depth, 8, &mut v);
    v
}

fn collect_subdirs(dir: &Path, depth: usize, names: usize, v: &mut Vec<PathBuf>) {
    if depth == 0 || names == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten().take(1000) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let d = e.path();
            if std::fs::symlink_metadata(d.join("HEAD")).is_ok() {
                collect_subdirs(&d.join("modules"), depth - 1, 8, v);
            } else {
                collect_subdirs(&d, depth, names - 1, v);
            }
            v.push(d);
        }
    }
}

/// Where the links inside a hooks directory lead.
fn links_in(hooks: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(hooks) else { return Vec::new() };
    entries
        .flatten()
        .take(1000)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .map(|e| resolve(&e.path()))
        .collect()
}

/// Where the links in a hooks directory a setting names lead, read as
/// `.git/hooks`' are ([`links_in`]): for a [`Kind::HooksDir`] found in the
/// workspace at `real`, the links inside it (`core.hooksPath`) and inside
/// its `hooks/` (a template directory's, which `git init` copies); both
/// for either (a wider reading only protects more). Nothing for another
/// kind of word.
///
/// [`Kind::HooksDir`]: crate::changes::protected::hostconfig::Kind::HooksDir
fn hooks_dir_links(kind: crate::changes::protected::hostconfig::Kind, real: Option<&Path>) -> Vec<PathBuf> {
    use crate::changes::protected::hostconfig::Kind;
    match (kind, real) {
        (Kind::HooksDir, Some(dir)) => {
            let mut v = links_in(dir);
            v.extend(links_in(&dir.join("hooks")));
            v
        }
        _ => Vec::new(),
    }
}

/// The paths the git configs `files` and the files they include name
/// with `core.hooksPath`, `include.path`, `includeIf.*.path` and as a
/// command's program or its words (relative ones: hooks and programs from
/// the worktree, includes from the including file's directory; see
/// [`crate::changes::protected::hostconfig`]), read as the after-check
/// reads configs, where they lie in the workspace, onto `out.code`; a
/// command word absent or a directory onto `out.words` (where only a
/// directory may be, [`Protected::dirs_allowed`]); every link in the
/// workspace passed on the way to either onto `out.links` (review 82, F1:
/// the name as written and each link of it, not only where it leads).
fn config_paths(files: &[PathBuf], workdir: &Path, out: &mut GitCode) {
    use crate::changes::protected::hostconfig::{program_paths, read_with_includes, with_mains};
    let read = read_with_includes(files);
    for f in &read.included {
        out.code.extend(reach(workdir, f, &mut out.links));
    }
    for (section, key, value) in read.configs.iter().flat_map(|c| c.settings.iter()) {
        // A hooks directory or a program (and its words), from the work tree.
        for n in with_mains(program_paths(section, key, value), workdir) {
            if let Some(p) = n.pattern() {
                out.patterns.push(p);
                continue;
            }
            let at = workdir.join(&n.path);
            if n.is_dir_only_at(&at) {
                out.words.extend(reach(workdir, &n.path, &mut out.links));
            } else if n.is_code_at(&at) {
                let real = reach(workdir, &n.path, &mut out.links);
                out.code.extend(hooks_dir_links(n.kind, real.as_deref()));
                out.code.extend(real);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_resolved_on_its_directory_as_resolve_does_in_full() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let w = d.path();
        std::fs::create_dir_all(w.join("real/sub")).unwrap();
        std::fs::write(w.join("real/sub/f"), "x").unwrap();
        symlink("real", w.join("link")).unwrap();
        symlink("sub/f", w.join("real/to-f")).unwrap();
        symlink("../nowhere/x", w.join("real/dangling")).unwrap();
        symlink("/", w.join("real/root")).unwrap();
        std::fs::write(w.join("file"), "x").unwrap();
        let mut r = Resolved::default();
        for rel in [
            "real/sub/f",
            "link/sub/f",
            "link/sub/absent/deeper",
            "link/to-f",
            "link/dangling",
            "link/dangling/below",
            "link/root/etc",
            "file/below",
            "absent/a/b",
            "link/../file",
            "link/./sub/f",
        ] {
            let p = w.join(rel);
            // Twice: the second answer comes from the cache.
            assert_eq!(r.of(&p), resolve(&p), "{rel}");
            assert_eq!(r.of(&p), resolve(&p), "{rel}");
        }
    }

    #[test]
    fn hooks_path_and_includes_are_read_from_the_config() {
        let d = tempfile::tempdir().unwrap();
        let w = &std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir(w.join(".git")).unwrap();
        let text = "[core]\n\tbare = false\n\thooksPath = .husky\n[include]\n\tpath = ../shared.cfg ; note\n[includeIf \"gitdir:/w/\"]\n\tpath = \"x.cfg\"\n[user]\n\tpath = nothing\n";
        std::fs::write(w.join(".git/config"), text).unwrap();
        // Review 78, F4: what an included file names, relative to it.
        std::fs::write(w.join("shared.cfg"), "[core]\n\thooksPath = .githooks\n[include]\n\tpath = more/y.cfg\n")
            .unwrap();
        let mut out = GitCode::default();
        config_paths(&[w.join(".git/config")], w, &mut out);
        let GitCode { code: v, words, links, .. } = out;
        assert!(words.is_empty() && links.is_empty(), "{words:?} {links:?}");
        let want = [
            w.join(".git/../shared.cfg"),
            w.join(".git/x.cfg"),
            w.join(".git/../more/y.cfg"),
            w.join(".husky"),
            w.join(".githooks"),
        ];
        assert_eq!(v, want.map(|p| resolve(&p)));
    }

    #[test]
    fn a_linked_git_directory_is_protected_where_it_is_and_hard_links_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let w = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(w.join("realgit/hooks")).unwrap();
        std::fs::write(w.join("realgit/config"), "[core]\n").unwrap();
        std::os::unix::fs::symlink("realgit", w.join(".git")).unwrap();
        let mut mounts = Vec::new();
        let p = protect(&Filesystem::default(), &w, &[], true, &mut mounts).unwrap().paths;
        assert!(p.contains(&w.join("realgit/hooks")) && p.contains(&w.join(".git")), "{p:?}");
        assert!(mounts.iter().any(|m| m.dst() == w.join("realgit/config")));
        std::fs::hard_link(w.join("realgit/config"), w.join("cfg-copy")).unwrap();
        assert!(protect(&Filesystem::default(), &w, &[], true, &mut Vec::new()).is_err());
    }

    #[test]
    fn submodule_configs_go_with_the_root_config_and_an_absent_dot_orchestra_is_protected() {
        let d = tempfile::tempdir().unwrap();
        let w = std::fs::canonicalize(d.path()).unwrap();
        for m in ["a", "a/modules/b"] {
            std::fs::create_dir_all(w.join(".git/modules").join(m).join("hooks")).unwrap();
            std::fs::write(w.join(".git/modules").join(m).join("config"), "[core]\n").unwrap();
        }
        let configs = [w.join(".git/modules/a/config"), w.join(".git/modules/a/modules/b/config")];
        let p = protect(&Filesystem::default(), &w, &[], false, &mut Vec::new()).unwrap().paths;
        assert!(configs.iter().all(|c| p.contains(c)) && p.contains(&w.join(".orchestra")), "{p:?}");
        let fs = Filesystem { unprotected: vec![".git/config".into()], ..Filesystem::default() };
        let p = protect(&fs, &w, &[], false, &mut Vec::new()).unwrap().paths;
        assert!(!p.contains(&w.join(".git/config")) && !configs.iter().any(|c| p.contains(c)), "{p:?}");
        assert!(p.contains(&w.join(".git/modules/a/hooks")) && p.contains(&w.join(".git/modules/a/commondir")));
        // Where it exists, `.orchestra/` is the plan's own read-only bind, not a protected path.
        std::fs::create_dir(w.join(".orchestra")).unwrap();
        assert!(!protect(&fs, &w, &[], false, &mut Vec::new()).unwrap().paths.contains(&w.join(".orchestra")));
    }

    #[test]
    fn what_a_config_worktree_names_is_protected_like_what_the_config_names() {
        let d = tempfile::tempdir().unwrap();
        let w = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(w.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(w.join("wt-hooks")).unwrap();
        std::fs::write(w.join("inc.cfg"), "[core]\n").unwrap();
        std::fs::write(w.join(".git/config"), "[core]\n[extensions]\n\tworktreeConfig = true\n").unwrap();
        std::fs::write(
            w.join(".git/config.worktree"),
            "[core]\n\thooksPath = wt-hooks\n[include]\n\tpath = ../inc.cfg\n",
        )
        .unwrap();
        let p = protect(&Filesystem::default(), &w, &[], false, &mut Vec::new()).unwrap().paths;
        assert!(p.contains(&w.join("wt-hooks")) && p.contains(&w.join("inc.cfg")), "{p:?}");
    }
}
