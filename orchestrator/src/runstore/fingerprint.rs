//! Task fingerprints: what a task's result depends on.
//!
//! Guarantees: the fingerprint is a SHA-256 over a canonical encoding of the
//! argv, the task's environment additions, the effective policy's hash, and
//! the contents of every declared input (files hashed, directories walked in
//! sorted order, symlinks hashed as their target text, absent paths marked
//! absent). Any change to one of these changes the fingerprint; `resume`
//! re-runs a succeeded task whose fingerprint changed.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

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

/// Compute a fingerprint, `sha256:<hex>`.
pub fn compute(inputs: &Inputs<'_>) -> std::io::Result<String> {
    let mut h = Sha256::new();
    field(&mut h, b"orchestra-task-fingerprint-v1");
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
        hash_path(&mut h, &inputs.workdir.join(p))?;
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

fn hash_path(h: &mut Sha256, path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            field(h, b"absent");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        field(h, b"symlink");
        field(h, std::fs::read_link(path)?.as_os_str().as_bytes());
    } else if ft.is_dir() {
        field(h, b"dir");
        let mut names: Vec<_> = std::fs::read_dir(path)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
        names.sort();
        count(h, names.len());
        for n in names {
            field(h, n.as_bytes());
            hash_path(h, &path.join(&n))?;
        }
    } else if ft.is_file() {
        field(h, b"file");
        h.update(meta.len().to_le_bytes());
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else {
        field(h, b"other");
    }
    Ok(())
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
}
