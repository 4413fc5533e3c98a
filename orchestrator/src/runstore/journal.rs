//! The run's event journal (`runs/<id>/events.jsonl`): what happened, in
//! order, for watchers in other processes (the dashboard, `runs follow`).
//!
//! Format: one JSON object per line, `{"seq":N,"at_ms":T,"type":...,...}`
//! ([`Entry`]). `seq` starts at 1 and grows by one per line across the run's
//! sessions (a resumed run continues the numbering), so a watcher that has
//! seen up to `seq` N resumes after N with neither gap nor duplicate.
//!
//! Guarantees: each line is appended with one `write` (a reader sees whole
//! lines, or a last line without its newline, which it must leave for
//! later); a torn last line that a killed writer left is cut when the next
//! session opens the journal, so numbering stays gapless. The journal is a
//! view for people, not evidence and not the run's state (the checkpoint and
//! the audit log are): it is not fsynced, and a journal lost in a power
//! failure loses nothing the run needs.

use super::{RunDir, RunStoreError, io_at};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The journal's file name in the run directory.
pub const FILE: &str = "events.jsonl";

/// The longest line a reader accepts (a longer one is refused as corrupt).
pub const MAX_LINE: usize = 1 << 20;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// 1-based, gapless across sessions.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: JournalEvent,
}

/// What a journal line says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum JournalEvent {
    /// A session of the run starts.
    RunStarted {
        /// Tasks in the plan.
        tasks: usize,
        /// Tasks this session will run.
        to_run: usize,
        /// Concurrency.
        concurrency: usize,
    },
    /// A task was kept from an earlier session.
    TaskReused {
        /// Task id.
        task: String,
    },
    /// An attempt starts.
    TaskStarted {
        /// Task id.
        task: String,
        /// 1-based attempt.
        attempt: u32,
        /// The policy the task runs under (its name).
        policy: String,
        /// The sandbox backend (`jail`, `docker`, `podman`).
        backend: String,
    },
    /// An attempt failed and will be retried.
    TaskRetry {
        /// Task id.
        task: String,
        /// The attempt that failed.
        attempt: u32,
        /// Delay before the next, ms.
        delay_ms: u64,
        /// What happened.
        detail: String,
    },
    /// A task's last attempt ended.
    TaskFinished {
        /// Task id.
        task: String,
        /// Final state (`succeeded`, `failed`, `timed_out`, `violation`).
        state: String,
        /// Wall time, ms.
        wall_ms: u64,
        /// Cause, exit status, rules, note.
        detail: String,
        /// The violated rules, if any.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rules: Vec<String>,
        /// Sandbox set-up time, ms, when the report says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        setup_ms: Option<u64>,
    },
    /// A task ended without (another) attempt: skipped or cancelled.
    TaskNotRun {
        /// Task id.
        task: String,
        /// `skipped` or `cancelled`.
        state: String,
        /// Why.
        reason: String,
    },
    /// A line for people.
    Message {
        /// The line.
        line: String,
    },
    /// A replan was decided.
    Replan {
        /// 1 for the first.
        replan: u32,
        /// The task that caused it.
        task: String,
        /// What became of it.
        outcome: String,
        /// Diff summary or error.
        detail: String,
    },
    /// A remote worker's result was accepted or refused.
    Remote {
        /// The audit kind it was recorded as.
        kind: String,
    },
    /// An operator paused, continued or cancelled the run.
    Control {
        /// `pause`, `continue` or `cancel`.
        action: String,
        /// Who asked (as the request says).
        by: String,
        /// The request's number (`control.json`'s `seq`).
        request: u64,
    },
    /// The run ended (for this session).
    RunFinished {
        /// Run status.
        status: String,
        /// Exit code.
        exit_code: u8,
        /// Wall time, ms.
        wall_ms: u64,
        /// Summary.
        summary: String,
    },
}

/// Appends to a run's journal.
#[derive(Debug)]
pub struct Writer {
    file: std::fs::File,
    next: u64,
}

impl Writer {
    /// Open the journal of `run`, cutting a torn last line and continuing the numbering.
    pub fn open(run: &RunDir) -> Result<Writer, RunStoreError> {
        let rel = Path::new(FILE);
        let path = run.path.join(FILE);
        let mut file = super::at::open_rw(run.fd(), rel).map_err(io_at(&path))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io_at(&path))?;
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if whole < text.len() {
            file.set_len(whole as u64).map_err(io_at(&path))?;
        }
        file.seek(SeekFrom::Start(whole as u64)).map_err(io_at(&path))?;
        let last = text[..whole].split(|&b| b == b'\n').rfind(|l| !l.is_empty());
        let next = match last.map(serde_json::from_slice::<Entry>) {
            None => 1,
            Some(Ok(e)) => e.seq + 1,
            // A line this version cannot read: keep counting from the line count.
            Some(Err(_)) => text[..whole].iter().filter(|&&b| b == b'\n').count() as u64 + 1,
        };
        Ok(Writer { file, next })
    }

    /// Append one event (one `write`).
    pub fn append(&mut self, event: JournalEvent) -> std::io::Result<u64> {
        let seq = self.next;
        let at_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut line = serde_json::to_vec(&Entry { seq, at_ms, event }).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.next += 1;
        Ok(seq)
    }
}

/// What [`read_from`] found.
#[derive(Debug, Default)]
pub struct Batch {
    /// Whole lines read, in order.
    pub entries: Vec<Entry>,
    /// The byte offset after the last whole line (where to read next).
    pub offset: u64,
}

/// Errors reading a journal.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A whole line that is not a journal entry.
    #[error("events.jsonl:{line}: {message}")]
    Corrupt {
        /// 1-based line number from the offset read (relative).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Read the whole lines of `file` from byte `offset` on (at most `max_bytes`);
/// a last line without its newline is left for the next read.
pub fn read_from(file: &mut std::fs::File, offset: u64, max_bytes: usize) -> Result<Batch, ReadError> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.take(max_bytes as u64).read_to_end(&mut buf)?;
    let whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    if whole == 0 && buf.len() >= max_bytes.min(MAX_LINE) && !buf.is_empty() {
        return Err(ReadError::Corrupt { line: 1, message: "a line longer than the reader's limit".into() });
    }
    let mut entries = Vec::new();
    for (n, line) in buf[..whole].split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let e: Entry =
            serde_json::from_slice(line).map_err(|e| ReadError::Corrupt { line: n + 1, message: e.to_string() })?;
        entries.push(e);
    }
    Ok(Batch { entries, offset: offset + whole as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> (tempfile::TempDir, RunDir) {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        (dir, run)
    }

    fn msg(s: &str) -> JournalEvent {
        JournalEvent::Message { line: s.into() }
    }

    #[test]
    fn numbering_continues_across_sessions_and_a_torn_line_is_cut() {
        let (_d, run) = run();
        let mut w = Writer::open(&run).unwrap();
        assert_eq!(w.append(msg("a")).unwrap(), 1);
        assert_eq!(w.append(msg("b")).unwrap(), 2);
        drop(w);
        let path = run.path.join(FILE);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":3,\"at_ms\":1,\"ty").unwrap();
        drop(f);
        let mut w = Writer::open(&run).unwrap();
        assert_eq!(w.append(msg("c")).unwrap(), 3, "the torn line does not count");
        let mut f = std::fs::File::open(&path).unwrap();
        let b = read_from(&mut f, 0, 1 << 20).unwrap();
        let seqs: Vec<u64> = b.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(b.offset, std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn a_reader_leaves_a_partial_line_and_refuses_garbage() {
        let (_d, run) = run();
        let path = run.path.join(FILE);
        let first = "{\"seq\":1,\"at_ms\":0,\"type\":\"message\",\"line\":\"x\"}\n";
        std::fs::write(&path, format!("{first}{{\"seq\":2")).unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        let b = read_from(&mut f, 0, 1 << 20).unwrap();
        assert_eq!(b.entries.len(), 1);
        assert_eq!(b.offset, first.len() as u64);
        std::fs::write(&path, "not json\n").unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        assert!(matches!(read_from(&mut f, 0, 1 << 20), Err(ReadError::Corrupt { line: 1, .. })));
    }
}
