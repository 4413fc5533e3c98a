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
