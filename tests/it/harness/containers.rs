//! The container backends' prerequisites (offline images, the static
//! supervisor binary) and the containers an engine still holds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The offline images and the static orchestra the container backends mount
/// (images/build.sh: idempotent, fast when everything is built). Returns the
/// static binary. Fails loudly when an engine or the build is missing.
pub fn container_setup() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").to_path_buf();
        let o = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/images/build.sh"))
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("run images/build.sh");
        assert!(
            o.status.success(),
            "images/build.sh failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        target.join("static/x86_64-unknown-linux-gnu/debug/orchestra")
    })
}

/// The containers with `label` (`key=value`) still there after the engine has had up to 10 s
/// to remove them: a supervised container is removed by the engine itself
/// (AutoRemove) just after its init exits, while orchestra has already returned.
pub fn containers_left(engine: &str, label: &str) -> Vec<String> {
    let t0 = std::time::Instant::now();
    loop {
        let left = containers_labelled(engine, label);
        if left.is_empty() || t0.elapsed() > std::time::Duration::from_secs(10) {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Containers (any state) carrying `label` (`key=value`) in `engine`.
pub fn containers_labelled(engine: &str, label: &str) -> Vec<String> {
    let o = Command::new(engine)
        .args(["ps", "-a", "-q", "--filter", &format!("label={label}")])
        .output()
        .unwrap_or_else(|e| panic!("{engine} CLI: {e}"));
    assert!(o.status.success(), "{engine} ps: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect()
}
