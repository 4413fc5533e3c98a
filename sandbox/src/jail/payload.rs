//! What a task sends: the payload of `sendto`, `sendmsg` and `sendmmsg`,
//! read from the task's memory and searched for its canary values
//! (`canary.leak`: the call is denied, so the payload is not sent).
//!
//! Guarantees: with no canaries planted nothing is read; a payload is read
//! up to [`MAX_SCANNED`] bytes per call (a value beyond is not seen); a
//! payload the supervisor cannot read is denied with
//! `syscall.unreadable_argument`, as any unreadable argument is. Limits, as
//! for every argument read from the task's memory: another thread of the task
//! may change the buffer after it was judged (the report may then miss a
//! leak), and what the task sends with `write`, `writev`, `sendfile` or
//! `splice`, or encrypts first (TLS), is not seen (SECURITY.md).

use super::decide::Decision;
use super::memory::Memory;
use super::plan::JailPlan;
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
