//! Orchestra's own standard output (tables, JSON, listings), written so that
//! the exit code stays inside the contract whatever happens to it.
//!
//! Guarantees: a reader that goes away (`orchestra runs show --json | head`)
//! ends the output quietly and changes nothing else — the command finishes
//! and exits with the code it would have had; any other write error (a full
//! disk, `>/dev/full`) stops the output, is said once on stderr by
//! [`finish`], and turns a 0 into 1 — into 2 for `exec`, `run` and `resume`,
//! whose tasks ran (1 says nothing ran); a 2, 3 or 4 stands. No
//! write to stdout panics. The task's own output (relayed by the sandboxes)
//! does not go through here.

use crate::exit::Exit;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether stdout is no longer written (its reader left, or it failed).
static STOPPED: AtomicBool = AtomicBool::new(false);
/// The first write error other than a closed pipe.
static FAILED: Mutex<Option<String>> = Mutex::new(None);

/// Write `args`, then a newline if `newline` (the `out!`/`outln!` macros).
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    if STOPPED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| if newline { out.write_all(b"\n") } else { Ok(()) });
    if let Err(e) = written {
        stop(e);
    }
}

/// Write `bytes` as they are (a task's log, `orchestra logs`), as [`write`] writes text.
pub fn write_bytes(bytes: &[u8]) {
    if STOPPED.load(Ordering::Relaxed) || bytes.is_empty() {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_all(bytes) {
        stop(e);
    }
}

/// Push what is buffered to the reader now (a follower's last, partial line).
pub fn flush() {
    if STOPPED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = std::io::stdout().lock().flush() {
        stop(e);
    }
}

/// Whether stdout is no longer written (its reader left, or it failed): a
/// command that would go on printing for a while (`logs --follow`) stops.
pub fn stopped() -> bool {
    STOPPED.load(Ordering::Relaxed)
}

fn stop(e: std::io::Error) {
    STOPPED.store(true, Ordering::Relaxed);
    if e.kind() != std::io::ErrorKind::BrokenPipe
        && let Ok(mut f) = FAILED.lock()
    {
        f.get_or_insert_with(|| e.to_string());
    }
}

/// Flush what is left, and fold a write error into `exit` (said once);
/// `tasks_ran` for the commands that run tasks.
pub fn finish(exit: Exit, tasks_ran: bool) -> Exit {
    if !STOPPED.load(Ordering::Relaxed)
        && let Err(e) = std::io::stdout().lock().flush()
    {
        stop(e);
    }
    let failed = FAILED.lock().ok().and_then(|f| f.clone());
    match failed {
        Some(e) => {
            crate::sandbox::say!("orchestra: error: writing to standard output: {e}");
            match exit {
                Exit::Ok if tasks_ran => Exit::Failed,
                Exit::Ok => Exit::Config,
                other => other,
            }
        }
        None => exit,
    }
}
