//! The container backends' prerequisites (the offline images) and the
//! containers an engine still holds.

use std::process::Command;
use std::sync::OnceLock;

/// The offline images the container backends run (images/build.sh:
/// idempotent, fast when everything is built). The supervisor is the one
/// orchestra embeds. Fails loudly when an engine is missing.
pub fn container_setup() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let o = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/images/build.sh"))
            .output()
            .expect("run images/build.sh");
        assert!(
            o.status.success(),
            "images/build.sh failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    });
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
