//! The embedded offline planner seen from `orchestra plan` and `run`: a step
//! the intent names is planned or the intent is refused naming it (never
//! dropped), and a run that builds does not change the next run's plan.

use crate::harness::*;

const MAKEFILE: &str = "all: hello\nhello: hello.c\n\tcc -o hello hello.c\ntest: hello\n\t./hello\n";

fn make_project() -> World {
    let w = World::new();
    w.write("Makefile", MAKEFILE);
    w.write("hello.c", "int main(void) { return 0; }\n");
    w
}

/// Exit 1 and one error line that names `lint` as what could not be planned.
#[track_caller]
fn refuses_lint(o: &Out) {
    o.assert_code(1);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    assert!(
        lines[0].contains("has no lint step the offline planner can run: Makefile has no lint target"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("Leave \"lint\" out of the intent, or add one"), "{}", lines[0]);
    assert!(o.stdout.is_empty(), "a plan was printed: {}", o.stdout);
}

/// Lint in a list of steps is treated as lint alone is: refused, by name,
/// when the project has no linter; planned when it has one.
#[test]
fn offline_planner_lint_in_a_list_is_planned_or_refused_by_name_never_dropped() {
    let w = make_project();
    refuses_lint(&w.orchestra(&["plan", "lint"]));
    refuses_lint(&w.orchestra(&["plan", "build, test and lint"]));
    refuses_lint(&w.orchestra(&["plan", "Build, test, and lint the project"]));
    // `run` refuses the same way, before anything runs.
    let (runs, audit) = (w.runs.display().to_string(), w.audit.display().to_string());
    refuses_lint(&w.orchestra(&["run", "build, test and lint", "--runs-dir", &runs, "--audit-dir", &audit]));
    assert!(!w.ws.join("hello").exists(), "a refused run built");
    // With a lint target, lint is planned alongside the rest.
    w.write("Makefile", &format!("{MAKEFILE}lint:\n\t@true\n"));
    let o = w.orchestra(&["plan", "build, test and lint"]);
    o.assert_code(0);
    for id in ["build", "test", "lint"] {
        assert!(o.stdout.contains(&format!("- id: {id}\n")), "{id} missing\n{}", o.stdout);
    }
}

/// `cargo build` writes Cargo.lock on the first run; the plan lists it as an
/// input from the start, so the second run's plan is the first's.
#[test]
fn offline_planner_plans_the_same_after_cargo_wrote_its_lockfile() {
    // The tasks use the invoking user's toolchain (~/.cargo, ~/.rustup).
    let home = std::env::var("HOME").expect("HOME is set for the test process");
    let w = World::new().with_env("HOME", &home);
    w.write("Cargo.toml", "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    w.write("src/main.rs", "fn main() {}\n#[test]\nfn t() {}\n");
    let before = w.orchestra(&["plan", "build and test"]);
    before.assert_code(0);
    assert!(before.stdout.contains("- Cargo.lock\n"), "the lockfile-to-be is an input\n{}", before.stdout);
    let (runs, audit) = (w.runs.display().to_string(), w.audit.display().to_string());
    w.orchestra(&["run", "build and test", "--runs-dir", &runs, "--audit-dir", &audit]).assert_code(0);
    assert!(w.ws.join("Cargo.lock").is_file(), "the build wrote Cargo.lock");
    assert!(w.ws.join("target").is_dir(), "the build wrote target/");
    let after = w.orchestra(&["plan", "build and test"]);
    after.assert_code(0);
    assert_eq!(after.stdout, before.stdout, "the second plan differs from the first");
}

/// A Go module beside a Makefile with only a `release` cross-build (rakyll/hey's shape):
/// "build and test this project" builds and tests the module with go; the Makefile
/// neither vetoes the tests nor adds its release build.
#[test]
fn offline_planner_a_release_only_makefile_beside_go_mod_builds_and_tests_with_go() {
    // The tasks use the invoking user's Go cache and toolchain.
    let home = std::env::var("HOME").expect("HOME is set for the test process");
    let w = World::new().with_env("HOME", &home);
    w.write(
        "Makefile",
        "binary = hey\n\nrelease:\n\tGOOS=linux GOARCH=amd64 go build -o ./bin/$(binary)_linux_amd64\n",
    );
    w.write("go.mod", "module example.com/hey\n\ngo 1.13\n");
    w.write(
        "hey.go",
        "package main\n\nfunc double(n int) int { return 2 * n }\n\nfunc main() { println(double(2)) }\n",
    );
    w.write(
        "hey_test.go",
        "package main\n\nimport \"testing\"\n\nfunc TestDouble(t *testing.T) {\n\tif double(2) != 4 {\n\t\tt.Fatal(\"double\")\n\t}\n}\n",
    );
    let plan = w.orchestra(&["plan", "build and test this project"]);
    plan.assert_code(0);
    assert!(plan.stdout.contains("- id: build\n") && plan.stdout.contains("- id: test\n"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("tool: make"), "the release Makefile was planned\n{}", plan.stdout);
    let (runs, audit) = (w.runs.display().to_string(), w.audit.display().to_string());
    let o = w.orchestra(&["run", "build and test this project", "--runs-dir", &runs, "--audit-dir", &audit]);
    o.assert_code(0);
    assert!(!w.ws.join("bin").exists(), "the release cross-build ran");
    let ids = w.run_ids();
    let report = read_json(&w.run_dir(&ids[0]).join("report.json"));
    let tasks = report["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.iter().filter_map(|t| t["id"].as_str()).collect::<Vec<_>>(), ["build", "test"]);
    assert!(tasks.iter().all(|t| t["violations"].as_array().is_none_or(|v| v.is_empty())), "{report}");
}

/// A package whose C extension only pyproject.toml declares (mmh3's shape, no setup.py):
/// no whitelisted tool builds it, so "build and test" is refused in one line that says
/// why, before anything runs, instead of a pytest run that cannot import the module.
#[test]
fn offline_planner_refuses_a_pyproject_only_c_extension_saying_why_before_anything_runs() {
    let w = World::new();
    w.write(
        "pyproject.toml",
        "[project]\nname = \"mmh3\"\n\n[tool.setuptools]\next-modules = [\n  {name = \"mmh3\", sources = [\"src/mmh3/mmh3module.c\"]}\n]\n",
    );
    w.write("src/mmh3/mmh3module.c", "");
    w.write("src/mmh3/__init__.pyi", "");
    w.write("tests/test_mmh3.py", "import mmh3\n\ndef test_it():\n    assert mmh3.hash('x')\n");
    let (runs, audit) = (w.runs.display().to_string(), w.audit.display().to_string());
    let o = w.orchestra(&["run", "build and test this project", "--runs-dir", &runs, "--audit-dir", &audit]);
    o.assert_code(1);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    assert!(lines[0].contains("[tool.setuptools] ext-modules") && lines[0].contains("no setup.py"), "{}", lines[0]);
    assert!(w.run_ids().is_empty(), "a refused run left a run directory");
    assert!(!w.ws.join("src/__pycache__").exists() && !w.ws.join("tests/__pycache__").exists(), "something ran");
}

/// Run "build and test this project" and check it passed: build then test, no violation,
/// and pytest's log says `1 passed`.
#[track_caller]
fn builds_and_tests_one(w: &World) {
    let (runs, audit) = (w.runs.display().to_string(), w.audit.display().to_string());
    let o = w.orchestra(&["run", "build and test this project", "--runs-dir", &runs, "--audit-dir", &audit]);
    o.assert_code(0);
    let ids = w.run_ids();
    let dir = w.run_dir(&ids[0]);
    let report = read_json(&dir.join("report.json"));
    let tasks = report["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.iter().filter_map(|t| t["id"].as_str()).collect::<Vec<_>>(), ["build", "test"]);
    assert!(tasks.iter().all(|t| t["violations"].as_array().is_none_or(|v| v.is_empty())), "{report}");
    let log = tasks[1]["log"].as_str().map(|rel| std::fs::read_to_string(dir.join(rel)).unwrap_or_default());
    assert!(log.as_deref().is_some_and(|l| l.contains("1 passed")), "pytest ran no test\n{log:?}\n{report}");
}

/// A suite inside the package (simplejson's and psutil's `pkg/tests/`) is planned and run
/// with pytest, instead of "build and test" being refused for want of a top-level tests/.
#[test]
fn offline_planner_runs_tests_that_live_inside_the_package() {
    let w = World::new();
    w.write(
        "setup.py",
        "from setuptools import setup\nsetup(name=\"pkg\", version=\"0\", packages=[\"pkg\", \"pkg.tests\"])\n",
    );
    w.write("pkg/__init__.py", "def f():\n    return 1\n");
    w.write("pkg/tests/__init__.py", "");
    w.write("pkg/tests/test_f.py", "from pkg import f\n\n\ndef test_f():\n    assert f() == 1\n");
    builds_and_tests_one(&w);
}

/// A Makefile beside pyproject.toml whose default goal only aggregates developer chores
/// that run Python (more-itertools 11.2.1: `all-checks: requirements coverage check docs
/// package`, and `requirements` runs `python -m pip install`) is a wrapper of the Python
/// project: it is not planned (it failed with `python: No such file or directory`, exit 2),
/// and the Python project is built and tested.
#[test]
fn offline_planner_skips_a_makefile_whose_aggregate_goal_runs_python_beside_pyproject() {
    let w = World::new();
    w.write("pyproject.toml", "[project]\nname = \"pkg\"\nversion = \"0\"\n");
    w.write(
        "Makefile",
        ".PHONY: all-checks\nall-checks: requirements coverage check docs package\n\n\
         requirements:\n\tpython -m pip install --upgrade -r requirements/development.txt\n\
         \tpython -m pip install --editable .\n\ncheck:\n\truff check pkg tests\n\n\
         coverage:\n\tcoverage run -m unittest\n\ntest:\n\tpython -m unittest -v ${tests}\n\n\
         docs:\n\tsphinx-build -W -b html docs docs/_build/html\n\npackage:\n\tflit build\n",
    );
    w.write("pkg/__init__.py", "def f():\n    return 1\n");
    w.write("tests/test_f.py", "from pkg import f\n\n\ndef test_f():\n    assert f() == 1\n");
    builds_and_tests_one(&w);
}

/// Python test data that is deliberately not valid Python (Pygments' lexer samples under
/// tests/examplefiles/) does not fail the byte-compile step: only importable code is compiled,
/// and the tests run.
#[test]
fn offline_planner_python_build_passes_beside_test_data_that_is_not_python() {
    let w = World::new();
    w.write("pyproject.toml", "[project]\nname = \"pkg\"\nversion = \"0\"\n");
    w.write("pkg/__init__.py", "def f():\n    return 1\n");
    w.write("tests/test_f.py", "from pkg import f\n\n\ndef test_f():\n    assert f() == 1\n");
    w.write("tests/examplefiles/python/sample.py", "# a lexer sample, not a module\nreturn 1\n");
    builds_and_tests_one(&w);
    // (Bytecode goes to the jail's private /tmp: what is compiled is checked by the planner's unit test.)
    let sample = std::fs::read_to_string(w.ws.join("tests/examplefiles/python/sample.py")).expect("sample");
    assert_eq!(sample, "# a lexer sample, not a module\nreturn 1\n");
}
