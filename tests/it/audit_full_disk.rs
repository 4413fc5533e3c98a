//! A full disk under the audit log (issue 17, defect 3). Either the task does
//! not run (exit 1, the workspace untouched, the log intact) or it runs and its
//! verdict stands (exit 4 for a violation) with every record of it in the log,
//! never "nothing ran" after something ran. Tested on a real tmpfs filled to
//! each page around the reservation's size, and with `write(2)` failing with
//! ENOSPC at each of the writer's writes in turn (a filesystem that cannot
//! reserve space, or one another writer filled).

use crate::harness::out::Out;
use crate::harness::world::World;
use std::path::Path;

const PAGE: u64 = 4096;

/// A task that marks the workspace, then writes outside it (`fs.write`).
fn hostile_task(w: &World) -> Vec<String> {
    let outside = w.root.join("outside.txt");
    vec!["sh".into(), "-c".into(), format!("echo ran > marker; echo x > '{}'", outside.display())]
}

fn exec_into(w: &World, log: &Path) -> Out {
    let mut args: Vec<String> = vec!["exec".into(), "--audit-dir".into(), log.display().to_string(), "--".into()];
    args.extend(hostile_task(w));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    w.orchestra(&args)
}

/// Whether the log has a segment (a refused first exec leaves none).
fn exists(log: &Path) -> bool {
    std::fs::read_dir(log)
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".seg")))
        .unwrap_or(false)
}

fn count(w: &World, log: &Path, kind: &str) -> usize {
    if !exists(log) {
        return 0;
    }
    let o = w.orchestra(&["audit", "show", &log.display().to_string(), "--kind", kind, "--json"]);
    assert_eq!(o.code, 0, "show: {}", o.all());
    o.stdout.lines().count()
}

/// Free pages of the filesystem at `dir`.
fn free_pages(dir: &Path) -> u64 {
    let s = nix::sys::statvfs::statvfs(dir).expect("statvfs");
    s.blocks_available() * s.fragment_size() / PAGE
}

/// Fill the filesystem at `dir` until exactly `leave` pages are free.
fn fill(dir: &Path, leave: u64) {
    let filler = dir.join("filler");
    let _ = std::fs::remove_file(&filler);
    let free = free_pages(dir);
    assert!(free >= leave, "only {free} pages free");
    let f = std::fs::File::create(&filler).expect("filler");
    if free > leave {
        nix::fcntl::fallocate(&f, nix::fcntl::FallocateFlags::empty(), 0, ((free - leave) * PAGE) as i64)
            .expect("fallocate");
    }
    assert_eq!(free_pages(dir), leave, "could not leave {leave} pages free");
}

/// Check one exec's outcome both ways; returns whether the task ran.
fn judge(w: &World, log: &Path, o: &Out, ran_before: usize, case: &str) -> bool {
    let marker = w.ws.join("marker");
    let ran = marker.exists();
    let started = count(w, log, "task_started");
    match o.code {
        1 => {
            assert!(!ran, "{case}: exit 1 (nothing ran) but the task ran: {}", o.all());
            assert!(o.stderr.contains("nothing ran"), "{case}: {}", o.all());
            assert_eq!(started, ran_before, "{case}: a refused task has a task_started record");
        }
        4 => {
            assert!(ran, "{case}: exit 4 but the marker is missing");
            assert_eq!(started, ran_before + 1, "{case}: task_started missing");
            assert_eq!(count(w, log, "violation"), ran_before + 1, "{case}: the violation record is missing");
            assert_eq!(count(w, log, "task_ended"), ran_before + 1, "{case}: task_ended missing");
        }
        c => panic!("{case}: exit {c}: {}", o.all()),
    }
    if !exists(log) {
        assert_eq!(o.code, 1, "{case}: no log but exit {}", o.code);
        return ran;
    }
    let v = w.orchestra(&[
        "audit",
        "verify",
        &log.display().to_string(),
        "--trusted-key",
        &format!("{}.pub", w.key.display()),
    ]);
    assert_eq!(v.code, 0, "{case}: the log does not verify: {}", v.all());
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_file(w.root.join("outside.txt"));
    ran
}

/// A tmpfs of `bytes` mounted at `dir` (unmounted on drop).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, bytes: u64) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success(), "mounting a tmpfs needs root (the test suite runs as root)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_either_refuses_the_task_or_keeps_every_record_of_it() {
    let w = World::create("audit-full-disk", "fd", "");
    let reserve = orchestra::audit::TASK_RESERVE_BYTES / PAGE;
    let mut outcomes = (0, 0);
    // A fresh log (its creation and the first reservation need the space) and
    // a log with earlier tasks (the reservation slides forward a little).
    for leave in (0..4).chain(reserve - 2..reserve + 6) {
        let fs = Tmpfs::mount(&w.root.join(format!("fresh{leave}")), 4 << 20);
        fill(&fs.0, leave);
        let log = fs.0.join("log");
        let o = exec_into(&w, &log);
        let ran = judge(&w, &log, &o, 0, &format!("fresh log, {leave} pages free"));
        if ran { outcomes.1 += 1 } else { outcomes.0 += 1 }
    }
    let fs = Tmpfs::mount(&w.root.join("used"), 4 << 20);
    let log = fs.0.join("log");
    let mut ran_before = 0;
    for leave in [4, 3, 2, 1, 0, 0] {
        fill(&fs.0, leave);
        let o = exec_into(&w, &log);
        if judge(&w, &log, &o, ran_before, &format!("log of {ran_before} tasks, {leave} pages free")) {
            ran_before += 1;
            outcomes.1 += 1;
        } else {
            outcomes.0 += 1;
        }
    }
    assert!(
        outcomes.0 > 0 && outcomes.1 > 0,
        "refused {}, ran {}: the sweep missed the boundary",
        outcomes.0,
        outcomes.1
    );
}

#[test]
fn enospc_at_each_write_of_the_writer_never_turns_a_task_that_ran_into_nothing_ran() {
    let strace = "/usr/bin/strace";
    assert!(Path::new(strace).exists(), "strace is required (Debian package strace)");
    let w = World::create("audit-full-disk", "enospc", "");
    let log = w.root.join("log");
    let o = w.orchestra(&["exec", "--audit-dir", &log.display().to_string(), "--", "true"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let seg = log.join("00000000000000000000.seg");
    let pin = format!("{}.pub", w.key.display());
    let (mut refused, mut ran) = (0, 0);
    let mut past_the_last_write = false;
    for n in 1..40 {
        let before = std::fs::read(&seg).expect("segment");
        // Only the orchestra process (not the sandbox's) and only its writes to the segment.
        let mut c = w.command();
        let prog = c.get_program().to_os_string();
        c = {
            let mut s = std::process::Command::new(strace);
            s.args(["-o", "/dev/null", "-P"]).arg(&seg);
            s.args(["-e", "trace=write", "-e", &format!("inject=write:error=ENOSPC:when={n}")]).arg(prog);
            s.current_dir(&w.ws).env_clear();
            for (k, v) in c.get_envs() {
                if let Some(v) = v {
                    s.env(k, v);
                }
            }
            s.stdin(std::process::Stdio::null());
            s
        };
        c.args(["exec", "--audit-dir", &log.display().to_string(), "--"]).args(hostile_task(&w));
        let o = w.run_with(c);
        let case = format!("ENOSPC at write {n}");
        let marker = w.ws.join("marker");
        match o.code {
            1 => {
                assert!(!marker.exists(), "{case}: exit 1 (nothing ran) but the task ran: {}", o.all());
                assert!(o.stderr.contains("nothing ran"), "{case}: {}", o.all());
                refused += 1;
            }
            4 => {
                assert!(marker.exists(), "{case}: exit 4 but the task did not run");
                if o.stderr.contains("No space left on device") {
                    ran += 1;
                } else {
                    // The exec makes fewer than n writes: every one was tried.
                    past_the_last_write = true;
                }
            }
            c => panic!("{case}: exit {c}: {}", o.all()),
        }
        let _ = std::fs::remove_file(&marker);
        let _ = std::fs::remove_file(w.root.join("outside.txt"));
        let after = std::fs::read(&seg).expect("segment");
        assert!(after.starts_with(&before), "{case}: the segment was rewritten");
        // The next writer goes on, and the log verifies: a failed write left no partial frame.
        let o = w.orchestra(&["exec", "--audit-dir", &log.display().to_string(), "--", "true"]);
        assert_eq!(o.code, 0, "{case}: the next exec: {}", o.all());
        let v = w.orchestra(&["audit", "verify", &log.display().to_string(), "--trusted-key", &pin]);
        assert_eq!(v.code, 0, "{case}: the log does not verify: {}", v.all());
        assert!(!v.all().contains("recovered"), "{case}: a torn frame had to be recovered: {}", v.all());
        if past_the_last_write {
            break;
        }
    }
    assert!(past_the_last_write, "the exec still failed at write 39");
    assert!(refused > 0 && ran > 0, "refused {refused}, ran after a failed write {ran}");
}

/// The review's attack (issue 17 follow-up, defect A): a task on a full disk
/// inflates its own end records so that they overflow the reservation. It
/// creates 100 symbolic links whose names and 4000-byte targets are `\x01`
/// bytes (six bytes each once JSON-escaped), fills the disk the log shares,
/// and exits with `status`. The end records are bounded (FORMAT.md §5.3
/// "Bounds"), so every one is written into the reservation: `task_ended` is
/// there with the task's own status, the log verifies, and the exit code is
/// the verdict's.
fn inflating_task(status: i32) -> String {
    format!(
        r#"i=0; while [ $i -lt 100 ]; do
  n=$(printf '%03d' $i); t=$(head -c 4000 /dev/zero | tr '\0' '\001')
  ln -s "$t" "$(head -c 200 /dev/zero | tr '\0' '\001')$n"; i=$((i+1)); done
dd if=/dev/zero of=fill bs=64k; exit {status}"#
    )
}

#[test]
fn a_task_that_inflates_its_end_records_on_a_full_disk_cannot_erase_them() {
    let w = World::create("audit-full-disk", "inflate", "");
    for (status, want_exit, cause) in [(0, 0, "ok"), (3, 2, "child_exit")] {
        let fs = Tmpfs::mount(&w.root.join(format!("inflate{status}")), 16 << 20);
        let (ws, log) = (fs.0.join("ws"), fs.0.join("log"));
        std::fs::create_dir_all(&ws).expect("workspace");
        let task = inflating_task(status);
        let (wsd, logd) = (ws.display().to_string(), log.display().to_string());
        let o = w.orchestra(&["exec", "--workdir", &wsd, "--audit-dir", &logd, "--", "sh", "-c", &task]);
        let case = format!("task exiting {status}");
        // The attack did what the review says: 100 links, a full disk.
        let links = std::fs::read_dir(&ws).expect("ws").flatten().filter(|e| e.path().is_symlink()).count();
        assert_eq!(links, 100, "{case}: the task did not make its links: {}", o.all());
        // dd stops only at a full disk (and says so); the fill holds what was free.
        let fill = std::fs::metadata(ws.join("fill")).map(|m| m.len()).unwrap_or(0);
        assert!(o.stderr.contains("No space left on device") && fill > 8 << 20, "{case}: disk not filled: {}", o.all());
        assert_eq!(o.code, want_exit, "{case}: {}", o.all());
        assert!(!o.stderr.contains("audit log"), "{case}: an audit error: {}", o.all());
        let show = w.orchestra(&["audit", "show", &logd, "--json"]);
        assert_eq!(show.code, 0, "{case}: show: {}", show.all());
        let recs: Vec<serde_json::Value> =
            show.stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON record")).collect();
        let kinds: Vec<&str> = recs.iter().filter_map(|r| r["kind"].as_str()).collect();
        let tail = &kinds[kinds.len().saturating_sub(4)..];
        assert_eq!(tail, ["task_started", "task_attested", "workspace_changed", "task_ended"], "{case}: {kinds:?}");
        let changed = &recs[recs.len() - 2]["body"];
        let ended = &recs[recs.len() - 1]["body"];
        assert_eq!(ended["cause"], cause, "{case}: {ended}");
        assert_eq!(ended["exit_status"], status, "{case}: {ended}");
        // The diff counts every link and the file, lists fewer, each string cut and marked.
        assert_eq!(changed["added"]["entries"], 101, "{case}: {changed}");
        assert_eq!(changed["truncated"], true, "{case}");
        let entries = changed["entries"].as_array().expect("entries");
        assert!(!entries.is_empty() && entries.len() < 100, "{case}: {} entries listed", entries.len());
        let link = entries.iter().find(|e| e["kind"] == "symlink").expect("a link listed");
        assert_eq!((&link["path_truncated"], &link["target_truncated"]), (&true.into(), &true.into()), "{link}");
        let size = orchestra::audit::record::canonical_json(changed).expect("canonical").len();
        assert!(size <= orchestra::audit::bound::MAX_WORKSPACE_BODY, "{case}: workspace_changed is {size} bytes");
        let v = w.orchestra(&["audit", "verify", &logd, "--trusted-key", &format!("{}.pub", w.key.display())]);
        assert_eq!(v.code, 0, "{case}: the log does not verify: {}", v.all());
    }
}

/// The reservation is on top of `task_started`: a command line longer than
/// the reservation (the invoker's, recorded before the task) does not use up
/// the space of the end records a task that fills the disk needs.
#[test]
fn a_long_command_line_does_not_use_up_the_reservation() {
    let w = World::create("audit-full-disk", "longargv", "");
    let fs = Tmpfs::mount(&w.root.join("argv"), 16 << 20);
    let (ws, log) = (fs.0.join("ws"), fs.0.join("log"));
    std::fs::create_dir_all(&ws).expect("workspace");
    let (wsd, logd) = (ws.display().to_string(), log.display().to_string());
    let filler = "a".repeat(1000);
    let mut args: Vec<&str> = vec!["exec", "--workdir", &wsd, "--audit-dir", &logd, "--", "sh", "-c"];
    args.push("dd if=/dev/zero of=fill bs=64k; exit 0");
    args.push("sh");
    args.extend(std::iter::repeat_n(filler.as_str(), 1200));
    let o = w.orchestra(&args);
    assert!(o.stderr.contains("No space left on device"), "the disk was not filled: {}", o.all());
    assert_eq!(o.code, 0, "{}", o.all());
    let show = w.orchestra(&["audit", "show", &logd, "--json"]);
    assert_eq!(show.code, 0, "show: {}", show.all());
    let recs: Vec<serde_json::Value> = show.stdout.lines().map(|l| serde_json::from_str(l).expect("record")).collect();
    let started = recs.iter().find(|r| r["kind"] == "task_started").expect("task_started");
    assert_eq!(started["body"]["argv"].as_array().map(Vec::len), Some(1204));
    let ended = recs.last().expect("records");
    assert_eq!((&ended["kind"], &ended["body"]["cause"]), (&"task_ended".into(), &"ok".into()), "{ended}");
    let v = w.orchestra(&["audit", "verify", &logd, "--trusted-key", &format!("{}.pub", w.key.display())]);
    assert_eq!(v.code, 0, "the log does not verify: {}", v.all());
}
