//! The jail tests' world: a workspace with planted canaries, a fake home with
//! its own audit key, the attack helper compiled from tests/support/attack.c,
//! and `orchestra exec` runs that return exit code, output and the parsed
//! JSON report.

use super::out::{Out, orchestra};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const SSH_CANARY: &str = "CANARY-SSH-KEY-5f1e2d";
pub const ENV_CANARY: &str = "CANARY-ENV-TOKEN-93ab7c";

pub struct Env {
    pub _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub ws: PathBuf,
    pub home: PathBuf,
    pub key: PathBuf,
    /// Run orchestra as this unprivileged uid (via setpriv) instead of ourselves.
    pub run_as: Option<u32>,
}

fn tmp_base() -> PathBuf {
    // Not under /tmp: the jail mounts a private /tmp, and the tests want the
    // workspace to be an ordinary host directory.
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("jail-tests");
    std::fs::create_dir_all(&base).expect("create test base dir");
    base
}

/// Compile `tests/support/<name>.c` with the system gcc into the test base
/// directory ([`compiled`]).
pub fn compile_c(name: &str) -> PathBuf {
    compiled(name, "", &["-O1"], &[])
}

/// `tests/support/<name>.c` compiled by gcc with `flags` (and `libs` after
/// the source) as `<name><suffix>-<pid>` in the test base directory, once per
/// test binary and output: the tests of one binary run on many threads, and
/// two compiling into one path at once let a third copy a half-written file
/// (the linker marks its output executable only at its end: an `execve` of
/// such a copy failed with EACCES in `container_pool`). Each output is
/// built under a lock, into a temporary name, and renamed into place, so
/// whoever gets its path gets the whole executable.
fn compiled(name: &str, suffix: &str, flags: &[&str], libs: &[&str]) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<std::collections::HashMap<String, PathBuf>>> = OnceLock::new();
    let key = format!("{name}{suffix}");
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(out) = built.get(&key) {
        return out.clone();
    }
    let out = tmp_base().join(format!("{key}-{}", std::process::id()));
    let partial = tmp_base().join(format!("{key}-{}.partial", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/support/{name}.c"));
    let st =
        Command::new("gcc").args(flags).arg("-o").arg(&partial).arg(&src).args(libs).status().expect("gcc is required");
    assert!(st.success(), "compiling {name}.c with {flags:?} failed (a static build needs libc6-dev's libc.a)");
    std::fs::rename(&partial, &out).expect("move the compiled helper into place");
    built.insert(key, out.clone());
    out
}

/// The attack helper, compiled once per test binary.
pub fn attack_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile_c("attack"))
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn env() -> Env {
    let dir = tempfile::Builder::new().prefix("t").tempdir_in(tmp_base()).expect("tempdir");
    let root = dir.path().to_path_buf();
    let ws = root.join("ws");
    let home = root.join("home");
    std::fs::create_dir_all(ws.join(".orchestra/audit")).unwrap();
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), SSH_CANARY).unwrap();
    std::fs::write(home.join(".bashrc"), "# original bashrc\n").unwrap();
    let key = home.join("keys/audit.key");
    let st = Command::new(orchestra())
        .args(["audit", "keygen"])
        .env("ORCHESTRA_AUDIT_KEY", &key)
        .output()
        .expect("orchestra audit keygen");
    assert!(st.status.success(), "keygen: {}", String::from_utf8_lossy(&st.stderr));
    std::fs::copy(attack_bin(), ws.join("attack")).unwrap();
    Env { _dir: dir, root, ws, home, key, run_as: None }
}

impl Env {
    /// The private signing key's file content (a secret the task must never see).
    pub fn key_secret(&self) -> String {
        std::fs::read_to_string(&self.key).expect("read the key file")
    }

    /// The records of this workspace's audit log, as `audit show --json` prints them.
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        let o = Command::new(orchestra())
            .args(["audit", "show"])
            .arg(self.ws.join(".orchestra/audit"))
            .arg("--json")
            .output()
            .expect("audit show");
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Assert that this workspace's audit log holds a violation record for each
    /// of `rules` and that its last task ended `policy_denied`.
    pub fn assert_violations_recorded(&self, rules: &[&str]) {
        let recs = self.audit_records();
        for rule in rules {
            assert!(
                recs.iter().any(|r| r["kind"] == "violation" && r["body"].to_string().contains(rule)),
                "no {rule} violation record in the audit log: {recs:?}"
            );
        }
        let ended = recs.iter().rev().find(|r| r["kind"] == "task_ended").expect("a task_ended record");
        assert!(ended["body"].to_string().contains("policy_denied"), "{ended}");
    }

    /// Verify the audit log of this workspace with the trusted public key.
    pub fn verify_audit(&self) -> std::process::Output {
        let mut pub_key = self.key.clone().into_os_string();
        pub_key.push(".pub");
        Command::new(orchestra())
            .arg("audit")
            .arg("verify")
            .arg(self.ws.join(".orchestra/audit"))
            .arg("--trusted-key")
            .arg(pub_key)
            .arg("--json")
            .output()
            .expect("audit verify")
    }

    /// `orchestra` (as `run_as`, if set) in the workspace with a clean
    /// environment: PATH, a private HOME and audit key, and the canary variable.
    pub fn command(&self) -> Command {
        let mut c = match self.run_as {
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}")).arg(format!("--regid={uid}")).arg("--clear-groups").arg(orchestra());
                c
            }
            None => Command::new(orchestra()),
        };
        c.current_dir(&self.ws)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("SECRET_TOKEN", ENV_CANARY)
            .env("ORCHESTRA_AUDIT_KEY", &self.key);
        c
    }

    /// `orchestra exec --policy POLICY --report ROOT/report.json EXTRA -- ARGV`.
    pub fn cmd(&self, policy: &str, extra: &[&str], argv: &[&str]) -> Command {
        let mut c = self.command();
        c.arg("exec")
            .arg("--policy")
            .arg(policy)
            .arg("--report")
            .arg(self.root.join("report.json"))
            .args(extra)
            .arg("--")
            .args(argv);
        c
    }

    pub fn run_cmd(&self, mut c: Command) -> Out {
        let _ = std::fs::remove_file(self.root.join("report.json"));
        Out::with_report(c.output().expect("run orchestra"), Some(&self.root.join("report.json")))
    }

    pub fn run(&self, policy: &str, argv: &[&str]) -> Out {
        self.run_cmd(self.cmd(policy, &[], argv))
    }

    pub fn sh(&self, policy: &str, script: &str) -> Out {
        self.run(policy, &["/bin/sh", "-c", script])
    }

    /// `sh -c SCRIPT` under the default policy with the task's own stderr
    /// silenced: a shell killed in the middle of its error message would
    /// otherwise glue it to the verdict line (see
    /// `exec_integrity::review2_a_partial_line_cannot_displace_the_verdict_line`).
    pub fn quiet(&self, script: &str) -> Out {
        self.sh("default", &format!("exec 2>/dev/null; {script}"))
    }

    /// `./attack ARGS` (tests/support/attack.c) under the default policy.
    pub fn attack(&self, args: &[&str]) -> Out {
        self.run_prog("attack", args)
    }

    /// Run `./PROG ARGS` (a program in the workspace) under the default policy.
    pub fn run_prog(&self, prog: &str, args: &[&str]) -> Out {
        let prog = format!("./{prog}");
        let mut argv = vec![prog.as_str()];
        argv.extend_from_slice(args);
        self.run("default", &argv)
    }

    /// Copy `bin` into the workspace as `name`.
    pub fn with_prog(self, bin: &Path, name: &str) -> Env {
        std::fs::copy(bin, self.ws.join(name)).expect("copy a test program into the workspace");
        self
    }

    /// Write a policy file derived from the default preset with `extra` YAML appended
    /// (top-level keys replace the preset's).
    pub fn policy(&self, name: &str, yaml: &str) -> String {
        let path = self.root.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path.to_string_lossy().into_owned()
    }
}

/// An environment whose files belong to `uid`, running orchestra as that uid.
pub fn env_as(uid: u32) -> Env {
    let mut e = env();
    chown_tree(&e.root, uid);
    e.run_as = Some(uid);
    e
}

pub fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).expect("chown (the tests run as root)");
    if p.is_dir() && !p.is_symlink() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            chown_tree(&e.path(), uid);
        }
    }
}

/// Compile `tests/support/<name>.c` statically (it then runs in any image;
/// [`compiled`]).
pub fn compile_c_static(name: &str) -> PathBuf {
    compiled(name, "-static", &["-O1", "-static"], &[])
}

/// Compile `tests/support/<name>.c` as a shared object (an `LD_PRELOAD`
/// helper; [`compiled`]).
pub fn compile_c_shared(name: &str) -> PathBuf {
    compiled(name, ".so", &["-O1", "-shared", "-fPIC"], &["-ldl"])
}

/// The clone-delaying `LD_PRELOAD` helper (tests/support/slowclone.c), compiled once.
pub fn slowclone_so() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| compile_c_shared("slowclone"))
}
