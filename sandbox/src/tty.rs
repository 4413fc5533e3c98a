//! The caller's terminal around a task, and the pseudo-terminal of
//! `exec --tty`.
//!
//! Guarantees:
//! - [`TerminalGuard`] saves the settings of the caller's terminal on stdin
//!   (when stdin is one) before the task starts and puts them back when it is
//!   dropped, whatever the task did to them (`stty -echo`, raw mode) and
//!   however the task ended;
//! - [`Pty`] gives the task a terminal of its own: its stdin, stdout and
//!   stderr are the pseudo-terminal's slave, which becomes its controlling
//!   terminal, so whatever the task does to "its terminal" (settings,
//!   `TIOCSTI`, which stays a denied syscall class anyway) stays in the
//!   pseudo-terminal; Orchestra relays between it and the caller's terminal,
//!   which it switches to raw mode only for the task's lifetime.

use nix::sys::termios::{self, SetArg, Termios};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// The caller's terminal settings, restored on drop.
pub struct TerminalGuard {
    saved: Option<Termios>,
}

impl TerminalGuard {
    /// Save the settings of stdin's terminal (nothing to do when stdin is
    /// not a terminal).
    pub fn save() -> TerminalGuard {
        TerminalGuard { saved: termios::tcgetattr(std::io::stdin().as_fd()).ok() }
    }

    /// Whether stdin is a terminal.
    pub fn is_terminal(&self) -> bool {
        self.saved.is_some()
    }

    /// Switch the caller's terminal to raw mode (keys reach the task's
    /// pseudo-terminal as typed; its own line discipline echoes them).
    pub fn make_raw(&self) {
        if let Some(t) = &self.saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &raw);
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let stdin = std::io::stdin();
            // Output a task stopped is resumed first (the seccomp filter denies
            // stopping it; a keyboard ^S may have); TCSANOW: nothing here waits
            // for a terminal that does not drain.
            let _ = termios::tcflow(stdin.as_fd(), termios::FlowArg::TCOON);
            let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, t);
        }
    }
}

/// A pseudo-terminal for the task: the master stays with Orchestra.
pub struct Pty {
    /// Orchestra's side: the task's output is read here, its input written.
    pub master: File,
    /// The task's side (its stdin, stdout and stderr).
    pub slave: OwnedFd,
}

impl Pty {
    /// Open a pseudo-terminal with the caller's window size (when stdout is a
    /// terminal) and default settings.
    pub fn open() -> std::io::Result<Pty> {
        let size = crate::sys::window_size(std::io::stdout().as_raw_fd()).map(|w| nix::pty::Winsize {
            ws_row: w.ws_row,
            ws_col: w.ws_col,
            ws_xpixel: w.ws_xpixel,
            ws_ypixel: w.ws_ypixel,
        });
        let p = nix::pty::openpty(size.as_ref(), None).map_err(std::io::Error::from)?;
        Ok(Pty { master: File::from(p.master), slave: p.slave })
    }
}
