//! Task fingerprints: what a task's result depends on.
//!
//! Guarantees: the fingerprint is a SHA-256 over a canonical encoding of the
//! argv, the task's environment additions, the effective policy's hash, and
//! the contents of every declared input (files by the SHA-256 of their
//! contents, directories walked in sorted order, symlinks hashed as their
//! target text, absent paths marked absent). Any change to one of these
//! changes the fingerprint; `resume` re-runs a succeeded task whose
//! fingerprint changed.
//!
//! A [`Cache`] shared by the fingerprints of one process saves re-reading
//! files that did not change: a file's content digest is reused only while
//! its device, inode, size, mode, mtime and ctime are all as they were, and
//! only when its mtime and ctime were older than the moment the digest was
//! taken by more than the timestamp granularity of its file system (a file
//! changed shortly before it was read — "racily clean" — is read again every
//! time). Any write to a file moves its ctime, which no user can set back, so
//! a change the key cannot see is one made in the same timestamp tick as the
//! read, and such files are never trusted. Directories are always walked.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What goes into a task's fingerprint.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The argv that runs.
    pub argv: &'a [String],
    /// The task's environment additions.
    pub env: &'a BTreeMap<String, String>,
    /// The effective policy's hash.
    pub policy_sha256: &'a str,
    /// The workspace.
    pub workdir: &'a Path,
    /// Declared input paths, relative to the workspace.
    pub paths: &'a [String],
}

/// How long after its last change a file on a file system with sub-second
/// timestamps stays "racy" (never served from the cache).
const FINE_WINDOW: Duration = Duration::from_secs(1);
/// The same for a file system whose timestamps are whole seconds (FAT keeps
/// two-second mtimes; a second more covers the kernel's coarse clock).
const COARSE_WINDOW: Duration = Duration::from_secs(3);

/// Content digests of files already read by this process, by path.
#[derive(Debug)]
pub struct Cache {
    entries: HashMap<PathBuf, Entry>,
    fine: Duration,
    coarse: Duration,
    files_read: u64,
    buf: Vec<u8>,
}

/// One file's content digest and what it was taken of.
#[derive(Debug, Clone)]
struct Entry {
    key: StatKey,
    digest: [u8; 32],
    /// When the read began (before the first byte), ns since the epoch.
    made_ns: i128,
}

/// What identifies a file's state without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatKey {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl StatKey {
    fn of(meta: &std::fs::Metadata) -> Self {
        StatKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mode: meta.mode(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }

    /// Whether both timestamps are whole seconds (a coarse file system).
    fn whole_seconds(&self) -> bool {
        self.mtime_ns % 1_000_000_000 == 0 && self.ctime_ns % 1_000_000_000 == 0
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::with_windows(FINE_WINDOW, COARSE_WINDOW)
    }
}

impl Cache {
    /// An empty cache with the default racy windows.
    pub fn new() -> Self {
        Cache::default()
    }

    fn with_windows(fine: Duration, coarse: Duration) -> Self {
        Cache { entries: HashMap::new(), fine, coarse, files_read: 0, buf: vec![0u8; 64 * 1024] }
    }

    /// How many files this cache has read (opened and hashed) so far.
    pub fn files_read(&self) -> u64 {
        self.files_read
    }

    /// Whether `e` may stand for a file whose metadata is now `key`.
    fn trusted(&self, e: &Entry, key: &StatKey) -> bool {
        let window = if key.whole_seconds() { self.coarse } else { self.fine };
        let newest = key.mtime_ns.max(key.ctime_ns);
        e.key == *key && e.made_ns - newest > window.as_nanos() as i128
    }

    /// The SHA-256 of the file at `path`, whose metadata (not followed) is `meta`.
    fn digest(&mut self, path: &Path, meta: &std::fs::Metadata) -> std::io::Result<[u8; 32]> {
        let key = StatKey::of(meta);
        if let Some(e) = self.entries.get(path)
            && self.trusted(e, &key)
        {
            return Ok(e.digest);
        }
        let made_ns = now_ns();
        let mut f = std::fs::File::open(path)?;
        self.files_read += 1;
        let mut h = Sha256::new();
        read_into(&mut h, &mut f, &mut self.buf)?;
        let digest: [u8; 32] = h.finalize().into();
        // Kept only if the file read is the file stat'ed, unchanged since.
        if StatKey::of(&f.metadata()?) == key {
            self.entries.insert(path.to_path_buf(), Entry { key, digest, made_ns });
        } else {
            self.entries.remove(path);
        }
        Ok(digest)
    }
}

fn now_ns() -> i128 {
    match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Compute a fingerprint, `sha256:<hex>`, reading every input file.
pub fn compute(inputs: &Inputs<'_>) -> std::io::Result<String> {
    compute_cached(inputs, &mut Cache::new())
}

/// Compute a fingerprint, `sha256:<hex>`, reading only the input files
/// `cache` cannot vouch for.
pub fn compute_cached(inputs: &Inputs<'_>, cache: &mut Cache) -> std::io::Result<String> {
    encode(inputs, b"orchestra-task-fingerprint-v2", &mut Files::Digest(cache))
}

/// The fingerprint as versions before the content cache computed it (file
/// contents streamed into the hash, every file read), so that `resume` still
/// recognises a task that succeeded in a run begun by such a version.
pub fn compute_v1(inputs: &Inputs<'_>) -> std::io::Result<String> {
    encode(inputs, b"orchestra-task-fingerprint-v1", &mut Files::Stream(vec![0u8; 64 * 1024]))
}

/// How a file's contents enter the hash.
enum Files<'c> {
    /// Raw, read every time (fingerprint v1).
    Stream(Vec<u8>),
    /// As the SHA-256 of the contents, from the cache when it can vouch (v2).
    Digest(&'c mut Cache),
}

fn encode(inputs: &Inputs<'_>, tag: &[u8], files: &mut Files<'_>) -> std::io::Result<String> {
    let mut h = Sha256::new();
    field(&mut h, tag);
    count(&mut h, inputs.argv.len());
    for a in inputs.argv {
        field(&mut h, a.as_bytes());
    }
    count(&mut h, inputs.env.len());
    for (k, v) in inputs.env {
        field(&mut h, k.as_bytes());
        field(&mut h, v.as_bytes());
    }
    field(&mut h, inputs.policy_sha256.as_bytes());
    let mut paths: Vec<&String> = inputs.paths.iter().collect();
    paths.sort();
    count(&mut h, paths.len());
    for p in paths {
        field(&mut h, p.as_bytes());
        let path = inputs.workdir.join(p);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => hash_node(&mut h, files, &path, &meta)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => field(&mut h, b"absent"),
            Err(e) => return Err(e),
        }
    }
    Ok(format!("sha256:{}", hex(&h.finalize())))
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn count(h: &mut Sha256, n: usize) {
    h.update((n as u64).to_le_bytes());
}

/// Hash one existing node whose metadata (not followed) is `meta`.
fn hash_node(h: &mut Sha256, files: &mut Files<'_>, path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    if !meta.file_type().is_file() {
        return hash_non_file(h, files, path, meta.file_type());
    }
    field(h, b"file");
    h.update(meta.len().to_le_bytes());
    match files {
        Files::Digest(cache) => h.update(cache.digest(path, meta)?),
        Files::Stream(buf) => stream(h, path, buf)?,
    }
    Ok(())
}

/// Hash a node that is not a regular file (its type is all it needs).
fn hash_non_file(h: &mut Sha256, files: &mut Files<'_>, path: &Path, ft: std::fs::FileType) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if ft.is_symlink() {
        field(h, b"symlink");
        field(h, std::fs::read_link(path)?.as_os_str().as_bytes());
    } else if ft.is_dir() {
        field(h, b"dir");
        hash_dir(h, files, path)?;
    } else {
        field(h, b"other");
    }
    Ok(())
}

/// Hash a directory's entries in name order. Types come from the directory
/// listing; only regular files are stat'ed, relative to the directory's
/// handle (no walk of the whole path per entry).
fn hash_dir(h: &mut Sha256, files: &mut Files<'_>, path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    count(h, entries.len());
    for e in entries {
        field(h, e.file_name().as_bytes());
        let child = e.path();
        let node = e.file_type().and_then(|ft| if ft.is_file() { e.metadata().map(Ok) } else { Ok(Err(ft)) });
        match node {
            Ok(Ok(meta)) => hash_node(h, files, &child, &meta)?,
            Ok(Err(ft)) => hash_non_file(h, files, &child, ft)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => field(h, b"absent"),
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Stream the file at `path` into `h` (fingerprint v1).
fn stream(h: &mut Sha256, path: &Path, buf: &mut [u8]) -> std::io::Result<()> {
    read_into(h, &mut std::fs::File::open(path)?, buf)
}

fn read_into(h: &mut Sha256, f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<()> {
    loop {
        let n = f.read(buf)?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ingredient_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.c"), "int main(){}").unwrap();
        let argv = vec!["make".to_string(), "all".to_string()];
        let mut env = BTreeMap::new();
        let paths = vec!["src".to_string(), "missing".to_string()];
        let fp = |argv: &[String], env: &BTreeMap<String, String>, pol: &str| {
            compute(&Inputs { argv, env, policy_sha256: pol, workdir: dir.path(), paths: &paths }).unwrap()
        };
        let base = fp(&argv, &env, "p1");
        assert_eq!(base, fp(&argv, &env, "p1"), "deterministic");
        assert_ne!(base, fp(&["make".into(), "test".into()], &env, "p1"));
        assert_ne!(base, fp(&argv, &env, "p2"));
        env.insert("CFLAGS".into(), "-O2".into());
        assert_ne!(base, fp(&argv, &env, "p1"));
        env.clear();
        std::fs::write(dir.path().join("src/a.c"), "int main(){return 1;}").unwrap();
        assert_ne!(base, fp(&argv, &env, "p1"));
        // Argument boundaries count: ["ab"] differs from ["a", "b"].
        assert_ne!(fp(&["ab".into()], &env, "p"), fp(&["a".into(), "b".into()], &env, "p"));
    }

    /// A workspace with `src/a.c` and an old enough ctime for `window`.
    fn settled_workspace(window: Duration) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.c"), "int main(){}").unwrap();
        std::fs::write(dir.path().join("src/b.c"), "int b;").unwrap();
        std::thread::sleep(window * 3);
        dir
    }

    fn fp_of(dir: &Path, cache: &mut Cache) -> String {
        let env = BTreeMap::new();
        let inputs = Inputs {
            argv: &["make".to_string()],
            env: &env,
            policy_sha256: "p",
            workdir: dir,
            paths: &["src".to_string(), "missing".to_string()],
        };
        let cached = compute_cached(&inputs, cache).unwrap();
        assert_eq!(cached, compute(&inputs).unwrap(), "the cache changed the fingerprint");
        cached
    }

    const TEST_WINDOW: Duration = Duration::from_millis(100);

    #[test]
    fn fingerprint_v1_is_the_encoding_earlier_versions_recorded() {
        // Computed independently (Python hashlib) from the v1 encoding.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/sub")).unwrap();
        std::fs::write(dir.path().join("src/a.c"), "int main(){}").unwrap();
        std::os::unix::fs::symlink("src/a.c", dir.path().join("link")).unwrap();
        let env = BTreeMap::from([("CC".to_string(), "cc".to_string())]);
        let inputs = Inputs {
            argv: &["make".to_string(), "all".to_string()],
            env: &env,
            policy_sha256: "p1",
            workdir: dir.path(),
            paths: &["src".to_string(), "missing".to_string(), "link".to_string()],
        };
        assert_eq!(
            compute_v1(&inputs).unwrap(),
            "sha256:ffd084539b4d1e991248dbdc1f5a0efd977cde5fb639660e9a303721836e2598"
        );
        assert_ne!(compute(&inputs).unwrap(), compute_v1(&inputs).unwrap(), "v2 is tagged apart from v1");
    }

    #[test]
    fn an_unchanged_settled_tree_is_not_read_again() {
        let dir = settled_workspace(TEST_WINDOW);
        let mut cache = Cache::with_windows(TEST_WINDOW, TEST_WINDOW);
        let first = fp_of(dir.path(), &mut cache);
        assert_eq!(cache.files_read(), 2);
        assert_eq!(fp_of(dir.path(), &mut cache), first);
        assert_eq!(cache.files_read(), 2, "an unchanged file was read again");
        // A new file is read; the others still are not.
        std::fs::write(dir.path().join("src/c.c"), "int c;").unwrap();
        assert_ne!(fp_of(dir.path(), &mut cache), first);
        assert_eq!(cache.files_read(), 3);
    }

    #[test]
    fn a_same_size_change_with_its_mtime_restored_changes_the_fingerprint() {
        let dir = settled_workspace(TEST_WINDOW);
        let mut cache = Cache::with_windows(TEST_WINDOW, TEST_WINDOW);
        let before = fp_of(dir.path(), &mut cache);
        let a = dir.path().join("src/a.c");
        let mtime = std::fs::metadata(&a).unwrap().modified().unwrap();
        std::fs::write(&a, "int main(){1").unwrap();
        std::fs::File::options().write(true).open(&a).unwrap().set_modified(mtime).unwrap();
        let meta = std::fs::metadata(&a).unwrap();
        assert_eq!((meta.len(), meta.modified().unwrap()), (12, mtime), "size and mtime are as before");
        let after = fp_of(dir.path(), &mut cache);
        assert_ne!(after, before, "a same-size change with the mtime put back was missed");
        assert_eq!(cache.files_read(), 3, "only the changed file was read again");
    }

    #[test]
    fn a_file_changed_within_the_racy_window_is_read_every_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.c"), "int main(){}").unwrap();
        // Changed just now: within the window its metadata cannot vouch for its contents.
        let mut cache = Cache::with_windows(Duration::from_secs(60), Duration::from_secs(60));
        let first = fp_of(dir.path(), &mut cache);
        assert_eq!(fp_of(dir.path(), &mut cache), first);
        assert_eq!(cache.files_read(), 2, "a racily clean file was served from the cache");
        // Rewritten at once with the same size: seen, whatever the timestamps' resolution.
        std::fs::write(dir.path().join("src/a.c"), "int main(){1").unwrap();
        assert_ne!(fp_of(dir.path(), &mut cache), first);
        assert_eq!(cache.files_read(), 3);
    }

    #[test]
    fn a_file_replaced_by_another_inode_is_read_again() {
        let dir = settled_workspace(TEST_WINDOW);
        let mut cache = Cache::with_windows(TEST_WINDOW, TEST_WINDOW);
        let before = fp_of(dir.path(), &mut cache);
        let a = dir.path().join("src/a.c");
        let mtime = std::fs::metadata(&a).unwrap().modified().unwrap();
        let tmp = dir.path().join("a.new");
        std::fs::write(&tmp, "int main(){2").unwrap();
        std::fs::File::options().write(true).open(&tmp).unwrap().set_modified(mtime).unwrap();
        std::fs::rename(&tmp, &a).unwrap();
        assert_ne!(fp_of(dir.path(), &mut cache), before);
    }
}
