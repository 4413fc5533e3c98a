//! `orchestra policy learn` on real programs: the learned policy lets exactly
//! that run pass, each widening explained by the denial that needed it; the
//! base policy still reports what the widenings name; nothing is learned that
//! a policy file could not grant.

use crate::harness::*;
use std::path::Path;

/// `policy learn --base BASE --out OUT -- ARGV` in `dir`.
fn learn(e: &Env, dir: &Path, base: &str, out: &Path, argv: &[&str]) -> Out {
    let mut c = e.command();
    c.current_dir(dir).args(["policy", "learn", "--base", base, "--out"]).arg(out).arg("--").args(argv);
    Out::from(c.output().unwrap())
}

fn exec_in(e: &Env, dir: &Path, policy: &str, argv: &[&str]) -> Out {
    let mut c = e.command();
    c.current_dir(dir).args(["exec", "--policy", policy, "--report"]).arg(e.root.join("r.json")).arg("--").args(argv);
    let _ = std::fs::remove_file(e.root.join("r.json"));
    Out::with_report(c.output().unwrap(), Some(&e.root.join("r.json")))
}

/// The rules the learned file's comments name.
fn widened_rules(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# widened: "))
        .filter_map(|l| l.split("(round ").nth(1))
        .filter_map(|l| l.split(':').nth(1))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn a_make_build_writing_outside_the_workspace_learns_exactly_that_directory() {
    let e = env();
    let out_dir = tempfile::Builder::new().prefix("orchestra-it-learn-").tempdir_in("/var/tmp").unwrap();
    let od = out_dir.path().display().to_string();
    std::fs::write(e.ws.join("hello.c"), "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n").unwrap();
    std::fs::write(e.ws.join("Makefile"), format!("all:\n\tcc -o {od}/hello hello.c\n\t{od}/hello\n")).unwrap();
    let learned = e.root.join("learned.yaml");
    let o = learn(&e, &e.ws, "default", &learned, &["make"]);
    o.assert_code(0);
    let text = std::fs::read_to_string(&learned).unwrap();
    assert!(text.contains(&format!("# widened: filesystem.read_write += {od}")), "{text}");
    assert_eq!(text.matches("# widened:").count(), 1, "{text}");
    let l = learned.to_str().unwrap();
    let ok = exec_in(&e, &e.ws, l, &["make"]);
    ok.assert_ok();
    assert!(ok.stdout.contains("hi"));
    let base = exec_in(&e, &e.ws, "default", &["make"]);
    base.assert_violation("fs.write");
    assert_eq!(widened_rules(&text), ["fs.write"]);
}

#[test]
fn a_pytest_run_needing_loopback_and_a_tmp_learns_them_under_strict() {
    let e = env();
    std::fs::write(
        e.ws.join("test_net.py"),
        "import socket, tempfile\n\ndef test_loopback_and_tmp():\n    tempfile.TemporaryFile().close()\n    s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(1)\n    c = socket.create_connection(s.getsockname()); c.close(); s.close()\n",
    )
    .unwrap();
    let learned = e.root.join("learned.yaml");
    let argv = ["python3", "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider"];
    let o = learn(&e, &e.ws, "strict", &learned, &argv);
    o.assert_code(0);
    let text = std::fs::read_to_string(&learned).unwrap();
    assert!(text.contains("# widened: network.mode: loopback"), "{text}");
    assert!(text.contains("# widened: filesystem.tmp: private"), "{text}");
    assert!(!text.contains("read_write += /tmp"), "never the host's /tmp: {text}");
    exec_in(&e, &e.ws, learned.to_str().unwrap(), &argv).assert_ok();
    let base = exec_in(&e, &e.ws, "strict", &argv);
    assert_eq!(base.code, 4, "{}", base.all());
    let rules = widened_rules(&text);
    assert!(base.rules().iter().all(|r| rules.contains(r)), "{:?} vs {rules:?}", base.rules());
}

#[test]
fn what_no_policy_file_could_grant_is_not_learned_and_the_check_says_so() {
    let e = env();
    let learned = e.root.join("learned.yaml");
    let marker = format!("/etc/orchestra-learn-{}", std::process::id());
    let o = learn(&e, &e.ws, "default", &learned, &["/bin/sh", "-c", &format!("echo x > {marker}")]);
    assert_eq!(o.code, 4, "{}", o.all());
    let text = std::fs::read_to_string(&learned).unwrap();
    assert!(text.contains("# not learned:") && text.contains("/etc"), "{text}");
    assert!(!text.contains("# widened:"), "{text}");
    assert!(!Path::new(&marker).exists());
}

/// Review F1/F5: a hidden path (a secret), the host's network and a denied
/// syscall class are never learned, whatever the command asks for.
#[test]
fn secrets_and_isolation_opt_outs_are_never_learned() {
    let e = env();
    let learned = e.root.join("learned.yaml");
    let o =
        learn(&e, &e.ws, "default", &learned, &["/bin/sh", "-c", "cat ~/.ssh/id_rsa > /dev/null; ./attack bpf; true"]);
    assert_eq!(o.code, 4, "{}", o.all());
    let text = std::fs::read_to_string(&learned).unwrap();
    assert!(!text.contains("# widened:"), "{text}");
    assert!(text.contains("fs.hidden is never learned") && text.contains("syscall.bpf is never learned"), "{text}");
    assert!(text.contains("- ~/.ssh") || text.contains("~/.ssh"), "the hidden entry stays: {text}");
}
