//! RFC 6962 / RFC 9162 Merkle tree hashing over the log's records: tree heads,
//! inclusion and consistency proofs (generation and verification).
//!
//! Definitions (RFC 9162 §2.1.1): a leaf's hash is `SHA-256(0x00 || leaf)`, an
//! interior node's `SHA-256(0x01 || left || right)`, the tree of `n > 1` leaves
//! splits at the largest power of two `k < n`, and the empty tree's head is
//! `SHA-256("")`. In the audit log a leaf is a record's payload (FORMAT.md §5.1).
//!
//! Guarantees: the functions here are pure; proof generation asks a
//! [`Subtrees`] source only for the hashes of *perfect, aligned* subtrees (as a
//! tiled store keeps them) and of the leaves, and produces exactly the proofs of
//! RFC 9162 §2.1.3.1 and §2.1.4.1; verification follows §2.1.3.2 and §2.1.4.2
//! and never panics on hostile input.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The head of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where the hashes of perfect, aligned subtrees come from: the subtree of
/// `2^height` leaves starting at leaf `index << height`.
pub trait Subtrees {
    /// Why a hash cannot be had (I/O, a short store).
    type Error;
    /// The hash of the perfect subtree at (`height`, `index`); height 0 is a leaf hash.
    fn perfect(&self, height: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The head of the tree over leaves `start..start + n` (`n >= 1`), which must
/// be a subtree of the larger tree in RFC 6962's recursive split (it is, for
/// every range the proofs below ask for).
pub fn subtree_root<S: Subtrees>(s: &S, start: u64, n: u64) -> Result<Hash, S::Error> {
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return s.perfect(n.trailing_zeros(), start >> n.trailing_zeros());
    }
    let k = split(n);
    let left = subtree_root(s, start, k)?;
    let right = subtree_root(s, start + k, n - k)?;
    Ok(node_hash(&left, &right))
}

/// The perfect subtrees along the right edge of the tree of `n` leaves, one per
/// set bit of `n`, left to right, as `(start, hash)`: every imperfect node of
/// that tree is the fold of a suffix of them, so a proof needs each only once.
struct RightEdge {
    n: u64,
    nodes: Vec<(u64, Hash)>,
}

impl RightEdge {
    /// The frontier of `n` leaves, each node with where it starts.
    fn of<S: Subtrees>(s: &S, n: u64) -> Result<RightEdge, S::Error> {
        let mut start = 0u64;
        let nodes = Frontier::at(s, n)?
            .nodes
            .into_iter()
            .map(|(h, hash)| {
                let at = start;
                start += 1 << h;
                (at, hash)
            })
            .collect();
        Ok(RightEdge { n, nodes })
    }

    /// The head of node (`start`, `size`) of the tree of `n` leaves.
    fn node<S: Subtrees>(&self, s: &S, start: u64, size: u64) -> Result<Hash, S::Error> {
        if start + size == self.n
            && !(size.is_power_of_two() && start.is_multiple_of(size))
            && let Some(i) = self.nodes.iter().position(|(st, _)| *st == start)
        {
            let mut it = self.nodes[i..].iter().rev();
            if let Some(&(_, mut acc)) = it.next() {
                for (_, h) in it {
                    acc = node_hash(h, &acc);
                }
                return Ok(acc);
            }
        }
        subtree_root(s, start, size)
    }
}

/// The tree head over the first `n` leaves.
pub fn root<S: Subtrees>(s: &S, n: u64) -> Result<Hash, S::Error> {
    if n == 0 { Ok(empty_root()) } else { RightEdge::of(s, n)?.node(s, 0, n) }
}

/// The inclusion proof of leaf `m` in the tree of the first `n` leaves
/// (RFC 9162 §2.1.3.1), from the leaf up. `None` when `m >= n`.
pub fn inclusion_proof<S: Subtrees>(s: &S, m: u64, n: u64) -> Result<Option<Vec<Hash>>, S::Error> {
    if m >= n {
        return Ok(None);
    }
    let mut proof = Vec::new();
    // Walk down from the whole tree, collecting the sibling of each step.
    let (mut start, mut size, mut m) = (0u64, n, m);
    let mut siblings = Vec::new();
    while size > 1 {
        let k = split(size);
        if m < k {
            siblings.push((start + k, size - k));
            size = k;
        } else {
            siblings.push((start, k));
            start += k;
            size -= k;
            m -= k;
        }
    }
    let edge = RightEdge::of(s, n)?;
    for (st, sz) in siblings.into_iter().rev() {
        proof.push(edge.node(s, st, sz)?);
    }
    Ok(Some(proof))
}

/// The consistency proof between the trees of the first `m` and the first `n`
/// leaves (RFC 9162 §2.1.4.1). `None` unless `0 < m <= n`.
pub fn consistency_proof<S: Subtrees>(s: &S, m: u64, n: u64) -> Result<Option<Vec<Hash>>, S::Error> {
    if m == 0 || m > n {
        return Ok(None);
    }
    // SUBPROOF(m, D[start..start+size], b), iteratively: the nodes are
    // collected top-down and emitted bottom-up.
    let (mut start, mut size, mut m, mut whole) = (0u64, n, m, true);
    let mut nodes = Vec::new();
    loop {
        if m == size {
            if !whole {
                nodes.push((start, size));
            }
            break;
        }
        let k = split(size);
        if m <= k {
            nodes.push((start + k, size - k));
            size = k;
        } else {
            nodes.push((start, k));
            start += k;
            size -= k;
            m -= k;
            whole = false;
        }
    }
    let mut proof = Vec::with_capacity(nodes.len());
    let edge = RightEdge::of(s, n)?;
    for (st, sz) in nodes.into_iter().rev() {
        proof.push(edge.node(s, st, sz)?);
    }
    Ok(Some(proof))
}

/// Whether `proof` shows that the leaf with hash `leaf` is leaf `m` of the tree
/// of `n` leaves with head `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, m: u64, n: u64, proof: &[Hash], root: &Hash) -> bool {
    if m >= n {
        return false;
    }
    let (mut f_n, mut s_n) = (m, n - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// Whether `proof` shows that the tree of `n` leaves with head `new_root`
/// extends the tree of `m` leaves with head `old_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(m: u64, n: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if m == 0 || m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else { return false };
    let (mut f_n, mut s_n) = (m - 1, n - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    fr == *old_root && sr == *new_root && s_n == 0
}

/// The right edge of a growing tree: the heads of its perfect subtrees, one per
/// set bit of the size, largest first. Appending is amortised O(1) and the
/// head is O(log n); this is what a writer keeps to sign tree heads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(height, hash)` of each perfect subtree, left to right.
    nodes: Vec<(u32, Hash)>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// The frontier of the first `n` leaves, from a subtree source.
    pub fn at<S: Subtrees>(s: &S, n: u64) -> Result<Frontier, S::Error> {
        let mut nodes = Vec::new();
        let mut start = 0u64;
        for h in (0..64u32).rev() {
            if n & (1 << h) != 0 {
                nodes.push((h, s.perfect(h, start >> h)?));
                start += 1 << h;
            }
        }
        Ok(Frontier { size: n, nodes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The heads of the perfect subtrees, largest first (one per set bit of
    /// the size): what [`Frontier::from_right_edge`] takes back.
    pub fn right_edge(&self) -> Vec<Hash> {
        self.nodes.iter().map(|(_, h)| *h).collect()
    }

    /// The frontier of a tree of `size` leaves from its right edge; `None`
    /// unless there is exactly one hash per set bit of `size`.
    pub fn from_right_edge(size: u64, hashes: &[Hash]) -> Option<Frontier> {
        if hashes.len() != size.count_ones() as usize {
            return None;
        }
        let heights = (0..64u32).rev().filter(|h| size & (1 << h) != 0);
        Some(Frontier { size, nodes: heights.zip(hashes.iter().copied()).collect() })
    }

    /// Add a leaf by its hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.nodes.last() {
            if h != node.0 {
                break;
            }
            self.nodes.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// The tree head.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(&(_, mut acc)) = it.next() else { return empty_root() };
        for (_, h) in it {
            acc = node_hash(h, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All leaf hashes in memory; perfect subtrees computed on demand.
    struct Mem(Vec<Hash>);

    impl Subtrees for Mem {
        type Error = std::convert::Infallible;
        fn perfect(&self, height: u32, index: u64) -> Result<Hash, Self::Error> {
            let size = 1usize << height;
            let start = index as usize * size;
            Ok(naive(&self.0[start..start + size]))
        }
    }

    /// MTH straight from the definition.
    fn naive(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&naive(&leaves[..k]), &naive(&leaves[k..]))
            }
        }
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The eight leaves of RFC 6962's reference test data (certificate-transparency
    /// `merkle_tree_test`): "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
    /// 606162636465666768696a6b6c6d6e6f.
    fn reference_leaves() -> Vec<Vec<u8>> {
        vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            (0x60..=0x6f).collect(),
        ]
    }

    #[test]
    fn tree_heads_match_the_reference_values() {
        let leaves: Vec<Hash> = reference_leaves().iter().map(|l| leaf_hash(l)).collect();
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut f = Frontier::new();
        for (i, want) in expected.iter().enumerate() {
            f.push(leaves[i]);
            let mem = Mem(leaves.clone());
            assert_eq!(hex(&root(&mem, i as u64 + 1).unwrap()), *want, "size {}", i + 1);
            assert_eq!(hex(&f.root()), *want, "frontier, size {}", i + 1);
        }
        assert_eq!(hex(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn every_inclusion_and_consistency_proof_up_to_40_leaves_verifies_and_a_wrong_one_does_not() {
        let leaves: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mem = Mem(leaves.clone());
        for n in 1..=40u64 {
            let r = naive(&leaves[..n as usize]);
            assert_eq!(Frontier::at(&mem, n).unwrap().root(), r, "frontier at {n}");
            for m in 0..n {
                let p = inclusion_proof(&mem, m, n).unwrap().unwrap();
                assert!(verify_inclusion(&leaves[m as usize], m, n, &p, &r), "inclusion {m} in {n}");
                assert!(!verify_inclusion(&leaves[(m as usize + 1) % 40], m, n, &p, &r), "another leaf {m} in {n}");
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_inclusion(&leaves[m as usize], m, n, &bad, &r), "tampered inclusion {m} in {n}");
                }
                // (The size is bound by the signed checkpoint, not by the proof's
                // shape: leaf 0's proof in 3 leaves is also one in 4.)
                assert!(!verify_inclusion(&leaves[m as usize], m + 1, n, &p, &r) || p.is_empty(), "index {m} in {n}");
            }
            for m in 1..=n {
                let old = naive(&leaves[..m as usize]);
                let p = consistency_proof(&mem, m, n).unwrap().unwrap();
                assert!(verify_consistency(m, n, &old, &r, &p), "consistency {m} -> {n}");
                if m < n {
                    let other = leaf_hash(b"forked");
                    assert!(!verify_consistency(m, n, &other, &r, &p), "forked old head {m} -> {n}");
                    let mut bad = p.clone();
                    if let Some(last) = bad.last_mut() {
                        last[31] ^= 1;
                    }
                    assert!(!verify_consistency(m, n, &old, &r, &bad), "tampered consistency {m} -> {n}");
                }
            }
        }
        assert!(inclusion_proof(&mem, 3, 3).unwrap().is_none());
        assert!(consistency_proof(&mem, 0, 3).unwrap().is_none());
        assert!(!verify_consistency(0, 3, &empty_root(), &empty_root(), &[]));
    }
}
