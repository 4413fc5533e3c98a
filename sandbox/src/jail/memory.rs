//! Reading the notifying task's memory and descriptors ([`Memory`]), and
//! whether this process may read another's memory at all.
//!
//! Guarantees: a read is never longer than asked and a string never longer
//! than [`super::resolve::PATH_MAX`]; a failed read is `None`, never a guess.

use super::resolve::PATH_MAX;
use crate::sys::{self};
use std::os::fd::OwnedFd;

/// Access to the notifying task's memory and descriptors.
pub trait Memory {
    /// Read a NUL-terminated string at `addr`. A string of [`PATH_MAX`] bytes or
    /// more comes back cut at `PATH_MAX`, without its NUL.
    fn cstr(&self, addr: u64) -> Option<Vec<u8>>;
    /// Read `len` bytes at `addr`.
    fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>>;
    /// Fill `buf` from `addr` (all of it, or `false`): a large payload is
    /// read window by window into one buffer.
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        match self.bytes(addr, buf.len()) {
            Some(b) if b.len() == buf.len() => {
                buf.copy_from_slice(&b);
                true
            }
            _ => false,
        }
    }
    /// The task's pid.
    fn pid(&self) -> u32;
}

/// The notifying task's memory, read with process_vm_readv (one syscall, no
/// descriptor). Reads are only trusted while the notification is still
/// pending: [`TaskMem::still_valid`] guards against a reused pid.
pub(super) struct TaskMem<'a> {
    pid: u32,
    listener: &'a OwnedFd,
    id: u64,
    /// Fallback where process_vm_readv is filtered (container engines allow it
    /// only with CAP_SYS_PTRACE): /proc/PID/mem, opened on first use.
    mem_file: std::cell::OnceCell<Option<std::fs::File>>,
}

impl<'a> TaskMem<'a> {
    pub(super) fn new(pid: u32, listener: &'a OwnedFd, id: u64) -> Self {
        TaskMem { pid, listener, id, mem_file: std::cell::OnceCell::new() }
    }

    pub(super) fn still_valid(&self) -> bool {
        sys::notif_id_valid(self.listener, self.id)
    }

    fn read_at(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        match sys::read_process_memory(self.pid, addr, buf) {
            // EPERM/ENOSYS: filtered (container profiles); EFAULT: a page the task
            // cannot read itself (write-only mappings), which /proc/PID/mem can.
            Err(e) => {
                use std::os::unix::fs::FileExt;
                let f = self.mem_file.get_or_init(|| std::fs::File::open(format!("/proc/{}/mem", self.pid)).ok());
                match f {
                    Some(f) => f.read_at(buf, addr),
                    None => Err(e),
                }
            }
            other => other,
        }
    }
}

impl Memory for TaskMem<'_> {
    fn cstr(&self, addr: u64) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        let mut off = addr;
        while out.len() < 4096 {
            // Never read across a page boundary in one go: the next page may be unmapped.
            let to_page_end = 4096 - (off as usize % 4096);
            let want = buf.len().min(to_page_end);
            let n = self.read_at(off, &mut buf[..want]).ok()?;
            if n == 0 {
                return None;
            }
            if let Some(i) = buf[..n].iter().position(|b| *b == 0) {
                out.extend_from_slice(&buf[..i]);
                return self.still_valid().then_some(out);
            }
            out.extend_from_slice(&buf[..n]);
            off += n as u64;
        }
        // No NUL within PATH_MAX: the kernel refuses the path (ENAMETOOLONG).
        out.truncate(PATH_MAX);
        self.still_valid().then_some(out)
    }
    fn bytes(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let n = self.read_at(addr, &mut buf).ok()?;
        (n == len && self.still_valid()).then_some(buf)
    }
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(addr.wrapping_add(done as u64), &mut buf[done..]) {
                Ok(0) | Err(_) => return false,
                Ok(n) => done += n,
            }
        }
        self.still_valid()
    }
    fn pid(&self) -> u32 {
        self.pid
    }
}

/// A value at a known address: the forked task has the same one at the same place.
static MEMORY_PROBE: [u8; 8] = *b"orch-mem";

/// Whether we can read the memory of `task`, a fork of this process that has not
/// exec'd yet (it waits for us to answer its execve notification).
pub fn can_read_memory_of(task: i32) -> bool {
    let addr = std::hint::black_box(&MEMORY_PROBE).as_ptr() as u64;
    let mut buf = [0u8; 8];
    let read = match sys::read_process_memory(task as u32, addr, &mut buf) {
        Ok(n) => n,
        Err(_) => {
            use std::os::unix::fs::FileExt;
            match std::fs::File::open(format!("/proc/{task}/mem")) {
                Ok(f) => f.read_at(&mut buf, addr).unwrap_or(0),
                Err(_) => 0,
            }
        }
    };
    read == buf.len() && buf == MEMORY_PROBE
}
