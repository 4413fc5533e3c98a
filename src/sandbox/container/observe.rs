//! Observing a running container from the host: its cgroup's pids events and
//! peak memory, read through the container's init process (`State.Pid`).
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
}
