//! What a task sends: the payload of `sendto`, `sendmsg` and `sendmmsg`,
//! read from the task's memory and searched for its canary values
//! (`canary.leak`: the call is denied, so nothing of it is sent).
//!
//! Guarantees ([`Payloads::judge`]):
//! - With no canaries planted nothing is read.
//! - One call is one stream: every iovec of every message (all the messages
//!   of a `sendmmsg`), in the order the kernel sends them, joined to what the
//!   same socket's earlier sends left that could begin a value. A value split
//!   over iovecs, over the messages of one `sendmmsg`, or over consecutive
//!   sends on one socket is found; the call that holds or completes it is
//!   denied (EACCES).
//! - The whole payload is read, window by window ([`WINDOW`] bytes, the
//!   windows overlapping by the longest value's length minus one), up to
//!   [`MAX_SCANNED`] bytes per call. A call that would send more is denied as
//!   `canary.unverifiable` rather than sent partly unjudged: never a silent
//!   pass. The cost is linear in the bytes sent (a copy out of the task's
//!   memory and one substring search per value: ~2–6 GB/s).
//! - A payload the supervisor cannot read is denied with
//!   `syscall.unreadable_argument`, as any unreadable argument is.
//! - A judgement is interruptible ([`Payloads::judge_until`]): before each
//!   window after the first it asks whether to stop (the host's `stop`
//!   waits), and if so the call is failed with EACCES, unsent and
//!   unreported (fail closed), and the socket's stream is left as it was. So
//!   no send, however large, keeps the supervisor from its final checks past
//!   the stop's grace (review 88 F1).
//! - Per socket (known by its inode, so a `dup`, another thread or a forked
//!   child continue the same stream) only the end of its stream that could
//!   begin a value is kept (at most the longest value's length minus one
//!   byte), for at most [`MAX_SOCKETS`] sockets; the socket is looked up (a
//!   `readlink` in `/proc`) only when some stream holds such an end or this
//!   send leaves one.
//!
//! Limits, as for every argument read from the task's memory: another thread
//! of the task may change the buffer after it was judged (the report may then
//! miss a leak), and what the task sends with `write`, `writev`, `sendfile` or
//! `splice`, or encrypts first (TLS), is not seen (SECURITY.md).

use super::decide::Decision;
use super::memory::Memory;
use crate::canary::{Matcher, Searched, Token};
use crate::rule::Rule;
use crate::sys::Notification;

/// At most this many payload bytes are judged per call; a call that sends
/// more is denied (`canary.unverifiable`). 4 GiB: about 4 s of judging (a
/// debug build, review 88 F1), bound to a call that names the same memory
/// over and over (1,024 iovecs of 4 MiB); a real single send of a large body
/// (Python's `sendall` of a 300 MiB bytes object is one call) stays far below
/// it (review 59, F6: 256 MiB refused such an upload). That is longer than
/// the host's stop grace: the judgement is cut short by a stop
/// ([`Payloads::judge_until`]).
pub const MAX_SCANNED: usize = 4 << 30;

/// The payload is read and searched this many bytes at a time.
pub const WINDOW: usize = 256 << 10;

/// How many sockets [`Payloads`] remembers at once; past that, the one sent
/// on least recently is forgotten.
pub const MAX_SOCKETS: usize = 1024;

/// `struct iovec` is 16 bytes; the kernel caps an array at UIO_MAXIOV.
const IOVEC: u64 = 16;
const MAX_IOV: u64 = 1024;

/// The judge of every send, and what each socket's stream ended with.
#[derive(Debug, Clone, Default)]
pub struct Payloads {
    matcher: Matcher,
    /// `(socket inode, the end of its stream that could begin a value)`,
    /// never empty, the most recently sent on last.
    sockets: Vec<(u64, Vec<u8>)>,
    /// The window's memory, reused from call to call.
    buf: Vec<u8>,
}

impl Payloads {
    /// The judge for the values of `tokens` (none: nothing is read or kept).
    pub fn new(tokens: &[Token]) -> Payloads {
        Payloads { matcher: Matcher::new(tokens), sockets: Vec::new(), buf: Vec::new() }
    }

    /// Judge the payload of the send `n` (`sendto`, `sendmsg`, `sendmmsg`;
    /// anything else continues), on the socket `socket` names (its inode,
    /// asked only when needed).
    pub fn judge(&mut self, n: &Notification, mem: &dyn Memory, socket: impl FnOnce() -> Option<u64>) -> Decision {
        self.judge_until(n, mem, socket, || false)
    }

    /// [`Payloads::judge`], asking `stop` before each window after the first
    /// (a payload of one window never asks): once it says yes, the call is
    /// [`Decision::Fail`] with EACCES (not sent, no rule: the task is being
    /// stopped) and the socket's stream stays as it was.
    pub fn judge_until(
        &mut self,
        n: &Notification,
        mem: &dyn Memory,
        socket: impl FnOnce() -> Option<u64>,
        mut stop: impl FnMut() -> bool,
    ) -> Decision {
        if self.matcher.is_empty() {
            return Decision::Continue;
        }
        let call = super::seccomp::syscall_name(n.nr as i64);
        let segments = match segments(n, mem) {
            Some(Ok(s)) => s,
            Some(Err(what)) => return unreadable(&call, what),
            None => return Decision::Continue,
        };
        let total = segments.iter().fold(0usize, |sum, (_, len)| sum.saturating_add(*len));
        if total == 0 {
            return Decision::Continue;
        }
        if total > MAX_SCANNED {
            return Decision::Deny {
                errno: libc::EACCES,
                rule: Rule::CanaryUnverifiable,
                detail: format!(
                    "{call}: a payload of {total} bytes in one call is more than the {MAX_SCANNED} bytes the supervisor judges for canaries; it was not sent"
                ),
            };
        }
        let mut socket = Some(socket);
        let mut inode: Option<u64> = None;
        let before = if self.sockets.is_empty() {
            Vec::new()
        } else {
            inode = socket.take().and_then(|f| f());
            match inode.and_then(|s| self.sockets.iter().position(|(k, _)| *k == s)) {
                Some(i) => self.sockets.remove(i).1,
                None => Vec::new(),
            }
        };
        let mut reader = Reader { mem, segments: &segments, at: 0, offset: 0 };
        let mut buf = std::mem::take(&mut self.buf);
        let mut first = true;
        let searched = self.matcher.search_stream(&before, &mut buf, WINDOW, |out| {
            if !std::mem::take(&mut first) && !reader.done() && stop() {
                return Err(Cut::Stopped);
            }
            reader.fill(out).map_err(|()| Cut::Unreadable)
        });
        self.buf = buf;
        match searched {
            Err(cut) => {
                // Not sent: the stream still ends where it did.
                self.remember(inode, before);
                match cut {
                    Cut::Unreadable => unreadable(&call, "payload"),
                    Cut::Stopped => Decision::Fail { errno: libc::EACCES },
                }
            }
            Ok(Searched::Found(t, at)) => {
                let detail = if (at as usize) < before.len() {
                    format!(
                        "{call}: the payload completes the canary planted as {}, begun by the send before it on the same socket; it was not sent",
                        t.source
                    )
                } else {
                    format!("{call}: the payload holds the canary planted as {}; it was not sent", t.source)
                };
                self.remember(inode, before);
                Decision::Deny { errno: libc::EACCES, rule: Rule::CanaryLeak, detail }
            }
            Ok(Searched::Clean(end)) => {
                let k = self.matcher.could_begin(&end);
                if k > 0 {
                    if let Some(f) = socket.take() {
                        inode = f();
                    }
                    self.remember(inode, end[end.len() - k..].to_vec());
                }
                Decision::Continue
            }
        }
    }

    /// Keep `end` for `socket` (nothing, if either is missing), as the most recent.
    fn remember(&mut self, socket: Option<u64>, end: Vec<u8>) {
        let Some(socket) = socket else { return };
        if end.is_empty() {
            return;
        }
        self.sockets.retain(|(s, _)| *s != socket);
        if self.sockets.len() >= MAX_SOCKETS {
            self.sockets.remove(0);
        }
        self.sockets.push((socket, end));
    }
}

/// Why a judgement ended before the payload's end.
enum Cut {
    /// A piece of it the supervisor cannot read.
    Unreadable,
    /// The caller's `stop` said so.
    Stopped,
}

/// Reads a payload's segments in order into the windows it is asked to fill.
struct Reader<'a> {
    mem: &'a dyn Memory,
    segments: &'a [(u64, usize)],
    /// The segment being read, and how far.
    at: usize,
    offset: usize,
}

impl Reader<'_> {
    /// Whether every segment has been read.
    fn done(&self) -> bool {
        self.at >= self.segments.len()
    }

    /// Fill as much of `out` as the payload has left; `Err` for a piece the
    /// supervisor cannot read.
    fn fill(&mut self, out: &mut [u8]) -> Result<usize, ()> {
        let mut done = 0;
        while done < out.len() {
            let Some(&(base, len)) = self.segments.get(self.at) else { break };
            let take = (len - self.offset).min(out.len() - done);
            if !self.mem.read(base.wrapping_add(self.offset as u64), &mut out[done..done + take]) {
                return Err(());
            }
            done += take;
            self.offset += take;
            if self.offset == len {
                self.at += 1;
                self.offset = 0;
            }
        }
        Ok(done)
    }
}

fn unreadable(call: &str, what: &str) -> Decision {
    Decision::Deny {
        errno: libc::EACCES,
        rule: super::decide::UNREADABLE_RULE,
        detail: format!("{call}: its {what} lies in memory the supervisor cannot read"),
    }
}

/// The inode of the socket `fd` of process `pid` (`socket:[N]` in
/// `/proc/PID/fd`); `None` for anything else (the kernel refuses the send).
pub fn socket_inode(pid: u32, fd: u64) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/fd/{}", fd as i32)).ok()?;
    let text = link.to_str()?;
    text.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// The payload of `sendto`, `sendmsg` or `sendmmsg` as `(address, length)`
/// pieces in the order they are sent (every iovec of every message); `None`
/// for another call, `Err` naming what could not be read.
fn segments(n: &Notification, mem: &dyn Memory) -> Option<Result<Vec<(u64, usize)>, &'static str>> {
    const MSGHDR: u64 = 56;
    const MMSGHDR: u64 = 64;
    /// The kernel's own cap on sendmmsg's vlen (UIO_MAXIOV).
    const MAX_VLEN: u64 = 1024;
    let nr = n.nr as i64;
    if nr == libc::SYS_sendto {
        let (buf, len) = (n.args[1], n.args[2] as usize);
        // Nothing sent, or EFAULT from the kernel.
        return Some(Ok(if buf == 0 || len == 0 { Vec::new() } else { vec![(buf, len)] }));
    }
    let (base, count, stride) = match nr {
        libc::SYS_sendmsg => (n.args[1], 1, MSGHDR),
        libc::SYS_sendmmsg => (n.args[1], (n.args[2] & 0xffff_ffff).min(MAX_VLEN), MMSGHDR),
        _ => return None,
    };
    if base == 0 {
        return Some(Ok(Vec::new())); // EFAULT from the kernel
    }
    let word = |b: &[u8], at: usize| b.get(at..at + 8).and_then(|w| w.try_into().ok()).map(u64::from_ne_bytes);
    let mut out = Vec::new();
    for i in 0..count {
        // msg_iov at offset 16, msg_iovlen at 24.
        let Some(h) = mem.bytes(base.wrapping_add(i * stride).wrapping_add(16), 16) else {
            return Some(Err("message header"));
        };
        let (iov, iovlen) = (word(&h, 0).unwrap_or(0), word(&h, 8).unwrap_or(0).min(MAX_IOV));
        if iov == 0 || iovlen == 0 {
            continue;
        }
        let Some(vec) = mem.bytes(iov, (iovlen * IOVEC) as usize) else { return Some(Err("iovec array")) };
        for e in vec.chunks_exact(IOVEC as usize) {
            let (base, len) = (word(e, 0).unwrap_or(0), word(e, 8).unwrap_or(0) as usize);
            if base != 0 && len != 0 {
                out.push((base, len));
            }
        }
    }
    Some(Ok(out))
}

#[cfg(test)]
mod tests;
