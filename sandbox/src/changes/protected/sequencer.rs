//! Git's sequencer state: an interrupted `git rebase -i` keeps its remaining
//! steps in `<gitdir>/rebase-merge/git-rebase-todo`, a cherry-pick or revert
//! in `<gitdir>/sequencer/todo`. The host's `git status` then says a rebase
//! is in progress and suggests `git rebase --continue`, which runs every
//! `exec` step of the todo (review 69, F2: a task wrote that state with
//! `exec touch …`). So, while the root's `.git/config` is protected:
//!
//! - a todo that the task made or changed and that runs commands is
//!   `fs.protected`, and its state directory is put aside: git then sees no
//!   operation in progress and runs nothing. A todo runs commands when it
//!   holds an `exec` (or `x`) step, or when its operation's merge strategy
//!   (`rebase-merge/strategy`, `sequencer/opts`' `options.strategy`) is not
//!   one of git's own: git runs `git merge-<strategy>`, a path from the
//!   work tree when the name holds a `/` (review 73, F2);
//! - todos without such a step (a rebase stopped at a conflict) and todos
//!   left as they were are not judged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The todo files of a git directory, relative to it.
pub(super) const TODOS: [&str; 2] = ["rebase-merge/git-rebase-todo", "sequencer/todo"];

/// A todo is read up to this size; a longer one counts as running commands.
pub(super) const MAX_TODO: u64 = 4 << 20;

/// The merge strategies git carries out itself.
const OWN_STRATEGIES: [&str; 6] = ["ort", "recursive", "resolve", "octopus", "ours", "subtree"];

/// A todo and the strategy its operation merges with, as read (`None`:
/// too large or unreadable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Todo {
    /// The todo's bytes.
    steps: Option<Vec<u8>>,
    /// The state's strategy file (`rebase-merge/strategy`,
    /// `sequencer/opts`), if there is one.
    strategy: Option<Option<Vec<u8>>>,
    /// The strategy is read from `sequencer/opts` (config), not from
    /// `rebase-merge/strategy` (a name).
    opts: bool,
}

impl Todo {
    /// The todo file `todo` and its state directory's strategy.
    pub(super) fn read(todo: &Path) -> Todo {
        let strategy = state_dir(todo)
            .map(strategy_file)
            .and_then(|f| std::fs::symlink_metadata(&f).is_ok().then(|| super::read_small(&f, MAX_TODO)));
        let opts = state_dir(todo).is_some_and(|s| s.file_name().is_some_and(|n| n == "sequencer"));
        Todo { steps: super::read_small(todo, MAX_TODO), strategy, opts }
    }

    /// Whether git continuing this operation runs commands: an `exec` step,
    /// a strategy not git's own, or what cannot be read.
    pub(super) fn runs_commands(&self) -> bool {
        runs_commands(self.steps.as_deref())
            || match &self.strategy {
                None => false,
                Some(None) => true,
                Some(Some(text)) => !own_strategy(text, self.opts),
            }
    }
}

/// The file naming a state directory's merge strategy.
fn strategy_file(state: &Path) -> PathBuf {
    if state.file_name().is_some_and(|n| n == "sequencer") { state.join("opts") } else { state.join("strategy") }
}

/// Whether a strategy file's text (a name, or `sequencer/opts`' config)
/// names only git's own strategies.
fn own_strategy(text: &[u8], opts: bool) -> bool {
    if !opts {
        // `rebase-merge/strategy`: git reads the whole file as the name
        // (review 75, F3: text starting with `[` is no config there).
        return std::str::from_utf8(text).is_ok_and(|t| OWN_STRATEGIES.contains(&t.trim()));
    }
    // `sequencer/opts`: config, read only where it is written as git writes
    // it (review 75, F2: a second header on a line hid the strategy).
    super::submodules::written_as_git_writes(text)
        && super::submodules::settings(text)
            .into_iter()
            .filter(|(s, k, _)| s == "options" && k == "strategy")
            .all(|(_, _, v)| OWN_STRATEGIES.contains(&v.as_str()))
}

/// The todo files below each of `gitdirs`, with what they hold.
pub(super) fn todos(gitdirs: &[PathBuf]) -> BTreeMap<PathBuf, Todo> {
    let mut out = BTreeMap::new();
    for gd in gitdirs {
        for t in TODOS {
            let p = gd.join(t);
            if std::fs::symlink_metadata(&p).is_ok() {
                out.insert(p.clone(), Todo::read(&p));
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

    #[test]
    fn a_strategy_not_git_s_own_runs_commands() {
        let d = tempfile::tempdir().unwrap();
        for (state, file, text, runs) in [
            ("rebase-merge", "strategy", &b"ort\n"[..], false),
            ("rebase-merge", "strategy", b"recursive", false),
            ("rebase-merge", "strategy", b"x/../evil\n", true),
            ("rebase-merge", "strategy", b"custom", true),
            ("sequencer", "opts", b"[options]\n\tstrategy = ort\n", false),
            ("sequencer", "opts", b"[options]\n\tstrategy = x/../evil\n", true),
            ("sequencer", "opts", b"[options]\n\tstrategy = \"o\\\nrt\"\n", true),
            // Review 75: a second header on a line, a name starting with `[`.
            ("sequencer", "opts", b"[x] [options] strategy = x/../evil\n", true),
            ("rebase-merge", "strategy", b"[a]/../evil\n", true),
            ("rebase-merge", "strategy", b"[options]\nstrategy = ort\n", true),
        ] {
            let dir = d.path().join(format!("{state}-{}", runs as u8));
            let _ = std::fs::remove_dir_all(&dir);
            let sd = dir.join(state);
            std::fs::create_dir_all(&sd).unwrap();
            let todo = sd.join(if state == "sequencer" { "todo" } else { "git-rebase-todo" });
            std::fs::write(&todo, "pick 1234 a\n").unwrap();
            std::fs::write(sd.join(file), text).unwrap();
            assert_eq!(Todo::read(&todo).runs_commands(), runs, "{state}/{file}: {:?}", String::from_utf8_lossy(text));
        }
        let todo = d.path().join("plain/rebase-merge/git-rebase-todo");
        std::fs::create_dir_all(todo.parent().unwrap()).unwrap();
        std::fs::write(&todo, "pick 1234 a\n").unwrap();
        assert!(!Todo::read(&todo).runs_commands(), "no strategy file: git's default");
    }
}
