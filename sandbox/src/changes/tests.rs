use super::*;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

fn snap(root: &Path) -> Snapshot {
    Snapshot::take(root, exclusions(root, &[]), Settings::default()).unwrap()
}

fn find<'a>(c: &'a WorkspaceChanges, path: &str) -> &'a Change {
    c.entries.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("{path} not listed: {c:#?}"))
}

#[test]
fn a_scripted_change_set_is_reported_exactly() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    fs::write(r.join("keep"), "same").unwrap();
    fs::write(r.join("edit"), "old").unwrap();
    fs::write(r.join("gone"), "12345").unwrap();
    fs::write(r.join("perm"), "x").unwrap();
    fs::create_dir(r.join(".orchestra")).unwrap();
    let s = snap(r);
    fs::write(r.join("edit"), "new!!").unwrap();
    fs::remove_file(r.join("gone")).unwrap();
    fs::set_permissions(r.join("perm"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir_all(r.join("sub/deeper")).unwrap();
    fs::write(r.join("sub/deeper/new"), "abc").unwrap();
    symlink("/etc/passwd", r.join("link")).unwrap();
    fs::write(r.join(".orchestra/ignored"), "x").unwrap();
    let c = s.compare();
    assert_eq!(c.skipped, None);
    let paths: Vec<(&str, ChangeKind)> = c.entries.iter().map(|e| (e.path.as_str(), e.change)).collect();
    assert_eq!(
        paths,
        [
            ("edit", ChangeKind::Modified),
            ("gone", ChangeKind::Deleted),
            ("link", ChangeKind::Added),
            ("perm", ChangeKind::Modified),
            ("sub", ChangeKind::Added),
            ("sub/deeper", ChangeKind::Added),
            ("sub/deeper/new", ChangeKind::Added),
        ]
    );
    assert_eq!(c.added, Tally { entries: 4, bytes: 3 });
    assert_eq!(c.modified, Tally { entries: 2, bytes: 6 });
    assert_eq!(c.deleted, Tally { entries: 1, bytes: 5 });
    assert!(!c.truncated);
    let new = find(&c, "sub/deeper/new");
    assert_eq!(new.sha256.as_deref(), Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    let edit = find(&c, "edit");
    assert_eq!((edit.size, edit.old_size), (Some(5), Some(3)));
    assert!(edit.sha256.is_some());
    let link = find(&c, "link");
    assert_eq!(
        (link.kind, link.target.as_deref(), link.sha256.as_deref()),
        (EntryKind::Symlink, Some("/etc/passwd"), None)
    );
    let perm = find(&c, "perm");
    assert_eq!((perm.mode.as_deref(), perm.old_mode.is_some()), (Some("0600"), true));
}

#[test]
fn the_list_is_cut_but_the_counts_cover_everything() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    fs::create_dir(r.join("old")).unwrap();
    for i in 0..50 {
        fs::write(r.join(format!("old/f{i:02}")), "xy").unwrap();
    }
    let settings = Settings { max_listed: 10, ..Settings::default() };
    let s = Snapshot::take(r, exclusions(r, &[]), settings).unwrap();
    fs::rename(r.join("old"), r.join("new")).unwrap();
    let c = s.compare();
    assert_eq!((c.added.entries, c.deleted.entries, c.added.bytes, c.deleted.bytes), (51, 51, 100, 100));
    assert!(c.truncated);
    assert_eq!(c.entries.len(), 10);
    assert_eq!(c.entries[0].path, "new");
    assert_eq!(c.entries[1].path, "new/f00");
}

#[test]
fn a_walk_over_its_bounds_skips_the_diff_and_says_why() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    for i in 0..20 {
        fs::write(r.join(format!("f{i}")), "").unwrap();
    }
    let mut settings = Settings::default();
    settings.bounds.max_entries = 10;
    let e = Snapshot::take(r, exclusions(r, &[]), settings).err().unwrap();
    assert_eq!(e.to_string(), "before the task: the workspace has more than 10 entries");
    settings.bounds.max_entries = 25;
    let s = Snapshot::take(r, exclusions(r, &[]), settings).unwrap();
    for i in 20..30 {
        fs::write(r.join(format!("f{i}")), "").unwrap();
    }
    let c = s.compare();
    assert_eq!(c.skipped.as_deref(), Some("after the task: the workspace has more than 25 entries"));
    assert_eq!(c.total(), 0);
    let mut deep = Settings::default();
    deep.bounds.max_depth = 2;
    fs::create_dir_all(r.join("a/b/c")).unwrap();
    assert!(Snapshot::take(r, exclusions(r, &[]), deep).is_err());
}

#[test]
fn the_walk_after_the_task_has_the_same_counts_and_three_times_the_time() {
    let b = Settings::default().bounds;
    let a = b.after_task();
    assert_eq!((a.max_entries, a.max_depth), (b.max_entries, b.max_depth));
    assert_eq!(a.budget, Duration::from_secs(30));
    let huge = walk::Bounds { budget: Duration::MAX, ..b };
    assert_eq!(huge.after_task().budget, Duration::MAX);
}

#[test]
fn fifos_devices_names_and_link_chains_are_listed_never_opened() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let s = snap(r);
    nix::unistd::mkfifo(&r.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    fs::write(r.join("null"), "not a device").unwrap();
    symlink("/", r.join("l0")).unwrap();
    for i in 1..10 {
        symlink(format!("l{}", i - 1), r.join(format!("l{i}"))).unwrap();
    }
    let c = s.compare();
    assert_eq!(find(&c, "pipe").kind, EntryKind::Fifo);
    assert_eq!(find(&c, "l9").target.as_deref(), Some("l8"));
    assert_eq!(find(&c, "l0").target.as_deref(), Some("/"));
    assert_eq!(c.walked, c.added.entries, "nothing outside the workspace was walked: {c:#?}");
}

#[test]
fn a_name_that_is_not_utf8_is_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let s = snap(r);
    fs::write(r.join(std::ffi::OsStr::from_bytes(b"bad\xffname")), "").unwrap();
    let c = s.compare();
    assert_eq!(c.entries[0].path, "bad\\xffname");
}

#[test]
fn protected_paths_inside_the_workspace_are_left_out() {
    let root = Path::new("/w");
    let set = exclusions(root, &[PathBuf::from("/w/audit/log"), PathBuf::from("/elsewhere"), PathBuf::from("/w")]);
    let mut v: Vec<_> = set.into_iter().collect();
    v.sort();
    assert_eq!(v, [PathBuf::from(".orchestra"), PathBuf::from("audit/log"), PathBuf::from("runs")]);
}

#[test]
fn a_directory_swapped_for_a_link_during_the_walk_never_leads_outside() {
    // A racer (a concurrent task of the same run) swaps `d` between a
    // directory and a link to / while the after-walk runs.
    let d = tempfile::tempdir().unwrap();
    let r = d.path().to_path_buf();
    fs::create_dir(r.join("d")).unwrap();
    for i in 0..200 {
        fs::write(r.join(format!("d/f{i}")), "x").unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let (r, stop) = (r.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = fs::rename(r.join("d"), r.join("d.real"));
                let _ = symlink("/", r.join("d"));
                let _ = fs::remove_file(r.join("d"));
                let _ = fs::rename(r.join("d.real"), r.join("d"));
            }
        })
    };
    for _ in 0..50 {
        let c = snap(&r).compare();
        assert!(c.walked <= 203, "walked {} entries: a link was followed", c.walked);
        assert!(c.entries.iter().all(|e| !e.path.starts_with("d/etc") && !e.path.starts_with("d/proc")), "{c:#?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racer.join().unwrap();
}

/// A small deterministic generator (no `rand` in the tree).
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A random tree below `r`: names chosen so that bytewise and path order
/// differ (`a`, `a-b`, `a.b`, `a/…`), links, empty and deep directories.
fn random_tree(r: &Path, g: &mut XorShift, dir: &Path, depth: usize) {
    const NAMES: [&str; 8] = ["a", "a-b", "a.b", "ab", "b", "z", "\u{e9}", "0"];
    for i in 0..2 + g.below(12) {
        let name =
            format!("{}{}", NAMES[g.below(8) as usize], if g.below(2) == 0 { String::new() } else { i.to_string() });
        let p = dir.join(&name);
        if p.symlink_metadata().is_ok() {
            continue;
        }
        match g.below(10) {
            0..=2 if depth < 5 => {
                fs::create_dir(&p).unwrap();
                random_tree(r, g, &p, depth + 1);
            }
            3 => symlink(r, &p).unwrap(),
            _ => fs::write(&p, "x".repeat(g.below(5) as usize)).unwrap(),
        }
    }
}

fn listing_of(r: &Path, threads: usize) -> Vec<(Vec<u8>, Meta)> {
    let w = walk::walk(r, &exclusions(r, &[]), Settings::default().bounds, threads).unwrap();
    w.listing.iter().map(|(p, m)| (p.to_vec(), m)).collect()
}

#[test]
fn a_parallel_walk_lists_what_a_sequential_one_does_in_path_order() {
    use std::os::unix::ffi::OsStrExt;
    for seed in 1..=12u64 {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let mut g = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        random_tree(r, &mut g, r, 0);
        if seed % 3 == 0 {
            // A narrow top: one directory holding everything.
            let all = tempfile::tempdir().unwrap();
            fs::rename(r, all.path().join("only")).unwrap();
            fs::create_dir(r).unwrap();
            fs::rename(all.path().join("only"), r.join("only")).unwrap();
        }
        let one = listing_of(r, 1);
        assert!(!one.is_empty());
        let mut sorted: Vec<&[u8]> = one.iter().map(|(p, _)| p.as_slice()).collect();
        sorted.sort_by(|a, b| Path::new(std::ffi::OsStr::from_bytes(a)).cmp(Path::new(std::ffi::OsStr::from_bytes(b))));
        assert!(one.iter().map(|(p, _)| p.as_slice()).eq(sorted), "seed {seed}: not in path order");
        for threads in [2, 3, 8] {
            assert_eq!(listing_of(r, threads), one, "seed {seed}, {threads} threads");
        }
        // And the same diff, after the same changes, whatever the threads.
        let take =
            |threads| Snapshot::take(r, exclusions(r, &[]), Settings { threads, ..Settings::default() }).unwrap();
        let (s1, s2) = (take(1), take(2));
        let mut files: Vec<_> = one.iter().filter(|(_, m)| m.kind == EntryKind::File).collect();
        files.truncate(5);
        for (p, _) in &files {
            fs::write(r.join(std::ffi::OsStr::from_bytes(p)), "changed").unwrap();
        }
        fs::create_dir_all(r.join("new/deeper")).unwrap();
        fs::write(r.join("new/deeper/f"), "abc").unwrap();
        let (c1, c2) = (s1.compare(), s2.compare());
        assert_eq!(c1.skipped, None);
        assert_eq!((c1.entries.clone(), c1.added, c1.modified), (c2.entries.clone(), c2.added, c2.modified));
        assert_eq!(c1.modified.entries, files.len() as u64, "seed {seed}: {c1:#?}");
        assert!(c1.entries.iter().filter(|e| e.kind == EntryKind::File).all(|e| e.sha256.is_some()), "{c1:#?}");
    }
}

#[test]
fn path_order_is_the_order_of_paths() {
    let mut g = XorShift(7);
    let alphabet = [b'a', b'-', b'.', b'/', b'z', 0xc3, b'0'];
    for _ in 0..5000 {
        let mut draw = || -> Vec<u8> {
            let mut v: Vec<u8> = (0..1 + g.below(6)).map(|_| alphabet[g.below(7) as usize]).collect();
            // Valid relative paths: no empty component.
            v.dedup_by(|a, b| *a == b'/' && *b == b'/');
            while v.first() == Some(&b'/') || v.last() == Some(&b'/') {
                if v.first() == Some(&b'/') {
                    v.remove(0);
                } else {
                    v.pop();
                }
            }
            // Nor `.` or `..` (never a name a walk lists).
            let v: Vec<&[u8]> = v
                .split(|&x| x == b'/')
                .map(|c| if c == b"." || c == b".." || c.is_empty() { b"a" } else { c })
                .collect();
            v.join(&b'/')
        };
        let (a, b) = (draw(), draw());
        use std::os::unix::ffi::OsStrExt;
        let (pa, pb) = (Path::new(std::ffi::OsStr::from_bytes(&a)), Path::new(std::ffi::OsStr::from_bytes(&b)));
        assert_eq!(walk::path_cmp(&a, &b), pa.cmp(pb), "{pa:?} vs {pb:?}");
    }
}

#[test]
fn a_directory_unreadable_after_hides_its_contents_and_changes_are_hashed_in_place() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    fs::create_dir_all(r.join("locked/in")).unwrap();
    fs::write(r.join("locked/in/f"), "1").unwrap();
    fs::create_dir_all(r.join("x/y/z")).unwrap();
    fs::write(r.join("x/y/z/f"), "1").unwrap();
    let s = snap(r);
    fs::write(r.join("x/y/z/f"), "abc").unwrap();
    fs::write(r.join("x/y/g"), "abc").unwrap();
    fs::set_permissions(r.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let c = s.compare();
    // Root reads it all the same, and its owner through `u+rx` for the
    // time of the walk (review 76, F1): only the mode changed, and it is
    // put back.
    assert_eq!(fs::metadata(r.join("locked")).unwrap().permissions().mode() & 0o7777, 0);
    fs::set_permissions(r.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(c.total(), 3, "{c:#?}");
    assert!(c.unreadable.is_empty(), "{c:#?}");
    let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(find(&c, "x/y/g").sha256.as_deref(), Some(sha));
    assert_eq!(find(&c, "x/y/z/f").sha256.as_deref(), Some(sha));
}
