//! Observing a running container from the host: its cgroup's pids events and
//! peak memory, read through the container's init process (`State.Pid`), and
//! that init's exit, through a pidfd ([`InitExit`]).
//!
//! Guarantees: the counters are read from the kernel's files for the
//! container's own cgroup (v1 `pids`/`memory` hierarchies or the v2 unified
//! one), never from anything the task can write. When the engine is remote or
//! the cgroup is unreadable, [`CgroupWatch::open`] returns `None` and the
//! report says peak memory and pids events were not observed.

use std::path::PathBuf;

/// The container's cgroup files.
#[derive(Debug, Clone)]
pub struct CgroupWatch {
    pids_events: Option<PathBuf>,
    memory_peak: Option<PathBuf>,
    memory_events: Option<PathBuf>,
}

/// What one sample saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Forks refused at pids.max.
    pub pids_max: u64,
    /// Peak memory in bytes.
    pub peak_memory: Option<u64>,
    /// OOM kills (v2 memory.events; v1 has them only in the engine's OOMKilled).
    pub oom_kills: u64,
}

fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl CgroupWatch {
    /// The cgroup of process `pid` (the container's init, seen from the host).
    pub fn open(pid: i64) -> Option<CgroupWatch> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mut w = CgroupWatch { pids_events: None, memory_peak: None, memory_events: None };
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let rel = path.trim_start_matches('/');
            if ctrls.is_empty() {
                for mnt in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                    let dir = PathBuf::from(mnt).join(rel);
                    if dir.join("pids.events").exists() && w.pids_events.is_none() {
                        w.pids_events = Some(dir.join("pids.events"));
                    }
                    if dir.join("memory.peak").exists() && w.memory_peak.is_none() {
                        w.memory_peak = Some(dir.join("memory.peak"));
                        w.memory_events = Some(dir.join("memory.events"));
                    }
                }
            }
            for c in ctrls.split(',') {
                let dir = PathBuf::from("/sys/fs/cgroup").join(c).join(rel);
                match c {
                    "pids" if dir.join("pids.events").exists() => w.pids_events = Some(dir.join("pids.events")),
                    "memory" if dir.join("memory.max_usage_in_bytes").exists() => {
                        w.memory_peak = Some(dir.join("memory.max_usage_in_bytes"));
                        // v1 counts OOM kills in memory.oom_control (`oom_kill N`).
                        w.memory_events = Some(dir.join("memory.oom_control"));
                    }
                    _ => {}
                }
            }
        }
        (w.pids_events.is_some() || w.memory_peak.is_some()).then_some(w)
    }

    /// Read the counters now (files that vanished with the container read as nothing).
    pub fn sample(&self) -> Sample {
        let read = |p: &Option<PathBuf>| p.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
        Sample {
            pids_max: read(&self.pids_events).and_then(|t| counter(&t, "max")).unwrap_or(0),
            peak_memory: read(&self.memory_peak).and_then(|t| t.trim().parse().ok()),
            oom_kills: read(&self.memory_events).and_then(|t| counter(&t, "oom_kill")).unwrap_or(0),
        }
    }
}

/// The container's init process, watched from the host through a pidfd: the
/// kernel says when it has exited, with no round trip through the engine
/// (Podman's API service learns of an exit hundreds of milliseconds late).
///
/// Guarantees: the pidfd is used only when the process it names is in the
/// container's own cgroup (its path holds the container id), so a recycled
/// pid is never mistaken for the init; anything else is [`InitExit::Unknown`]
/// and the engine is asked instead.
#[derive(Debug)]
pub enum InitExit {
    /// Watching: readable once the init has exited.
    Watching(tokio::io::unix::AsyncFd<std::fs::File>),
    /// The init was gone before it could be watched.
    Gone,
    /// Not visible from here (another pid namespace, a remote engine).
    Unknown,
}

impl InitExit {
    /// Watch process `pid`, which the engine says is container `id`'s init.
    pub fn open(pid: i64, id: &str) -> InitExit {
        let Ok(raw) = libc::pid_t::try_from(pid) else { return InitExit::Unknown };
        // No such process may mean another pid namespace (a remote or nested
        // engine), not an exit: only the engine can say then.
        let Ok(fd) = crate::sys::pidfd_open(raw) else { return InitExit::Unknown };
        // The pidfd's process is alive after the read, so the read was of it (a
        // pid is reused only once its process is gone); a process in this
        // container's cgroup is the container's.
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"));
        let ours = matches!(&cgroup, Ok(text) if !id.is_empty() && text.contains(id));
        match crate::sys::pidfd_send_signal(&fd, 0) {
            // Exited since: gone if what was read was the container's.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                return if ours { InitExit::Gone } else { InitExit::Unknown };
            }
            Err(_) => return InitExit::Unknown,
            Ok(()) if !ours => return InitExit::Unknown,
            Ok(()) => {}
        }
        match crate::sys::async_fd(fd) {
            Ok(fd) => InitExit::Watching(fd),
            Err(_) => InitExit::Unknown,
        }
    }

    /// Whether the kernel's view is available (watching or already gone).
    pub fn known(&self) -> bool {
        !matches!(self, InitExit::Unknown)
    }

    /// Resolves when the init has exited; never, when that cannot be known.
    pub async fn exited(&self) {
        match self {
            InitExit::Watching(fd) => {
                // A pidfd stays readable once its process has exited.
                let _ = fd.readable().await;
            }
            InitExit::Gone => {}
            InitExit::Unknown => std::future::pending().await,
        }
    }
}

impl Sample {
    /// The larger of two samples, counter by counter.
    pub fn max(self, other: Sample) -> Sample {
        Sample {
            pids_max: self.pids_max.max(other.pids_max),
            peak_memory: self.peak_memory.max(other.peak_memory),
            oom_kills: self.oom_kills.max(other.oom_kills),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_are_read_by_key() {
        assert_eq!(super::counter("max 3\n", "max"), Some(3));
        assert_eq!(super::counter("low 0\noom_kill 2\n", "oom_kill"), Some(2));
        assert_eq!(super::counter("", "max"), None);
    }

    #[test]
    fn the_init_is_watched_only_when_its_cgroup_names_the_container() {
        use super::InitExit;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
            let pid = i64::from(child.id());
            // Not in the named container's cgroup: never trusted.
            assert!(matches!(InitExit::open(pid, "0123456789abcdef-not-ours"), InitExit::Unknown));
            assert!(matches!(InitExit::open(pid, ""), InitExit::Unknown));
            // A name its cgroup path does hold (this test's own cgroup stands in).
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
            let here = cgroup.lines().next().unwrap().rsplit(':').next().unwrap().to_string();
            let init = InitExit::open(pid, &here);
            assert!(matches!(init, InitExit::Watching(_)), "{cgroup}");
            child.kill().unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(5), init.exited()).await.unwrap();
            child.wait().unwrap();
            // Exited and reaped before it could be watched.
            assert!(matches!(InitExit::open(pid, &here), InitExit::Gone | InitExit::Unknown));
        });
    }
}
