//! Per-task cgroups for memory and pids limits, on cgroup v2 (where the
//! controllers are delegated to us) or the v1 `memory` and `pids` hierarchies
//! (hybrid hosts). Limit breaches are *observed* through the controllers'
//! event counters (`oom_kill`, pids `max`), which is what turns them into
//! `limits.memory` / `limits.pids` violations.
//!
//! Guarantee: a created cgroup is emptied (every process killed) and removed
//! when the handle is dropped.

use std::fs;
use std::path::{Path, PathBuf};

/// Counters read after the task ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupEvents {
    /// Processes killed by the OOM killer inside the cgroup.
    pub oom_kills: u64,
    /// Times a fork failed because of pids.max.
    pub pids_max: u64,
    /// Peak memory usage in bytes, when the kernel reports it.
    pub peak_memory: Option<u64>,
}

/// A task's cgroups.
#[derive(Debug, Default)]
pub struct TaskCgroup {
    dirs: Vec<PathBuf>,
    v2: Option<PathBuf>,
    v1_memory: Option<PathBuf>,
    v1_pids: Option<PathBuf>,
}

/// Which controllers could be set up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupSupport {
    /// Memory limit enforced by a cgroup.
    pub memory: bool,
    /// Pids limit enforced by a cgroup.
    pub pids: bool,
}

fn own_path(controller: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let _id = parts.next()?;
        let ctrls = parts.next()?;
        let path = parts.next()?;
        let matches = if controller.is_empty() { ctrls.is_empty() } else { ctrls.split(',').any(|c| c == controller) };
        matches.then(|| path.to_string())
    })
}

/// The v2 directory we could create children in with both controllers, if any.
fn v2_parent() -> Option<PathBuf> {
    let rel = own_path("")?;
    for mnt in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let dir = Path::new(mnt).join(rel.trim_start_matches('/'));
        if let Ok(ctl) = fs::read_to_string(dir.join("cgroup.subtree_control")) {
            let has = |c: &str| ctl.split_whitespace().any(|x| x == c);
            if has("memory") && has("pids") {
                return Some(dir);
            }
        }
    }
    None
}

fn v1_dir(controller: &str) -> Option<PathBuf> {
    let rel = own_path(controller)?;
    let dir = Path::new("/sys/fs/cgroup").join(controller).join(rel.trim_start_matches('/'));
    dir.is_dir().then_some(dir)
}

/// What this host offers to us without creating anything.
pub fn probe() -> (Option<PathBuf>, Option<PathBuf>, Option<PathBuf>) {
    (v2_parent(), v1_dir("memory"), v1_dir("pids"))
}

/// Remove the cgroups that jails of dead orchestra processes left under
/// `parent` (named `orchestra-<pid>-<stamp>`; an orchestra killed with SIGKILL
/// never runs its cleanup). Only `rmdir`: the kernel refuses a cgroup that
/// still holds a process, so nothing live is touched; a directory whose pid
/// is alive (ours, or a recycled one) is left alone. Returns how many went.
pub fn reap_stale(parent: &Path) -> usize {
    let Ok(rd) = fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("orchestra-")).and_then(|r| r.split('-').next())
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        if fs::remove_dir(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

impl TaskCgroup {
    /// Create cgroups named `name` with the given limits. Controllers that are
    /// unavailable are left out; [`TaskCgroup::support`] says what was set.
    pub fn create(name: &str, memory: Option<u64>, pids: Option<u64>) -> TaskCgroup {
        let mut cg = TaskCgroup::default();
        if memory.is_none() && pids.is_none() {
            return cg;
        }
        if let Some(parent) = v2_parent() {
            reap_stale(&parent);
            let dir = parent.join(name);
            if fs::create_dir(&dir).is_ok() {
                cg.dirs.push(dir.clone());
                let ok_mem = memory.is_none_or(|m| {
                    fs::write(dir.join("memory.max"), m.to_string()).is_ok()
                        && fs::write(dir.join("memory.swap.max"), "0").map_or(true, |_| true)
                });
                let ok_pids = pids.is_none_or(|p| fs::write(dir.join("pids.max"), p.to_string()).is_ok());
                if ok_mem && ok_pids {
                    cg.v2 = Some(dir);
                    return cg;
                }
            }
        }
        if let Some(parent) = v1_dir("memory") {
            reap_stale(&parent);
            let dir = parent.join(name);
            if fs::create_dir(&dir).is_ok() {
                cg.dirs.push(dir.clone());
                let ok = memory.is_none_or(|m| {
                    let _ = fs::write(dir.join("memory.swappiness"), "0");
                    fs::write(dir.join("memory.limit_in_bytes"), m.to_string()).is_ok()
                });
                if ok {
                    cg.v1_memory = Some(dir);
                }
            }
        }
        if let Some(parent) = v1_dir("pids") {
            reap_stale(&parent);
            let dir = parent.join(name);
            if fs::create_dir(&dir).is_ok() {
                cg.dirs.push(dir.clone());
                if pids.is_none_or(|p| fs::write(dir.join("pids.max"), p.to_string()).is_ok()) {
                    cg.v1_pids = Some(dir);
                }
            }
        }
        cg
    }

    /// Which limits are enforced by cgroups.
    pub fn support(&self) -> CgroupSupport {
        CgroupSupport {
            memory: self.v2.is_some() || self.v1_memory.is_some(),
            pids: self.v2.is_some() || self.v1_pids.is_some(),
        }
    }

    /// A one-line description for the report.
    pub fn describe(&self) -> String {
        match (&self.v2, &self.v1_memory, &self.v1_pids) {
            (Some(d), _, _) => format!("cgroup v2 {}", d.display()),
            (None, m, p) => format!(
                "cgroup v1{}{}",
                m.as_ref().map(|d| format!(" memory:{}", d.display())).unwrap_or_default(),
                p.as_ref().map(|d| format!(" pids:{}", d.display())).unwrap_or_default()
            ),
        }
    }

    /// Prepare moving the jail's init (and so all its future children) into
    /// the cgroups. On v1 hierarchies the init moves itself: [`Join::own`]
    /// are their `tasks` files, opened here (as the caller), for
    /// [`crate::sys::ChildExec::join_cgroups`]. A single thread writing itself
    /// there takes no global lock, where a `cgroup.procs` write of another
    /// process waits for an RCU grace period (5–25 ms on this kind of host).
    /// On v2 the caller writes the pid ([`Join::by_caller`]).
    pub fn prepare_join(&self) -> std::io::Result<Join> {
        let mut own = Vec::new();
        for dir in [&self.v1_memory, &self.v1_pids].into_iter().flatten() {
            let f = fs::OpenOptions::new().write(true).open(dir.join("tasks"))?;
            own.push(std::os::fd::OwnedFd::from(f));
        }
        Ok(Join { own, caller_files: self.v2.iter().map(|d| d.join("cgroup.procs")).collect() })
    }

    /// Read the event counters.
    pub fn events(&self) -> CgroupEvents {
        let mut ev = CgroupEvents::default();
        let field = |text: &str, key: &str| -> u64 {
            text.lines().find_map(|l| l.strip_prefix(key).map(|v| v.trim().parse().unwrap_or(0))).unwrap_or(0)
        };
        if let Some(d) = &self.v2 {
            let m = fs::read_to_string(d.join("memory.events")).unwrap_or_default();
            ev.oom_kills = field(&m, "oom_kill ");
            let p = fs::read_to_string(d.join("pids.events")).unwrap_or_default();
            ev.pids_max = field(&p, "max ");
            ev.peak_memory = fs::read_to_string(d.join("memory.peak")).ok().and_then(|s| s.trim().parse().ok());
        }
        if let Some(d) = &self.v1_memory {
            let m = fs::read_to_string(d.join("memory.oom_control")).unwrap_or_default();
            ev.oom_kills = field(&m, "oom_kill ");
            ev.peak_memory =
                fs::read_to_string(d.join("memory.max_usage_in_bytes")).ok().and_then(|s| s.trim().parse().ok());
        }
        if let Some(d) = &self.v1_pids {
            let p = fs::read_to_string(d.join("pids.events")).unwrap_or_default();
            ev.pids_max = field(&p, "max ");
        }
        ev
    }

    fn kill_all(&self) {
        if let Some(d) = &self.v2 {
            let _ = fs::write(d.join("cgroup.kill"), "1");
        }
        for dir in &self.dirs {
            for _ in 0..50 {
                let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                let pids: Vec<i32> = procs.lines().filter_map(|l| l.trim().parse().ok()).collect();
                if pids.is_empty() {
                    break;
                }
                for p in pids {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }
}

/// How the init gets into its task's cgroups ([`TaskCgroup::prepare_join`]).
#[derive(Debug)]
pub struct Join {
    /// v1 `tasks` files the init writes itself into; the caller closes its
    /// copies once the init is cloned (the init closes its own at once).
    pub own: Vec<std::os::fd::OwnedFd>,
    /// v2 `cgroup.procs`, written by the caller with the init's pid.
    caller_files: Vec<PathBuf>,
}

impl Join {
    /// Whether the caller has to move the init ([`Join::by_caller`]): until it
    /// has, a process the init forks is born outside the v2 cgroups. The v1
    /// ones ([`Join::own`]) the init is in from its first instruction.
    pub fn by_caller_needed(&self) -> bool {
        !self.caller_files.is_empty()
    }

    /// Write `pid` into the v2 cgroup on a thread of its own, for a caller
    /// with other work to do meanwhile (the write waits for an RCU grace
    /// period). [`Joining::wait`] tells how it ended; the thread is joined at
    /// the latest when the [`Joining`] is dropped.
    pub fn by_caller(self, pid: i32) -> Joining {
        let files = self.caller_files;
        if files.is_empty() {
            return Joining(None);
        }
        Joining(Some(std::thread::spawn(move || {
            for f in files {
                fs::write(f, pid.to_string())?;
            }
            Ok(())
        })))
    }
}

/// A process being moved into a task's cgroups by the caller ([`Join::by_caller`]).
#[derive(Debug)]
pub struct Joining(Option<std::thread::JoinHandle<std::io::Result<()>>>);

impl Joining {
    /// Wait until the process is in every cgroup, or why it is not.
    pub fn wait(mut self) -> std::io::Result<()> {
        match self.0.take().map(|t| t.join()) {
            None => Ok(()),
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the thread joining the cgroup panicked")),
        }
    }
}

impl Drop for Joining {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TaskCgroup {
    fn drop(&mut self) {
        self.kill_all();
        for dir in self.dirs.iter().rev() {
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{ChildExec, ChildRun, spawn_in_namespaces};
    use std::os::fd::AsRawFd;

    /// Start `check` in a child that joins `fds` first; its exit code.
    fn child_exit(check: fn() -> i32, fds: Vec<i32>) -> i32 {
        let exec =
            ChildExec { run: ChildRun::Call(&check), dup2: vec![], wait_fd: -1, wait_peer: -1, join_cgroups: fds };
        let child = spawn_in_namespaces(0, &exec).unwrap();
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.pid), None).unwrap() {
            nix::sys::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("child ended with {other:?}"),
        }
    }

    #[test]
    fn the_init_moves_itself_into_the_v1_cgroups() {
        // This host (and CI) runs as root with v1 memory and pids hierarchies.
        let name = format!("orchestra-{}-selfjoin-test", std::process::id());
        let cg = TaskCgroup::create(&name, Some(256 << 20), Some(64));
        assert!(cg.support().memory && cg.support().pids, "no cgroup could be created: {}", cg.describe());
        let join = cg.prepare_join().unwrap();
        assert_eq!(join.own.len(), 2, "one tasks file per v1 hierarchy");
        fn in_both() -> i32 {
            if crate::sys::cgroup_join_error().is_some() {
                return 2;
            }
            let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            let moved = |c: &str| text.lines().any(|l| l.contains(&format!(":{c}:")) && l.ends_with("-selfjoin-test"));
            if moved("memory") && moved("pids") { 0 } else { 1 }
        }
        assert_eq!(child_exit(in_both, join.own.iter().map(|f| f.as_raw_fd()).collect()), 0);
        // The caller itself stayed where it was.
        assert!(!fs::read_to_string("/proc/self/cgroup").unwrap().contains("selfjoin-test"));
    }

    #[test]
    fn a_child_that_could_not_join_knows_it() {
        fn refused() -> i32 {
            match crate::sys::cgroup_join_error() {
                Some(e) if e.raw_os_error() == Some(libc::EBADF) => 0,
                Some(_) => 2,
                None => 1,
            }
        }
        // A pipe's read end cannot be written: the join fails with EBADF.
        let (r, _w) = std::io::pipe().unwrap();
        assert_eq!(child_exit(refused, vec![r.as_raw_fd()]), 0);
    }

    #[test]
    fn only_dead_orchestras_cgroups_are_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join("orchestra-999999999-1");
        let alive = dir.path().join(format!("orchestra-{}-2", std::process::id()));
        let other = dir.path().join("system.slice");
        let busy = dir.path().join("orchestra-999999998-3");
        for d in [&dead, &alive, &other, &busy] {
            fs::create_dir(d).unwrap();
        }
        fs::write(busy.join("cgroup.procs"), "1\n").unwrap(); // rmdir fails: not empty, like a cgroup in use
        assert_eq!(reap_stale(dir.path()), 1);
        assert!(!dead.exists() && alive.exists() && other.exists() && busy.exists());
    }
}
