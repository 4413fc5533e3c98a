//! `orchestra audit verify --fleet`: a distributed run's audit log checked
//! against its workers' own logs, on real logs: one run through two workers
//! (a real Redis, `orchestra worker` processes; [`Fleet`]), then the worker
//! logs as they are, missing, damaged, swapped and rolled back. Each case
//! asserts the verdict (exit code, failure code) and what the evidence says
//! (which remote results were confirmed, which failed and why).

use crate::harness::fleet::Fleet;
use crate::harness::out::Out;
use crate::harness::{plan, sh};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Copy the log directory `from` (its files; no subdirectory matters here) to `to`.
fn copy_log(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// `audit/verify.py` (the independent verifier) with the same arguments as
/// [`verify`]: exit code, parsed output, all text.
fn verify_py(f: &Fleet, dirs: &[&Path], extra: &[&str]) -> (i32, Value, String) {
    let key_pub = format!("{}.pub", f.world.key.display());
    let python = crate::harness::audit::python().expect("python3 with `cryptography` for verify.py");
    let mut c = std::process::Command::new(python);
    c.arg(crate::harness::audit::verify_py_path()).arg(&f.world.audit).args(["--trusted-key", &key_pub]);
    for d in dirs {
        c.arg("--fleet").arg(d);
    }
    let o = Out::from(c.args(extra).arg("--json").output().expect("verify.py"));
    let v: Value = serde_json::from_str(&o.stdout).unwrap_or(Value::Null);
    (o.code, v, o.all())
}

/// Both verifiers on the same logs: the same exit code, verdict and fleet
/// failures (code and worker, in record order), and the same count confirmed.
#[track_caller]
fn verify_both(f: &Fleet, dirs: &[&Path], extra: &[&str]) -> (i32, Value, String) {
    let (code, v, all) = verify(f, dirs, extra);
    let (py_code, py, py_all) = verify_py(f, dirs, extra);
    assert_eq!(py_code, code, "verify.py disagrees on the exit code\n{all}\n--- verify.py:\n{py_all}");
    if code != 1 {
        assert_eq!(py["verdict"], v["verdict"], "{all}\n--- verify.py:\n{py_all}");
        assert_eq!(failures(&py), failures(&v), "{all}\n--- verify.py:\n{py_all}");
        assert_eq!(py["fleet"]["confirmed"], v["fleet"]["confirmed"], "{all}\n--- verify.py:\n{py_all}");
        if code == 4 {
            assert_eq!(py["code"], v["first_error"]["code"], "{all}\n--- verify.py:\n{py_all}");
        }
    }
    (code, v, all)
}

/// `audit verify RUN_LOG --trusted-key K --fleet DIR… EXTRA --json`: exit code, parsed output, all text.
fn verify(f: &Fleet, dirs: &[&Path], extra: &[&str]) -> (i32, Value, String) {
    let key_pub = format!("{}.pub", f.world.key.display());
    let mut args: Vec<String> =
        vec!["audit".into(), "verify".into(), f.world.audit.display().to_string(), "--trusted-key".into(), key_pub];
    for d in dirs {
        args.push("--fleet".into());
        args.push(d.display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o: Out = f.world.orchestra(&args);
    let v: Value = serde_json::from_str(&o.stdout).unwrap_or(Value::Null);
    (o.code, v, o.all())
}

/// The failure codes of the fleet evidence, and the workers they name.
fn failures(v: &Value) -> Vec<(String, String)> {
    v["fleet"]["failures"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| (x["code"].as_str().unwrap_or("").to_string(), x["worker"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Cut the worker log in `dir` back to just after the checkpoint that signs
/// its first `delivery_ended` record (a rollback: what is left is a valid log).
fn roll_back_to_first_delivery(f: &Fleet, dir: &Path) {
    let o = f.world.orchestra(&["audit", "show", &dir.display().to_string(), "--json", "--checkpoints"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let lines: Vec<Value> = o.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let first = lines.iter().find(|l| l["type"] == "record" && l["kind"] == "delivery_ended").expect("a delivery");
    let size = first["seq"].as_u64().unwrap() + 1;
    let cp = lines.iter().find(|l| l["type"] == "checkpoint" && l["size"] == size).expect("its checkpoint");
    let seg = dir.join(cp["segment"].as_str().unwrap());
    let end = cp["offset"].as_u64().unwrap() + 9 + cp["note"].as_str().unwrap().len() as u64;
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(end).unwrap();
    let name = seg.file_name().unwrap().to_owned();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "seg") && p.file_name().unwrap() > name.as_os_str() {
            std::fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn a_run_verifies_against_its_workers_logs_and_each_tampering_has_its_code() {
    let mut f = Fleet::new("fleetverify");
    f.spawn_worker("w1", &["--labels", "a"]);
    f.spawn_worker("w2", &["--labels", "b"]);
    let tasks: Vec<String> = ["a1", "a2", "b1", "b2"]
        .iter()
        .map(|id| sh(id, &format!("echo {id} >> effects"), &format!(", runs_on: [{}]", &id[..1])))
        .collect();
    let o = f.run(&plan(&tasks), &["-j", "2"]);
    assert_eq!(o.code, 0, "{}\n{}\n{}", o.all(), f.worker_log("w1"), f.worker_log("w2"));
    // The workers are stopped: their logs are what the reviewer gets.
    for i in 0..2 {
        f.signal(i, libc::SIGKILL);
        f.wait(i, std::time::Duration::from_secs(10));
    }
    let logs: Vec<PathBuf> = f.workers.iter().map(|w| w.state.join("audit")).collect();
    let key_pub = format!("{}.pub", f.world.key.display());
    let scratch = f.world.root.join("scratch");

    // Both worker logs: every remote result is confirmed (exit 0).
    let (code, v, all) = verify_both(&f, &[&logs[0], &logs[1]], &["--fleet-key", &key_pub, "--fleet-strict"]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(v["verdict"], "ok", "{all}");
    assert_eq!((v["fleet"]["results"].as_u64(), v["fleet"]["confirmed"].as_u64()), (Some(4), Some(4)), "{all}");
    let fleet_logs = v["fleet"]["logs"].as_array().unwrap();
    assert_eq!(fleet_logs.len(), 2, "{all}");
    assert!(
        fleet_logs.iter().all(|l| l["verdict"] == "ok" && l["results"] == 2 && l["trusted_key"].is_string()),
        "{all}"
    );
    // The worker state directories do as well, and the text output says what was confirmed.
    let states: Vec<String> = f.workers.iter().map(|w| w.state.display().to_string()).collect();
    let text = f.world.orchestra(&[
        "audit",
        "verify",
        &f.world.audit.display().to_string(),
        "--fleet",
        &states[0],
        "--fleet",
        &states[1],
    ]);
    assert_eq!(text.code, 0, "{}", text.all());
    assert!(text.stdout.contains("fleet: 4 remote result(s), 4 confirmed by 2 worker log(s)"), "{}", text.all());
    assert!(text.stderr.contains("--fleet-key"), "unpinned worker keys are a warning: {}", text.all());

    // A worker log nobody gave: its results are fleet_missing (exit 4), the other worker's confirmed.
    let (code, v, all) = verify_both(&f, &[&logs[0]], &[]);
    assert_eq!(code, 4, "{all}");
    assert_eq!(v["first_error"]["code"], "fleet_missing", "{all}");
    assert_eq!(failures(&v), vec![("fleet_missing".into(), "w2".into()); 2], "{all}");
    assert_eq!(v["fleet"]["confirmed"], 2, "{all}");
    // A directory without a log is a usage error, not a verdict.
    let (code, _, all) = verify_both(&f, &[&logs[0], &scratch.join("nothing")], &[]);
    assert_eq!(code, 1, "{all}");

    // Bytes rewritten in a segment of w1's log: that log fails, so do its results.
    let damaged = scratch.join("damaged");
    copy_log(&logs[0], &damaged);
    let seg = damaged.join("00000000000000000000.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.windows(9).position(|x| x == b"\"task\":\"a").expect("a delivery of w1");
    bytes[at + 9] = b'x';
    std::fs::write(&seg, bytes).unwrap();
    assert_eq!(f.world.verify_audit(&damaged).code, 4, "the damaged copy fails on its own");
    let (code, v, all) = verify_both(&f, &[&damaged, &logs[1]], &[]);
    assert_eq!(code, 4, "{all}");
    assert_eq!(v["first_error"]["code"], "fleet_unverified", "{all}");
    assert_eq!(failures(&v), vec![("fleet_unverified".into(), "w1".into()); 2], "{all}");
    assert_eq!(v["fleet"]["confirmed"], 2, "{all}");

    // w2's log renamed to w1's directory: w1's log is nowhere.
    let swapped = scratch.join("w1-is-w2");
    copy_log(&logs[1], &swapped);
    let (code, v, all) = verify_both(&f, &[&swapped, &logs[1]], &[]);
    assert_eq!(code, 4, "{all}");
    let codes = failures(&v);
    assert_eq!(codes.len(), 2, "{all}");
    assert!(codes.iter().all(|(c, w)| (c == "fleet_missing" || c == "fleet_bad") && w == "w1"), "{all}");

    // w1's log rolled back to its first delivery: a valid log, but shorter than
    // the checkpoint the second result carries.
    let rolled = scratch.join("rolled-back");
    copy_log(&logs[0], &rolled);
    roll_back_to_first_delivery(&f, &rolled);
    assert_eq!(f.world.verify_audit(&rolled).code, 0, "the rolled back copy verifies on its own");
    let (code, v, all) = verify_both(&f, &[&rolled, &logs[1]], &["--fleet-key", &key_pub]);
    assert_eq!(code, 4, "{all}");
    assert_eq!(v["first_error"]["code"], "fleet_bad", "{all}");
    assert_eq!(failures(&v), vec![("fleet_bad".into(), "w1".into())], "{all}");
    assert!(all.contains("truncated or rolled back"), "{all}");
    assert_eq!(v["fleet"]["confirmed"], 3, "{all}");
}
