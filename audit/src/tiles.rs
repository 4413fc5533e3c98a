//! A store of Merkle subtree hashes beside a log, so that tree heads and proofs
//! over millions of records cost a few small reads instead of rehashing the
//! log ([`crate::merkle`]).
//!
//! Layout: a directory holding one file per stored height, `h00`, `h04`,
//! `h08`, … (every [`STEP`]-th height): file `hNN` is the array of the 32-byte
//! hashes of the complete, aligned perfect subtrees of `2^NN` leaves, in order.
//! A perfect subtree of any other height is computed from at most
//! `2^STEP - 1` node hashes read in one `pread` from the stored height below it.
//!
//! The store is derived data, not part of the log format: it can be deleted
//! and rebuilt from the records, and a verifier never reads it. Guarantees:
//! [`Tiles::push`] keeps every file a prefix of the true array (hashes are
//! appended in leaf order; a crash leaves shorter files, which
//! [`Tiles::open`] cuts back to a consistent size); nothing is fsynced.

use crate::merkle::{Frontier, Hash, Subtrees, node_hash};
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// Heights stored: 0, STEP, 2·STEP, …
pub const STEP: u32 = 4;
const LEVELS: usize = (64 / STEP) as usize;

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TilesError {
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A hash beyond what the store holds was asked for.
    #[error("the Merkle store holds {have} leaves; subtree ({height}, {index}) is beyond it")]
    Beyond {
        /// Leaves stored.
        have: u64,
        /// Height asked for.
        height: u32,
        /// Index asked for.
        index: u64,
    },
}

/// The open store.
#[derive(Debug)]
pub struct Tiles {
    dir: PathBuf,
    files: Vec<File>,
    /// Hashes stored per level.
    lens: Vec<u64>,
    /// Leaves stored.
    size: u64,
    /// Per stored level, the hashes of the current incomplete group of
    /// `2^STEP` (the ones that will form the next hash of the level above).
    pending: Vec<Vec<Hash>>,
}

fn io(path: &Path, source: std::io::Error) -> TilesError {
    TilesError::Io { path: path.to_path_buf(), source }
}

impl Tiles {
    /// Open (or create) the store in `dir`. Files left inconsistent by a crash
    /// (a level shorter or longer than its level below implies) are cut back.
    pub fn open(dir: &Path) -> Result<Tiles, TilesError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let mut files = Vec::with_capacity(LEVELS);
        let mut lens = Vec::with_capacity(LEVELS);
        for l in 0..LEVELS {
            let path = dir.join(format!("h{:02}", l as u32 * STEP));
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| io(&path, e))?;
            let len = f.metadata().map_err(|e| io(&path, e))?.len() / 32;
            files.push(f);
            lens.push(len);
        }
        // Level l+1 must hold exactly floor(len(l) / 2^STEP) hashes.
        let size = lens[0];
        let mut want = size;
        for (l, f) in files.iter().enumerate() {
            let path = dir.join(format!("h{:02}", l as u32 * STEP));
            if lens[l] != want {
                // A crash between appends: the level above lags (append it
                // below) or a torn write left a partial hash (cut it).
                let keep = lens[l].min(want);
                f.set_len(keep * 32).map_err(|e| io(&path, e))?;
                lens[l] = keep;
            }
            want >>= STEP;
        }
        let mut t =
            Tiles { dir: dir.to_path_buf(), files, lens: lens.clone(), size, pending: vec![Vec::new(); LEVELS] };
        // Rebuild what the upper levels lack, and the pending groups.
        for l in 0..LEVELS - 1 {
            let group = 1u64 << STEP;
            let complete = lens[l] / group;
            for i in lens[l + 1]..complete {
                let hashes = t.read(l, i * group, group)?;
                let h = reduce(&hashes);
                t.append(l + 1, &h)?;
            }
            t.pending[l] = t.read(l, complete * group, t.lens[l] - complete * group)?;
        }
        Ok(t)
    }

    /// Leaves stored.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append the next leaf's hash.
    pub fn push(&mut self, leaf: Hash) -> Result<(), TilesError> {
        self.append(0, &leaf)?;
        self.pending[0].push(leaf);
        let mut l = 0;
        while self.pending[l].len() == 1 << STEP && l + 1 < LEVELS {
            let h = reduce(&self.pending[l]);
            self.pending[l].clear();
            self.append(l + 1, &h)?;
            self.pending[l + 1].push(h);
            l += 1;
        }
        self.size += 1;
        Ok(())
    }

    /// Drop every leaf from `n` on (the log was cut back).
    pub fn truncate(&mut self, n: u64) -> Result<(), TilesError> {
        if n >= self.size {
            return Ok(());
        }
        let mut want = n;
        for (l, f) in self.files.iter().enumerate() {
            f.set_len(want * 32).map_err(|e| io(&self.dir.join(format!("h{:02}", l as u32 * STEP)), e))?;
            want >>= STEP;
        }
        let dir = self.dir.clone();
        *self = Tiles::open(&dir)?;
        Ok(())
    }

    /// The frontier (right edge) of the stored tree.
    pub fn frontier(&self) -> Result<Frontier, TilesError> {
        Frontier::at(self, self.size)
    }

    fn append(&mut self, level: usize, h: &Hash) -> Result<(), TilesError> {
        let path = self.dir.join(format!("h{:02}", level as u32 * STEP));
        self.files[level].write_all_at(h, self.lens[level] * 32).map_err(|e| io(&path, e))?;
        self.lens[level] += 1;
        Ok(())
    }

    /// `count` hashes of stored level `level` from index `start`.
    fn read(&self, level: usize, start: u64, count: u64) -> Result<Vec<Hash>, TilesError> {
        let mut buf = vec![0u8; (count * 32) as usize];
        let path = self.dir.join(format!("h{:02}", level as u32 * STEP));
        self.files[level].read_exact_at(&mut buf, start * 32).map_err(|e| io(&path, e))?;
        Ok(buf.chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect())
    }
}

/// The head of a perfect tree over `hashes` (a power of two of them).
fn reduce(hashes: &[Hash]) -> Hash {
    let mut v = hashes.to_vec();
    while v.len() > 1 {
        v = v.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    v.first().copied().unwrap_or([0; 32])
}

impl Subtrees for Tiles {
    type Error = TilesError;

    fn perfect(&self, height: u32, index: u64) -> Result<Hash, TilesError> {
        let beyond = || TilesError::Beyond { have: self.size, height, index };
        let end = index.checked_add(1).and_then(|i| i.checked_mul(1u64.checked_shl(height)?)).ok_or_else(beyond)?;
        if height >= 64 || end > self.size {
            return Err(beyond());
        }
        let level = (height / STEP) as usize;
        let within = height % STEP;
        let count = 1u64 << within;
        Ok(reduce(&self.read(level, index * count, count)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion};
    use std::io::Write as _;

    type R = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn heads_and_proofs_from_the_store_agree_with_a_frontier_and_verify() -> R {
        let d = tempfile::tempdir()?;
        let mut t = Tiles::open(d.path())?;
        let mut f = Frontier::new();
        let mut heads = vec![crate::merkle::empty_root()];
        let leaves: Vec<Hash> = (0u32..600).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for l in &leaves {
            t.push(*l)?;
            f.push(*l);
            heads.push(f.root());
        }
        for n in [1u64, 2, 15, 16, 17, 255, 256, 257, 511, 599, 600] {
            assert_eq!(root(&t, n)?, heads[n as usize], "head at {n}");
            for m in [0, n / 3, n / 2, n - 1] {
                let p = inclusion_proof(&t, m, n)?.ok_or("no proof")?;
                assert!(verify_inclusion(&leaves[m as usize], m, n, &p, &heads[n as usize]), "{m} in {n}");
                if m > 0 {
                    let c = consistency_proof(&t, m, n)?.ok_or("no proof")?;
                    assert!(verify_consistency(m, n, &heads[m as usize], &heads[n as usize], &c), "{m} -> {n}");
                }
            }
        }
        assert_eq!(t.frontier()?.root(), f.root());
        Ok(())
    }

    #[test]
    fn a_store_cut_short_by_a_crash_is_repaired_on_open() -> R {
        let d = tempfile::tempdir()?;
        let mut t = Tiles::open(d.path())?;
        let leaves: Vec<Hash> = (0u32..300).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut f = Frontier::new();
        for l in &leaves {
            t.push(*l)?;
            f.push(*l);
        }
        drop(t);
        // A torn hash at level 0 and a lagging level 1 (as a kill between the writes leaves).
        let h0 = d.path().join("h00");
        std::fs::OpenOptions::new().append(true).open(&h0)?.write_all(&[7; 5])?;
        let h4 = d.path().join("h04");
        let len = std::fs::metadata(&h4)?.len();
        std::fs::OpenOptions::new().write(true).open(&h4)?.set_len(len - 64)?;
        let mut t = Tiles::open(d.path())?;
        assert_eq!(t.size(), 300);
        assert_eq!(root(&t, 300)?, f.root());
        t.truncate(100)?;
        let mut g = Frontier::new();
        for l in &leaves[..100] {
            g.push(*l);
        }
        assert_eq!((t.size(), root(&t, 100)?), (100, g.root()));
        t.push(leaves[100])?;
        g.push(leaves[100]);
        assert_eq!(root(&t, 101)?, g.root());
        Ok(())
    }
}
