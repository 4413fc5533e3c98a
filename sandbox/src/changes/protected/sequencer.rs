//! Git's sequencer state: an interrupted `git rebase -i` keeps its remaining
//! steps in `<gitdir>/rebase-merge/git-rebase-todo`, a cherry-pick or revert
//! in `<gitdir>/sequencer/todo`. The host's `git status` then says a rebase
//! is in progress and suggests `git rebase --continue`, which runs every
//! `exec` step of the todo (review 69, F2: a task wrote that state with
//! `exec touch …`). So, while the root's `.git/config` is protected:
//!
//! - a todo that the task made or changed and that holds an `exec` (or `x`)
//!   step is `fs.protected`, and its state directory is put aside: git then
//!   sees no operation in progress and runs nothing;
//! - todos without such a step (a rebase stopped at a conflict) and todos
//!   left as they were are not judged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The todo files of a git directory, relative to it.
pub(super) const TODOS: [&str; 2] = ["rebase-merge/git-rebase-todo", "sequencer/todo"];

/// A todo is read up to this size; a longer one counts as running commands.
pub(super) const MAX_TODO: u64 = 4 << 20;

/// The todo files below each of `gitdirs`, with their bytes (`None`: too
/// large or unreadable).
pub(super) fn todos(gitdirs: &[PathBuf]) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for gd in gitdirs {
        for t in TODOS {
            let p = gd.join(t);
            if std::fs::symlink_metadata(&p).is_ok() {
                out.insert(p.clone(), super::read_small(&p, MAX_TODO));
            }
        }
    }
    out
}

/// Whether a todo's text holds a step that runs a command (`exec`, `x`);
/// an unreadable one counts as holding one.
pub(super) fn runs_commands(todo: Option<&[u8]>) -> bool {
    let Some(text) = todo else { return true };
    text.split(|b| *b == b'\n').any(|line| {
        let word = line.trim_ascii_start().split(|b| b.is_ascii_whitespace()).next().unwrap_or_default();
        word == b"exec" || word == b"x"
    })
}

/// The state directory a todo file belongs to (`rebase-merge`, `sequencer`).
pub(super) fn state_dir(todo: &Path) -> Option<&Path> {
    todo.parent()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_steps_are_found_and_other_steps_are_not() {
        assert!(runs_commands(Some(b"pick 1234 a\nexec touch /tmp/x\n")));
        assert!(runs_commands(Some(b"  x make test\n")));
        assert!(runs_commands(Some(b"pick 1\n\texec\tid\n")));
        assert!(runs_commands(None), "unreadable counts");
        assert!(!runs_commands(Some(b"pick 1234 a\n# exec x\nedit 5678 b\nexecute 1\n")));
        assert!(!runs_commands(Some(b"")));
    }
}
