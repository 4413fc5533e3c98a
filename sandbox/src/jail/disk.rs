//! `limits.disk` without a filesystem quota: how much the task added to its
//! writable roots, measured by allocated blocks per inode.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Meters the disk space held by the files a task wrote (`limits.disk`).
///
/// Every name a write touched is kept (up to [`DiskMeter::MAX_NAMES`]), and each
/// inode counts once for the space it holds *beyond what it held when the task
/// first touched it*, at its *allocated* size (`st_blocks`): a sparse file counts
/// what it holds on disk, and a large file that existed before the task (opened
/// for writing, or touched) counts only what the task added. A directory the task
/// renames carries its names along (its files are found under the new name too). Names new since the last check are measured at each
/// check; all names are measured again only every [`DiskMeter::FULL_SCAN_RATIO`]
/// times as long as the last full scan took (at least once a second), so a task
/// writing tens of thousands of files does not pay a quadratic cost. A total at or
/// over the limit is confirmed by a full scan before it is reported (files deleted
/// since their last measure no longer count), and the task's end always gets one.
#[derive(Default)]
pub struct DiskMeter {
    names: std::collections::HashSet<PathBuf>,
    fresh: Vec<PathBuf>,
    bytes: std::collections::HashMap<(u64, u64), u64>,
    /// Allocated bytes of each inode when the task first touched it (0 for a new file).
    baseline: std::collections::HashMap<(u64, u64), u64>,
    total: u64,
    last_full: Option<std::time::Instant>,
    last_full_cost: std::time::Duration,
    force_full: bool,
    /// A name was not kept: [`DiskMeter::names`] is not every name written.
    overflowed: bool,
}

impl DiskMeter {
    /// At most this many names are kept.
    pub const MAX_NAMES: usize = 100_000;
    /// A full scan runs at most once per this many times its own duration.
    pub const FULL_SCAN_RATIO: u32 = 20;

    /// Record a name a write is about to touch (before the kernel acts on it).
    pub fn note(&mut self, path: PathBuf) {
        if self.names.len() >= Self::MAX_NAMES {
            self.overflowed |= !self.names.contains(&path);
            return;
        }
        if self.names.insert(path.clone()) {
            if let Ok(m) = std::fs::symlink_metadata(&path)
                && m.is_file()
            {
                self.baseline.entry((m.dev(), m.ino())).or_insert(m.blocks() * 512);
            }
            self.fresh.push(path);
        }
    }

    /// A rename of `from` to `to` is about to happen: when `from` is a directory,
    /// every name kept below it is kept below `to` as well.
    pub fn renamed(&mut self, from: &Path, to: &Path) {
        if !std::fs::symlink_metadata(from).is_ok_and(|m| m.is_dir()) {
            return;
        }
        let moved: Vec<PathBuf> = self
            .names
            .iter()
            .filter_map(|p| p.strip_prefix(from).ok().filter(|r| !r.as_os_str().is_empty()).map(|r| to.join(r)))
            .collect();
        for p in moved {
            self.note(p);
        }
    }

    /// Whether a name written was not kept ([`DiskMeter::MAX_NAMES`]): a
    /// sweep by [`DiskMeter::names`] would miss it.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Every name a write touched (all of them unless [`DiskMeter::overflowed`]).
    pub fn names(&self) -> impl Iterator<Item = &Path> {
        self.names.iter().map(PathBuf::as_path)
    }

    /// Make the next check a full scan (the task ended).
    pub fn force_full_scan(&mut self) {
        self.force_full = true;
    }

    /// The metered total when it is at least `limit` (confirmed by a full scan), else `None`.
    pub fn total_at_least(&mut self, limit: u64) -> Option<u64> {
        if self.names.is_empty() {
            return None;
        }
        let interval = (self.last_full_cost * Self::FULL_SCAN_RATIO).max(std::time::Duration::from_secs(1));
        let due = self.force_full || self.last_full.is_none_or(|t| t.elapsed() >= interval);
        if due {
            self.full_scan();
        } else {
            for p in std::mem::take(&mut self.fresh) {
                self.measure(&p);
            }
            if self.total >= limit {
                self.full_scan();
            }
        }
        (self.total >= limit).then_some(self.total)
    }

    fn full_scan(&mut self) {
        let started = std::time::Instant::now();
        self.bytes.clear();
        self.total = 0;
        self.fresh.clear();
        let names: Vec<PathBuf> = self.names.iter().cloned().collect();
        for p in &names {
            self.measure(p);
        }
        self.force_full = false;
        self.last_full = Some(std::time::Instant::now());
        self.last_full_cost = started.elapsed();
    }

    fn measure(&mut self, path: &Path) {
        let Ok(m) = std::fs::symlink_metadata(path) else { return };
        if !m.is_file() {
            return;
        }
        let id = (m.dev(), m.ino());
        let now = (m.blocks() * 512).saturating_sub(self.baseline.get(&id).copied().unwrap_or(0));
        let before = self.bytes.insert(id, now).unwrap_or(0);
        self.total = self.total - before + now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_meter_counts_allocated_bytes_once_per_inode() {
        let dir = tempfile::tempdir().unwrap();
        let (sparse, dense, link) = (dir.path().join("sparse"), dir.path().join("dense"), dir.path().join("link"));
        let mut m = DiskMeter::default();
        // Names are noted before the kernel acts, as the supervisor does.
        for p in [&sparse, &dense, &link] {
            m.note(p.clone());
        }
        let f = std::fs::File::create(&sparse).unwrap();
        f.set_len(900 << 20).unwrap(); // 900 MiB apparent, nothing allocated
        std::fs::write(&dense, vec![7u8; 1 << 20]).unwrap();
        std::fs::hard_link(&dense, &link).unwrap();
        assert_eq!(m.total_at_least(2 << 20), None, "a sparse file counts what it holds, a link once");
        let total = m.total_at_least(1 << 20).expect("1 MiB written");
        assert!((1 << 20..(1 << 20) + (64 << 10)).contains(&total), "{total}");
    }

    #[test]
    fn disk_meter_counts_only_what_the_task_added_to_a_file_that_existed() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("prebuilt.bin");
        std::fs::write(&old, vec![1u8; 4 << 20]).unwrap();
        let mut m = DiskMeter::default();
        m.note(old.clone()); // touched, opened for writing
        assert_eq!(m.total_at_least(1 << 20), None, "4 MiB that were there before do not count");
        let mut f = std::fs::OpenOptions::new().append(true).open(&old).unwrap();
        std::io::Write::write_all(&mut f, &vec![2u8; 2 << 20]).unwrap();
        m.force_full_scan();
        assert!(m.total_at_least(2 << 20).is_some(), "the 2 MiB appended count");
    }

    #[test]
    fn disk_meter_follows_a_renamed_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (w, store) = (dir.path().join("w"), dir.path().join("store"));
        std::fs::create_dir(&w).unwrap();
        std::fs::create_dir(&store).unwrap();
        let mut m = DiskMeter::default();
        let f = w.join("f");
        m.note(f.clone());
        std::fs::write(&f, vec![3u8; 1 << 20]).unwrap();
        assert_eq!(m.total_at_least(4 << 20), None);
        m.renamed(&w, &store.join("w"));
        std::fs::rename(&w, store.join("w")).unwrap();
        m.force_full_scan();
        assert!(m.total_at_least(1 << 20).is_some(), "the file moved with its directory still counts");
    }

    #[test]
    fn disk_meter_confirms_an_overrun_with_a_full_scan() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = DiskMeter::default();
        let a = dir.path().join("a");
        m.note(a.clone());
        std::fs::write(&a, vec![1u8; 1 << 20]).unwrap();
        assert_eq!(m.total_at_least(4 << 20), None);
        // A temporary file written and deleted, then the next one: never both at once.
        std::fs::remove_file(&a).unwrap();
        let b = dir.path().join("b");
        m.note(b.clone());
        std::fs::write(&b, vec![1u8; 1 << 20]).unwrap();
        assert_eq!(m.total_at_least(2 << 20), None, "the deleted file no longer counts");
        m.force_full_scan();
        assert!(m.total_at_least(1 << 20).is_some());
    }

    #[test]
    fn disk_meter_says_when_a_name_was_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = DiskMeter::default();
        for i in 0..DiskMeter::MAX_NAMES {
            m.note(dir.path().join(format!("n{i}")));
        }
        m.note(dir.path().join("n0"));
        assert!(!m.overflowed(), "every name written is kept");
        // A directory renamed notes every name below it again: past the cap.
        m.renamed(dir.path(), &dir.path().with_extension("moved"));
        assert!(m.overflowed());
        assert_eq!(m.names().count(), DiskMeter::MAX_NAMES);
    }
}
