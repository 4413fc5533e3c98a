//! With the `container` feature (the container backends, which mount it), build
//! the `orchestra-sandbox` binary static (glibc with crt-static: it needs
//! nothing from the container's image) and small (the workspace's `sandbox`
//! profile, without the container backends), and leave it in `OUT_DIR` for
//! `container::supervisor` to embed.
//!
//! A nested cargo, offline (the outer build fetched everything it needs), with
//! the same workspace and lock file, the outer build's jobserver, and a target
//! directory of its own beside the outer profile's (`target/debug/
//! orchestra-sandbox-static`: never the outer build's lock, and shared by the
//! build, test and clippy runs of one profile). `RUSTC_WRAPPER` and
//! `RUSTC_WORKSPACE_WRAPPER` (clippy, sccache) are not passed on, since this
//! step needs the real binary; a wrapper set in a cargo config file still
//! applies. The outer `RUSTFLAGS` are replaced by `crt-static` alone.

#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=../policies");
    println!("cargo:rerun-if-changed=../Cargo.lock");
    println!("cargo:rerun-if-changed=../Cargo.toml");
    println!("cargo:rerun-if-changed=Cargo.toml");
    if std::env::var_os("CARGO_FEATURE_CONTAINER").is_none() {
        return;
    }
    // A second line of defence against recursion: the nested build says so.
    if std::env::var_os("ORCHESTRA_SANDBOX_NESTED").is_some() {
        panic!("orchestra-sandbox's nested build was asked for the container feature");
    }
    let var = |name: &str| std::env::var_os(name).unwrap_or_else(|| panic!("cargo sets {name} for build scripts"));
    let out = PathBuf::from(var("OUT_DIR"));
    let target = var("TARGET");
    let manifest = PathBuf::from(var("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    let target_dir = match out.ancestors().nth(3) {
        Some(profile) if out.ancestors().nth(2).is_some_and(|b| b.ends_with("build")) => {
            profile.join("orchestra-sandbox-static")
        }
        _ => out.join("static"),
    };
    let mut cargo = Command::new(var("CARGO"));
    // What cargo set for this script must not reach the nested build's own run
    // of it (CARGO_FEATURE_CONTAINER there would recurse without end).
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("CARGO_FEATURE_") || k.starts_with("CARGO_CFG_")) {
            cargo.env_remove(k);
        }
    }
    let status = cargo
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--package", "orchestra-sandbox", "--bin", "orchestra-sandbox"])
        .args(["--no-default-features", "--features", "supervisor-bin"])
        .args(["--profile", "sandbox", "--quiet", "--offline"])
        .arg("--target")
        .arg(&target)
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
        .env("ORCHESTRA_SANDBOX_NESTED", "1")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_BUILD_BUILD_DIR")
        .status()
        .unwrap_or_else(|e| panic!("running cargo to build the static orchestra-sandbox: {e}"));
    assert!(status.success(), "building the static orchestra-sandbox failed: {status}");
    let built = target_dir.join(&target).join("sandbox").join("orchestra-sandbox");
    let bytes = std::fs::read(&built).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
    std::fs::write(out.join("orchestra-sandbox"), &bytes).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    // A name for its file at run time (the content is compared there, not trusted).
    let mut h = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&bytes, &mut h);
    let id = format!("{:016x}", std::hash::Hasher::finish(&h));
    std::fs::write(out.join("orchestra-sandbox.id"), id).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
