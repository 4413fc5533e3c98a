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
