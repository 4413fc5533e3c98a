//! Collecting a task's declared outputs into `runs/<id>/artifacts/<task>/`.
//!
//! The orchestrator runs outside the sandbox, so the copy must not become a
//! way out of it. Guarantees: symbolic links are never followed and never
//! copied (an upload step that follows links, as CI artifact uploaders do,
//! would otherwise publish whatever a task's link points at on the host);
//! files are opened with `O_NOFOLLOW`; FIFOs, sockets and devices are
//! skipped (a FIFO would block the copy); paths stay inside the workspace
//! (plans cannot name `..` or absolute outputs). A declared output that does
//! not exist fails the task.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Copy each declared output (relative to `workdir`) into `dest`.
pub fn collect(workdir: &Path, outputs: &[String], dest: &Path) -> Result<(), String> {
    for out in outputs {
        let src = workdir.join(out);
        match std::fs::symlink_metadata(&src) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!("declared output {out:?} was not produced"));
            }
            Err(e) => return Err(format!("declared output {out:?}: {e}")),
        }
        let target = dest.join(out);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("artifacts {}: {e}", parent.display()))?;
        }
        copy(&src, &target).map_err(|e| format!("copying output {out:?}: {e}"))?;
    }
    Ok(())
}

fn copy(src: &Path, dst: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(src)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        Ok(())
    } else if ft.is_dir() {
        std::fs::create_dir_all(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy(&entry.path(), &dst.join(entry.file_name()))?;
        }
        Ok(())
    } else if ft.is_file() {
        let mut from = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(src)?;
        let mut to = std::fs::File::create(dst)?;
        io::copy(&mut from, &mut to)?;
        Ok(())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_not_followed_and_missing_outputs_fail() {
        let ws = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let secret = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret.path(), "CANARY-SECRET").unwrap();
        std::fs::create_dir(ws.path().join("out")).unwrap();
        std::fs::write(ws.path().join("out/bin"), "binary").unwrap();
        std::os::unix::fs::symlink(secret.path(), ws.path().join("out/leak")).unwrap();
        collect(ws.path(), &["out".into()], dest.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dest.path().join("out/bin")).unwrap(), "binary");
        assert!(std::fs::symlink_metadata(dest.path().join("out/leak")).is_err(), "links are not copied");
        let e = collect(ws.path(), &["nope".into()], dest.path()).unwrap_err();
        assert!(e.contains("was not produced"), "{e}");
    }
}
