//! The embedded offline planner: intents like "build and test" mapped onto the
//! project files found at the top level of the workspace.
//!
//! Guarantees: it reads only the workspace's top-level listing and, capped at
//! 1 MiB each, `package.json` and the Makefile; it runs nothing and needs no
//! network. Every task it proposes uses a built-in whitelisted tool with
//! arguments the whitelist admits, and works offline (`--offline`, no
//! installs). The same workspace and intent always give the same plan. An
//! intent with a word it does not know is refused rather than half-planned.

use super::{PlanError, Planner};
use crate::plan::{PLAN_VERSION, Plan, Task};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

/// Files whose presence at the top level of the workspace marks a project.
pub const PROJECT_FILES: &[&str] = &[
    "Cargo.toml",
    "package.json",
    "GNUmakefile",
    "makefile",
    "Makefile",
    "CMakeLists.txt",
    "go.mod",
    "pyproject.toml",
    "setup.py",
    "build.gradle",
    "build.gradle.kts",
    "gradlew",
];

/// The intents the offline planner understands, in words.
pub const UNDERSTOOD: &str =
    "build, test, lint and ci/all, alone or combined (\"build and test\", \"build, test and lint\", \"run the tests\")";

/// Largest project file the planner reads.
const MAX_READ: u64 = 1 << 20;

/// Top-level entries that are build output, dependencies or run records, never task inputs.
const NOT_INPUTS: &[&str] = &["target", "build", "node_modules", "dist", "runs", "__pycache__", "venv", "coverage"];

/// Hidden top-level entries that do change a build (all other dot-entries are skipped).
const HIDDEN_INPUTS: &[&str] = &[".cargo", ".npmrc"];

/// Words that ask for nothing by themselves ("run the tests", "build it please").
const FILLER: &str = "a also an and both code do for full it its just me of only please plus project repo run suite \
                      the then this unit with workspace";

/// The embedded planner: no network, no model, no configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflinePlanner;

impl Planner for OfflinePlanner {
    fn name(&self) -> &str {
        "offline"
    }

    fn plan(&self, intent: &str, workspace: &Path) -> Result<Plan, PlanError> {
        let wants = parse_intent(intent).ok_or_else(|| PlanError::NotUnderstood {
            intent: intent.to_string(),
            understood: UNDERSTOOD.to_string(),
        })?;
        let listing = list(workspace)?;
        let projects = detect(workspace, &listing)?;
        if projects.is_empty() {
            return Err(PlanError::NoProject { workspace: workspace.to_path_buf() });
        }
        let prefixed = projects.len() > 1;
        let mut tasks = Vec::new();
        for p in &projects {
            let id = |step: &str| if prefixed { format!("{}-{step}", p.name) } else { step.to_string() };
            let on = select(&p.steps, &wants);
            for (s, _) in p.steps.iter().zip(&on).filter(|(_, on)| **on) {
                let mut task = Task::new(&id(s.name), s.tool, &s.args).with_intent(&s.intent);
                for (need, _) in s.needs {
                    if p.steps.iter().zip(&on).any(|(n, on)| *on && n.name == *need) {
                        task = task.needing(&id(need));
                    }
                }
                task.env = s.env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                task.inputs = listing.inputs.clone();
                tasks.push(task);
            }
        }
        if tasks.is_empty() {
            let found: Vec<String> = projects.iter().map(|p| format!("{} ({})", p.name, p.file)).collect();
            let wanted: Vec<&str> = wants.iter().map(|w| w.word()).collect();
            return Err(PlanError::NothingToDo {
                intent: intent.to_string(),
                workspace: workspace.to_path_buf(),
                why: format!(
                    "found {}, but no {} step the offline planner knows for it",
                    found.join(", "),
                    wanted.join(" or ")
                ),
            });
        }
        Ok(Plan {
            version: PLAN_VERSION,
            name: Some(slug(intent)),
            intent: Some(intent.trim().to_string()),
            policy: None,
            timeout: None,
            tasks,
        })
    }
}

/// What an intent can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Want {
    Build,
    Test,
    Lint,
}

impl Want {
    fn word(self) -> &'static str {
        match self {
            Want::Build => "build",
            Want::Test => "test",
            Want::Lint => "lint",
        }
    }
}

/// The steps an intent asks for (sorted, deduplicated), or `None` if a word is unknown or nothing is asked.
fn parse_intent(intent: &str) -> Option<Vec<Want>> {
    let mut wants = Vec::new();
    let mut all = false;
    for word in intent.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        match word.to_lowercase().as_str() {
            "build" | "builds" | "building" | "built" | "compile" | "compiles" | "compiling" | "make" => {
                wants.push(Want::Build)
            }
            "test" | "tests" | "testing" | "check" | "checks" | "verify" => wants.push(Want::Test),
            "lint" | "lints" | "linting" | "linter" | "clippy" | "vet" | "style" => wants.push(Want::Lint),
            "ci" => wants.extend([Want::Build, Want::Test, Want::Lint]),
            // "all" alone means everything; "run all tests" means the tests.
            "all" | "everything" => all = true,
            w if FILLER.split_whitespace().any(|f| f == w) => {}
            _ => return None,
        }
    }
    if all && wants.is_empty() {
        wants.extend([Want::Build, Want::Test, Want::Lint]);
    }
    wants.sort_unstable();
    wants.dedup();
    (!wants.is_empty()).then_some(wants)
}

/// The plan name: the intent in lower case, runs of other characters as one `-`.
fn slug(intent: &str) -> String {
    let mut out = String::new();
    for c in intent.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(64);
    let out = out.trim_end_matches('-');
    if out.is_empty() { "plan".to_string() } else { out.to_string() }
}

/// One step a project can take.
struct Step {
    /// The task id (before any ecosystem prefix).
    name: &'static str,
    /// Which part of an intent selects it; `None`: only pulled in by another step.
    want: Option<Want>,
    tool: &'static str,
    args: Vec<&'static str>,
    intent: String,
    /// Steps this one needs, and whether they are pulled in when the intent did not ask for them.
    needs: &'static [(&'static str, bool)],
    env: &'static [(&'static str, &'static str)],
}

impl Step {
    fn new(name: &'static str, want: Option<Want>, tool: &'static str, args: &[&'static str], intent: String) -> Step {
        Step { name, want, tool, args: args.to_vec(), intent, needs: &[], env: &[] }
    }

    fn needs(mut self, needs: &'static [(&'static str, bool)]) -> Step {
        self.needs = needs;
        self
    }
}

/// Tests use the build when the plan has one, without pulling it in.
const AFTER_BUILD: &[(&str, bool)] = &[("build", false)];

/// A detected project: its ecosystem name (the id prefix), the file that marked it, its steps.
struct Project {
    name: &'static str,
    file: &'static str,
    steps: Vec<Step>,
}

/// Which steps run: those the intent asks for, plus what they must have.
fn select(steps: &[Step], wants: &[Want]) -> Vec<bool> {
    let mut on: Vec<bool> = steps.iter().map(|s| s.want.is_some_and(|w| wants.contains(&w))).collect();
    let mut changed = true;
    while changed {
        changed = false;
        for (i, s) in steps.iter().enumerate() {
            if !on[i] {
                continue;
            }
            for (need, _) in s.needs.iter().filter(|(_, pull)| *pull) {
                if let Some(j) = steps.iter().position(|n| n.name == *need)
                    && !on[j]
                {
                    on[j] = true;
                    changed = true;
                }
            }
        }
    }
    on
}

/// The workspace's top level: regular files (symlinks followed), and the entries that are task inputs.
struct Listing {
    files: BTreeSet<String>,
    inputs: Vec<String>,
}

impl Listing {
    fn has(&self, name: &str) -> bool {
        self.files.contains(name)
    }
}

fn list(workspace: &Path) -> Result<Listing, PlanError> {
    let io = |source| PlanError::Io { path: workspace.to_path_buf(), source };
    let mut files = BTreeSet::new();
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(workspace).map_err(io)? {
        let entry = entry.map_err(io)?;
        // A name that is not UTF-8 cannot be a project file, nor written as an input.
        let Ok(name) = entry.file_name().into_string() else { continue };
        if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            files.insert(name.clone());
        }
        let hidden = name.starts_with('.') && !HIDDEN_INPUTS.contains(&name.as_str());
        if !hidden && !NOT_INPUTS.contains(&name.as_str()) {
            inputs.push(name);
        }
    }
    inputs.sort();
    Ok(Listing { files, inputs })
}

/// Read a small project file, refusing anything over [`MAX_READ`].
fn read_small(path: &Path) -> Result<Vec<u8>, PlanError> {
    let io = |source| PlanError::Io { path: path.to_path_buf(), source };
    let mut buf = Vec::new();
    std::fs::File::open(path).map_err(io)?.take(MAX_READ + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > MAX_READ {
        return Err(PlanError::Manifest { path: path.to_path_buf(), why: "larger than 1 MiB, not read".into() });
    }
    Ok(buf)
}

/// The projects in the workspace, in a fixed order.
fn detect(workspace: &Path, ls: &Listing) -> Result<Vec<Project>, PlanError> {
    let mut out = Vec::new();
    if ls.has("Cargo.toml") {
        out.push(cargo());
    }
    if ls.has("package.json") {
        out.push(npm(workspace, ls)?);
    }
    if let Some(file) = ["GNUmakefile", "makefile", "Makefile"].into_iter().find(|f| ls.has(f)) {
        out.push(make(workspace, file)?);
    }
    if ls.has("CMakeLists.txt") {
        out.push(cmake());
    }
    if ls.has("go.mod") {
        out.push(go());
    }
    if let Some(file) = ["pyproject.toml", "setup.py"].into_iter().find(|f| ls.has(f)) {
        out.push(python(file));
    }
    if let Some(file) = ["gradlew", "build.gradle", "build.gradle.kts"].into_iter().find(|f| ls.has(f)) {
        out.push(gradle(file));
    }
    Ok(out)
}

fn cargo() -> Project {
    let b = Some(Want::Build);
    let l = Some(Want::Lint);
    Project {
        name: "cargo",
        file: "Cargo.toml",
        steps: vec![
            Step::new("build", b, "cargo", &["build", "--offline"], "Build the Rust crate with cargo, offline.".into()),
            Step::new("test", Some(Want::Test), "cargo", &["test", "--offline"], "Run the Rust tests, offline.".into())
                .needs(AFTER_BUILD),
            Step::new("lint", l, "cargo", &["clippy", "--offline"], "Lint the Rust code with clippy, offline.".into()),
            Step::new("fmt", l, "cargo", &["fmt", "--check"], "Check the Rust formatting (changes no file).".into()),
        ],
    }
}

fn npm(workspace: &Path, ls: &Listing) -> Result<Project, PlanError> {
    let path = workspace.join("package.json");
    let bad = |why: String| PlanError::Manifest { path: path.clone(), why };
    let json: serde_json::Value =
        serde_json::from_slice(&read_small(&path)?).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let Some(top) = json.as_object() else {
        return Err(bad("not a JSON object".into()));
    };
    let scripts = match top.get("scripts") {
        None => None,
        Some(serde_json::Value::Object(s)) => Some(s),
        Some(_) => return Err(bad("\"scripts\" is not an object".into())),
    };
    let has = |script: &str| scripts.is_some_and(|s| s.contains_key(script));
    let deps = match ["package-lock.json", "yarn.lock", "pnpm-lock.yaml"].into_iter().find(|f| ls.has(f)) {
        Some(lock) => format!("dependencies locked by {lock} must already be installed"),
        None => "dependencies must already be installed".to_string(),
    };
    let say = |script: &str| format!("Run the package.json {script:?} script with npm ({deps}: there is no network).");
    let mut steps = Vec::new();
    if has("build") {
        steps.push(Step::new("build", Some(Want::Build), "npm", &["run", "build"], say("build")));
    }
    if has("test") {
        steps.push(Step::new("test", Some(Want::Test), "npm", &["test"], say("test")).needs(AFTER_BUILD));
    }
    if has("lint") {
        steps.push(Step::new("lint", Some(Want::Lint), "npm", &["run", "lint"], say("lint")));
    }
    Ok(Project { name: "npm", file: "package.json", steps })
}

fn make(workspace: &Path, file: &'static str) -> Result<Project, PlanError> {
    let text = read_small(&workspace.join(file))?;
    let targets = make_targets(&String::from_utf8_lossy(&text));
    let mut steps = vec![Step::new(
        "build",
        Some(Want::Build),
        "make",
        &[],
        format!("Build the default target of {file} with make."),
    )];
    if let Some(t) = ["test", "check"].into_iter().find(|t| targets.contains(*t)) {
        let args: &[&'static str] = if t == "test" { &["test"] } else { &["check"] };
        steps.push(Step::new("test", Some(Want::Test), "make", args, format!("Run `make {t}`.")).needs(AFTER_BUILD));
    }
    if targets.contains("lint") {
        steps.push(Step::new("lint", Some(Want::Lint), "make", &["lint"], "Run `make lint`.".into()));
    }
    Ok(Project { name: "make", file, steps })
}

/// Targets defined in a Makefile's text (`name:` at the start of a rule line; assignments skipped).
fn make_targets(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('\t') || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((head, rest)) = line.split_once(':') else { continue };
        // `X = a:b`, `X := y`, `X ::= y` are assignments, not rules.
        if head.contains('=') || rest.trim_start_matches(':').starts_with('=') {
            continue;
        }
        out.extend(head.split_whitespace().map(str::to_string));
    }
    out
}

fn cmake() -> Project {
    Project {
        name: "cmake",
        file: "CMakeLists.txt",
        steps: vec![
            Step::new(
                "configure",
                None,
                "cmake",
                &["-S", ".", "-B", "build"],
                "Configure with CMake into build/.".into(),
            ),
            Step::new("build", Some(Want::Build), "cmake", &["--build", "build"], "Build build/ with CMake.".into())
                .needs(&[("configure", true)]),
            Step::new(
                "test",
                Some(Want::Test),
                "ctest",
                &["--test-dir", "build"],
                "Run the CTest tests in build/.".into(),
            )
            .needs(&[("build", true)]),
        ],
    }
}

fn go() -> Project {
    // No module downloads and no toolchain switch: fail fast and clearly without network.
    const OFFLINE: &[(&str, &str)] = &[("GOPROXY", "off"), ("GOTOOLCHAIN", "local")];
    let step = |name, want, args: &[&'static str], intent: &str| Step {
        env: OFFLINE,
        ..Step::new(name, Some(want), "go", args, intent.to_string())
    };
    Project {
        name: "go",
        file: "go.mod",
        steps: vec![
            step("build", Want::Build, &["build", "./..."], "Build every Go package, offline."),
            step("test", Want::Test, &["test", "./..."], "Run the Go tests, offline.").needs(AFTER_BUILD),
            step("lint", Want::Lint, &["vet", "./..."], "Vet every Go package, offline."),
        ],
    }
}

fn python(file: &'static str) -> Project {
    Project {
        name: "python",
        file,
        steps: vec![
            Step::new(
                "build",
                Some(Want::Build),
                "python3",
                &["-m", "compileall", "-q", "."],
                "Byte-compile the Python sources (a syntax check; installs nothing).".into(),
            ),
            Step::new(
                "test",
                Some(Want::Test),
                "python3",
                &["-m", "pytest"],
                "Run the Python tests with pytest.".into(),
            )
            .needs(AFTER_BUILD),
            Step::new("lint", Some(Want::Lint), "ruff", &["check", "."], "Lint the Python code with ruff.".into()),
        ],
    }
}

fn gradle(file: &'static str) -> Project {
    let (tool, who) = if file == "gradlew" { ("gradlew", "the Gradle wrapper") } else { ("gradle", "Gradle") };
    Project {
        name: "gradle",
        file,
        steps: vec![
            Step::new("build", Some(Want::Build), tool, &["build", "--offline"], format!("Build with {who}, offline.")),
            Step::new(
                "test",
                Some(Want::Test),
                tool,
                &["test", "--offline"],
                format!("Run the tests with {who}, offline."),
            )
            .needs(AFTER_BUILD),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    /// Plan, and check the plan the way `orchestra run` does: schema, then whitelist.
    fn plan(intent: &str, dir: &Path) -> Plan {
        let plan = OfflinePlanner.plan(intent, dir).unwrap_or_else(|e| panic!("{intent:?}: {e}"));
        let dag = crate::plan::validate(plan.clone(), "x").unwrap_or_else(|e| panic!("{intent:?}: {e}"));
        let loaded = crate::config::load(None, dir).unwrap();
        loaded.whitelist.check(&dag, "x").unwrap_or_else(|e| panic!("{intent:?}: {e}"));
        assert_eq!(crate::plan::to_yaml(&plan), crate::plan::to_yaml(&OfflinePlanner.plan(intent, dir).unwrap()));
        plan
    }

    fn ids(p: &Plan) -> Vec<&str> {
        p.tasks.iter().map(|t| t.id()).collect()
    }

    fn task<'a>(p: &'a Plan, id: &str) -> &'a Task {
        p.tasks.iter().find(|t| t.id() == id).unwrap()
    }

    /// Tool and arguments, as one string.
    fn cmd(p: &Plan, id: &str) -> String {
        let t = task(p, id);
        std::iter::once(t.tool.value.as_str()).chain(t.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }

    fn needs<'a>(p: &'a Plan, id: &str) -> Vec<&'a str> {
        task(p, id).needs().collect()
    }

    fn err(intent: &str, dir: &Path) -> PlanError {
        OfflinePlanner.plan(intent, dir).unwrap_err()
    }

    const CARGO: (&str, &str) = ("Cargo.toml", "[package]\nname = \"x\"\n");

    #[test]
    fn rust_build_and_test() {
        let dir =
            workspace(&[CARGO, ("src/lib.rs", ""), ("target/debug/x", ""), (".git/HEAD", ""), ("Cargo.lock", "")]);
        let p = plan("Build and test", dir.path());
        assert_eq!(ids(&p), ["build", "test"]);
        assert_eq!(task(&p, "build").args, ["build", "--offline"]);
        assert_eq!(task(&p, "test").args, ["test", "--offline"]);
        assert_eq!(needs(&p, "test"), ["build"]);
        assert_eq!(task(&p, "test").inputs, ["Cargo.lock", "Cargo.toml", "src"]);
        assert!(task(&p, "build").intent.as_deref().is_some_and(|i| i.contains("Rust")));
        assert_eq!((p.name.as_deref(), p.intent.as_deref()), (Some("build-and-test"), Some("Build and test")));
        assert_eq!(OfflinePlanner.name(), "offline");
        assert_eq!(super::super::default_planner().name(), "offline");
    }

    #[test]
    fn rust_lint_is_clippy_and_fmt() {
        let dir = workspace(&[CARGO]);
        let p = plan("lint", dir.path());
        assert_eq!(ids(&p), ["lint", "fmt"]);
        assert_eq!(task(&p, "lint").args, ["clippy", "--offline"]);
        assert_eq!(task(&p, "fmt").args, ["fmt", "--check"]);
        assert!(p.tasks.iter().all(|t| t.needs.is_empty()));
        assert_eq!(ids(&plan("run clippy", dir.path())), ["lint", "fmt"]);
    }

    #[test]
    fn intents_combine() {
        let dir = workspace(&[CARGO]);
        let p = plan("run the tests", dir.path());
        assert_eq!(ids(&p), ["test"]);
        assert!(p.tasks[0].needs.is_empty(), "no build task to need");
        for all in ["CI", "all", "everything", "Build, test and lint", "compile + verify & style"] {
            assert_eq!(ids(&plan(all, dir.path())), ["build", "test", "lint", "fmt"], "{all}");
        }
        assert_eq!(ids(&plan("run all tests", dir.path())), ["test"]);
        assert_eq!(slug("  Build, TEST & lint!! "), "build-test-lint");
        assert_eq!(slug("!!"), "plan");
    }

    #[test]
    fn makefile_targets() {
        let dir = workspace(&[(
            "Makefile",
            "CC := cc\nX = a:b\nall: hello\n\t$(CC) -o hello hello.c\ntest check: all\n\t./hello\n",
        )]);
        let p = plan("ci", dir.path());
        assert_eq!(ids(&p), ["build", "test"]);
        assert!(task(&p, "build").args.is_empty());
        assert_eq!(task(&p, "test").args, ["test"]);
        assert_eq!(needs(&p, "test"), ["build"]);

        let dir = workspace(&[("GNUmakefile", "check:\n\ttrue\nlint :\n\ttrue\n# test:\ntest := 1\n")]);
        let p = plan("ci", dir.path());
        assert_eq!(ids(&p), ["build", "test", "lint"]);
        assert_eq!(task(&p, "test").args, ["check"]);
        assert_eq!(task(&p, "lint").args, ["lint"]);

        let dir = workspace(&[("makefile", "all:\n\ttest: x\n")]);
        assert_eq!(ids(&plan("build and test", dir.path())), ["build"]);
        let e = err("test", dir.path());
        assert!(matches!(e, PlanError::NothingToDo { .. }), "{e}");
        assert!(e.to_string().contains("found make (makefile), but no test step"), "{e}");
    }

    #[test]
    fn cmake_chain() {
        let dir = workspace(&[("CMakeLists.txt", "project(x)\n"), ("build/CMakeCache.txt", "")]);
        let p = plan("test", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"], "a test needs a configured build");
        assert_eq!(task(&p, "configure").args, ["-S", ".", "-B", "build"]);
        assert_eq!(task(&p, "build").args, ["--build", "build"]);
        assert_eq!(cmd(&p, "test"), "ctest --test-dir build");
        assert_eq!(needs(&p, "build"), ["configure"]);
        assert_eq!(needs(&p, "test"), ["build"]);
        assert_eq!(task(&p, "test").inputs, ["CMakeLists.txt"]);
        assert!(matches!(err("lint", dir.path()), PlanError::NothingToDo { .. }));
    }

    #[test]
    fn package_json_scripts() {
        let pkg = r#"{"name": "x", "scripts": {"build": "tsc", "test": "jest"}}"#;
        let dir = workspace(&[("package.json", pkg), ("yarn.lock", ""), ("node_modules/x/index.js", "")]);
        let p = plan("ci", dir.path());
        assert_eq!(ids(&p), ["build", "test"]);
        assert_eq!(task(&p, "build").args, ["run", "build"]);
        assert_eq!(task(&p, "test").args, ["test"]);
        assert_eq!(needs(&p, "test"), ["build"]);
        assert!(task(&p, "test").intent.as_deref().is_some_and(|i| i.contains("yarn.lock")));
        assert_eq!(task(&p, "test").inputs, ["package.json", "yarn.lock"]);

        let dir = workspace(&[("package.json", r#"{"scripts": {"lint": "eslint ."}}"#)]);
        let p = plan("lint and test", dir.path());
        assert_eq!(ids(&p), ["lint"]);
        assert_eq!(task(&p, "lint").args, ["run", "lint"]);

        for bad in ["{", "[1]", r#"{"scripts": 3}"#] {
            let dir = workspace(&[("package.json", bad)]);
            let e = err("build", dir.path());
            assert!(matches!(e, PlanError::Manifest { .. }) && e.to_string().contains("package.json: "), "{e}");
        }
    }

    #[test]
    fn mixed_projects_get_prefixed_ids() {
        let dir = workspace(&[CARGO, ("package.json", r#"{"scripts": {"test": "jest"}}"#)]);
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["cargo-build", "cargo-test", "npm-test"]);
        assert_eq!(needs(&p, "cargo-test"), ["cargo-build"]);
        assert!(needs(&p, "npm-test").is_empty(), "no npm build script");
    }

    #[test]
    fn go_python_and_gradle() {
        let dir = workspace(&[("go.mod", "module x\n"), ("pyproject.toml", ""), ("build.gradle.kts", "")]);
        let p = plan("ci", dir.path());
        assert_eq!(
            ids(&p),
            [
                "go-build",
                "go-test",
                "go-lint",
                "python-build",
                "python-test",
                "python-lint",
                "gradle-build",
                "gradle-test"
            ]
        );
        assert_eq!(task(&p, "go-lint").args, ["vet", "./..."]);
        assert_eq!(task(&p, "go-test").env.get("GOPROXY").map(String::as_str), Some("off"));
        assert_eq!(task(&p, "python-test").args, ["-m", "pytest"]);
        assert_eq!(task(&p, "python-lint").tool.value, "ruff");
        assert_eq!(task(&p, "gradle-build").tool.value, "gradle");
        assert_eq!(task(&p, "gradle-test").args, ["test", "--offline"]);

        let dir = workspace(&[("gradlew", "#!/bin/sh\n"), ("build.gradle", "")]);
        let p = plan("build", dir.path());
        assert_eq!(cmd(&p, "build"), "gradlew build --offline");
    }

    #[test]
    fn unknown_intents_are_refused_in_one_line() {
        let dir = workspace(&[CARGO]);
        for intent in ["deploy to production", "build and deploy", "", "   ", "the"] {
            let e = err(intent, dir.path());
            assert!(matches!(e, PlanError::NotUnderstood { .. }), "{intent:?}: {e}");
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            assert!(msg.contains("build, test, lint") && msg.contains("LLM planner"), "{msg}");
        }
    }

    #[test]
    fn no_project_names_the_files() {
        let dir = workspace(&[("README.md", "hi"), ("Cargo.toml/oops", "")]);
        let e = err("build", dir.path());
        assert!(matches!(e, PlanError::NoProject { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("Cargo.toml") && msg.contains("package.json") && msg.contains("go.mod"), "{msg}");
        let e = err("build", &dir.path().join("missing"));
        assert!(matches!(e, PlanError::Io { .. }), "{e}");
    }
}
