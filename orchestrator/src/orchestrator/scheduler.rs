//! The DAG scheduler: which task may start next. Pure state, no I/O.
//!
//! Guarantees: a task starts only after every task it needs has succeeded;
//! at most `concurrency` tasks run at once; when a task does not succeed,
//! every task downstream of it is skipped (never started); without
//! keep-going, the first non-success stops all further starts (running tasks
//! finish); while paused nothing starts and the run is not done. Ready tasks
//! start in plan order, so runs are reproducible.

use crate::runstore::checkpoint::TaskState;
use std::collections::BTreeSet;

/// Scheduler state over task indices.
#[derive(Debug)]
pub struct Scheduler {
    needs: Vec<Vec<usize>>,
    dependants: Vec<Vec<usize>>,
    state: Vec<TaskState>,
    unmet: Vec<usize>,
    ready: BTreeSet<usize>,
    running: usize,
    waiting: usize,
    concurrency: usize,
    keep_going: bool,
    stopping: bool,
    paused: bool,
}

impl Scheduler {
    /// A scheduler; `initial[i]` is `Succeeded` for tasks reused from an earlier session, `Pending` otherwise.
    pub fn new(
        needs: Vec<Vec<usize>>,
        dependants: Vec<Vec<usize>>,
        initial: Vec<TaskState>,
        concurrency: usize,
        keep_going: bool,
    ) -> Scheduler {
        let unmet: Vec<usize> =
            needs.iter().map(|ns| ns.iter().filter(|&&j| initial[j] != TaskState::Succeeded).count()).collect();
        let ready = (0..needs.len()).filter(|&i| initial[i] == TaskState::Pending && unmet[i] == 0).collect();
        Scheduler {
            needs,
            dependants,
            state: initial,
            unmet,
            ready,
            running: 0,
            waiting: 0,
            concurrency: concurrency.max(1),
            keep_going,
            stopping: false,
            paused: false,
        }
    }

    /// The next task to start, if a slot is free and one is ready (marks it running).
    pub fn next_task(&mut self) -> Option<usize> {
        if self.stopping || self.paused || self.running >= self.concurrency {
            return None;
        }
        let i = self.ready.pop_first()?;
        self.state[i] = TaskState::Running;
        self.running += 1;
        Some(i)
    }

    /// A running task will be retried later: free its slot meanwhile.
    pub fn wait_for_retry(&mut self, i: usize) {
        debug_assert_eq!(self.state[i], TaskState::Running);
        self.running -= 1;
        self.waiting += 1;
    }

    /// A task waiting for a retry starts again (it takes a slot even if all are busy:
    /// its retry was already decided).
    pub fn resume_retry(&mut self, i: usize) {
        debug_assert_eq!(self.state[i], TaskState::Running);
        self.waiting -= 1;
        self.running += 1;
    }

    /// A task ended in `state`. Returns the tasks skipped as a consequence, with the task they depended on.
    pub fn finish(&mut self, i: usize, state: TaskState) -> Vec<usize> {
        debug_assert!(state.is_final());
        self.state[i] = state;
        self.running -= 1;
        if state == TaskState::Succeeded {
            for &d in &self.dependants[i] {
                self.unmet[d] -= 1;
                if self.unmet[d] == 0 && self.state[d] == TaskState::Pending {
                    self.ready.insert(d);
                }
            }
            return Vec::new();
        }
        if !self.keep_going {
            self.stopping = true;
        }
        self.skip_downstream(i)
    }

    /// A task waiting for a retry is given up (run stopping): it ends in `state`.
    pub fn abandon_retry(&mut self, i: usize, state: TaskState) -> Vec<usize> {
        self.waiting -= 1;
        self.running += 1;
        self.finish(i, state)
    }

    fn skip_downstream(&mut self, i: usize) -> Vec<usize> {
        let mut skipped = Vec::new();
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            for &d in &self.dependants[j] {
                if self.state[d] == TaskState::Pending {
                    self.state[d] = TaskState::Skipped;
                    self.ready.remove(&d);
                    skipped.push(d);
                    stack.push(d);
                }
            }
        }
        skipped
    }

    /// Start nothing more (Ctrl-C, run timeout).
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    /// Pause (no task starts; running ones and decided retries go on) or continue.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// Whether starts are paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Whether starts have stopped (a failure without keep-going, Ctrl-C, run timeout).
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Whether no task is running or waiting and nothing more will start.
    pub fn is_done(&self) -> bool {
        self.running == 0 && self.waiting == 0 && (self.stopping || self.ready.is_empty())
    }

    /// Tasks that never started (to be marked cancelled when the run ends).
    pub fn unstarted(&self) -> Vec<usize> {
        (0..self.state.len()).filter(|&i| self.state[i] == TaskState::Pending).collect()
    }

    /// Number of tasks running now (not counting those waiting for a retry).
    pub fn running(&self) -> usize {
        self.running
    }

    /// The tasks a task needs.
    pub fn needs(&self, i: usize) -> &[usize] {
        &self.needs[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState::*;

    /// a -> b, a -> c, (b, c) -> d, and an independent e.
    fn diamond(conc: usize, keep_going: bool) -> Scheduler {
        let needs = vec![vec![], vec![0], vec![0], vec![1, 2], vec![]];
        let mut deps = vec![vec![]; 5];
        for (i, ns) in needs.iter().enumerate() {
            for &j in ns {
                deps[j].push(i);
            }
        }
        Scheduler::new(needs, deps, vec![Pending; 5], conc, keep_going)
    }

    #[test]
    fn dependencies_and_concurrency_are_respected() {
        let mut s = diamond(2, false);
        assert_eq!(s.next_task(), Some(0));
        assert_eq!(s.next_task(), Some(4));
        assert_eq!(s.next_task(), None, "two slots");
        assert!(s.finish(0, Succeeded).is_empty());
        assert_eq!(s.next_task(), Some(1));
        assert_eq!(s.next_task(), None);
        s.finish(4, Succeeded);
        assert_eq!(s.next_task(), Some(2));
        s.finish(1, Succeeded);
        assert_eq!(s.next_task(), None, "d still needs c");
        s.finish(2, Succeeded);
        assert_eq!(s.next_task(), Some(3));
        s.finish(3, Succeeded);
        assert!(s.is_done());
        assert!(s.unstarted().is_empty());
    }

    #[test]
    fn failure_skips_downstream_and_stops_without_keep_going() {
        let mut s = diamond(1, false);
        assert_eq!(s.next_task(), Some(0));
        let skipped = s.finish(0, Failed);
        assert_eq!(skipped.len(), 3);
        assert_eq!(s.next_task(), None, "fail-fast: e does not start");
        assert!(s.is_done());
        assert_eq!(s.unstarted(), vec![4]);
    }

    #[test]
    fn keep_going_runs_independent_branches() {
        let mut s = diamond(1, true);
        assert_eq!(s.next_task(), Some(0));
        s.finish(0, Succeeded);
        assert_eq!(s.next_task(), Some(1));
        assert_eq!(s.finish(1, Violation), vec![3]);
        assert_eq!(s.next_task(), Some(2));
        s.finish(2, Succeeded);
        assert_eq!(s.next_task(), Some(4));
        s.finish(4, Succeeded);
        assert!(s.is_done());
    }

    #[test]
    fn reused_tasks_satisfy_their_dependants() {
        let needs = vec![vec![], vec![0]];
        let deps = vec![vec![1], vec![]];
        let mut s = Scheduler::new(needs, deps, vec![Succeeded, Pending], 4, false);
        assert_eq!(s.next_task(), Some(1));
        assert_eq!(s.next_task(), None);
    }

    #[test]
    fn a_paused_scheduler_starts_nothing_and_is_not_done() {
        let mut s = diamond(2, false);
        assert_eq!(s.next_task(), Some(0));
        s.set_paused(true);
        assert_eq!(s.next_task(), None, "e is ready but the run is paused");
        s.finish(0, Succeeded);
        assert_eq!(s.next_task(), None);
        assert!(!s.is_done(), "paused with ready tasks: waits for a continue");
        s.set_paused(false);
        assert_eq!(s.next_task(), Some(1));
        // A stop while paused ends the run once nothing runs.
        s.set_paused(true);
        s.stop();
        s.finish(1, Succeeded);
        assert!(s.is_done());
    }

    #[test]
    fn retries_free_their_slot() {
        let mut s = diamond(1, false);
        assert_eq!(s.next_task(), Some(0));
        s.wait_for_retry(0);
        assert_eq!(s.next_task(), Some(4), "the slot is free during the backoff");
        assert!(!s.is_done());
        s.resume_retry(0);
        s.finish(4, Succeeded);
        s.finish(0, Succeeded);
        assert_eq!(s.next_task(), Some(1));
    }
}
