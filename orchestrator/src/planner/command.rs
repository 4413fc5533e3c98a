//! A command backend: any program that reads the prompt on stdin and prints a
//! plan on stdout (an agent CLI in print mode, a script around a local model).
//!
//! Guarantees: no shell (the configured argv is executed directly); the
//! program is killed after its timeout; stdout is read up to 1 MiB; a
//! non-zero exit is an error naming the status and the start of stderr. The
//! program runs on the host with the orchestrator's environment: it is
//! trusted config, like a tool definition, and should be chosen as such.

use super::prompt::Conversation;
use super::{Backend, BackendError};
use std::io::{Read, Write};
use std::process::{Command as Proc, Stdio};
use std::time::{Duration, Instant};

/// Most stdout read from the program.
const MAX_OUTPUT: u64 = 1 << 20;

/// The command backend.
#[derive(Debug, Clone)]
pub struct Command {
    /// Name in messages.
    pub name: String,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Timeout of one call.
    pub timeout: Duration,
}

impl Backend for Command {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete(&self, conv: &Conversation) -> Result<String, BackendError> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(BackendError::Unavailable("command backend: empty argv".into()));
        };
        let mut child = Proc::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BackendError::Unavailable(format!("cannot start {program}: {e}")))?;
        let input = conv.as_text();
        let stdin = child.stdin.take();
        let writer = std::thread::spawn(move || {
            if let Some(mut s) = stdin {
                let _ = s.write_all(input.as_bytes());
            }
        });
        let stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stdout {
                let _ = s.take(MAX_OUTPUT).read_to_end(&mut buf);
            }
            buf
        });
        let stderr = child.stderr.take();
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stderr {
                let _ = s.take(4096).read_to_end(&mut buf);
            }
            buf
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BackendError::Timeout { url: program.clone(), after: self.timeout });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(BackendError::Transport(format!("{program}: {e}"))),
            }
        };
        let _ = writer.join();
        let out = reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        if !status.success() {
            let err = String::from_utf8_lossy(&err);
            let first = err.lines().next().unwrap_or("").chars().take(300).collect::<String>();
            return Err(BackendError::Transport(format!("{program} ended with {status}: {first}")));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
