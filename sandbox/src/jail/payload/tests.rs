use super::*;
use std::collections::HashMap;

/// Memory of fixed buffers at fixed addresses, and optionally one large
/// generated region (`filler` bytes with `inset` at `inset_at`), read without
/// being allocated.
#[derive(Default)]
struct Buffers {
    fixed: HashMap<u64, Vec<u8>>,
    region: Option<(u64, usize, Vec<u8>, usize)>,
}

const FILLER: u8 = b'A';

impl Memory for Buffers {
    fn cstr(&self, _: u64) -> Option<Vec<u8>> {
        None
    }
    fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read(addr, &mut buf).then_some(buf)
    }
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        if let Some((base, size, inset, at)) = &self.region
            && let Some(off) = addr.checked_sub(*base).map(|o| o as usize)
            && off + buf.len() <= *size
        {
            for (i, b) in buf.iter_mut().enumerate() {
                let p = off + i;
                *b = if p >= *at && p < at + inset.len() { inset[p - at] } else { FILLER };
            }
            return true;
        }
        // An address inside one of the buffers reads from there.
        self.fixed.iter().any(|(base, v)| {
            let Some(off) = addr.checked_sub(*base).map(|o| o as usize) else { return false };
            let ok = off + buf.len() <= v.len();
            if ok {
                buf.copy_from_slice(&v[off..off + buf.len()]);
            }
            ok
        })
    }
    fn pid(&self) -> u32 {
        1
    }
}

const VALUE: &[u8] = b"ghp_0123456789abcdef";

fn tokens() -> Vec<Token> {
    vec![Token { source: "$GITHUB_TOKEN".into(), value: String::from_utf8_lossy(VALUE).into_owned() }]
}

fn sendto(buf: u64, len: usize) -> Notification {
    Notification { id: 0, pid: 1, nr: libc::SYS_sendto as i32, arch: 0, args: [3, buf, len as u64, 0, 0, 0] }
}

/// `msghdr`s (56 bytes) or `mmsghdr`s (64) at `at`, each with the iovecs
/// `msgs[i]` (pairs of address and length), whose arrays go at `iov_at`.
fn headers(mem: &mut Buffers, at: u64, stride: usize, iov_at: u64, msgs: &[&[(u64, u64)]]) {
    let mut hdrs = vec![0u8; stride * msgs.len()];
    let mut next = iov_at;
    for (i, iovs) in msgs.iter().enumerate() {
        let h = &mut hdrs[i * stride..];
        h[16..24].copy_from_slice(&next.to_ne_bytes());
        h[24..32].copy_from_slice(&(iovs.len() as u64).to_ne_bytes());
        let arr: Vec<u8> = iovs.iter().flat_map(|(b, l)| [b.to_ne_bytes(), l.to_ne_bytes()].concat()).collect();
        mem.fixed.insert(next, arr);
        next += 0x100;
    }
    mem.fixed.insert(at, hdrs);
}

fn rule(d: &Decision) -> Option<Rule> {
    match d {
        Decision::Deny { rule, .. } => Some(*rule),
        Decision::Continue
        | Decision::Fail { .. }
        | Decision::SameBytes { .. }
        | Decision::GitConfig { .. }
        | Decision::OwnTerminal { .. } => None,
    }
}

fn detail(d: &Decision) -> &str {
    match d {
        Decision::Deny { detail, .. } => detail,
        Decision::Continue
        | Decision::Fail { .. }
        | Decision::SameBytes { .. }
        | Decision::GitConfig { .. }
        | Decision::OwnTerminal { .. } => "",
    }
}

#[test]
fn a_payload_holding_a_canary_is_not_sent_and_others_are() {
    let mut mem = Buffers::default();
    mem.fixed.insert(0x1000, b"POST x ghp_0123456789abcdef y".to_vec());
    mem.fixed.insert(0x2000, b"harmless".to_vec());
    let mut p = Payloads::new(&tokens());
    let d = p.judge(&sendto(0x1000, 29), &mem, || Some(7));
    assert_eq!(rule(&d), Some(Rule::CanaryLeak), "{d:?}");
    assert!(detail(&d).contains("sendto") && detail(&d).contains("holds the canary planted as $GITHUB_TOKEN"));
    assert!(!detail(&d).contains("ghp_"), "{d:?}");
    assert_eq!(p.judge(&sendto(0x2000, 8), &mem, || Some(7)), Decision::Continue);
    // The second iovec of a sendmsg holds it.
    headers(&mut mem, 0x5000, 56, 0x7000, &[&[(0x2000, 8), (0x1000, 29)]]);
    let msg = Notification { id: 0, pid: 1, nr: libc::SYS_sendmsg as i32, arch: 0, args: [3, 0x5000, 0, 0, 0, 0] };
    assert_eq!(rule(&p.judge(&msg, &mem, || Some(7))), Some(Rule::CanaryLeak));
    // No canaries: nothing is read.
    let mut none = Payloads::new(&[]);
    assert_eq!(none.judge(&sendto(0x1000, 29), &mem, || Some(7)), Decision::Continue);
    // A payload in memory the supervisor cannot read is denied as such.
    let d = p.judge(&sendto(0xdead_0000, 10), &mem, || Some(7));
    assert_eq!(rule(&d), Some(Rule::SyscallUnreadableArgument), "{d:?}");
}

#[test]
fn a_value_split_over_sends_on_one_socket_is_denied_where_it_completes() {
    for split in 1..VALUE.len() {
        let mut mem = Buffers::default();
        let mut first = b"GET /?t=".to_vec();
        first.extend_from_slice(&VALUE[..split]);
        let mut second = VALUE[split..].to_vec();
        // What follows the value does not matter (review F4: a `\n` after it).
        second.push(b'\n');
        let (a, b) = (0x1000u64, 0x9000u64);
        let (la, lb) = (first.len(), second.len());
        mem.fixed.insert(a, first);
        mem.fixed.insert(b, second);
        let mut t = Payloads::new(&tokens());
        assert_eq!(t.judge(&sendto(a, la), &mem, || Some(7)), Decision::Continue, "split {split}");
        // Another socket's stream is not this one's.
        assert_eq!(t.judge(&sendto(b, lb), &mem, || Some(8)), Decision::Continue, "split {split}");
        let d = t.judge(&sendto(b, lb), &mem, || Some(7));
        assert_eq!(rule(&d), Some(Rule::CanaryLeak), "split {split}");
        assert!(detail(&d).contains("completes the canary planted as $GITHUB_TOKEN"), "{d:?}");
        // Denied, so not sent: the stream still ends where it did.
        assert_eq!(rule(&t.judge(&sendto(b, lb), &mem, || Some(7))), Some(Rule::CanaryLeak), "split {split}");
    }
}

#[test]
fn a_value_split_over_the_messages_of_one_sendmmsg_is_denied() {
    // Review F4 (1): `sendmmsg` with tok[..k] in one message and tok[k..] + "\n" in the next.
    for split in 1..VALUE.len() {
        let mut mem = Buffers::default();
        let mut second = VALUE[split..].to_vec();
        second.push(b'\n');
        mem.fixed.insert(0x1000, VALUE[..split].to_vec());
        mem.fixed.insert(0x2000, second.clone());
        headers(&mut mem, 0x5000, 64, 0x7000, &[&[(0x1000, split as u64)], &[(0x2000, second.len() as u64)]]);
        let mm = Notification { id: 0, pid: 1, nr: libc::SYS_sendmmsg as i32, arch: 0, args: [3, 0x5000, 2, 0, 0, 0] };
        let mut p = Payloads::new(&tokens());
        let asked = std::cell::Cell::new(0);
        let d = p.judge(&mm, &mem, || {
            asked.set(asked.get() + 1);
            Some(7)
        });
        assert_eq!(rule(&d), Some(Rule::CanaryLeak), "split {split}: {d:?}");
        assert!(detail(&d).contains("sendmmsg") && detail(&d).contains("holds"), "{d:?}");
        assert_eq!(asked.get(), 0, "no socket had a stored end: none was looked up");
        // One message alone is fine.
        let one = Notification { args: [3, 0x5000, 1, 0, 0, 0], ..mm };
        assert_eq!(p.judge(&one, &mem, || Some(9)), Decision::Continue, "split {split}");
    }
}

#[test]
fn a_value_past_the_first_mebibyte_is_found_and_a_call_past_the_bound_is_refused() {
    // Review F4 (2): 1 MiB + 16 bytes of filler, then the value.
    let at = (1 << 20) + 16;
    let size = at + VALUE.len() + 1;
    let mut mem = Buffers { region: Some((0x10_0000_0000, size, VALUE.to_vec(), at)), ..Buffers::default() };
    let mut p = Payloads::new(&tokens());
    let d = p.judge(&sendto(0x10_0000_0000, size), &mem, || Some(7));
    assert_eq!(rule(&d), Some(Rule::CanaryLeak), "{d:?}");
    // At every place across a window's edge.
    for at in [WINDOW - 5, 2 * WINDOW - 1, 3 * WINDOW - VALUE.len(), 7 * WINDOW + 3] {
        mem.region = Some((0x10_0000_0000, 8 * WINDOW, VALUE.to_vec(), at));
        let d = p.judge(&sendto(0x10_0000_0000, 8 * WINDOW), &mem, || Some(7));
        assert_eq!(rule(&d), Some(Rule::CanaryLeak), "at {at}: {d:?}");
    }
    // The same filler without the value passes: a large upload is not a leak.
    mem.region = Some((0x10_0000_0000, 16 << 20, Vec::new(), 0));
    assert_eq!(p.judge(&sendto(0x10_0000_0000, 16 << 20), &mem, || Some(7)), Decision::Continue);
    // More than the supervisor judges in one call: refused, never sent unjudged.
    let d = p.judge(&sendto(0x10_0000_0000, MAX_SCANNED + 1), &mem, || Some(7));
    assert_eq!(rule(&d), Some(Rule::CanaryUnverifiable), "{d:?}");
    assert!(detail(&d).contains("it was not sent"), "{d:?}");
}

#[test]
fn a_value_in_three_small_sends_and_through_sendmsg_iovecs_is_found() {
    let mut mem = Buffers::default();
    mem.fixed.insert(0x1000, b"ghp_0123".to_vec());
    mem.fixed.insert(0x2000, b"456789".to_vec());
    mem.fixed.insert(0x3000, b"ab".to_vec());
    mem.fixed.insert(0x4000, b"cdef and more".to_vec());
    headers(&mut mem, 0x5000, 56, 0x6000, &[&[(0x3000, 2), (0x4000, 13)]]);
    let mut t = Payloads::new(&tokens());
    assert_eq!(t.judge(&sendto(0x1000, 8), &mem, || Some(7)), Decision::Continue);
    assert_eq!(t.judge(&sendto(0x2000, 6), &mem, || Some(7)), Decision::Continue);
    let msg = Notification { id: 0, pid: 1, nr: libc::SYS_sendmsg as i32, arch: 0, args: [3, 0x5000, 0, 0, 0, 0] };
    let d = t.judge(&msg, &mem, || Some(7));
    assert_eq!(rule(&d), Some(Rule::CanaryLeak), "{d:?}");
    assert!(detail(&d).contains("sendmsg") && detail(&d).contains("$GITHUB_TOKEN"), "{d:?}");
    assert!(!detail(&d).contains("ghp_"), "{d:?}");
}

#[test]
fn what_is_kept_is_bounded_and_only_what_could_begin_a_value() {
    let mut mem = Buffers::default();
    mem.fixed.insert(0x1000, vec![b'x'; 4096]);
    let mut ends_with_g = vec![b'x'; 4096];
    ends_with_g.extend_from_slice(b"gh");
    mem.fixed.insert(0x10000, ends_with_g);
    let mut t = Payloads::new(&tokens());
    // Nothing that could begin a value, nothing kept: the socket is not even asked.
    let asked = std::cell::Cell::new(0);
    for _ in 0..10 {
        let d = t.judge(&sendto(0x1000, 4096), &mem, || {
            asked.set(asked.get() + 1);
            Some(1)
        });
        assert_eq!(d, Decision::Continue);
    }
    assert_eq!((asked.get(), t.sockets.len()), (0, 0));
    for socket in 0..(MAX_SOCKETS as u64 + 10) {
        assert_eq!(t.judge(&sendto(0x10000, 4098), &mem, || Some(socket)), Decision::Continue);
    }
    assert_eq!(t.sockets.len(), MAX_SOCKETS);
    assert!(t.sockets.iter().all(|(_, end)| end == b"gh"), "only the end that could begin a value");
    assert_eq!(t.sockets[0].0, 10, "the least recently used went first");
    // A send that ends nothing begun forgets the socket's end.
    assert_eq!(t.judge(&sendto(0x1000, 4096), &mem, || Some(10)), Decision::Continue);
    assert!(!t.sockets.iter().any(|(s, _)| *s == 10));
}

#[test]
fn a_judgement_cut_short_by_a_stop_fails_the_call_unsent_and_keeps_the_stream() {
    // Review 88 F1: a send of many windows asks `stop` between windows; once it
    // says yes, the call is failed (EACCES, no rule) and nothing more is read.
    let mut mem = Buffers { region: Some((0x10_0000_0000, 64 * WINDOW, Vec::new(), 0)), ..Buffers::default() };
    mem.fixed.insert(0x1000, b"xx ghp_01".to_vec());
    let mut p = Payloads::new(&tokens());
    // The socket's stream ends with what could begin the value.
    assert_eq!(p.judge(&sendto(0x1000, 9), &mem, || Some(7)), Decision::Continue);
    let mut asked = 0;
    let d = p.judge_until(
        &sendto(0x10_0000_0000, 64 * WINDOW),
        &mem,
        || Some(7),
        || {
            asked += 1;
            asked == 3
        },
    );
    assert_eq!(d, Decision::Fail { errno: libc::EACCES });
    assert_eq!(asked, 3, "asked before each window after the first, and no more once stopped");
    // The stream still ends where it did: the value completed next is found.
    mem.fixed.insert(0x2000, b"23456789abcdef".to_vec());
    let d = p.judge(&sendto(0x2000, 14), &mem, || Some(7));
    assert_eq!(rule(&d), Some(Rule::CanaryLeak), "{d:?}");
    // A payload of one window never asks; one not stopped is judged whole.
    let one = p.judge_until(&sendto(0x10_0000_0000, WINDOW), &mem, || Some(8), || panic!("asked"));
    assert_eq!(one, Decision::Continue);
    let mut asked = 0;
    let whole = p.judge_until(
        &sendto(0x10_0000_0000, 64 * WINDOW),
        &mem,
        || Some(8),
        || {
            asked += 1;
            false
        },
    );
    assert_eq!(whole, Decision::Continue);
    assert!(asked >= 63, "asked {asked} times");
}
