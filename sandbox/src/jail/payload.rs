//! What a task sends: the payload of `sendto`, `sendmsg` and `sendmmsg`,
//! read from the task's memory and searched for its canary values
//! (`canary.leak`: the call is denied, so the payload is not sent).
//!
//! Guarantees: with no canaries planted nothing is read; a payload is read
//! up to [`MAX_SCANNED`] bytes per call (a value beyond is not seen); a
//! payload the supervisor cannot read is denied with
//! `syscall.unreadable_argument`, as any unreadable argument is. A value split
//! over consecutive sends on one socket is found by [`Tails`] (the send that
//! completes it is denied), for up to [`MAX_SOCKETS`] sockets at a time.
//! Limits, as for every argument read from the task's memory: another thread
//! of the task may change the buffer after it was judged (the report may then
//! miss a leak), and what the task sends with `write`, `writev`, `sendfile` or
//! `splice`, or encrypts first (TLS), is not seen (SECURITY.md).

use super::decide::Decision;
use super::memory::Memory;
use super::plan::JailPlan;
use crate::canary::Token;
use crate::rule::Rule;
use crate::sys::Notification;

/// At most this many payload bytes are read per call.
pub const MAX_SCANNED: usize = 1 << 20;

/// `struct iovec` is 16 bytes; the kernel caps an array at UIO_MAXIOV.
const IOVEC: u64 = 16;
const MAX_IOV: u64 = 1024;

/// Judge `sendto(fd, buf, len, …)`'s payload.
pub fn judge_sendto(plan: &JailPlan, n: &Notification, mem: &dyn Memory, call: &str) -> Decision {
    if plan.canaries.is_empty() {
        return Decision::Continue;
    }
    let (buf, len) = (n.args[1], n.args[2] as usize);
    if buf == 0 || len == 0 {
        return Decision::Continue; // nothing sent, or EFAULT from the kernel
    }
    match mem.bytes(buf, len.min(MAX_SCANNED)) {
        Some(payload) => judge(plan, &payload, call),
        None => unreadable(call),
    }
}

/// Judge the payload of one `struct msghdr` at `hdr` (its iovecs, concatenated).
pub fn judge_msghdr(plan: &JailPlan, mem: &dyn Memory, hdr: u64, call: &str) -> Decision {
    if plan.canaries.is_empty() {
        return Decision::Continue;
    }
    // msg_iov at offset 16, msg_iovlen at 24.
    let Some(h) = mem.bytes(hdr.wrapping_add(16), 16) else { return unreadable(call) };
    let iov = u64::from_ne_bytes(h[0..8].try_into().unwrap_or_default());
    let count = u64::from_ne_bytes(h[8..16].try_into().unwrap_or_default()).min(MAX_IOV);
    if iov == 0 || count == 0 {
        return Decision::Continue;
    }
    let Some(vec) = mem.bytes(iov, (count * IOVEC) as usize) else { return unreadable(call) };
    let mut payload: Vec<u8> = Vec::new();
    for e in vec.chunks_exact(IOVEC as usize) {
        let base = u64::from_ne_bytes(e[0..8].try_into().unwrap_or_default());
        let len = u64::from_ne_bytes(e[8..16].try_into().unwrap_or_default()) as usize;
        let room = MAX_SCANNED - payload.len();
        if base == 0 || len == 0 {
            continue;
        }
        match mem.bytes(base, len.min(room)) {
            Some(b) => payload.extend_from_slice(&b),
            None => return unreadable(call),
        }
        if payload.len() >= MAX_SCANNED {
            break;
        }
    }
    judge(plan, &payload, call)
}

fn judge(plan: &JailPlan, payload: &[u8], call: &str) -> Decision {
    match crate::canary::find(&plan.canaries, payload) {
        Some(t) => Decision::Deny {
            errno: libc::EACCES,
            rule: Rule::CanaryLeak,
            detail: format!("{call}: the payload holds the canary planted as {}; it was not sent", t.source),
        },
        None => Decision::Continue,
    }
}

fn unreadable(call: &str) -> Decision {
    Decision::Deny {
        errno: libc::EACCES,
        rule: super::decide::UNREADABLE_RULE,
        detail: format!("{call}: its payload lies in memory the supervisor cannot read"),
    }
}

/// How many sockets [`Tails`] remembers at once; past that, the one sent on
/// least recently is forgotten.
pub const MAX_SOCKETS: usize = 1024;

/// What was last sent on each socket that could begin a canary value, so
/// that a value split over consecutive sends on one socket
/// (`send(tok[:20]); send(tok[20:])`) is recognised. Per socket it keeps the
/// longest end of its stream that could begin a value
/// ([`crate::canary::could_begin`], the output scrubber's rule: at most the
/// longest value's length minus one byte), for at most [`MAX_SOCKETS`]
/// sockets. A socket is known by its inode, so a `dup`, another thread or a
/// forked child sending on it continue the same stream. Cost: one read of a
/// send's last bytes; the socket is looked up (a `readlink` in `/proc`) only
/// when some stream holds such an end or this send leaves one.
#[derive(Debug, Clone, Default)]
pub struct Tails {
    /// The longest value's length minus one: what could begin a value.
    keep: usize,
    /// `(socket inode, the end of its stream that could begin a value)`,
    /// never empty, the most recently sent on last.
    sockets: Vec<(u64, Vec<u8>)>,
}

impl Tails {
    /// Tails for the values of `tokens` (none: nothing is kept or read).
    pub fn new(tokens: &[Token]) -> Tails {
        let keep = tokens.iter().map(|t| t.value.len()).max().unwrap_or(0).saturating_sub(1);
        Tails { keep, sockets: Vec::new() }
    }

    /// Judge the send `n`, which the supervisor lets through otherwise (its
    /// own payload holds no value), on the socket `socket` names (its inode,
    /// asked only when needed): what its stream kept joined with this
    /// payload's first bytes must hold no value either. A send that completes
    /// one is denied (`canary.leak`, nothing of it is sent); one that
    /// continues is remembered.
    pub fn judge(
        &mut self,
        plan: &JailPlan,
        n: &Notification,
        mem: &dyn Memory,
        socket: impl FnOnce() -> Option<u64>,
    ) -> Decision {
        if self.keep == 0 || plan.canaries.is_empty() {
            return Decision::Continue;
        }
        let Some(segments) = segments(n, mem) else { return Decision::Continue };
        let total: usize = segments.iter().map(|(_, len)| *len).fold(0, usize::saturating_add);
        // Judged readable a moment ago; unreadable now, it changed under us: nothing learnt.
        let Some(last) = tail(mem, &segments, self.keep) else { return Decision::Continue };
        let leaves = crate::canary::could_begin(&plan.canaries, &last) > 0;
        if self.sockets.is_empty() && !leaves {
            return Decision::Continue;
        }
        let Some(socket) = socket() else { return Decision::Continue };
        let before = match self.sockets.iter().position(|(s, _)| *s == socket) {
            Some(i) => self.sockets.remove(i).1,
            None => Vec::new(),
        };
        let first = if before.is_empty() || total <= self.keep {
            // Nothing to join, or the whole payload is `last`.
            last.clone()
        } else {
            match head(mem, &segments, self.keep) {
                Some(h) => h,
                None => return Decision::Continue,
            }
        };
        let mut joined = before;
        joined.extend_from_slice(&first);
        if let Some(t) = crate::canary::find(&plan.canaries, &joined) {
            let call = super::seccomp::syscall_name(n.nr as i64);
            joined.truncate(joined.len() - first.len());
            self.remember(socket, joined);
            return Decision::Deny {
                errno: libc::EACCES,
                rule: Rule::CanaryLeak,
                detail: format!(
                    "{call}: the payload completes the canary planted as {}, begun by the send before it on the same socket; it was not sent",
                    t.source
                ),
            };
        }
        // The end of the stream now: this payload's, or (a short one) what it continued.
        let end = if total >= self.keep { last } else { joined };
        let k = crate::canary::could_begin(&plan.canaries, &end);
        self.remember(socket, end[end.len() - k..].to_vec());
        Decision::Continue
    }

    /// Keep `end` for `socket` (nothing, if it is empty), as the most recent.
    fn remember(&mut self, socket: u64, end: Vec<u8>) {
        if end.is_empty() {
            return;
        }
        if self.sockets.len() >= MAX_SOCKETS {
            self.sockets.remove(0);
        }
        self.sockets.push((socket, end));
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
/// pieces in the order they are sent (every iovec of every message).
fn segments(n: &Notification, mem: &dyn Memory) -> Option<Vec<(u64, usize)>> {
    const MSGHDR: u64 = 56;
    const MMSGHDR: u64 = 64;
    const MAX_VLEN: u64 = 1024;
    let nr = n.nr as i64;
    if nr == libc::SYS_sendto {
        return Some(vec![(n.args[1], n.args[2] as usize)]);
    }
    let (base, count, stride) = match nr {
        libc::SYS_sendmsg => (n.args[1], 1, MSGHDR),
        libc::SYS_sendmmsg => (n.args[1], (n.args[2] & 0xffff_ffff).min(MAX_VLEN), MMSGHDR),
        _ => return None,
    };
    let mut out = Vec::new();
    for i in 0..count {
        let h = mem.bytes(base.wrapping_add(i * stride).wrapping_add(16), 16)?;
        let iov = u64::from_ne_bytes(h[0..8].try_into().ok()?);
        let iovlen = u64::from_ne_bytes(h[8..16].try_into().ok()?).min(MAX_IOV);
        if iov == 0 || iovlen == 0 {
            continue;
        }
        let vec = mem.bytes(iov, (iovlen * IOVEC) as usize)?;
        for e in vec.chunks_exact(IOVEC as usize) {
            let base = u64::from_ne_bytes(e[0..8].try_into().ok()?);
            let len = u64::from_ne_bytes(e[8..16].try_into().ok()?) as usize;
            if base != 0 && len != 0 {
                out.push((base, len));
            }
        }
    }
    Some(out)
}

/// The first `n` bytes of the payload in `segments` (fewer if it is shorter).
fn head(mem: &dyn Memory, segments: &[(u64, usize)], n: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    for &(base, len) in segments {
        if out.len() >= n {
            break;
        }
        out.extend(mem.bytes(base, len.min(n - out.len()))?);
    }
    Some(out)
}

/// The last `n` bytes of the payload in `segments` (fewer if it is shorter).
fn tail(mem: &dyn Memory, segments: &[(u64, usize)], n: usize) -> Option<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut got = 0;
    for &(base, len) in segments.iter().rev() {
        if got >= n {
            break;
        }
        let take = len.min(n - got);
        pieces.push(mem.bytes(base.wrapping_add((len - take) as u64), take)?);
        got += take;
    }
    Some(pieces.into_iter().rev().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Memory of fixed buffers at fixed addresses.
    struct Buffers(HashMap<u64, Vec<u8>>);

    impl Memory for Buffers {
        fn cstr(&self, _: u64) -> Option<Vec<u8>> {
            None
        }
        fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
            // An address inside one of the buffers reads from there.
            self.0.iter().find_map(|(base, v)| {
                let off = addr.checked_sub(*base)? as usize;
                (off + len <= v.len()).then(|| v[off..off + len].to_vec())
            })
        }
        fn pid(&self) -> u32 {
            1
        }
    }

    fn plan() -> JailPlan {
        JailPlan {
            canaries: vec![Token { source: "$GITHUB_TOKEN".into(), value: "ghp_0123456789abcdef".into() }],
            ..JailPlan::for_tests()
        }
    }

    fn sendto(buf: u64, len: usize) -> Notification {
        Notification { id: 0, pid: 1, nr: libc::SYS_sendto as i32, arch: 0, args: [3, buf, len as u64, 0, 0, 0] }
    }

    fn rule(d: &Decision) -> Option<Rule> {
        match d {
            Decision::Deny { rule, .. } => Some(*rule),
            Decision::Continue => None,
        }
    }

    #[test]
    fn a_value_split_over_sends_on_one_socket_is_denied_where_it_completes() {
        let p = plan();
        let value = b"ghp_0123456789abcdef";
        for split in 1..value.len() {
            let mut mem = HashMap::new();
            let mut first = b"GET /?t=".to_vec();
            first.extend_from_slice(&value[..split]);
            let second = value[split..].to_vec();
            let (a, b) = (0x1000u64, 0x9000u64);
            let (la, lb) = (first.len(), second.len());
            mem.insert(a, first);
            mem.insert(b, second);
            let mem = Buffers(mem);
            let mut t = Tails::new(&p.canaries);
            assert_eq!(t.judge(&p, &sendto(a, la), &mem, || Some(7)), Decision::Continue, "split {split}");
            // Another socket's stream is not this one's.
            assert_eq!(t.judge(&p, &sendto(b, lb), &mem, || Some(8)), Decision::Continue, "split {split}");
            assert_eq!(rule(&t.judge(&p, &sendto(b, lb), &mem, || Some(7))), Some(Rule::CanaryLeak), "split {split}");
            // Denied, so not sent: the stream still ends where it did.
            assert_eq!(rule(&t.judge(&p, &sendto(b, lb), &mem, || Some(7))), Some(Rule::CanaryLeak), "split {split}");
        }
    }

    #[test]
    fn a_value_in_three_small_sends_and_through_sendmsg_iovecs_is_found() {
        let p = plan();
        let mut mem = HashMap::new();
        mem.insert(0x1000, b"ghp_0123".to_vec());
        mem.insert(0x2000, b"456789".to_vec());
        mem.insert(0x3000, b"ab".to_vec());
        mem.insert(0x4000, b"cdef and more".to_vec());
        // A msghdr at 0x5000 whose two iovecs (at 0x6000) are 0x3000 and 0x4000.
        let mut hdr = vec![0u8; 56];
        hdr[16..24].copy_from_slice(&0x6000u64.to_ne_bytes());
        hdr[24..32].copy_from_slice(&2u64.to_ne_bytes());
        mem.insert(0x5000, hdr);
        let mut iov = Vec::new();
        for (base, len) in [(0x3000u64, 2u64), (0x4000, 13)] {
            iov.extend_from_slice(&base.to_ne_bytes());
            iov.extend_from_slice(&len.to_ne_bytes());
        }
        mem.insert(0x6000, iov);
        let mem = Buffers(mem);
        let mut t = Tails::new(&p.canaries);
        assert_eq!(t.judge(&p, &sendto(0x1000, 8), &mem, || Some(7)), Decision::Continue);
        assert_eq!(t.judge(&p, &sendto(0x2000, 6), &mem, || Some(7)), Decision::Continue);
        let msg = Notification { id: 0, pid: 1, nr: libc::SYS_sendmsg as i32, arch: 0, args: [3, 0x5000, 0, 0, 0, 0] };
        let d = t.judge(&p, &msg, &mem, || Some(7));
        assert_eq!(rule(&d), Some(Rule::CanaryLeak), "{d:?}");
        let Decision::Deny { detail, .. } = d else { unreachable!() };
        assert!(detail.contains("sendmsg") && detail.contains("$GITHUB_TOKEN") && !detail.contains("ghp_"), "{detail}");
    }

    #[test]
    fn what_is_kept_is_bounded_and_only_what_could_begin_a_value() {
        let p = plan();
        let mut mem = HashMap::new();
        mem.insert(0x1000, vec![b'x'; 4096]);
        let mut ends_with_g = vec![b'x'; 4096];
        ends_with_g.extend_from_slice(b"gh");
        mem.insert(0x10000, ends_with_g);
        let mem = Buffers(mem);
        let mut t = Tails::new(&p.canaries);
        // Nothing that could begin a value, nothing kept: the socket is not even asked.
        let asked = std::cell::Cell::new(0);
        for _ in 0..10 {
            let d = t.judge(&p, &sendto(0x1000, 4096), &mem, || {
                asked.set(asked.get() + 1);
                Some(1)
            });
            assert_eq!(d, Decision::Continue);
        }
        assert_eq!((asked.get(), t.sockets.len()), (0, 0));
        for socket in 0..(MAX_SOCKETS as u64 + 10) {
            assert_eq!(t.judge(&p, &sendto(0x10000, 4098), &mem, || Some(socket)), Decision::Continue);
        }
        assert_eq!(t.sockets.len(), MAX_SOCKETS);
        assert!(t.sockets.iter().all(|(_, end)| end == b"gh"), "only the end that could begin a value");
        assert_eq!(t.sockets[0].0, 10, "the least recently used went first");
        // A send that ends nothing begun forgets the socket's end.
        assert_eq!(t.judge(&p, &sendto(0x1000, 4096), &mem, || Some(10)), Decision::Continue);
        assert!(!t.sockets.iter().any(|(s, _)| *s == 10));
        // No canaries: nothing is read or kept.
        let mut none = Tails::new(&[]);
        let empty = JailPlan::for_tests();
        assert_eq!(none.judge(&empty, &sendto(0x10000, 4098), &mem, || Some(1)), Decision::Continue);
        assert!(none.sockets.is_empty());
    }
}
