//! Whether git takes a directory for a git directory: the one reading of
//! git's `is_git_directory` the judging shares (review 81, F1: the
//! submodule survey had a stricter one of its own, and a `refs` that is an
//! executable regular file, which git's `access(X_OK)` passes, made it walk
//! past a git directory git uses). Three bounds: [`may_be_git_dir`], the
//! widest (every marker merely there: the diff's judging of what a task
//! changed), [`git_takes`], at least as lenient as git (what may be one is
//! judged), and [`surely_git_dir`], at most as lenient (what is surely one
//! is trusted to be one).

use std::path::Path;

/// Whether git's `validate_headref` accepts the `HEAD` at `path`, byte for
/// byte (review 69, F3: a lenient reading took a `HEAD` git refuses for a
/// valid one, and git then fell back to a root the task had made a
/// repository): a link whose target begins with the five bytes `refs/`; a
/// file whose first 255 bytes are `ref:`, git's blanks (space, tab, line
/// feed, carriage return: not form feed or vertical tab) and `refs/`, or
/// begin with an object name.
pub(super) fn git_accepts_head(path: &Path) -> bool {
    const READ: usize = 255;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::read_link(path).is_ok_and(|t| {
            let t = t.into_os_string().into_encoded_bytes();
            t.len() < READ + 1 && t.starts_with(b"refs/")
        }),
        Ok(_) => {
            // A regular file only, opened without blocking (review 70, F2:
            // a FIFO in its place hung the check; git hangs there too).
            let Some(text) = super::read_small(path, READ as u64) else { return false };
            // Git's buffer ends at the first NUL for the string tests.
            let text = text.split(|b| *b == 0).next().unwrap_or_default();
            if let Some(rest) = text.strip_prefix(b"ref:") {
                let at = rest.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')).unwrap_or(rest.len());
                if rest[at..].starts_with(b"refs/") {
                    return true;
                }
            }
            text.get(..40).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        }
        Err(_) => false,
    }
}

/// Whether git surely takes directory `dir` (the root's `.git`) for a
/// repository, as `is_git_directory` checks it: a valid `HEAD`, and
/// `objects` and `refs` it can search (`access(X_OK)`: a plain file in their
/// place does not do, review 61 F11), in `dir` or in the directory its
/// `commondir` names. Errs towards "not a repository" (the root is then
/// judged).
pub(super) fn surely_git_dir(dir: &Path) -> bool {
    use nix::unistd::{AccessFlags, access};
    if !git_accepts_head(&dir.join("HEAD")) {
        return false;
    }
    let common = match super::read_small(&dir.join("commondir"), 4096) {
        Some(c) => {
            use std::os::unix::ffi::OsStrExt as _;
            dir.join(std::ffi::OsStr::from_bytes(c.trim_ascii_end()))
        }
        None if std::fs::symlink_metadata(dir.join("commondir")).is_ok() => return false,
        None => dir.to_path_buf(),
    };
    ["objects", "refs"].iter().all(|m| access(&common.join(m), AccessFlags::X_OK).is_ok())
}

/// Whether git would take directory `d` for a git directory, as its
/// discovery checks one (`validate_headref`, `is_git_directory`), or could
/// once a mode is changed: a `HEAD` that is a link, or a file naming a ref
/// (`ref:`) or starting with an object name (40 hex digits, a SHA-1's; a
/// SHA-256's 64 start so too; what follows is ignored, as git's
/// `get_oid_hex` does), or unreadable; and `objects` and `refs` that are
/// directories whatever their mode (one `chmod` from git taking them;
/// review 79, F2b), links, or anything git can search (or a `commondir`,
/// which leads to them). Stricter than [`may_be_git_dir`]: empty marker
/// files are no git directory.
pub(super) fn git_takes(d: &Path) -> bool {
    let head = d.join("HEAD");
    let head_ok = match std::fs::symlink_metadata(&head) {
        Ok(m) if m.file_type().is_symlink() => true,
        // One it cannot read counts (another user's git may).
        Ok(m) if m.is_file() => super::read_small(&head, 4096).is_none_or(|t| head_text_taken(&t)),
        _ => false,
    };
    let there = |n: &str| {
        let p = d.join(n);
        std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir() || m.file_type().is_symlink())
            || nix::unistd::access(&p, nix::unistd::AccessFlags::X_OK).is_ok()
    };
    head_ok && ((there("objects") && there("refs")) || std::fs::symlink_metadata(d.join("commondir")).is_ok())
}

/// Whether git may take directory `d` for a git directory (`HEAD`, and
/// `objects` and `refs` or a `commondir`, each merely there: errs towards
/// judging).
pub(super) fn may_be_git_dir(d: &Path) -> bool {
    let there = |n: &str| std::fs::symlink_metadata(d.join(n)).is_ok();
    there("HEAD") && ((there("objects") && there("refs")) || there("commondir"))
}

/// Whether git's discovery takes a `HEAD` file holding `text`: a `ref:`
/// (then any text: more than git's `refs/…`, erring towards judging), or
/// one starting with 40 hex digits, whatever follows (git's
/// `get_oid_hex` reads those and no more). Leading blanks are skipped,
/// which git does not: more, again.
fn head_text_taken(text: &[u8]) -> bool {
    let t = text.trim_ascii_start();
    t.starts_with(b"ref:") || (t.len() >= 40 && t[..40].iter().all(u8::is_ascii_hexdigit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_takes_a_directory_for_a_git_directory_only_as_its_discovery_would() {
        let d = tempfile::tempdir().unwrap();
        let make = |name: &str, head: &str, dirs: bool| {
            let g = d.path().join(name);
            std::fs::create_dir_all(&g).unwrap();
            std::fs::write(g.join("HEAD"), head).unwrap();
            for m in ["objects", "refs"] {
                if dirs {
                    std::fs::create_dir_all(g.join(m)).unwrap();
                } else {
                    std::fs::write(g.join(m), "").unwrap();
                }
            }
            g
        };
        assert!(git_takes(&make("real", "ref: refs/heads/main\n", true)));
        assert!(git_takes(&make("detached", &"a".repeat(40), true)));
        assert!(!git_takes(&make("empty-head", "", true)), "an empty HEAD");
        assert!(!git_takes(&make("files", "ref: refs/heads/main\n", false)), "objects and refs as empty files");
        assert!(may_be_git_dir(&make("decoy", "", false)), "the diff's judging still errs towards judging");
        // Review 79, F2: git reads the first 40 (or 64) hex digits and
        // ignores what follows.
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(git_takes(&make("tail", &format!("{sha} x\n"), true)), "an object name with a tail");
        assert!(git_takes(&make("tail-nl", &format!("{sha}\nref: junk"), true)));
        assert!(git_takes(&make("sha256", &format!("{sha}{}", &sha[..24]), true)), "a SHA-256 name");
        assert!(git_takes(&make("ref-blank", "ref:\t refs/heads/x\n", true)));
        assert!(!git_takes(&make("short", &sha[..39], true)), "39 hex digits");
        assert!(!git_takes(&make("text", "not a head at all, but more than forty characters of it\n", true)));
        assert!(!git_takes(&make("hex-late", &format!("x{sha}"), true)), "hex after a letter");
        // F2b: `objects` and `refs` directories git cannot search yet (mode
        // 000) are one `chmod` from a git directory: taken.
        use std::os::unix::fs::PermissionsExt as _;
        let shut = make("shut", "ref: refs/heads/main\n", true);
        std::fs::set_permissions(shut.join("objects"), std::fs::Permissions::from_mode(0o000)).unwrap();
        assert!(git_takes(&shut), "objects of mode 000");
        std::fs::set_permissions(shut.join("objects"), std::fs::Permissions::from_mode(0o755)).unwrap();
        // Links count, whatever they lead to (a target made later).
        let linked = make("linked", "ref: refs/heads/main\n", false);
        for m in ["objects", "refs"] {
            std::fs::remove_file(linked.join(m)).unwrap();
            std::os::unix::fs::symlink(d.path().join("absent"), linked.join(m)).unwrap();
        }
        assert!(git_takes(&linked), "objects and refs as links");
    }

    #[test]
    fn head_text_git_takes_is_a_ref_or_starts_with_an_object_name() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        for (text, taken) in [
            (sha.to_string(), true),
            (format!("{sha} x"), true),
            (format!("{sha}x"), true),
            (format!("  {sha}"), true),
            ("ref: refs/heads/main\n".to_string(), true),
            ("ref:refs/heads/main".to_string(), true),
            (String::new(), false),
            (sha[..39].to_string(), false),
            (format!("g{}", &sha[1..]), false),
            ("refs/heads/main".to_string(), false),
        ] {
            assert_eq!(head_text_taken(text.as_bytes()), taken, "{text:?}");
        }
    }

    #[test]
    fn objects_and_refs_count_as_git_s_access_check_takes_them() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let g = d.path().join("evil");
        std::fs::create_dir_all(g.join("objects/info")).unwrap();
        std::fs::write(g.join("HEAD"), format!("{}\n", "a".repeat(40))).unwrap();
        // Review 81, F1: `refs` an empty regular file git can "search".
        std::fs::write(g.join("refs"), "").unwrap();
        std::fs::set_permissions(g.join("refs"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(git_takes(&g), "an executable regular file `refs`");
        assert!(surely_git_dir(&g), "git's own check passes it too");
        std::fs::set_permissions(g.join("refs"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!git_takes(&g), "a `refs` file nothing may search");
        assert!(!surely_git_dir(&g));
        // A `HEAD` git refuses (`ref:` not followed by `refs/`) may still be
        // judged, but is surely no git directory.
        std::fs::remove_file(g.join("refs")).unwrap();
        std::fs::create_dir(g.join("refs")).unwrap();
        std::fs::write(g.join("HEAD"), "ref: junk\n").unwrap();
        assert!(git_takes(&g) && !surely_git_dir(&g));
    }
}
