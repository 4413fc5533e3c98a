//! One-off `exec` flags that change the policy (`--network`, `--ro`, `--rw`,
//! `--memory`): each takes effect, a flag can never grant what a policy file
//! could not, and the report records the derived policy — its hash, the base
//! policy's hash and the flags, never an `--env` value.

use crate::harness::*;

/// The report's derivation: the base hash and the flags.
fn derivation(o: &Out) -> (String, Vec<String>) {
    let d = &o.report["policy_derivation"];
    let flags = d["overrides"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect());
    (d["base_sha256"].as_str().unwrap_or_default().to_string(), flags.unwrap_or_default())
}

#[test]
fn network_none_turns_the_default_loopback_into_a_violation_and_is_recorded() {
    let e = env();
    let (l, _, port) = host_listener();
    // Under `default` the task has its own loopback: a socket is no violation.
    let ok = e.run("default", &["./attack", "connect-ip", "127.0.0.1", &port]);
    assert!(ok.rules().is_empty(), "{}", ok.all());
    assert!(ok.report["policy_derivation"].is_null(), "no flags, no derivation: {}", ok.report);
    let o = e.run_cmd(e.cmd("default", &["--network", "none"], &["./attack", "connect-ip", "127.0.0.1", &port]));
    o.assert_violation("network.none");
    assert!(l.accept().is_err(), "the host listener was reached");
    let (base, flags) = derivation(&o);
    assert_eq!(flags, ["--network none"]);
    assert_eq!(base, format!("sha256:{}", ok.report["policy_sha256"].as_str().unwrap()), "the base is `default`");
    assert_ne!(o.report["policy_sha256"], ok.report["policy_sha256"]);
}

#[test]
fn ro_shows_a_host_directory_that_the_task_still_cannot_write() {
    let e = env();
    let data = e.root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("input.txt"), "host data\n").unwrap();
    let read = format!("cat {}/input.txt", data.display());
    // Without the flag the directory is not in the task's view.
    let hidden = e.sh("default", &read);
    assert_eq!(hidden.code, 2, "{}", hidden.all());
    let d = data.to_str().unwrap();
    let o = e.run_cmd(e.cmd("default", &["--ro", d], &["/bin/sh", "-c", &read]));
    o.assert_ok();
    assert_eq!(o.stdout, "host data\n");
    let w = e.run_cmd(e.cmd("default", &["--ro", d], &["/bin/sh", "-c", &format!("echo evil > {d}/input.txt")]));
    w.assert_violation("fs.write");
    assert_eq!(std::fs::read_to_string(data.join("input.txt")).unwrap(), "host data\n");
    assert_eq!(derivation(&w).1, [format!("--ro {d}")]);
}

#[test]
fn rw_makes_a_host_directory_writable_and_a_relative_path_is_recorded_resolved() {
    let e = env();
    let out = e.root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let script = format!("echo built > {}/artifact", out.display());
    let denied = e.sh("default", &script);
    denied.assert_violation("fs.write");
    assert!(!out.join("artifact").exists());
    // `../out`, relative to the workspace (the current directory).
    let o = e.run_cmd(e.cmd("default", &["--rw", "../out"], &["/bin/sh", "-c", &script]));
    o.assert_ok();
    assert_eq!(std::fs::read_to_string(out.join("artifact")).unwrap(), "built\n");
    let flags = derivation(&o).1;
    assert_eq!(flags.len(), 1);
    let real = std::fs::canonicalize(&out).unwrap();
    assert_eq!(flags, [format!("--rw {}", real.display())]);
}

#[test]
fn a_flag_cannot_open_what_a_policy_file_could_not_and_nothing_runs() {
    let e = env();
    let marker = e.ws.join("ran");
    let home = e.home.to_str().unwrap().to_string();
    let ssh = format!("{home}/.ssh");
    for flags in [
        vec!["--rw", "/etc"],
        vec!["--rw", "/"],
        vec!["--rw", "/usr/lib"],
        vec!["--rw", home.as_str()],
        vec!["--rw", ssh.as_str()],
        vec!["--rw", "/usr/../etc"],
        vec!["--ro", "/no/such/dir"],
        vec!["--memory", "lots"],
        vec!["--network", "internet"],
    ] {
        let o = e.run_cmd(e.cmd("default", &flags, &["/bin/sh", "-c", "touch ran"]));
        assert_eq!(o.code, 1, "{flags:?}: {}", o.all());
        // One line naming the flag (a value clap rejects adds its usage hint).
        let first = o.stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains("error") && first.contains(flags[0]) || first.contains(flags[1]),
            "{flags:?}: {}",
            o.stderr
        );
        assert!(!marker.exists(), "{flags:?}: the task ran");
    }
    let log: Vec<_> = std::fs::read_dir(e.ws.join(".orchestra/audit")).unwrap().collect();
    assert!(log.is_empty(), "a refused flag wrote nothing, not even an audit record: {log:?}");
}

#[test]
fn memory_lowers_the_limit_and_the_hog_is_stopped() {
    let e = env();
    let o = e.run_cmd(e.cmd("default", &["--memory", "128MiB"], &["./attack", "memhog", "2048"]));
    o.assert_violation("limits.memory");
    assert!(!o.stdout.contains("ESCAPED"));
    assert_eq!(derivation(&o).1, ["--memory 128MiB"]);
}

#[test]
fn env_values_are_never_recorded_only_their_names() {
    let e = env();
    let o =
        e.run_cmd(e.cmd("default", &["--env", "API_TOKEN=tok-5ec2e7"], &["/bin/sh", "-c", "test -n \"$API_TOKEN\""]));
    o.assert_ok();
    let report = o.report.to_string();
    assert!(!report.contains("tok-5ec2e7"), "{report}");
    assert_eq!(derivation(&o).1, ["--env API_TOKEN=…"]);
}

#[test]
fn a_flag_naming_orchestras_own_files_is_refused() {
    let e = env();
    let key = e.key.to_str().unwrap().to_string();
    for flags in [vec!["--rw", ".orchestra/audit"], vec!["--ro", key.as_str()]] {
        let o = e.run_cmd(e.cmd("default", &flags, &["/bin/sh", "-c", "touch ran"]));
        assert_eq!(o.code, 1, "{flags:?}: {}", o.all());
        assert!(o.stderr.contains("orchestra's own"), "{flags:?}: {}", o.stderr);
        assert!(!e.ws.join("ran").exists());
    }
}

/// Review F1: on the container backends a volume (from a flag or a policy)
/// over the directory of the signing key or over the audit log is refused —
/// the jail hides them behind decoys; a container would show them.
#[test]
fn a_container_volume_over_the_key_or_the_audit_log_is_refused() {
    let e = env();
    container_setup();
    chown_tree(&e.ws, 1000);
    let keys = e.key.parent().unwrap().display().to_string();
    let audit = e.policy("vol", &format!("container:\n  volumes: [\"{}/.orchestra:/a:rw\"]\n", e.ws.display()));
    let key = e.policy("key", &format!("container:\n  volumes: [\"{keys}:/k:ro\"]\n"));
    for b in ["docker", "podman"] {
        for (p, script) in [(&audit, ": > /a/audit/x"), (&key, "cat /k/audit.key")] {
            let o = e.run_cmd(e.cmd(p, &["--backend", b], &["/bin/sh", "-c", script]));
            assert_eq!(o.code, 1, "{b}: {}", o.all());
            assert!(o.stderr.contains("orchestra's own"), "{b}: {}", o.stderr);
            assert!(!o.all_output().contains("PRIVATE"), "{b}: {}", o.all());
        }
    }
    assert!(e.verify_audit().status.success());
}

/// Review F6: in a container, a read-only volume that holds a writable one:
/// writes to the read-only part are `fs.write`, writes to the writable part
/// succeed (the most specific mount decides).
#[test]
fn a_read_only_volume_holding_a_writable_one_is_judged_by_the_most_specific() {
    let e = env();
    container_setup();
    std::fs::create_dir_all(e.ws.join("data/out")).unwrap();
    std::fs::write(e.ws.join("data/kept"), "kept\n").unwrap();
    chown_tree(&e.ws, 1000);
    let ws = e.ws.display();
    let p = e.policy(
        "nested",
        &format!("container:\n  volumes: [\"{ws}/data:/work/data:ro\", \"{ws}/data/out:/work/data/out:rw\"]\n"),
    );
    for b in ["docker", "podman"] {
        let o = e.run_cmd(e.cmd(&p, &["--backend", b], &["/bin/sh", "-c", &format!("echo {b} > data/out/made")]));
        o.assert_ok();
        assert_eq!(std::fs::read_to_string(e.ws.join("data/out/made")).unwrap(), format!("{b}\n"));
        let o = e.run_cmd(e.cmd(&p, &["--backend", b], &["/bin/sh", "-c", "echo evil > data/kept"]));
        o.assert_violation("fs.write");
        assert_eq!(std::fs::read_to_string(e.ws.join("data/kept")).unwrap(), "kept\n");
    }
}
