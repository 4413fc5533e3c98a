//! The in-container supervisor: its command line (built by the container
//! backends, parsed by the `orchestra-sandbox` binary) and what it does.
//!
//! The host orchestra creates a container whose command is the static
//! `orchestra-sandbox` binary, mounted read-only, with the arguments
//! [`InnerArgs::to_args`] builds. Inside, [`main`] loads the inner policy,
//! points stdout and stderr at the host's FIFOs, runs the task in the
//! namespace-less jail and writes the report where the host reads it.
//!
//! Guarantees: [`InnerArgs::parse`] accepts exactly what
//! [`InnerArgs::to_args`] produces (round-trip tested) and refuses anything
//! else; the supervisor writes no audit log (the host records the task) and
//! prints no verdict; when the sandbox cannot be set up it still writes a
//! `setup_failed` report (exit 1), so the host never has to guess; each
//! violation is also appended beside the report as it is judged
//! ([`STREAM`]), so a container killed before the report was written (the
//! end of a timeout's grace) loses none already judged.
//!
//! Canary secrets are generated on the host (which records their digests and
//! scans the output and the workspace for them) and handed over in a
//! [`Handoff`] file that [`take_handoff`] reads and **removes** before the
//! task exists: never on the command line, never in the supervisor's
//! environment. The file lies in the supervisor's own directory, which the
//! task's landlock domain cannot reach; a file that cannot be read whole or
//! removed fails the setup (nothing runs).

use crate::exit::Exit;
use crate::outfile::OutFile;
use crate::{Sandbox, TaskSpec, Violation};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What the supervisor runs: the task on its command line, or the one a pool
/// container reads from a file written after the container was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InnerTask {
    /// The task's name and argv.
    Argv {
        /// Name in the report.
        name: String,
        /// Program and arguments (non-empty).
        argv: Vec<String>,
    },
    /// A JSON file `{"name": …, "argv": […]}`.
    File(PathBuf),
}

/// The supervisor's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerArgs {
    /// The inner policy (YAML).
    pub policy: PathBuf,
    /// Where the report goes.
    pub report: PathBuf,
    /// The task's working directory (the container's workspace).
    pub workdir: PathBuf,
    /// The directory holding the FIFOs `stdout` and `stderr` the host reads.
    pub output: PathBuf,
    /// The [`Handoff`] file with the task's canaries, if it gets any.
    pub canaries: Option<PathBuf>,
    /// The task.
    pub task: InnerTask,
}

/// What the host hands the supervisor for canaries (JSON): the values, and
/// where the task's home is private to the container, if it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    /// The task's home when it is the container's own and starts empty (its
    /// `/tmp`): the canary files are planted there. `None`: only variables.
    pub home: Option<PathBuf>,
    /// The values, generated on the host.
    pub canaries: crate::canary::Canaries,
}

/// At most this many bytes are read from a [`Handoff`] file.
const MAX_HANDOFF: u64 = 1 << 20;

/// Write `handoff` as the new file `path` (never through a link, never over
/// a file), mode 0600, owned by `user` (the supervisor, which runs as the
/// task user, reads and removes it).
pub fn write_handoff(path: &Path, handoff: &Handoff, user: (u32, u32)) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let json = serde_json::to_vec(handoff).map_err(std::io::Error::other)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    std::os::unix::fs::fchown(&f, Some(user.0), Some(user.1))?;
    f.write_all(&json)
}

/// Read the [`Handoff`] file `path` (a regular file, not a link) and remove
/// it: afterwards no file holds the values.
pub fn take_handoff(path: &Path) -> Result<Handoff, InnerArgError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let read = |source| InnerArgError::Read { path: path.into(), source };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(read)?;
    if !f.metadata().map_err(read)?.is_file() {
        return Err(read(std::io::Error::other("not a regular file")));
    }
    let mut text = Vec::new();
    f.take(MAX_HANDOFF).read_to_end(&mut text).map_err(read)?;
    std::fs::remove_file(path).map_err(read)?;
    serde_json::from_slice(&text).map_err(|source| InnerArgError::Json { path: path.into(), source })
}

/// Why the supervisor's command line or its task file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InnerArgError {
    /// An argument that is not part of the protocol.
    #[error("unexpected argument {0:?}")]
    Unexpected(String),
    /// A flag without its value.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// A flag the protocol requires.
    #[error("missing {0}")]
    Missing(&'static str),
    /// An argument that is not UTF-8.
    #[error("an argument is not UTF-8")]
    NotUtf8,
    /// The task file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The task file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The task file is not the JSON expected.
    #[error("{}: {source}", path.display())]
    Json {
        /// The task file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// No program to run.
    #[error("empty argv")]
    EmptyArgv,
}

impl InnerArgs {
    /// The arguments after the program name.
    pub fn to_args(&self) -> Vec<String> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let mut a = vec![
            "--policy".into(),
            path(&self.policy),
            "--report".into(),
            path(&self.report),
            "--workdir".into(),
            path(&self.workdir),
            "--output".into(),
            path(&self.output),
        ];
        if let Some(c) = &self.canaries {
            a.extend(["--canaries".into(), path(c)]);
        }
        match &self.task {
            InnerTask::Argv { name, argv } => {
                a.extend(["--name".into(), name.clone(), "--".into()]);
                a.extend(argv.iter().cloned());
            }
            InnerTask::File(f) => a.extend(["--task".into(), path(f)]),
        }
        a
    }

    /// Parse the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<InnerArgs, InnerArgError> {
        let mut args = args.into_iter().map(|a| a.into_string().map_err(|_| InnerArgError::NotUtf8));
        let (mut policy, mut report, mut workdir, mut output, mut name, mut file) =
            (None, None, None, None, None, None);
        let mut canaries = None;
        let mut argv = None;
        while let Some(arg) = args.next() {
            let arg = arg?;
            let (slot, flag) = match arg.as_str() {
                "--policy" => (&mut policy, "--policy"),
                "--report" => (&mut report, "--report"),
                "--workdir" => (&mut workdir, "--workdir"),
                "--output" => (&mut output, "--output"),
                "--canaries" => (&mut canaries, "--canaries"),
                "--name" => (&mut name, "--name"),
                "--task" => (&mut file, "--task"),
                "--" => {
                    argv = Some(args.collect::<Result<Vec<String>, _>>()?);
                    break;
                }
                _ => return Err(InnerArgError::Unexpected(arg)),
            };
            if slot.is_some() {
                return Err(InnerArgError::Unexpected(arg));
            }
            *slot = Some(args.next().ok_or(InnerArgError::MissingValue(flag))??);
        }
        let task = match (name, argv, file) {
            (Some(name), Some(argv), None) if !argv.is_empty() => InnerTask::Argv { name, argv },
            (Some(_), Some(_), None) => return Err(InnerArgError::EmptyArgv),
            (None, None, Some(f)) => InnerTask::File(f.into()),
            (_, _, Some(_)) => return Err(InnerArgError::Unexpected("--task".into())),
            (None, _, None) => return Err(InnerArgError::Missing("--name")),
            (Some(_), None, None) => return Err(InnerArgError::Missing("-- PROGRAM")),
        };
        Ok(InnerArgs {
            policy: policy.ok_or(InnerArgError::Missing("--policy"))?.into(),
            report: report.ok_or(InnerArgError::Missing("--report"))?.into(),
            workdir: workdir.ok_or(InnerArgError::Missing("--workdir"))?.into(),
            output: output.ok_or(InnerArgError::Missing("--output"))?.into(),
            canaries: canaries.map(PathBuf::from),
            task,
        })
    }
}

/// The task a pool container runs: its name and a non-empty argv.
fn read_task(path: &Path) -> Result<(String, Vec<String>), InnerArgError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TaskFile {
        name: String,
        argv: Vec<String>,
    }
    let text = std::fs::read_to_string(path).map_err(|source| InnerArgError::Read { path: path.into(), source })?;
    let t: TaskFile =
        serde_json::from_str(&text).map_err(|source| InnerArgError::Json { path: path.into(), source })?;
    if t.argv.is_empty() {
        return Err(InnerArgError::EmptyArgv);
    }
    Ok((t.name, t.argv))
}

/// Point stdout and stderr at the host's FIFOs in `dir` (the host holds their
/// read ends open, so opening them for writing does not block). Only FIFOs,
/// never through a symlink.
fn redirect_output(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    for (name, fd) in [("stdout", 1), ("stderr", 2)] {
        let fifo = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOFOLLOW).open(dir.join(name))?;
        if !fifo.metadata()?.file_type().is_fifo() {
            return Err(std::io::Error::other(format!("{name} is not a FIFO")));
        }
        if fifo.as_raw_fd() == fd {
            // The stream was closed and the open took its number: keep it open.
            let _ = std::os::fd::IntoRawFd::into_raw_fd(fifo);
            continue;
        }
        crate::sys::dup_onto_std(&fifo, fd)?;
    }
    Ok(())
}

/// The file beside the supervisor's report where each violation is appended
/// as it is judged, one JSON [`Violation`] a line: what the host keeps when
/// the report never comes (the container killed at the end of a timeout's
/// grace, while the supervisor's final checks still ran). Only the
/// supervisor writes it: the task's output never goes there, and its landlock
/// domain cannot reach the directory.
pub const STREAM: &str = "violations.jsonl";

/// At most this many bytes are written to, and read from, the [`STREAM`] file
/// (the init already lists at most its first violations and the first of
/// each later rule: far below).
pub const STREAM_MAX: u64 = 1 << 20;

/// The writing end of the [`STREAM`] file.
#[derive(Debug)]
pub struct ViolationStream {
    file: std::fs::File,
    tokens: Vec<crate::canary::Token>,
    written: u64,
}

impl ViolationStream {
    /// Stream to `file`; details are scrubbed of the task's canary `tokens`.
    pub fn new(file: std::fs::File, tokens: Vec<crate::canary::Token>) -> ViolationStream {
        ViolationStream { file, tokens, written: 0 }
    }

    /// Append `v` as judged, its detail scrubbed as the report's will be (with
    /// the `canary.leak` a watched value named there is), while the file stays
    /// within [`STREAM_MAX`] bytes. A write that fails is not retried: the
    /// report, when it comes, lists every violation anyway.
    pub fn send(&mut self, v: &Violation) {
        use std::io::Write;
        let mut lines = vec![v.clone()];
        crate::canary::scrub_details(&mut lines, &self.tokens);
        for v in lines {
            let Ok(mut line) = serde_json::to_string(&v) else { continue };
            line.push('\n');
            if self.written + line.len() as u64 > STREAM_MAX {
                return;
            }
            self.written += line.len() as u64;
            // One write (O_APPEND): a kill cuts at most this line.
            let _ = (&self.file).write_all(line.as_bytes());
        }
    }
}

/// The violations the supervisor streamed beside its report `report`
/// ([`STREAM`]): every whole line that parses (a kill may have cut the last),
/// within [`STREAM_MAX`] bytes; none when the file is missing or is not a
/// regular file (never followed if a link, never waited on if a FIFO).
pub fn read_stream(report: &Path) -> Vec<Violation> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = report.with_file_name(STREAM);
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let Ok(f) = std::fs::OpenOptions::new().read(true).custom_flags(flags).open(&path) else { return Vec::new() };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return Vec::new();
    }
    let mut text = Vec::new();
    if f.take(STREAM_MAX).read_to_end(&mut text).is_err() {
        return Vec::new();
    }
    text.split(|b| *b == b'\n').filter_map(|line| serde_json::from_slice(line).ok()).collect()
}

/// Say why nothing ran (one line on stderr, which the host relays) and exit 1.
fn refuse(msg: impl std::fmt::Display) -> Exit {
    crate::say!("orchestra-sandbox: error: {msg}");
    Exit::Config
}

/// The supervisor: parse `args` (after the program name), run the task, write
/// the report. Returns the task's exit code as the CONTRACTS define it.
pub fn main(args: impl IntoIterator<Item = OsString>) -> Exit {
    let args = match InnerArgs::parse(args) {
        Ok(a) => a,
        Err(e) => return refuse(e),
    };
    if let Err(e) = redirect_output(&args.output) {
        return refuse(format!("{}: {e}", args.output.display()));
    }
    let (name, argv) = match &args.task {
        InnerTask::Argv { name, argv } => (name.clone(), argv.clone()),
        InnerTask::File(f) => match read_task(f) {
            Ok(t) => t,
            Err(e) => return refuse(e),
        },
    };
    // The canaries' file is gone before anything else of the task's is read.
    let handoff = match args.canaries.as_deref().map(take_handoff).transpose() {
        Ok(h) => h,
        Err(e) => return refuse(format!("canaries: {e}")),
    };
    let (policy, origin) = match crate::policy::load_policy(&args.policy.to_string_lossy()) {
        Ok(p) => p,
        Err(e) => return refuse(e),
    };
    let workdir = match std::fs::canonicalize(&args.workdir) {
        Ok(w) if w.is_dir() => w,
        Ok(w) => return refuse(format!("{}: not a directory", w.display())),
        Err(e) => return refuse(format!("{}: {e}", args.workdir.display())),
    };
    // The report's directory is opened now, before the task can touch the path.
    let out = match OutFile::prepare(&args.report) {
        Ok(o) => o,
        Err(e) => return refuse(e),
    };
    let task = TaskSpec {
        name,
        argv,
        workdir,
        policy,
        policy_origin: origin,
        derivation: None,
        protected: Vec::new(),
        in_use: Vec::new(),
        observe: true,
        tty: false,
        canary_home: handoff.as_ref().and_then(|h| h.home.clone()),
        canaries: handoff.map(|h| h.canaries),
    };
    // Each violation reaches the host as it is judged, not only in the report.
    let stream = match out.create_beside(STREAM) {
        Ok(f) => f,
        Err(e) => return refuse(e),
    };
    let backend = crate::jail::Jail::in_container(stream);
    let (report, exit) = match backend.run(&task) {
        Ok(report) => {
            let exit = report.exit();
            (report, exit)
        }
        Err(e) => {
            crate::say!("orchestra-sandbox: error: {e}");
            (crate::outcome::setup_failed(&task, task.policy.backend(), &e.to_string()), Exit::Config)
        }
    };
    let json = serde_json::to_string_pretty(&report).unwrap_or_default() + "\n";
    match out.write(json.as_bytes(), true) {
        Ok(()) => exit,
        Err(e) => {
            crate::say!("orchestra-sandbox: error: cannot write report {e}");
            exit.worst(Exit::Failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[String]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_command_line_parses_back_as_built() {
        for task in [
            InnerTask::Argv { name: "build".into(), argv: vec!["sh".into(), "-c".into(), "--policy x".into()] },
            InnerTask::Argv { name: "".into(), argv: vec!["--".into()] },
            InnerTask::File("/.orchestra/out/task.json".into()),
        ] {
            for canaries in [None, Some(PathBuf::from("/.orchestra/out/canaries.json"))] {
                let a = InnerArgs {
                    policy: "/.orchestra/out/policy.yaml".into(),
                    report: "/.orchestra/out/report.json".into(),
                    workdir: "/work".into(),
                    output: "/.orchestra/out".into(),
                    canaries,
                    task: task.clone(),
                };
                assert_eq!(InnerArgs::parse(os(&a.to_args())).unwrap(), a);
            }
        }
    }

    #[test]
    fn anything_else_is_refused() {
        let base = ["--policy", "p", "--report", "r", "--workdir", "w", "--output", "o"].map(String::from).to_vec();
        let with = |extra: &[&str]| {
            let mut v = base.clone();
            v.extend(extra.iter().map(|s| s.to_string()));
            InnerArgs::parse(os(&v))
        };
        assert!(with(&["--name", "t", "--", "true"]).is_ok());
        assert!(matches!(with(&["--name", "t", "--"]), Err(InnerArgError::EmptyArgv)));
        assert!(matches!(with(&["--", "true"]), Err(InnerArgError::Missing("--name"))));
        assert!(matches!(with(&["--name", "t"]), Err(InnerArgError::Missing("-- PROGRAM"))));
        assert!(matches!(with(&["--task", "f", "--name", "t", "--", "x"]), Err(InnerArgError::Unexpected(_))));
        assert!(matches!(with(&["--inner", "--task", "f"]), Err(InnerArgError::Unexpected(_))));
        assert!(matches!(with(&["--policy", "q", "--task", "f"]), Err(InnerArgError::Unexpected(_))));
        assert!(matches!(with(&["--task"]), Err(InnerArgError::MissingValue("--task"))));
        assert!(matches!(with(&["--canaries"]), Err(InnerArgError::MissingValue("--canaries"))));
        assert!(matches!(
            with(&["--canaries", "a", "--canaries", "b", "--task", "f"]),
            Err(InnerArgError::Unexpected(_))
        ));
        let no_report: Vec<String> =
            ["--policy", "p", "--workdir", "w", "--output", "o", "--task", "f"].map(String::from).to_vec();
        assert!(matches!(InnerArgs::parse(os(&no_report)), Err(InnerArgError::Missing("--report"))));
    }

    #[test]
    fn a_task_file_needs_a_program_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("task.json");
        std::fs::write(&f, r#"{"name":"t","argv":["true"]}"#).unwrap();
        assert_eq!(read_task(&f).unwrap(), ("t".to_string(), vec!["true".to_string()]));
        std::fs::write(&f, r#"{"name":"t","argv":[]}"#).unwrap();
        assert!(matches!(read_task(&f), Err(InnerArgError::EmptyArgv)));
        std::fs::write(&f, r#"{"name":"t","argv":["true"],"env":{}}"#).unwrap();
        assert!(matches!(read_task(&f), Err(InnerArgError::Json { .. })));
    }

    #[test]
    fn streamed_violations_read_back_scrubbed_whole_and_bounded() {
        use crate::canary::Token;
        use crate::rule::Rule;
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.json");
        let out = OutFile::prepare(&report).unwrap();
        let tokens = vec![Token { source: "$GITHUB_TOKEN".into(), value: "ghp_STREAMSECRET".into() }];
        let mut s = ViolationStream::new(out.create_beside(STREAM).unwrap(), tokens);
        assert!(out.create_beside(STREAM).is_err(), "never over an existing file");
        let first = Violation::now(Rule::FsWrite, "openat: write to /etc/passwd".into());
        s.send(&first);
        s.send(&Violation::now(Rule::NetworkAbstractUnix, "connect to ghp_STREAMSECRET.example:443".into()));
        let got = read_stream(&report);
        assert_eq!(got[0], first);
        assert_eq!(got[1].rule, Rule::NetworkAbstractUnix);
        assert!(!got[1].detail.contains("ghp_"), "{:?}", got[1]);
        assert_eq!(got[2].rule, Rule::CanaryLeak, "a value named in a detail is a leak of its own");
        assert_eq!(got.len(), 3);
        // A line cut by a kill is dropped, the whole ones kept.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(STREAM))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"rule\":\"fs.wr"))
            .unwrap();
        assert_eq!(read_stream(&report).len(), 3);
        // Bounded: past STREAM_MAX bytes nothing more is written.
        let big = Violation::now(Rule::FsWrite, "x".repeat(64 << 10));
        for _ in 0..32 {
            s.send(&big);
        }
        let len = std::fs::metadata(dir.path().join(STREAM)).unwrap().len();
        assert!(len <= STREAM_MAX + 16, "{len} bytes");
        assert!(read_stream(&report).len() < 3 + 16);
        // A link is never followed.
        let other = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path().join(STREAM), other.path().join(STREAM)).unwrap();
        assert!(read_stream(&other.path().join("report.json")).is_empty());
    }

    #[test]
    fn the_handoff_is_read_once_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("canaries.json");
        let me = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
        let policy = crate::policy::Policy::default();
        let h = Handoff { home: Some("/tmp".into()), canaries: crate::canary::Canaries::generate(&policy).unwrap() };
        write_handoff(&f, &h, me).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(write_handoff(&f, &h, me).is_err(), "never over an existing file");
        assert_eq!(take_handoff(&f).unwrap(), h);
        assert!(!f.exists(), "no file holds the values afterwards");
        assert!(matches!(take_handoff(&f), Err(InnerArgError::Read { .. })), "read once");
        // A link is never followed; nothing else is accepted.
        std::fs::write(dir.path().join("real"), serde_json::to_vec(&h).unwrap()).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), &f).unwrap();
        assert!(matches!(take_handoff(&f), Err(InnerArgError::Read { .. })));
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, r#"{"home":null,"canaries":{"files":[],"env":[],"tokens":[]},"extra":1}"#).unwrap();
        assert!(matches!(take_handoff(&f), Err(InnerArgError::Json { .. })));
    }
}
