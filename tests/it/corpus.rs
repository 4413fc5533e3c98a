//! The real-project corpus: projects nobody at Orchestra wrote
//! (`tests/corpus/<name>/tree`, each with a SOURCE.md saying where it came
//! from and what, if anything, was changed) built and tested by
//! `orchestra run "INTENT" --workdir WS` under the built-in presets, on the
//! jail and on the container backends, the way a new user would.
//!
//! Every benign case asserts exit 0, no violation in `runs/<id>/report.json`
//! and that the project's own tests really ran: the counts are parsed from
//! the task logs (`runs/<id>/logs/*.log`). The broken variants are made from
//! copies: a failing test (exit 2, cause `child_exit`), a build that reaches
//! for the network (exit 4, a `network.*` rule) and a build that writes
//! outside the workspace (exit 4, `fs.write`, the file never appears).
//!
//! Missing tools (tsc, go, pytest, cmake, meson) and registry dependencies that were
//! not fetched (`tests/corpus/prepare.sh`, run by `.ci/run`) make these tests
//! fail, never skip. The tasks see the invoking user's real HOME (its
//! `~/.cargo`, `~/.rustup`), as a user's runs do; the audit key, runs and
//! audit directories stay in the test's own world.

use crate::harness::*;
use std::path::{Path, PathBuf};

/// `tests/corpus/<name>/tree`.
fn tree(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(name).join("tree")
}

/// Copy `from` into `to` (files with their modes, directories, symlinks as
/// links). Every file gets one fixed modification time, as a release
/// tarball's files have theirs: a checkout's times follow the order git
/// wrote the files, and a copy's the order the directory lists them, so an
/// autotools release (libmd) would otherwise see `m4/*.m4` newer than
/// `aclocal.m4` and call for automake.
fn copy_tree(from: &Path, to: &Path) {
    let released = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
            let f = std::fs::File::options().write(true).open(&dst).unwrap();
            f.set_modified(released).unwrap_or_else(|e| panic!("set the time of {}: {e}", dst.display()));
        }
    }
}

/// The invoking user's HOME (where `prepare.sh` fetched the crates).
fn real_home() -> String {
    std::env::var("HOME").expect("HOME is set for the test process")
}

/// A world whose workspace is a fresh copy of the corpus project `name`.
fn project(name: &str, config_yaml: &str) -> World {
    let w = World::create("corpus", &format!("{name}-"), config_yaml).with_env("HOME", &real_home());
    copy_tree(&tree(name), &w.ws);
    w
}

/// One finished `orchestra run` and what it left.
struct Run {
    out: Out,
    report: serde_json::Value,
    /// Every task log of the run, concatenated (task order).
    logs: String,
}

impl Run {
    /// Rules of every violation in the run report.
    fn rules(&self) -> Vec<String> {
        let mut rules = Vec::new();
        for t in self.report["tasks"].as_array().into_iter().flatten() {
            for v in t["violations"].as_array().into_iter().flatten() {
                rules.push(format!("{}: {} ({})", t["id"], v["rule"], v["detail"]));
            }
        }
        rules
    }

    fn context(&self) -> String {
        format!("{}\n--- task logs:\n{}\n--- violations: {:?}", self.out.all(), tail(&self.logs, 60), self.rules())
    }

    /// Exit 0, status succeeded, no violation anywhere.
    #[track_caller]
    fn assert_ok(&self) -> &Run {
        assert_eq!(self.out.code, 0, "exit code\n{}", self.context());
        assert!(self.rules().is_empty(), "violations in a benign run\n{}", self.context());
        assert_eq!(self.report["status"], "succeeded", "{}", self.context());
        self
    }

    /// The log text matched `what` at least `n` times (`what` returns the count in one line, if any).
    #[track_caller]
    fn assert_count(&self, label: &str, at_least: u64, what: impl Fn(&str) -> Option<u64>) -> &Run {
        let counts: Vec<u64> = self.logs.lines().filter_map(&what).collect();
        let total: u64 = counts.iter().sum();
        assert!(total >= at_least, "{label}: expected at least {at_least}, found {counts:?}\n{}", self.context());
        self
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The number before `word` in `line` (`"184 passed"`, `"ok. 52 passed;"`).
fn number_before(line: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = line.split(|c: char| c.is_whitespace() || c == ',' || c == ';').collect();
    words.windows(2).find(|w| w[1] == word).and_then(|w| w[0].parse().ok())
}

/// pytest's closing line: `=== 184 passed, 16 skipped in 1.01s ===`.
fn pytest_passed(line: &str) -> Option<u64> {
    (line.starts_with('=') && line.contains(" passed")).then(|| number_before(line, "passed")).flatten()
}

/// cargo's `test result: ok. 52 passed; ...`.
fn cargo_passed(line: &str) -> Option<u64> {
    line.trim_start().starts_with("test result: ok.").then(|| number_before(line, "passed")).flatten()
}

/// node's test runner: `# pass 19` (TAP) or `ℹ pass 19` (spec).
fn node_passed(line: &str) -> Option<u64> {
    let l = line.trim_start_matches(['#', 'ℹ', ' ']);
    l.strip_prefix("pass ").and_then(|n| n.trim().parse().ok())
}

/// ctest's `100% tests passed, 0 tests failed out of 19`.
fn ctest_passed(line: &str) -> Option<u64> {
    line.starts_with("100% tests passed").then(|| line.rsplit(' ').next().and_then(|n| n.parse().ok())).flatten()
}

/// jsmn's `PASSED: 16` (one line per test binary).
fn jsmn_passed(line: &str) -> Option<u64> {
    line.strip_prefix("PASSED: ").and_then(|n| n.trim().parse().ok())
}

/// go's `ok  <module> <time>` line, counted once per package.
fn go_ok(line: &str) -> Option<u64> {
    (line.starts_with("ok ") && line.contains("github.com/google/uuid")).then_some(1)
}

/// meson test's summary: `Ok:                 16`.
fn meson_ok(line: &str) -> Option<u64> {
    line.strip_prefix("Ok:").and_then(|n| n.trim().parse().ok())
}

/// automake's test summary: `# PASS:  6`.
fn automake_passed(line: &str) -> Option<u64> {
    line.strip_prefix("# PASS:").and_then(|n| n.trim().parse().ok())
}

/// pytest's closing lines that report skipped tests.
fn pytest_skipped(logs: &str) -> Vec<&str> {
    logs.lines().filter(|l| l.starts_with('=') && l.contains(" passed") && l.contains(" skipped")).collect()
}

impl World {
    /// `orchestra run INTENT --workdir WS --runs-dir RUNS --audit-dir AUDIT EXTRA...` and what it left.
    fn corpus_run(&self, intent: &str, extra: &[&str]) -> Run {
        let ws = self.ws.display().to_string();
        let runs = self.runs.display().to_string();
        let audit = self.audit.display().to_string();
        let mut args = vec!["run", intent, "--workdir", &ws, "--runs-dir", &runs, "--audit-dir", &audit];
        args.extend_from_slice(extra);
        let out = self.orchestra(&args);
        let ids = self.run_ids();
        assert_eq!(ids.len(), 1, "exactly one run directory in {runs}: {ids:?}\n{}", out.all());
        let dir = self.run_dir(&ids[0]);
        let report = read_json(&dir.join("report.json"));
        let mut logs = String::new();
        for t in report["tasks"].as_array().into_iter().flatten() {
            if let Some(rel) = t["log"].as_str() {
                logs.push_str(&format!("=== {} ({})\n", t["id"], rel));
                logs.push_str(&std::fs::read_to_string(dir.join(rel)).unwrap_or_default());
            }
        }
        Run { out, report, logs }
    }
}

/// A config running every task on a container backend with the host's /usr (orchestra-build:2).
fn container_config(engine: &str) -> String {
    format!(
        "version: 1\nsecurity:\n  sandbox_mode: {engine}\n  docker_image: orchestra-build:2\n  docker_volumes: ['/usr:/usr']\n  docker_network: none\n"
    )
}

/// A world for `engine` with the static supervisor the container backends mount; its
/// workspace belongs to uid 1000, the containers' task user (the task never runs as root).
fn container_project(name: &str, engine: &str) -> World {
    container_setup();
    let w = project(name, &container_config(engine));
    chown_tree(&w.ws, 1000);
    w
}

/// `--config` of a world.
fn config_of(w: &World) -> String {
    w.config.display().to_string()
}

// ---- Rust with registry dependencies: num-rational 0.4.2 -------------------

#[test]
fn corpus_rust_num_rational_builds_and_tests_under_build_offline() {
    let w = project("num-rational", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "build-offline"]).assert_ok().assert_count(
        "cargo tests passed",
        52,
        cargo_passed,
    );
}

#[test]
fn corpus_rust_num_rational_builds_and_tests_with_the_built_in_tools_preset() {
    // No --policy: the built-in cargo tool runs under build-offline.
    let w = project("num-rational", "version: 1\n");
    w.corpus_run("build and test", &[]).assert_ok().assert_count("cargo tests passed", 52, cargo_passed);
}

#[test]
fn corpus_rust_under_default_is_refused_clearly_before_anything_runs() {
    // `default` shows no user toolchain (~/.rustup): a clear exit 1 naming the
    // missing program, not a failed or violating task.
    let w = project("num-rational", "version: 1\n");
    let ws = w.ws.display().to_string();
    let runs = w.runs.display().to_string();
    let audit = w.audit.display().to_string();
    let out = w.orchestra(&[
        "run",
        "build and test",
        "--workdir",
        &ws,
        "--runs-dir",
        &runs,
        "--audit-dir",
        &audit,
        "--policy",
        "default",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("\"cargo\" is not on the policy's PATH"), "{}", out.all());
    assert!(!w.ws.join("target").exists(), "something ran");
}

// ---- A Cargo workspace: rustc-demangle (its fuzz member has crates.io deps) --

#[test]
fn corpus_rust_workspace_rustc_demangle_builds_and_tests_under_build_offline() {
    let w = project("rustc-demangle", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "build-offline"]).assert_ok().assert_count(
        "cargo tests passed",
        57 + 4,
        cargo_passed,
    );
}

// ---- A toolchain file (rust-toolchain.toml), as crates such as thiserror pin --

/// The channel this checkout's own `rust-toolchain.toml` pins: installed on any
/// host that built orchestra.
fn installed_channel() -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("rust-toolchain.toml");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let line = text.lines().find(|l| l.trim_start().starts_with("channel")).expect("a channel line");
    line.split('"').nth(1).expect("a quoted channel").to_string()
}

/// Review 80, P1: a toolchain file asking for components the host has not
/// installed (thiserror 1.0.69 asks for `rust-src`) made rustup try to install
/// them into the read-only `~/.rustup` (exit 4 `fs.write`), where the build
/// needs none of them. build-offline tells rustup not to install
/// (`RUSTUP_AUTO_INSTALL=0`, as `GOTOOLCHAIN=local` tells go): the build and
/// its tests run, and `~/.rustup` is left as it was.
#[test]
fn corpus_rust_a_toolchain_file_asking_for_components_not_installed_builds_and_tests() {
    let w = project("num-rational", "version: 1\n");
    let toolchain = format!(
        "[toolchain]\nchannel = \"{}\"\ncomponents = [\"rust-src\", \"llvm-tools\", \"rust-analyzer\"]\n",
        installed_channel()
    );
    std::fs::write(w.ws.join("rust-toolchain.toml"), toolchain).unwrap();
    let tmp = Path::new(&real_home()).join(".rustup/tmp");
    let names = || -> Vec<_> {
        std::fs::read_dir(&tmp).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default()
    };
    let before = names();
    w.corpus_run("build and test", &[]).assert_ok().assert_count("cargo tests passed", 52, cargo_passed);
    assert_eq!(before, names(), "{} changed", tmp.display());
}

/// The other direction: a toolchain file pinning a channel the host lacks is a
/// failed build saying so (exit 2, rustup's message in the log), never a
/// violation.
#[test]
fn corpus_rust_a_toolchain_file_pinning_a_toolchain_not_installed_fails_without_a_violation() {
    let w = project("num-rational", "version: 1\n");
    std::fs::write(w.ws.join("rust-toolchain.toml"), "[toolchain]\nchannel = \"1.80.0\"\n").unwrap();
    let r = w.corpus_run("build and test", &[]);
    assert_eq!(r.out.code, 2, "a missing toolchain is a failed build\n{}", r.context());
    assert!(r.rules().is_empty(), "a missing toolchain is no violation\n{}", r.context());
    assert!(r.logs.contains("1.80.0") && r.logs.contains("not installed"), "rustup says why\n{}", r.context());
}

// ---- pip building a package under build-offline: six 1.17.0 ------------------

impl World {
    /// `orchestra exec --policy build-offline` of `argv` in the workspace.
    fn exec_offline(&self, argv: &[&str]) -> Out {
        let ws = self.ws.display().to_string();
        let audit = self.audit.display().to_string();
        let mut args = vec!["exec", "--policy", "build-offline", "--workdir", &ws, "--audit-dir", &audit, "--"];
        args.extend_from_slice(argv);
        self.orchestra(&args)
    }
}

/// `pip wheel` of a package whose build needs nothing from an index (a
/// `setup.py` alone) builds its wheel: exit 0, no violation.
#[test]
fn corpus_python_pip_wheel_of_a_setup_py_package_builds_under_build_offline() {
    let w = project("six", "version: 1\n");
    let out = w.exec_offline(&["python3", "-m", "pip", "wheel", "--no-deps", "-w", "dist", "."]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stderr.contains("violation"), "{}", out.all());
    let wheels: Vec<_> = std::fs::read_dir(w.ws.join("dist")).unwrap().flatten().collect();
    assert!(wheels.iter().any(|e| e.file_name().to_string_lossy().ends_with(".whl")), "{}", out.all());
}

/// Review 80, a neighbour of P1: `pip wheel .` of a `pyproject.toml` project
/// installs its build dependencies from an index in an isolated build; with
/// no network that reached for PyPI's DNS (exit 4 `network.loopback`). The
/// preset's `PIP_NO_INDEX=1` makes it a failed build naming what is missing
/// (exit 2, no violation), as cargo, go and npm fail offline.
#[test]
fn corpus_python_pip_wheel_needing_build_dependencies_fails_without_a_violation() {
    let w = project("six", "version: 1\n");
    let pyproject =
        "[build-system]\nrequires = [\"setuptools>=61\", \"wheel\"]\nbuild-backend = \"setuptools.build_meta\"\n";
    std::fs::write(w.ws.join("pyproject.toml"), pyproject).unwrap();
    let out = w.exec_offline(&["python3", "-m", "pip", "wheel", "--no-deps", "-w", "dist", "."]);
    assert_eq!(out.code, 2, "a missing build dependency is a failed build\n{}", out.all());
    assert!(!out.stderr.contains("violation"), "no violation\n{}", out.all());
    assert!(out.all().contains("No matching distribution found for setuptools"), "pip says why\n{}", out.all());
}

// ---- TypeScript: mitt 3.0.1, Debian's tsc, node's test runner --------------

#[test]
fn corpus_typescript_mitt_builds_and_tests_under_build_offline() {
    let w = project("mitt", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "build-offline"]).assert_ok().assert_count(
        "node tests passed",
        19,
        node_passed,
    );
}

#[test]
fn corpus_typescript_mitt_builds_and_tests_under_default() {
    let w = project("mitt", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "default"]).assert_ok().assert_count(
        "node tests passed",
        19,
        node_passed,
    );
}

/// The seed's own workflow: its intent, its config (build-offline, concurrency 4), its runs/.
#[test]
fn corpus_typescript_mitt_seed_workflow_builds_and_tests_with_the_ci_config() {
    let w = project("mitt", "version: 1\n");
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join(".orchestra/ci.config.yaml");
    let seed = seed.display().to_string();
    w.corpus_run("Build and test TypeScript project", &["--config", &seed, "--concurrency", "4"])
        .assert_ok()
        .assert_count("node tests passed", 19, node_passed);
    let id = w.only_run();
    assert!(w.run_dir(&id).join("report.md").is_file(), "the workflow uploads runs/**/report.md");
}

// ---- Python: six 1.17.0 (flat, setuptools), cachetools 5.5.2 (src layout) --

#[test]
fn corpus_python_six_flat_layout_runs_the_tests_under_build_offline() {
    let w = project("six", "version: 1\n");
    w.corpus_run("run the tests", &["--policy", "build-offline"]).assert_ok().assert_count(
        "pytest passed",
        184,
        pytest_passed,
    );
}

#[test]
fn corpus_python_six_flat_layout_builds_and_tests_under_default() {
    let w = project("six", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "default"]).assert_ok().assert_count(
        "pytest passed",
        184,
        pytest_passed,
    );
}

/// cachetools is installed nowhere: only a test of `src/` can pass (216 tests).
#[test]
fn corpus_python_cachetools_src_layout_tests_its_sources_under_build_offline() {
    let w = project("cachetools", "version: 1\n");
    w.corpus_run("run the tests", &["--policy", "build-offline"]).assert_ok().assert_count(
        "pytest passed",
        216,
        pytest_passed,
    );
}

#[test]
fn corpus_python_cachetools_src_layout_builds_and_tests_under_default() {
    let w = project("cachetools", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "default"]).assert_ok().assert_count(
        "pytest passed",
        216,
        pytest_passed,
    );
}

// ---- Python with a C extension: MarkupSafe 2.1.5 (setup.py ext_modules) ---

#[test]
fn corpus_python_markupsafe_builds_its_c_extension_and_tests_it_under_build_offline() {
    let w = project("markupsafe", "version: 1\n");
    let r = w.corpus_run("build and test", &["--policy", "build-offline"]);
    r.assert_ok().assert_count("pytest passed", 53, pytest_passed);
    assert!(pytest_skipped(&r.logs).is_empty(), "the C cases ran, none skipped\n{}", r.context());
    let built = std::fs::read_dir(w.ws.join("src/markupsafe")).unwrap().flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("_speedups.") && e.file_name().to_string_lossy().ends_with(".so")
    });
    assert!(built, "_speedups was built in place\n{}", r.context());
}

#[test]
fn corpus_python_markupsafe_tests_run_against_the_extension_under_default() {
    let w = project("markupsafe", "version: 1\n");
    let r = w.corpus_run("run the tests", &["--policy", "default"]);
    r.assert_ok().assert_count("pytest passed", 53, pytest_passed);
    assert!(pytest_skipped(&r.logs).is_empty(), "the C cases ran, none skipped\n{}", r.context());
}

// ---- Python, tests inside the package, C extension: simplejson 3.19.2 ------

/// `_speedups*.so` next to its source in the package directory.
fn built_speedups(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with("_speedups.") && name.ends_with(".so")
    })
}

#[test]
fn corpus_python_simplejson_tests_inside_the_package_run_against_its_c_extension_under_build_offline() {
    let w = project("simplejson", "version: 1\n");
    let r = w.corpus_run("build and test this project", &["--policy", "build-offline"]);
    r.assert_ok().assert_count("pytest passed", SIMPLEJSON_TESTS, pytest_passed);
    assert!(pytest_skipped(&r.logs).is_empty(), "the C cases ran, none skipped\n{}", r.context());
    assert!(built_speedups(&w.ws.join("simplejson")), "_speedups was built in place\n{}", r.context());
}

#[test]
fn corpus_python_simplejson_tests_inside_the_package_run_under_default() {
    let w = project("simplejson", "version: 1\n");
    let r = w.corpus_run("run the tests", &["--policy", "default"]);
    r.assert_ok().assert_count("pytest passed", SIMPLEJSON_TESTS, pytest_passed);
    assert!(pytest_skipped(&r.logs).is_empty(), "the C cases ran, none skipped\n{}", r.context());
    assert!(built_speedups(&w.ws.join("simplejson")), "_speedups was built in place\n{}", r.context());
}

/// simplejson's own suite, C speedups included (`simplejson/tests/`).
const SIMPLEJSON_TESTS: u64 = 143;

// ---- C with make: jsmn ------------------------------------------------------

#[test]
fn corpus_c_jsmn_make_builds_and_tests_under_build_offline() {
    let w = project("jsmn", "version: 1\n");
    // `make test` (the Makefile's first target is the same test run, so it is
    // planned once): four binaries of 16 checks each.
    w.corpus_run("build and test", &["--policy", "build-offline"]).assert_ok().assert_count(
        "jsmn checks passed",
        4 * 16,
        jsmn_passed,
    );
}

#[test]
fn corpus_c_jsmn_make_builds_and_tests_under_default() {
    let w = project("jsmn", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "default"]).assert_ok().assert_count(
        "jsmn checks passed",
        4 * 16,
        jsmn_passed,
    );
}

// ---- C, an autotools release tarball: libmd 1.0.4 (./configure, make, make check)

#[test]
fn corpus_c_libmd_autotools_configures_builds_and_checks_under_build_offline() {
    let w = project("libmd", "version: 1\n");
    let r = w.corpus_run("build and test", &["--policy", "build-offline"]);
    r.assert_ok().assert_count("automake tests passed", 6, automake_passed);
    let ids: Vec<&str> = r.report["tasks"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, ["configure", "build", "test"], "{}", r.context());
    assert!(r.logs.contains("# FAIL:  0"), "{}", r.context());
}

#[test]
fn corpus_c_libmd_autotools_runs_the_tests_under_default() {
    let w = project("libmd", "version: 1\n");
    w.corpus_run("run the tests", &["--policy", "default"]).assert_ok().assert_count(
        "automake tests passed",
        6,
        automake_passed,
    );
}

// ---- C with CMake + CTest: cJSON (its Makefile is planned too) --------------

#[test]
fn corpus_c_cjson_cmake_builds_and_tests_under_build_offline() {
    let w = project("cjson", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "build-offline"]).assert_ok().assert_count(
        "ctest tests passed",
        19,
        ctest_passed,
    );
}

#[test]
fn corpus_c_cjson_cmake_builds_and_tests_under_default() {
    let w = project("cjson", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "default"]).assert_ok().assert_count(
        "ctest tests passed",
        19,
        ctest_passed,
    );
}

// ---- C with Meson: inih r62 (meson setup, compile, test) --------------------

#[test]
fn corpus_c_inih_meson_sets_up_builds_and_tests_under_build_offline() {
    let w = project("inih", "version: 1\n");
    let r = w.corpus_run("build and test this project", &["--policy", "build-offline"]);
    r.assert_ok().assert_count("meson tests ok", 16, meson_ok);
    let ids: Vec<&str> = r.report["tasks"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, ["configure", "build", "test"], "{}", r.context());
    assert!(r.logs.contains("Fail:               0"), "{}", r.context());
}

#[test]
fn corpus_c_inih_meson_runs_the_tests_under_default() {
    let w = project("inih", "version: 1\n");
    w.corpus_run("run the tests", &["--policy", "default"]).assert_ok().assert_count("meson tests ok", 16, meson_ok);
}

// ---- Go: google/uuid, Debian's go 1.19 -------------------------------------

#[test]
fn corpus_go_uuid_builds_and_tests_under_build_offline() {
    let w = project("go-uuid", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "build-offline"]).assert_ok().assert_count("go packages ok", 1, go_ok);
}

#[test]
fn corpus_go_uuid_builds_and_tests_under_default() {
    let w = project("go-uuid", "version: 1\n");
    w.corpus_run("build and test", &["--policy", "default"]).assert_ok().assert_count("go packages ok", 1, go_ok);
}

// ---- Container backends (orchestra-build:2 with the host's /usr) -----------

#[test]
fn corpus_python_six_builds_and_tests_on_docker() {
    let w = container_project("six", "docker");
    let cfg = config_of(&w);
    w.corpus_run("build and test", &["--config", &cfg]).assert_ok().assert_count("pytest passed", 184, pytest_passed);
}

#[test]
fn corpus_c_jsmn_make_builds_and_tests_on_podman() {
    let w = container_project("jsmn", "podman");
    let cfg = config_of(&w);
    w.corpus_run("build and test", &["--config", &cfg]).assert_ok().assert_count(
        "jsmn checks passed",
        4 * 16,
        jsmn_passed,
    );
}

#[test]
fn corpus_typescript_mitt_builds_and_tests_on_docker() {
    let w = container_project("mitt", "docker");
    let cfg = config_of(&w);
    w.corpus_run("Build and test TypeScript project", &["--config", &cfg]).assert_ok().assert_count(
        "node tests passed",
        19,
        node_passed,
    );
}

#[test]
fn corpus_go_uuid_builds_and_tests_on_docker() {
    // go test runs its binaries from the container's private /tmp (exec allowed).
    let w = container_project("go-uuid", "docker");
    let cfg = config_of(&w);
    w.corpus_run("build and test", &["--config", &cfg]).assert_ok().assert_count("go packages ok", 1, go_ok);
}

#[test]
fn corpus_python_cachetools_src_layout_tests_its_sources_on_podman() {
    let w = container_project("cachetools", "podman");
    let cfg = config_of(&w);
    w.corpus_run("run the tests", &["--config", &cfg]).assert_ok().assert_count("pytest passed", 216, pytest_passed);
}

#[test]
fn corpus_c_cjson_cmake_builds_and_tests_on_docker() {
    let w = container_project("cjson", "docker");
    let cfg = config_of(&w);
    w.corpus_run("build and test", &["--config", &cfg]).assert_ok().assert_count(
        "ctest tests passed",
        19,
        ctest_passed,
    );
}

// ---- Broken variants, made from copies -------------------------------------

/// six with one failing test appended: the test task fails (exit 2, cause child_exit), no violation.
#[test]
fn corpus_broken_failing_test_exits_2_with_child_exit() {
    let w = project("six", "version: 1\n");
    let test_file = w.ws.join("test_six.py");
    let mut text = std::fs::read_to_string(&test_file).unwrap();
    text.push_str("\n\ndef test_corpus_broken_variant():\n    assert six.PY3 is False, 'deliberately broken'\n");
    std::fs::write(&test_file, text).unwrap();
    let r = w.corpus_run("build and test", &["--policy", "build-offline"]);
    assert_eq!(r.out.code, 2, "a failing test is exit 2\n{}", r.context());
    assert!(r.rules().is_empty(), "a failing test is no violation\n{}", r.context());
    assert_eq!(state(&r.report, "test"), "failed", "{}", r.context());
    assert_eq!(task(&r.report, "test")["cause"], "child_exit", "{}", r.context());
    assert!(r.logs.contains("deliberately broken"), "pytest ran the broken test\n{}", r.context());
    assert!(r.logs.lines().any(|l| l.starts_with('=') && l.contains("1 failed")), "{}", r.context());
}

/// jsmn whose Makefile first fetches something over the network: exit 4 naming a `network.*` rule.
#[test]
fn corpus_broken_build_reaching_the_network_exits_4() {
    let w = project("jsmn", "version: 1\n");
    let mk = w.ws.join("Makefile");
    let text = std::fs::read_to_string(&mk).unwrap();
    let fetch = "fetch:\n\tpython3 -c \"import socket; socket.create_connection(('192.0.2.1', 80), timeout=5)\"\n\n";
    std::fs::write(&mk, format!("{fetch}{text}")).unwrap();
    let r = w.corpus_run("build and test", &["--policy", "build-offline"]);
    assert_eq!(r.out.code, 4, "a build reaching the network is a violation\n{}", r.context());
    assert_eq!(state(&r.report, "build"), "violation", "{}", r.context());
    let rules = r.rules();
    assert!(rules.iter().any(|v| v.contains("\"network.")), "a network.* rule: {rules:?}\n{}", r.context());
    let verdict = r.out.stderr.lines().rev().find(|l| l.contains("exit 4")).unwrap_or_default().to_string();
    assert!(!verdict.is_empty(), "the run says exit 4\n{}", r.context());
}

/// jsmn whose Makefile writes into /etc: exit 4 `fs.write`, and the file never appears on the host.
#[test]
fn corpus_broken_build_writing_outside_the_workspace_exits_4() {
    let w = project("jsmn", "version: 1\n");
    let target = format!("/etc/orchestra-corpus-escape-{}", std::process::id());
    let _ = std::fs::remove_file(&target);
    let mk = w.ws.join("Makefile");
    let text = std::fs::read_to_string(&mk).unwrap();
    std::fs::write(&mk, format!("escape:\n\techo escaped > {target}\n\n{text}")).unwrap();
    let r = w.corpus_run("build and test", &["--policy", "build-offline"]);
    let escaped = Path::new(&target).exists();
    let _ = std::fs::remove_file(&target);
    assert!(!escaped, "{target} was written on the host");
    assert_eq!(r.out.code, 4, "a write outside the workspace is a violation\n{}", r.context());
    let rules = r.rules();
    assert!(rules.iter().any(|v| v.contains("\"fs.write\"")), "fs.write: {rules:?}\n{}", r.context());
}

/// MarkupSafe whose C extension does not compile: the build fails (exit 2, child_exit), the
/// compiler's message is in the log, no violation, and the tests do not run on a silent fallback.
#[test]
fn corpus_broken_c_extension_exits_2_with_the_compiler_message() {
    let w = project("markupsafe", "version: 1\n");
    let c = w.ws.join("src/markupsafe/_speedups.c");
    let text = std::fs::read_to_string(&c).unwrap();
    std::fs::write(&c, format!("{text}\nint corpus_broken_variant(void) {{ return undeclared_corpus_name; }}\n"))
        .unwrap();
    let r = w.corpus_run("build and test", &["--policy", "build-offline"]);
    assert_eq!(r.out.code, 2, "a compiler error is exit 2\n{}", r.context());
    assert!(r.rules().is_empty(), "a compiler error is no violation\n{}", r.context());
    assert_eq!(state(&r.report, "build-ext"), "failed", "{}", r.context());
    assert_eq!(task(&r.report, "build-ext")["cause"], "child_exit", "{}", r.context());
    assert!(r.logs.contains("undeclared_corpus_name") && r.logs.contains("error"), "gcc's message\n{}", r.context());
    assert!(!r.logs.contains("Plain-Python build succeeded"), "no fallback\n{}", r.context());
}
