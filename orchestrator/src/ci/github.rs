//! GitHub Actions: error and warning annotations, task logs in collapsible
//! groups, and the step summary (`$GITHUB_STEP_SUMMARY`).
//!
//! Guarantees:
//! - active only under `GITHUB_ACTIONS=true`;
//! - every annotation's data and properties are escaped by GitHub's rules
//!   (`%`, CR, LF; and `:` `,` in properties), so a task-chosen string can
//!   neither end orchestra's command early nor start one of its own;
//! - at most [`MAX_ERRORS`] `::error` and [`MAX_WARNINGS`] `::warning` lines
//!   per run (GitHub shows 10 of each per step): the last one of a kind says
//!   how many more there were;
//! - a task's log is printed between `::stop-commands::TOKEN` and `::TOKEN::`
//!   with a fresh random token per run, so no line of task output is read as
//!   a workflow command (neither `::cmd::` nor the older `##[cmd]` form); the
//!   progress lines of the run are fenced the same way (they quote plan-chosen
//!   text), from the run's start until the groups and annotations;
//! - the step summary gets `report.md`, cut at a line boundary so that the
//!   file stays under GitHub's 1 MiB limit (with a note pointing to the full
//!   report); it is appended to, as GitHub expects.

use super::text::{clip, suffix};
use super::{CiError, Source};
use crate::orchestrator::report::{RunReport, TaskReport};
use crate::runstore::RunDir;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Error annotations printed at most (GitHub: 10 per step).
pub const MAX_ERRORS: usize = 10;
/// Warning annotations printed at most (GitHub: 10 per step).
pub const MAX_WARNINGS: usize = 10;
/// GitHub's limit for one step's summary, bytes.
pub const SUMMARY_LIMIT: u64 = 1024 * 1024;
/// Room kept free below [`SUMMARY_LIMIT`] (GitHub drops summaries near the limit).
const SUMMARY_MARGIN: u64 = 16 * 1024;
/// Bytes of a task's log printed in its group (the end of it).
pub const GROUP_LOG_BYTES: usize = 256 * 1024;
/// Bytes of a violation detail in an annotation.
const DETAIL_BYTES: usize = 300;

/// The GitHub Actions environment, when orchestra runs inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Github {
    /// `$GITHUB_STEP_SUMMARY`, if set.
    pub step_summary: Option<PathBuf>,
}

impl Github {
    /// `Some` under `GITHUB_ACTIONS=true`.
    pub fn detect() -> Option<Github> {
        if std::env::var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
            return None;
        }
        let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()).map(PathBuf::from);
        Some(Github { step_summary })
    }
}

/// Escape workflow-command data: `%`, CR, LF.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escape a workflow-command property value: as data, plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation line: `::error file=F,line=L,title=T::message`.
pub fn annotation(level: &str, title: &str, file: Option<&str>, line: Option<u64>, message: &str) -> String {
    let mut props = Vec::new();
    if let Some(f) = file {
        props.push(format!("file={}", escape_property(f)));
        if let Some(l) = line {
            props.push(format!("line={l}"));
        }
    }
    props.push(format!("title={}", escape_property(title)));
    format!("::{level} {}::{}", props.join(","), escape_data(message))
}

fn rules_of(t: &TaskReport) -> Vec<String> {
    crate::sandbox::report::distinct_rules(&t.violations).iter().map(ToString::to_string).collect()
}

/// The annotation lines for a run, errors first, within GitHub's per-step limits.
pub fn annotations(report: &RunReport, source: &Source) -> Vec<String> {
    let file = source.file.as_deref();
    let line = |t: &TaskReport| source.lines.get(&t.id).copied();
    let mut errors: Vec<String> = Vec::new();
    let order = ["violation", "timed_out", "failed"];
    for state in order {
        for t in report.tasks.iter().filter(|t| t.state == state) {
            let (title, message) = match state {
                "violation" => {
                    let rules = rules_of(t);
                    let mut msg = format!("Task {} was stopped by its sandbox policy ({}).", t.id, t.policy);
                    for v in t.violations.iter().take(5) {
                        msg.push_str(&format!("\n{}: {}", v.rule, clip(&v.detail, DETAIL_BYTES)));
                    }
                    if t.violations.len() > 5 {
                        msg.push_str(&format!("\n… and {} more in report.json", t.violations.len() - 5));
                    }
                    (format!("orchestra: {} violated {}", t.id, rules.join(", ")), msg)
                }
                "timed_out" => {
                    (format!("orchestra: {} timed out", t.id), format!("Task {}: {}", t.id, super::junit::message(t)))
                }
                _ => (format!("orchestra: {} failed", t.id), format!("Task {}: {}", t.id, super::junit::message(t))),
            };
            errors.push(annotation("error", &title, file, line(t), &message));
        }
    }
    let mut warnings: Vec<String> = Vec::new();
    for t in report.tasks.iter().filter(|t| t.state == "skipped" || t.state == "cancelled") {
        let note = t.note.as_deref().unwrap_or("");
        warnings.push(annotation(
            "warning",
            &format!("orchestra: {} {}", t.id, t.state),
            file,
            line(t),
            &format!("Task {} did not run: {}", t.id, clip(note, DETAIL_BYTES)),
        ));
    }
    let mut out = cap(errors, MAX_ERRORS, "error", report);
    out.extend(cap(warnings, MAX_WARNINGS, "warning", report));
    out
}

/// Keep at most `max` lines; the last kept line says how many more there were.
fn cap(mut lines: Vec<String>, max: usize, level: &str, report: &RunReport) -> Vec<String> {
    if lines.len() > max {
        let more = lines.len() - (max - 1);
        lines.truncate(max - 1);
        lines.push(annotation(
            level,
            &format!("orchestra: {more} more"),
            None,
            None,
            &format!("{more} more tasks; see the step summary or report.md of run {}", report.run_id),
        ));
    }
    lines
}

/// This run's token: orchestra's progress lines are fenced with it from the
/// start of the run (they quote plan-chosen text, such as output paths, and a
/// plan may come from a planner), and each task log again.
pub fn run_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(random_token)
}

static FENCED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Under GitHub Actions, stop workflow commands until [`print`] or
/// [`end_fence`] (call as the run starts).
pub fn fence_progress() {
    if Github::detect().is_some() {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "::stop-commands::{}", run_token());
        let _ = err.flush();
        FENCED.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The fence around a task whose output streams straight through
/// (`orchestra exec`): opened on stdout and stderr (the runner reads both
/// into one log; once stopped, the second opening is no command), closed on
/// stderr (or stdout, if only stdout reaches the runner) when dropped, after
/// the task and its verdict line.
#[must_use = "the fence closes when this is dropped"]
pub struct OutputFence(Option<Stream>);

/// Under GitHub Actions, stop workflow commands until the returned guard is
/// dropped. Only a stream that reaches the runner (a pipe or a socket) gets
/// fence lines: output redirected to a file stays byte for byte the task's.
pub fn fence_output() -> OutputFence {
    use std::os::fd::AsFd;
    if Github::detect().is_none() || FENCED.load(std::sync::atomic::Ordering::SeqCst) {
        return OutputFence(None);
    }
    let token = run_token();
    let out = reaches_runner(std::io::stdout().as_fd());
    let err = reaches_runner(std::io::stderr().as_fd());
    if out {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "::stop-commands::{token}");
        let _ = o.flush();
    }
    if err {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "::stop-commands::{token}");
        let _ = e.flush();
    }
    match (out, err) {
        (_, true) => {
            FENCED.store(true, std::sync::atomic::Ordering::SeqCst);
            OutputFence(Some(Stream::Stderr))
        }
        (true, false) => OutputFence(Some(Stream::Stdout)),
        (false, false) => OutputFence(None),
    }
}

/// Where an [`OutputFence`] closes.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

impl Drop for OutputFence {
    fn drop(&mut self) {
        let _ = std::io::stdout().lock().flush();
        match self.0 {
            Some(Stream::Stderr) => end_fence(),
            Some(Stream::Stdout) => {
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "::{}::", run_token());
                let _ = o.flush();
            }
            None => {}
        }
    }
}

/// Whether a stream is read by something that may parse workflow commands (a
/// pipe or a socket, as the runner's), rather than written to a file or a device.
fn reaches_runner(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let Ok(owned) = fd.try_clone_to_owned() else { return true };
    match std::fs::File::from(owned).metadata() {
        Ok(m) => {
            let t = m.file_type();
            !(t.is_file() || t.is_char_device() || t.is_block_device())
        }
        Err(_) => true,
    }
}

/// Print text that quotes plans, configs or planner answers (an error naming a
/// plan value, a planner's reason, a plan, a config value): under GitHub
/// Actions the runner acts on none of its lines — it goes inside the fence
/// already open, or in a fence of its own ([`fenced`]); elsewhere it is
/// printed as it is. A missing final newline is added.
pub fn print_quoted(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    if Github::detect().is_some() && !FENCED.load(std::sync::atomic::Ordering::SeqCst) {
        fenced(out, run_token(), text)?;
        out.flush()
    } else {
        print_plain(out, text)
    }
}

/// [`print_quoted`] on stderr (as it is when stderr is a file or a device).
pub fn eprint_quoted(text: &str) {
    use std::os::fd::AsFd;
    let mut err = std::io::stderr().lock();
    let _ = if reaches_runner(std::io::stderr().as_fd()) {
        print_quoted(&mut err, text)
    } else {
        print_plain(&mut err, text)
    };
}

/// `text` as [`print_quoted`] writes it for stdout (plain when stdout is a
/// file or a device, so `orchestra plan "…" > plan.yaml` writes only the plan),
/// for the caller to print.
pub fn quoted_for_stdout(text: &str) -> Vec<u8> {
    use std::os::fd::AsFd;
    let mut out = Vec::new();
    let _ = if reaches_runner(std::io::stdout().as_fd()) {
        print_quoted(&mut out, text)
    } else {
        print_plain(&mut out, text)
    };
    out
}

/// Pretty JSON that no runner reads as a workflow command, for `--json`
/// outputs (which must stay JSON, so they are not fenced): JSON text cannot
/// start a line with `::` (strings escape their line breaks), and the older
/// `##[` form, which only a string can hold, is written `##\u005b` — the same
/// JSON value.
pub fn json_pretty(value: &impl serde::Serialize) -> String {
    json_safe(&serde_json::to_string_pretty(value).unwrap_or_default())
}

/// JSON text with every `##[` written `##\u005b` (see [`json_pretty`]).
pub fn json_safe(json: &str) -> String {
    json.replace("##[", "##\\u005b")
}

fn print_plain(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        writeln!(out)?;
    }
    out.flush()
}

/// Close the fence opened by [`fence_progress`], if it is open (a run that
/// ends early must not leave the rest of the CI step without commands).
pub fn end_fence() {
    if FENCED.swap(false, std::sync::atomic::Ordering::SeqCst) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "::{}::", run_token());
        let _ = err.flush();
    }
}

/// A fresh random token for `::stop-commands::`.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // No randomness: derive something unguessable enough from time and pid.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        b[..16].copy_from_slice(&(t ^ (u128::from(std::process::id()) << 64)).to_le_bytes());
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("orchestra-{hex}")
}

/// Print each task's log (its end) in a collapsible group, fenced so that the
/// log cannot issue workflow commands.
pub fn print_groups(out: &mut impl Write, report: &RunReport, run: &RunDir, token: &str) -> std::io::Result<()> {
    for t in &report.tasks {
        let Ok(bytes) = std::fs::read(run.path.join(&t.log)) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        let wall = crate::orchestrator::report::fmt_ms(t.wall_ms);
        writeln!(out, "::group::orchestra: {} {} ({wall})", t.id, t.state)?;
        let tail = suffix(&text, GROUP_LOG_BYTES);
        let cut = if tail.len() < text.len() {
            format!("[… {} earlier bytes cut; full log: {}]\n", text.len() - tail.len(), t.log)
        } else {
            String::new()
        };
        fenced(out, token, &format!("{cut}{tail}"))?;
        writeln!(out, "::endgroup::")?;
    }
    out.flush()
}

/// Print `text` so that the runner acts on none of its lines: between
/// `::stop-commands::TOKEN` and a `::TOKEN::` line of its own.
pub fn fenced(out: &mut impl Write, token: &str, text: &str) -> std::io::Result<()> {
    writeln!(out, "::stop-commands::{token}")?;
    out.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        writeln!(out)?;
    }
    writeln!(out, "::{token}::")
}

/// Print the run's log groups and annotations on stderr (the stream of
/// orchestra's progress lines, so the order holds).
pub fn print(report: &RunReport, run: &RunDir) {
    let source = Source::locate(report, run);
    let token = run_token();
    end_fence();
    let mut err = std::io::stderr().lock();
    let _ = print_groups(&mut err, report, run, token);
    for line in annotations(report, &source) {
        let _ = writeln!(err, "{line}");
    }
    let _ = err.flush();
}

/// Append `md` to the step summary file, cut to keep the file under
/// [`SUMMARY_LIMIT`]. Returns the bytes appended.
pub fn append_summary(path: &Path, md: &str, full_report: &Path) -> Result<usize, CiError> {
    let existing = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let budget = SUMMARY_LIMIT.saturating_sub(SUMMARY_MARGIN).saturating_sub(existing) as usize;
    let text = fit(md, budget, full_report);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| CiError::Io { path: path.to_path_buf(), source })?;
    f.write_all(text.as_bytes()).map_err(|source| CiError::Io { path: path.to_path_buf(), source })?;
    Ok(text.len())
}

/// `md` if it fits in `budget` bytes, else its first lines and a note.
pub fn fit(md: &str, budget: usize, full_report: &Path) -> String {
    if md.len() <= budget {
        return md.to_string();
    }
    let note = format!(
        "\n\n> **Cut to fit GitHub's step summary limit.** The full report is `{}` in the run directory.\n",
        full_report.display().to_string().replace('`', "'")
    );
    let room = budget.saturating_sub(note.len());
    let head = super::text::prefix(md, room);
    let head = match head.rfind('\n') {
        Some(i) => &head[..=i],
        None => "",
    };
    if head.len() + note.len() > budget {
        return String::new();
    }
    format!("{head}{note}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_properties_are_escaped() {
        assert_eq!(escape_data("50%\r\n::error::x"), "50%25%0D%0A::error::x");
        assert_eq!(escape_property("a:b,c\nd%"), "a%3Ab%2Cc%0Ad%25");
        let a = annotation("error", "t:1,x", Some("plans/a,b.yaml"), Some(3), "line1\n::warning::evil");
        assert_eq!(a, "::error file=plans/a%2Cb.yaml,line=3,title=t%3A1%2Cx::line1%0A::warning::evil");
        assert_eq!(a.lines().count(), 1);
    }

    #[test]
    fn the_summary_fits_its_budget() {
        let md = "line\n".repeat(1000);
        let cut = fit(&md, 1000, Path::new("runs/x/report.md"));
        assert!(cut.len() <= 1000 && cut.contains("Cut to fit"), "{}", cut.len());
        assert_eq!(fit("short\n", 1000, Path::new("r")), "short\n");
        assert_eq!(fit("a long line without end", 5, Path::new("r")), "");
    }

    #[test]
    fn the_fence_closes_on_its_own_line() {
        for text in ["", "a\n", "::error::no newline", "x\r::error::y\r"] {
            let mut out = Vec::new();
            fenced(&mut out, "T", text).unwrap();
            let s = String::from_utf8(out).unwrap();
            assert!(s.starts_with("::stop-commands::T\n") && s.ends_with("\n::T::\n"), "{s:?}");
            assert_eq!(s.matches("::T::").count(), 1, "{s:?}");
        }
    }

    #[test]
    fn json_outputs_carry_no_command_and_the_same_value() {
        let v = serde_json::json!({"a": "x\n::add-mask::y ##[error]z", "b": ["##[", "#[", "##"]});
        let text = json_pretty(&v);
        assert!(!text.contains("##[") && text.lines().all(|l| !l.trim_start().starts_with("::")), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
    }

    #[test]
    fn tokens_are_fresh() {
        assert_ne!(random_token(), random_token());
    }
}
