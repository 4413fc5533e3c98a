//! Where a container's output comes from.
//!
//! Supervised, the in-container supervisor writes the task's stdout and
//! stderr into two FIFOs in its report directory, which the host reads
//! directly: the output is whole as soon as the container's init has exited
//! (every writer is dead by then), with no wait for the engine to close its
//! attach stream (~10–20 ms after the exit on Docker and Podman). Without the
//! supervisor, the engine's attach stream is the only way.
//!
//! Guarantees: the host holds each FIFO open for reading *and* writing, so it
//! never sees a premature end of file before the supervisor has opened its
//! end; the end of the output is decided by the caller (the init's exit),
//! after which [`Output::drain`] returns every byte still buffered. The FIFOs
//! are created mode 0600 for the task user in the private report directory,
//! which the task itself cannot reach (the supervisor's landlock rules).

use bollard::container::LogOutput;
use futures_util::{Stream, StreamExt};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::pin::Pin;
use tokio::io::unix::AsyncFd;

/// The engine's attach stream.
pub type AttachStream = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A source of output chunks: `(0 = stdout | 1 = stderr, bytes)`.
pub enum Output {
    /// The engine's attach stream (ends when the engine closes it).
    Attach(AttachStream),
    /// The supervisor's FIFOs (never end by themselves).
    Fifos([AsyncFd<File>; 2]),
}

/// Create the FIFOs `stdout` and `stderr` in `dir` (a directory only we can
/// write to), mode 0600, owned by `user`.
pub fn make_fifos(dir: &Path, user: (u32, u32)) -> std::io::Result<()> {
    for name in ["stdout", "stderr"] {
        let path = dir.join(name);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(std::io::Error::from)?;
        let file = open_fifo(&path)?;
        std::os::unix::fs::fchown(&file, Some(user.0), Some(user.1))?;
    }
    Ok(())
}

/// Open a FIFO for reading and writing without blocking, never through a symlink.
fn open_fifo(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::FileTypeExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.file_type().is_fifo() {
        return Err(std::io::Error::other(format!("{} is not a FIFO", path.display())));
    }
    Ok(file)
}

/// Open the host's ends (read + write, non-blocking) of the FIFOs in `dir`
/// made by [`make_fifos`] for `user`. Must be called in a runtime.
pub fn open_fifos(dir: &Path, user: (u32, u32)) -> std::io::Result<[AsyncFd<File>; 2]> {
    use std::os::unix::fs::MetadataExt;
    let open = |name: &str| -> std::io::Result<AsyncFd<File>> {
        let file = open_fifo(&dir.join(name))?;
        if file.metadata()?.uid() != user.0 {
            return Err(std::io::Error::other(format!("{}/{name} is not the task user's", dir.display())));
        }
        crate::sys::async_fd(file)
    };
    Ok([open("stdout")?, open("stderr")?])
}

/// [`make_fifos`] then [`open_fifos`]. Must be called in a runtime.
pub fn create_fifos(dir: &Path, user: (u32, u32)) -> std::io::Result<[AsyncFd<File>; 2]> {
    make_fifos(dir, user)?;
    open_fifos(dir, user)
}

async fn read_some(fd: &AsyncFd<File>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|f| f.get_ref().read(buf)) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

impl Output {
    /// The next chunk; `None` when the source has ended (attach stream closed,
    /// or a FIFO read failed).
    pub async fn next(&mut self) -> Option<(usize, Vec<u8>)> {
        match self {
            Output::Attach(stream) => loop {
                match stream.next().await? {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        return Some((0, message.to_vec()));
                    }
                    Ok(LogOutput::StdErr { message }) => return Some((1, message.to_vec())),
                    Ok(LogOutput::StdIn { .. }) => continue,
                    Err(_) => return None,
                }
            },
            Output::Fifos([out, err]) => {
                let (mut a, mut b) = (vec![0u8; 16384], vec![0u8; 16384]);
                let (i, n) = tokio::select! {
                    r = read_some(out, &mut a) => (0, r),
                    r = read_some(err, &mut b) => (1, r),
                };
                match n {
                    Ok(n) if n > 0 => {
                        let mut chunk = if i == 0 { a } else { b };
                        chunk.truncate(n);
                        Some((i, chunk))
                    }
                    _ => None,
                }
            }
        }
    }

    /// Everything the FIFOs still hold, stdout first (nothing for the attach
    /// stream, which ends by itself). Call once every writer is gone.
    pub fn drain(&mut self) -> Vec<(usize, Vec<u8>)> {
        let mut chunks = Vec::new();
        if let Output::Fifos(fds) = self {
            for (i, fd) in fds.iter().enumerate() {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = fd.get_ref().read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    chunks.push((i, buf[..n].to_vec()));
                }
            }
        }
        chunks
    }

    /// Whether the end of output is for the caller to decide (FIFOs).
    pub fn is_fifos(&self) -> bool {
        matches!(self, Output::Fifos(_))
    }
}
