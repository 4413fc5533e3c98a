//! The AppArmor profiles generated from policies (`orchestra policy
//! apparmor`) compile with the real `apparmor_parser` (compile only: this
//! host's kernel has no AppArmor, so nothing is loaded or enforced here — see
//! SECURITY.md §7), and a policy's paths cannot widen or break them.

use crate::harness::*;
use std::process::{Command, Stdio};

fn parser() -> &'static str {
    let p = "/usr/sbin/apparmor_parser";
    assert!(std::path::Path::new(p).exists(), "apparmor_parser is required (Debian package apparmor)");
    p
}

/// Compile `profile` without loading it; the parser's verdict.
fn compiles(profile: &str) -> Result<(), String> {
    let mut c = Command::new(parser())
        .args(["--skip-kernel-load", "--skip-cache"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(profile.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }
}

fn profile_of(e: &Env, policy: &str) -> Out {
    let mut c = e.command();
    c.args(["policy", "apparmor", policy]);
    Out::from(c.output().unwrap())
}

#[test]
fn the_profile_of_every_preset_compiles() {
    let e = env();
    for preset in ["default", "strict", "build-offline", "container"] {
        let o = profile_of(&e, preset);
        o.assert_code(0);
        compiles(&o.stdout).unwrap_or_else(|err| panic!("{preset}: {err}\n{}", o.stdout));
        assert!(o.stdout.contains("deny mount,") && o.stdout.contains("deny capability,"), "{preset}");
        assert!(o.stdout.contains("deny \"/work/.orchestra/**\" wl,"), "{preset}");
    }
}

#[test]
fn a_policys_paths_match_themselves_only_or_are_refused() {
    let e = env();
    let p = e.policy(
        "globs",
        "filesystem:\n  protected: [\"build/*\", \"a{b,c}\"]\ncontainer:\n  volumes: [\"/srv/da ta:/cache/x*y:rw\"]\n",
    );
    let o = profile_of(&e, &p);
    o.assert_code(0);
    compiles(&o.stdout).unwrap_or_else(|err| panic!("{err}\n{}", o.stdout));
    assert!(o.stdout.contains("\"/work/build/\\*\""), "{}", o.stdout);
    assert!(o.stdout.contains("\"/cache/x\\*y/**\" rwlk,"), "{}", o.stdout);
    assert!(!o.stdout.contains("build/*\""), "an unescaped pattern: {}", o.stdout);
    let bad = e.policy("at", "filesystem:\n  protected: [\"x@{HOME}\"]\n");
    let o = profile_of(&e, &bad);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("AppArmor"), "{}", o.stderr);
}

#[test]
fn a_writable_workspace_keeps_its_protected_paths_out_of_the_profiles_writes() {
    let e = env();
    let o = profile_of(&e, "default");
    for p in [".git/hooks", ".git/config", ".github/workflows", ".gitlab-ci.yml"] {
        assert!(o.stdout.contains(&format!("deny \"/work/{p}/**\" wl,")), "{p}\n{}", o.stdout);
    }
}
