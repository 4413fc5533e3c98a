//! The embedded offline planner: intents like "build and test" mapped onto the
//! projects found at the top level of the workspace.
//!
//! Guarantees:
//! - it reads the workspace's top-level listing, the first bytes of its
//!   top-level files (to tell compiled objects), and, capped at 1 MiB each,
//!   the project files it names (`Cargo.toml`, `package.json` and the
//!   `package.json` of each npm workspace member, `tsconfig.json`, the
//!   Makefile or `Makefile.in`, `configure` (to see what it writes),
//!   `CMakeLists.txt`, `meson.build` and those its `subdir()`s name (bounded,
//!   [`meson`]), `go.mod`, `setup.py`, the Python project and pytest config
//!   files, `.gitignore`); it lists top-level directories one level down to
//!   find Python code, the Python source trees (bounded, [`pysource`]) to
//!   tell imported code from data and find a package's own `tests/`, and a Go
//!   module (bounded) to find `*_test.go` names; it
//!   runs nothing, writes nothing and needs no network;
//! - every task uses a built-in whitelisted tool with arguments the whitelist
//!   admits and works offline (`--offline`, no installs); no task is a no-op
//!   (no `make test` without a `test` target, no `ctest` or `meson test`
//!   without tests, no `npm test` for `npm init`'s placeholder script);
//! - one build system per source tree: a CMake project or one generated
//!   Makefile beside `meson.build` is not planned (Meson builds), `./configure`
//!   is not planned beside CMake or Meson, and a Makefile beside `go.mod`
//!   whose default goal is no build (hey's `release`) is not planned (the Go
//!   module is built and tested with go, not vetoed by the Makefile);
//! - a package whose C extensions no whitelisted tool can build (declared
//!   only in pyproject.toml) is refused for build and test, saying so, rather
//!   than planned into tests that cannot import it;
//! - a step the intent names (build, test, lint) is planned for every project
//!   it applies to, or the intent is refused saying which project lacks it:
//!   nothing asked for is dropped silently; `ci`/`all` mean whatever each
//!   project has;
//! - a language the intent names ("TypeScript", "Rust") restricts the plan to
//!   that language's projects, and an intent naming a language the workspace
//!   does not have is refused (a Rust workspace is not silently tested as the
//!   "TypeScript project" a pipeline asked for); other unknown words are
//!   passed over and logged;
//! - the same workspace and intent always give the same plan, build outputs
//!   are never inputs, and a lockfile the build writes (Cargo.lock) is an input
//!   from the first plan on ([`listing`]), so a second run plans the same.

mod intent;
mod listing;
mod meson;
mod pysource;

use super::{PlanError, Planner};
use crate::plan::{PLAN_VERSION, Plan, Task};
use intent::{Eco, Want};
use listing::Listing;
use std::collections::BTreeSet;
use std::path::Path;

/// Files whose presence at the top level of the workspace marks a project.
pub const PROJECT_FILES: &[&str] = &[
    "Cargo.toml",
    "package.json",
    "tsconfig.json",
    "GNUmakefile",
    "makefile",
    "Makefile",
    "configure",
    "CMakeLists.txt",
    "meson.build",
    "go.mod",
    "pyproject.toml",
    "setup.py",
    "build.gradle",
    "build.gradle.kts",
    "gradlew",
];

/// What to write instead, for an intent the planner cannot plan.
pub const EXAMPLES: &str = "\"build and test\", \"run the tests\", \"lint\" or \"build, test and lint\"";

/// The embedded planner: no network, no model, no configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflinePlanner;

impl Planner for OfflinePlanner {
    fn name(&self) -> &str {
        "offline"
    }

    fn plan(&self, intent_text: &str, workspace: &Path) -> Result<Plan, PlanError> {
        let intent = intent::parse(intent_text)
            .map_err(|why| PlanError::NotUnderstood { intent: intent_text.to_string(), why: why.0 })?;
        let mut listing = listing::list(workspace)?;
        let all = detect(&mut listing)?;
        if all.is_empty() {
            return Err(PlanError::NoProject { workspace: workspace.to_path_buf() });
        }
        let nothing = |why: String| PlanError::NothingToDo {
            intent: intent_text.to_string(),
            workspace: workspace.to_path_buf(),
            why,
        };
        let found = |ps: &[Project]| ps.iter().map(|p| p.eco.describe()).collect::<Vec<_>>().join(", ");
        // A language the intent names must be there; only its projects are planned.
        let projects: Vec<Project> = if intent.languages.is_empty() {
            all
        } else {
            for lang in &intent.languages {
                if !all.iter().any(|p| lang.ecos.contains(&p.eco)) {
                    let wanted: Vec<&str> = lang.ecos.iter().map(|e| e.describe()).collect();
                    return Err(nothing(format!(
                        "the intent names {:?}, but the workspace has no {}; it has: {}. \
                         Leave the language out (\"build and test\") to plan what is there, \
                         or point --workdir at that project",
                        lang.word,
                        wanted.join(" or "),
                        found(&all)
                    )));
                }
            }
            all.into_iter().filter(|p| intent.languages.iter().any(|l| l.ecos.contains(&p.eco))).collect()
        };
        // Every step the intent names, for every project it applies to.
        for p in &projects {
            for want in &intent.named {
                if p.steps.iter().any(|s| s.want == Some(*want)) {
                    continue;
                }
                if let Some((_, why)) = p.lacks.iter().find(|(w, _)| w == want) {
                    let optional =
                        *want == Want::Build && !p.hard.contains(want) && p.steps.iter().any(|s| s.want.is_some());
                    if p.hard.contains(want) {
                        // The project cannot be built as it asks to be: leaving one step out is no way out.
                        return Err(nothing(format!(
                            "the {} has no {} step the offline planner can run: {why}",
                            p.eco.describe(),
                            want.word()
                        )));
                    }
                    if !optional {
                        return Err(nothing(format!(
                            "the {} has no {} step the offline planner can run: {why}. \
                             Leave \"{}\" out of the intent, or add one",
                            p.eco.describe(),
                            want.word(),
                            want.word()
                        )));
                    }
                }
            }
        }
        if !intent.ignored.is_empty() {
            tracing::warn!(
                "words passed over in the intent: {} (understood: {})",
                intent.ignored.join(", "),
                intent.wants.iter().map(|w| w.word()).collect::<Vec<_>>().join(", ")
            );
        }
        let prefixed = projects.len() > 1;
        let mut tasks = Vec::new();
        for p in &projects {
            let id = |step: &str| if prefixed { format!("{}-{step}", p.name) } else { step.to_string() };
            let on = select(&p.steps, &intent.wants);
            for (s, _) in p.steps.iter().zip(&on).filter(|(_, on)| **on) {
                let args: Vec<&str> = s.args.iter().map(String::as_str).collect();
                let mut task = Task::new(&id(s.name), s.tool, &args).with_intent(&s.intent);
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
            let wanted: Vec<&str> = intent.wants.iter().map(|w| w.word()).collect();
            let why: Vec<String> = projects
                .iter()
                .flat_map(|p| p.lacks.iter().filter(|(w, _)| intent.wants.contains(w)).map(|(_, why)| why.clone()))
                .collect();
            return Err(nothing(format!(
                "found {}, but no {} step the offline planner can run{}",
                found(&projects),
                wanted.join(" or "),
                if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) }
            )));
        }
        Ok(Plan {
            version: PLAN_VERSION,
            name: Some(slug(intent_text)),
            intent: Some(intent_text.trim().to_string()),
            policy: None,
            timeout: None,
            tasks,
        })
    }
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
    args: Vec<String>,
    intent: String,
    /// Steps this one needs, and whether they are pulled in when the intent did not ask for them.
    needs: &'static [(&'static str, bool)],
    env: &'static [(&'static str, &'static str)],
}

impl Step {
    fn new(name: &'static str, want: Option<Want>, tool: &'static str, args: &[&str], intent: String) -> Step {
        Step { name, want, tool, args: args.iter().map(|a| a.to_string()).collect(), intent, needs: &[], env: &[] }
    }

    fn needs(mut self, needs: &'static [(&'static str, bool)]) -> Step {
        self.needs = needs;
        self
    }
}

/// Tests use the build when the plan has one, without pulling it in.
const AFTER_BUILD: &[(&str, bool)] = &[("build", false)];

/// A detected project.
struct Project {
    eco: Eco,
    /// The id prefix when the workspace has several projects.
    name: &'static str,
    steps: Vec<Step>,
    /// Steps it cannot offer, and why (for the messages).
    lacks: Vec<(Want, String)>,
    /// Lacks that refuse an intent naming them even where a missing build is otherwise
    /// not an error (the project cannot be built as it asks to be).
    hard: Vec<Want>,
}

impl Project {
    fn new(eco: Eco, name: &'static str) -> Project {
        Project { eco, name, steps: Vec::new(), lacks: Vec::new(), hard: Vec::new() }
    }

    fn step(&mut self, s: Step) {
        self.steps.push(s);
    }

    fn lack(&mut self, want: Want, why: impl Into<String>) {
        self.lacks.push((want, why.into()));
    }

    /// A step it cannot offer, which refuses every intent naming it.
    fn block(&mut self, want: Want, why: impl Into<String>) {
        self.lack(want, why);
        self.hard.push(want);
    }
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

/// The projects in the workspace, in a fixed order.
fn detect(ls: &mut Listing) -> Result<Vec<Project>, PlanError> {
    let mut out = Vec::new();
    if ls.has("Cargo.toml") {
        out.push(cargo(ls)?);
    }
    if ls.has("package.json") || ls.has("tsconfig.json") {
        out.push(node(ls)?);
    }
    if let Some(p) = make_project(ls)? {
        out.push(p);
    }
    if ls.has("meson.build") {
        out.push(meson::meson(ls)?);
        if ls.has("CMakeLists.txt") {
            tracing::info!("CMakeLists.txt is not planned beside meson.build: the Meson project is built instead");
        }
    } else if ls.has("CMakeLists.txt") {
        out.push(cmake(ls)?);
    }
    if ls.has("go.mod") {
        out.push(go(ls));
    }
    if ls.has("pyproject.toml") || ls.has("setup.py") {
        out.push(python(ls)?);
    }
    if let Some(file) = ["gradlew", "build.gradle", "build.gradle.kts"].into_iter().find(|f| ls.has(f)) {
        out.push(gradle(file));
    }
    Ok(out)
}

/// Whether a TOML text has the table `[name]` (a line of its own).
fn has_table(text: &str, name: &str) -> bool {
    text.lines().any(|l| l.trim().strip_prefix('[').and_then(|r| r.strip_suffix(']')).is_some_and(|t| t.trim() == name))
}

fn cargo(ls: &mut Listing) -> Result<Project, PlanError> {
    let text = ls.text("Cargo.toml")?;
    // `cargo build` writes Cargo.lock when there is none, and reads it from then on.
    ls.input_to_be("Cargo.lock");
    let workspace = has_table(&text, "workspace");
    let (all, what) = if workspace { (&["--workspace"][..], "every workspace member") } else { (&[][..], "the crate") };
    let with = |head: &[&'static str], tail: &[&'static str]| -> Vec<&'static str> {
        head.iter().chain(all).chain(tail).copied().collect()
    };
    let b = Some(Want::Build);
    let l = Some(Want::Lint);
    let mut p = Project::new(Eco::Cargo, "cargo");
    p.step(Step::new(
        "build",
        b,
        "cargo",
        &with(&["build"], &["--offline"]),
        format!("Build {what} with cargo, offline."),
    ));
    p.step(
        Step::new(
            "test",
            Some(Want::Test),
            "cargo",
            &with(&["test"], &["--offline"]),
            format!("Run the Rust tests of {what}, offline."),
        )
        .needs(AFTER_BUILD),
    );
    p.step(Step::new(
        "lint",
        l,
        "cargo",
        &with(&["clippy"], &["--offline", "--all-targets", "--", "-D", "warnings"]),
        format!("Lint {what} with clippy, offline; warnings fail the step."),
    ));
    let fmt: &[&str] = if workspace { &["fmt", "--all", "--check"] } else { &["fmt", "--check"] };
    p.step(Step::new("fmt", l, "cargo", fmt, "Check the Rust formatting (changes no file).".into()));
    Ok(p)
}

/// A package.json whose `scripts` is not an object.
#[derive(Debug, thiserror::Error)]
#[error("\"scripts\" is not an object")]
struct ScriptsNotObject;

/// Script names of a package.json object.
fn scripts(top: &serde_json::Map<String, serde_json::Value>) -> Result<BTreeSet<String>, ScriptsNotObject> {
    match top.get("scripts") {
        None => Ok(BTreeSet::new()),
        Some(serde_json::Value::Object(s)) => Ok(s
            .iter()
            // `npm init`'s placeholder is not a test suite.
            .filter(|(k, v)| !(k.as_str() == "test" && v.as_str().is_some_and(|v| v.contains("no test specified"))))
            .map(|(k, _)| k.clone())
            .collect()),
        Some(_) => Err(ScriptsNotObject),
    }
}

fn package_json(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>, PlanError> {
    let bad = |why: String| PlanError::Manifest { path: path.to_path_buf(), why };
    let json: serde_json::Value =
        serde_json::from_slice(&listing::read_small(path)?).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    match json {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(bad("not a JSON object".into())),
    }
}

/// The member directories of an npm workspace (`"workspaces": ["packages/*", "tools/x"]`
/// or `{"packages": [...]}`), sorted; patterns other than `dir`, `dir/*` and `dir/**` are skipped.
fn npm_members(root: &Path, top: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    let list = match top.get("workspaces") {
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(serde_json::Value::Object(o)) => o.get("packages").and_then(|p| p.as_array()).cloned().unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut out = BTreeSet::new();
    for pat in list.iter().filter_map(|v| v.as_str()) {
        let pat = pat.trim_start_matches("./").trim_end_matches('/');
        let safe = |s: &str| {
            !s.is_empty() && !s.split('/').any(|c| c.is_empty() || c == ".." || c.contains(['*', '?', '[', '{', '!']))
        };
        if let Some(dir) = pat.strip_suffix("/**").or_else(|| pat.strip_suffix("/*")) {
            if !safe(dir) {
                continue;
            }
            let Ok(rd) = std::fs::read_dir(root.join(dir)) else { continue };
            for e in rd.flatten() {
                if let Ok(name) = e.file_name().into_string()
                    && !name.starts_with('.')
                    && e.path().join("package.json").is_file()
                {
                    out.insert(format!("{dir}/{name}"));
                }
            }
        } else if safe(pat) && root.join(pat).join("package.json").is_file() {
            out.insert(pat.to_string());
        }
    }
    out.into_iter().collect()
}

fn node(ls: &mut Listing) -> Result<Project, PlanError> {
    let mut p = Project::new(Eco::Node, "npm");
    let tsconfig = ls.has("tsconfig.json");
    let (root, members, member_scripts) = if ls.has("package.json") {
        let path = ls.root.join("package.json");
        let top = package_json(&path)?;
        let root = scripts(&top).map_err(|e| PlanError::Manifest { path: path.clone(), why: e.to_string() })?;
        let members = npm_members(&ls.root, &top);
        let mut all = BTreeSet::new();
        for m in &members {
            let path = ls.root.join(m).join("package.json");
            all.extend(scripts(&package_json(&path)?).map_err(|e| PlanError::Manifest { path, why: e.to_string() })?);
        }
        (Some(root), members, all)
    } else {
        (None, Vec::new(), BTreeSet::new())
    };
    let deps = match ["package-lock.json", "yarn.lock", "pnpm-lock.yaml"].into_iter().find(|f| ls.has(f)) {
        Some(lock) => format!("dependencies locked by {lock} must already be installed"),
        None => "dependencies, if any, must already be installed".to_string(),
    };
    let has = |s: &str| root.as_ref().is_some_and(|r| r.contains(s));
    let in_members = |s: &str| member_scripts.contains(s);
    let say = |script: &str| format!("Run the package.json {script:?} script with npm ({deps}: there is no network).");
    let say_ws = |script: &str| {
        format!(
            "Run the {script:?} script of every npm workspace member that has one ({}) ({deps}: there is no network).",
            members.join(", ")
        )
    };
    // Build: the build script, the members' build scripts, or tsc on tsconfig.json.
    if has("build") {
        p.step(Step::new("build", Some(Want::Build), "npm", &["run", "build"], say("build")));
    } else if in_members("build") {
        p.step(Step::new(
            "build",
            Some(Want::Build),
            "npm",
            &["run", "build", "--workspaces", "--if-present"],
            say_ws("build"),
        ));
    } else if tsconfig {
        p.step(Step::new(
            "build",
            Some(Want::Build),
            "tsc",
            &["-p", "tsconfig.json"],
            "Compile the TypeScript sources with tsc (tsconfig.json).".into(),
        ));
    } else {
        p.lack(Want::Build, "no \"build\" script and no tsconfig.json (plain JavaScript: nothing to compile)");
    }
    if has("test") {
        p.step(Step::new("test", Some(Want::Test), "npm", &["test"], say("test")).needs(AFTER_BUILD));
    } else if in_members("test") {
        p.step(
            Step::new("test", Some(Want::Test), "npm", &["test", "--workspaces", "--if-present"], say_ws("test"))
                .needs(AFTER_BUILD),
        );
    } else if root.is_some() {
        p.lack(Want::Test, "package.json has no \"test\" script (npm init's placeholder does not count)");
    } else {
        p.lack(Want::Test, "there is no package.json with a \"test\" script");
    }
    if has("lint") {
        p.step(Step::new("lint", Some(Want::Lint), "npm", &["run", "lint"], say("lint")));
    } else if in_members("lint") {
        p.step(Step::new(
            "lint",
            Some(Want::Lint),
            "npm",
            &["run", "lint", "--workspaces", "--if-present"],
            say_ws("lint"),
        ));
    } else if tsconfig {
        p.step(Step::new(
            "lint",
            Some(Want::Lint),
            "tsc",
            &["--noEmit", "-p", "tsconfig.json"],
            "Type-check the TypeScript sources with tsc (writes nothing).".into(),
        ));
    } else {
        p.lack(Want::Lint, "package.json has no \"lint\" script and there is no tsconfig.json to type-check");
    }
    if tsconfig && let Some(out) = ts_out_dir(ls) {
        ls.not_inputs(&[out]);
    }
    Ok(p)
}

/// `compilerOptions.outDir` of tsconfig.json, when it is a top-level directory name
/// (tsconfig allows comments: lines starting with `//` are dropped before parsing).
fn ts_out_dir(ls: &Listing) -> Option<String> {
    let text = ls.text("tsconfig.json").ok()?;
    let text: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let out = v.get("compilerOptions")?.get("outDir")?.as_str()?;
    let out = out.trim_start_matches("./").trim_end_matches('/');
    (!out.is_empty() && !out.contains('/')).then(|| out.to_string())
}

/// A Makefile's rules: target → whether it does anything (has prerequisites or a recipe).
/// Assignments, comments, special targets (`.PHONY`) and pattern rules are skipped;
/// the order of first appearance is kept (the first is the default goal).
fn make_rules(text: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for line in text.lines() {
        if line.starts_with('\t') {
            if !line.trim().is_empty() {
                for &i in &current {
                    out[i].1 = true;
                }
            }
            continue;
        }
        current.clear();
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((head, rest)) = rule_line(line) else { continue };
        let (prereqs, inline) = match rest.split_once(';') {
            Some((p, r)) => (p, !r.trim().is_empty()),
            None => (rest, false),
        };
        let prereqs = prereqs.split('#').next().unwrap_or("");
        let does = inline || !prereqs.trim().is_empty();
        for t in head.split_whitespace().filter(|t| !t.starts_with('.') && !t.contains('%') && !t.contains('$')) {
            let i = match out.iter().position(|(n, _)| n == t) {
                Some(i) => i,
                None => {
                    out.push((t.to_string(), false));
                    out.len() - 1
                }
            };
            out[i].1 |= does;
            current.push(i);
        }
    }
    out
}

/// A rule's line split into its targets and what follows the colon (`::`
/// too); `None` for anything else: `X = a:b`, `X := y`, `X ::= y` and
/// `export X: …` are assignments, not rules.
fn rule_line(line: &str) -> Option<(&str, &str)> {
    let (head, rest) = line.split_once(':')?;
    let rest = rest.trim_start_matches(':');
    if head.contains('=') || rest.starts_with('=') || head.trim_start().starts_with("export ") {
        return None;
    }
    Some((head, rest))
}

/// Targets that are not a build when they are the default goal.
const NOT_BUILD_TARGETS: &[&str] =
    &["test", "tests", "check", "lint", "clean", "distclean", "install", "help", "format", "fmt", "run", "deploy"];

/// The make project, if any: a Makefile, or a `configure` script that writes one
/// (autoconf's `configure` with `Makefile.in`; a release tarball ships no Makefile).
fn make_project(ls: &mut Listing) -> Result<Option<Project>, PlanError> {
    let makefile = ["GNUmakefile", "makefile", "Makefile"].into_iter().find(|f| ls.has(f));
    // A CMake or Meson build beside: configure is not what builds the project.
    let cmake = ls.has("CMakeLists.txt") || ls.has("meson.build");
    if !ls.has("configure") {
        return match makefile {
            Some(file) => make(ls, file, None),
            None => Ok(None),
        };
    }
    if !is_executable(&ls.root.join("configure")) {
        return match makefile {
            Some(file) => make(ls, file, None),
            None if cmake => Ok(None),
            None => {
                let mut p = Project::new(Eco::Make, "make");
                for want in [Want::Build, Want::Test, Want::Lint] {
                    p.lack(want, "configure is not executable (chmod +x configure)");
                }
                Ok(Some(p))
            }
        };
    }
    // What needs ./configure first: an autoconf Makefile.in, a Makefile that includes what
    // configure writes (TinyCC's config.mak), or no Makefile at all.
    let includes = match makefile {
        Some(file) if !ls.has("Makefile.in") => configure_includes(ls, file)?,
        _ => Vec::new(),
    };
    let configured = ls.has("Makefile.in") || makefile.is_none() || !includes.is_empty();
    if configured && cmake {
        // Beside CMake (or Meson), configure is not run: it writes headers into the source tree
        // that CMake's out-of-tree build would pick up instead of its own (jansson). CMake builds.
        drop_configure_outputs(ls, &includes);
        tracing::info!(
            "./configure is not planned beside CMakeLists.txt or meson.build: that project is built instead"
        );
        return Ok(None);
    }
    if ls.has("Makefile.in") {
        // autoconf: configure writes the Makefile from Makefile.in, whose targets are planned.
        return make(ls, "Makefile.in", Some(&[]));
    }
    match makefile {
        Some(file) => make(ls, file, configured.then_some(&includes[..])),
        None => {
            let mut p = Project::new(Eco::Make, "make");
            configure_steps(ls, &mut p, &[]);
            p.step(
                Step::new("build", Some(Want::Build), "make", &[], "Build what ./configure set up with make.".into())
                    .needs(AFTER_CONFIGURE),
            );
            p.lack(Want::Test, "there is no Makefile.in to tell the test target of the Makefile configure writes");
            p.lack(Want::Lint, "there is no Makefile.in to tell the lint target of the Makefile configure writes");
            Ok(Some(p))
        }
    }
}

/// Whether a file has an execute bit.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Top-level files a Makefile includes (`include x`, not `-include`) that `configure` writes
/// (it names them); `$(VAR)/` and `./` before the name are dropped.
fn configure_includes(ls: &Listing, file: &str) -> Result<Vec<String>, PlanError> {
    let text = ls.text(file)?;
    // A configure too large to read is not searched: the Makefile is then taken as it is.
    let configure = ls.text("configure").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("include ") else { continue };
        for word in rest.split_whitespace() {
            let name = match word.rsplit_once(")/") {
                Some((var, name)) if var.starts_with("$(") && !var[2..].contains(['$', '(', ')']) => name,
                Some(_) => continue,
                None => word.trim_start_matches("./"),
            };
            let plain = !name.is_empty() && !name.contains(['$', '/', '*', '%']);
            if plain && configure.contains(name) && !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
    }
    Ok(out)
}

/// What `configure` writes at the top level besides the files named by a `X.in` template.
const CONFIGURE_OUTPUTS: &[&str] =
    &["config.status", "config.log", "config.cache", "config.h", "config.mak", "config.mk", "libtool", "stamp-h1"];

/// Steps run after `./configure`: it must have written the Makefile.
const AFTER_CONFIGURE: &[(&str, bool)] = &[("configure", true)];
/// A make test after `./configure`: configured first, after the build when the plan has one.
const AFTER_CONFIGURE_AND_BUILD: &[(&str, bool)] = &[("configure", true), ("build", false)];

/// Drop what `./configure` writes from the inputs: the `X` of every top-level `X.in`, its
/// logs and caches ([`CONFIGURE_OUTPUTS`]), and `extra`.
fn drop_configure_outputs(ls: &mut Listing, extra: &[String]) {
    let mut outputs: Vec<String> = CONFIGURE_OUTPUTS.iter().map(|s| s.to_string()).collect();
    outputs.extend(ls.files.iter().filter_map(|f| f.strip_suffix(".in")).map(str::to_string));
    outputs.extend(extra.iter().cloned());
    ls.not_inputs(&outputs);
}

/// The `./configure` step; what it writes (the `X` of every top-level `X.in`, its logs and
/// caches, and `extra`) is output, never an input, so a second run plans the same.
fn configure_steps(ls: &mut Listing, p: &mut Project, extra: &[String]) {
    drop_configure_outputs(ls, extra);
    p.step(Step::new(
        "configure",
        None,
        "configure",
        &[],
        "Run the project's ./configure (it writes the Makefile and its settings into the workspace).".into(),
    ));
}

/// The make project of `file`; with `configure`, `./configure` is planned
/// first, and these files it writes (a Makefile's includes) are no inputs.
fn make(ls: &mut Listing, file: &'static str, configure: Option<&[String]>) -> Result<Option<Project>, PlanError> {
    let text = ls.text(file)?;
    // A Makefile CMake generated in the source tree is a build output, not a project.
    if ls.has("CMakeLists.txt")
        && (text.contains("CMAKE generated file") || text.contains("Generated by \"Unix Makefiles\""))
    {
        ls.not_inputs(&[file.to_string()]);
        return Ok(None);
    }
    // Beside meson.build, a Makefile configure wrote is output too: Meson builds the project.
    if ls.has("meson.build") && text.contains("Generated from Makefile.in by configure") {
        ls.not_inputs(&[file.to_string()]);
        return Ok(None);
    }
    let rules = make_rules(&text);
    let real = |t: &str| rules.iter().any(|(n, does)| n == t && *does);
    if configure.is_none() && ls.has("go.mod") && !go_buildish(ls, &rules) {
        // hey's Makefile has only `release` (a cross-build into bin/): planning it would
        // duplicate `go build` and, lacking a test target, veto the module's tests.
        tracing::info!(
            "{file} is not planned beside go.mod: its default goal is not a build (no all or build target); \
             the Go module is built and tested with go instead"
        );
        return Ok(None);
    }
    if configure.is_none() && (ls.has("setup.py") || ls.has("pyproject.toml")) && builds_with_python(&text, &rules) {
        // psutil: `make build` runs `$(PYTHON) setup.py build_ext -i`, `make test` the suite:
        // planned beside the Python project, both would build the extension into the same
        // tree at once and run the tests twice.
        tracing::info!(
            "{file} is not planned beside setup.py or pyproject.toml: its build runs Python \
             (setup.py, pip or $(PYTHON)); the Python project is built and tested instead"
        );
        return Ok(None);
    }
    if configure.is_none() && ls.has("CMakeLists.txt") && runs_cmake(&text) {
        // cmark: `make` runs `cmake -S . -B build` and `cmake --build build`; planned
        // beside the CMake project, both configured and built into build/ at once
        // (a cmake's try_compile directory removed under the other; sweep 86).
        tracing::info!(
            "{file} is not planned beside CMakeLists.txt: its recipes run cmake; \
             the CMake project is configured, built and tested instead"
        );
        return Ok(None);
    }
    let mut p = Project::new(Eco::Make, "make");
    // The Makefile the steps run: the one configure writes from Makefile.in.
    let makefile = file.strip_suffix(".in").unwrap_or(file);
    let (first, then) = if let Some(extra) = configure {
        configure_steps(ls, &mut p, extra);
        (AFTER_CONFIGURE, AFTER_CONFIGURE_AND_BUILD)
    } else {
        (&[][..], AFTER_BUILD)
    };
    match rules.first() {
        None => p.lack(Want::Build, format!("{file} defines no target")),
        Some((goal, does)) if !NOT_BUILD_TARGETS.contains(&goal.as_str()) && *does => p.step(
            Step::new(
                "build",
                Some(Want::Build),
                "make",
                &[],
                format!("Build the default target of {makefile} ({goal}) with make."),
            )
            .needs(first),
        ),
        Some((goal, _)) => match ["build", "all"].into_iter().find(|t| real(t)) {
            Some(t) => {
                p.step(Step::new("build", Some(Want::Build), "make", &[t], format!("Run `make {t}`.")).needs(first))
            }
            None => p.lack(
                Want::Build,
                format!("the default target of {file} is {goal:?}, and it has no build or all target"),
            ),
        },
    }
    match ["test", "tests", "check"].into_iter().find(|t| real(t)) {
        Some(t) => p.step(Step::new("test", Some(Want::Test), "make", &[t], format!("Run `make {t}`.")).needs(then)),
        None => p.lack(Want::Test, format!("{file} has no test, tests or check target that does something")),
    }
    if real("lint") {
        p.step(Step::new("lint", Some(Want::Lint), "make", &["lint"], "Run `make lint`.".into()).needs(first));
    } else {
        p.lack(Want::Lint, format!("{file} has no lint target"));
    }
    Ok(Some(p))
}

/// Whether what a Makefile builds with (its default goal when that is a build,
/// `build`, `all`) runs Python in its recipe: `setup.py`, `$(PYTHON)`, `python3`,
/// `pip` — a convenience wrapper of the Python project beside it. A target without
/// a recipe of its own stands for its prerequisites (more-itertools' default goal
/// `all-checks: requirements coverage check docs package`, whose `requirements`
/// runs `python -m pip install`), see [`aggregated`].
fn builds_with_python(text: &str, rules: &[(String, bool)]) -> bool {
    let goal = rules.first().map(|(g, _)| g.as_str()).filter(|g| !NOT_BUILD_TARGETS.contains(g));
    let python = |line: &str| {
        line.contains("setup.py")
            || line.contains("$(PYTHON")
            || line.contains("${PYTHON")
            || line.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '(' | ')' | '`')).any(|w| {
                // make's recipe prefixes: `@` (silent), `-` (errors ignored), `+` (always run).
                let w = w.trim_start_matches(['@', '-', '+']);
                let name = w.rsplit('/').next().unwrap_or(w);
                matches!(name, "pip" | "pip3")
                    || name.strip_prefix("python").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
            })
    };
    goal.into_iter().chain(["build", "all"]).flat_map(|t| aggregated(text, t)).any(|t| recipe(text, t).any(python))
}

/// `target`, and, when it has no recipe of its own (an aggregate goal), the
/// prerequisites it stands for, followed the same way through further aggregates
/// (at most 64 targets). A prerequisite that has a recipe is not followed: what a
/// real build step depends on (`prog: gen.c`, `gen.c` made by a Python script) is
/// not what the Makefile builds with.
fn aggregated<'t>(text: &'t str, target: &'t str) -> Vec<&'t str> {
    const MAX: usize = 64;
    let mut out = vec![target];
    let mut next = 0;
    while next < out.len() {
        let t = out[next];
        next += 1;
        if recipe(text, t).next().is_some() {
            continue;
        }
        for p in prerequisites(text, t) {
            if out.len() >= MAX {
                return out;
            }
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The prerequisites the rules of `target` in `text` name (order-only ones too;
/// names with a variable or a pattern are left out).
fn prerequisites<'t>(text: &'t str, target: &str) -> Vec<&'t str> {
    text.lines()
        .filter(|l| !l.starts_with('\t') && !l.trim_start().starts_with('#'))
        .filter_map(rule_line)
        .filter(|(head, _)| head.split_whitespace().any(|t| t == target))
        .flat_map(|(_, rest)| {
            let list = rest.split(';').next().unwrap_or("");
            list.split('#').next().unwrap_or("").split_whitespace()
        })
        .filter(|p| *p != "|" && !p.contains('$') && !p.contains('%'))
        .collect()
}

/// Whether any recipe line of the Makefile `text` runs cmake (`cmake`, a
/// path ending in it, `$(CMAKE)`): a convenience wrapper of the CMake
/// project beside it.
fn runs_cmake(text: &str) -> bool {
    text.lines().filter_map(|l| l.strip_prefix('\t')).any(|line| {
        line.contains("$(CMAKE)")
            || line.contains("${CMAKE}")
            || line
                .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '(' | ')' | '`' | '@' | '&' | '|'))
                .any(|w| w.rsplit('/').next() == Some("cmake"))
    })
}

/// The recipe lines of `target`'s rules in `text` (an inline `; command` too).
fn recipe<'t>(text: &'t str, target: &'t str) -> impl Iterator<Item = &'t str> + 't {
    let mut inside = false;
    text.lines().filter_map(move |line| {
        if let Some(cmd) = line.strip_prefix('\t') {
            return inside.then_some(cmd);
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            return None;
        }
        inside = false;
        let (head, rest) = rule_line(line)?;
        inside = head.split_whitespace().any(|t| t == target);
        let inline = rest.split_once(';').map(|(_, r)| r.trim()).filter(|r| !r.is_empty());
        inline.filter(|_| inside)
    })
}

/// Whether a Makefile beside go.mod builds the module the usual way: it has an `all`,
/// `build` or `default` target that does something, or its default goal is named
/// after the module (`module example.com/hey` and a first target `hey`).
fn go_buildish(ls: &Listing, rules: &[(String, bool)]) -> bool {
    let real = |t: &str| rules.iter().any(|(n, does)| n == t && *does);
    if ["all", "build", "default"].into_iter().any(real) {
        return true;
    }
    let module = ls.text("go.mod").ok().and_then(|t| {
        t.lines().find_map(|l| l.trim().strip_prefix("module ").map(|m| m.trim().trim_matches('"').to_string()))
    });
    let base = module.as_deref().and_then(|m| m.rsplit('/').next()).unwrap_or("");
    rules.first().is_some_and(|(goal, does)| *does && !base.is_empty() && goal == base)
}

fn cmake(ls: &Listing) -> Result<Project, PlanError> {
    let text = ls.text("CMakeLists.txt")?.to_lowercase();
    let mut p = Project::new(Eco::Cmake, "cmake");
    p.step(Step::new(
        "configure",
        None,
        "cmake",
        &["-S", ".", "-B", "build"],
        "Configure with CMake into build/.".into(),
    ));
    p.step(
        Step::new("build", Some(Want::Build), "cmake", &["--build", "build"], "Build build/ with CMake.".into())
            .needs(&[("configure", true)]),
    );
    if ["enable_testing", "add_test", "include(ctest)"].iter().any(|k| text.contains(k)) {
        p.step(
            Step::new(
                "test",
                Some(Want::Test),
                "ctest",
                &["--test-dir", "build", "--output-on-failure", "--no-tests=error"],
                "Run the CTest tests in build/ (no tests found is a failure).".into(),
            )
            .needs(&[("build", true)]),
        );
    } else {
        p.lack(Want::Test, "CMakeLists.txt enables no tests (no enable_testing, add_test or include(CTest))");
    }
    p.lack(Want::Lint, "CMake has no standard linter the offline planner can run");
    Ok(p)
}

/// Whether a Go module has a test file (`*_test.go`), looked for at most
/// [`GO_WALK_DEPTH`] levels and [`GO_WALK_ENTRIES`] entries deep (skipping
/// hidden, `vendor` and `testdata` directories, as `go test ./...` does).
fn go_has_tests(root: &Path) -> bool {
    let mut queue = vec![(root.to_path_buf(), 0usize)];
    let mut seen = 0usize;
    while let Some((dir, depth)) = queue.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            seen += 1;
            if seen > GO_WALK_ENTRIES {
                // Too big to look through: assume tests rather than drop a step.
                return true;
            }
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Ok(t) = e.file_type() else { continue };
            if t.is_file() && name.ends_with("_test.go") {
                return true;
            }
            let skip = name.starts_with('.') || name.starts_with('_') || name == "vendor" || name == "testdata";
            if t.is_dir() && !skip && depth < GO_WALK_DEPTH {
                queue.push((e.path(), depth + 1));
            }
        }
    }
    false
}

/// How deep [`go_has_tests`] looks.
const GO_WALK_DEPTH: usize = 8;
/// How many entries [`go_has_tests`] reads at most.
const GO_WALK_ENTRIES: usize = 20_000;

fn go(ls: &Listing) -> Project {
    // No module downloads and no toolchain switch: fail fast and clearly without network.
    const OFFLINE: &[(&str, &str)] = &[("GOPROXY", "off"), ("GOTOOLCHAIN", "local")];
    let step = |name, want, args: &[&str], intent: &str| Step {
        env: OFFLINE,
        ..Step::new(name, Some(want), "go", args, intent.to_string())
    };
    let mut p = Project::new(Eco::Go, "go");
    p.step(step("build", Want::Build, &["build", "./..."], "Build every Go package, offline."));
    if go_has_tests(&ls.root) {
        p.step(step("test", Want::Test, &["test", "./..."], "Run the Go tests, offline.").needs(AFTER_BUILD));
    } else {
        p.lack(Want::Test, "the module has no *_test.go file");
    }
    p.step(step("lint", Want::Lint, &["vet", "./..."], "Vet every Go package, offline."));
    p
}

/// Whether a directory holds Python code (a `.py` file or a package, one level down).
fn has_python(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else { return false };
    rd.flatten().take(10_000).any(|e| {
        let p = e.path();
        p.extension().is_some_and(|x| x == "py") || p.join("__init__.py").is_file()
    })
}

/// Whether a setup.py declares compiled extensions (`ext_modules`, `Extension(`), outside comments.
fn declares_extensions(setup_py: &str) -> bool {
    setup_py
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .any(|l| l.contains("ext_modules") || l.contains("Extension("))
}

/// Whether a pyproject.toml declares compiled extensions in setuptools' table
/// (`ext-modules = [...]` under `[tool.setuptools]`, or `[[tool.setuptools.ext-modules]]`).
fn pyproject_extensions(pyproject: &str) -> bool {
    let mut table = String::new();
    for line in pyproject.lines().map(|l| l.split('#').next().unwrap_or("").trim()) {
        if let Some(t) = line.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            if matches!(t.trim(), "tool.setuptools.ext-modules" | "tool.setuptools.ext_modules") {
                return true;
            }
            table = t.trim().to_string();
        } else if let Some(t) = line.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            table = t.trim().to_string();
        } else if table == "tool.setuptools"
            && let Some((key, _)) = line.split_once('=')
            && matches!(key.trim().trim_matches('"'), "ext-modules" | "ext_modules")
        {
            return true;
        }
    }
    false
}

/// Why a pyproject-only package with C extensions gets no build or test step.
const NO_EXTENSION_BUILDER: &str = "pyproject.toml declares C extensions ([tool.setuptools] ext-modules) and \
    there is no setup.py, so no whitelisted tool can build them (setup-py runs setup.py build_ext) and the tests \
    could not import them; build it with a PEP 517 build (e.g. `orchestra exec -- pip wheel --no-build-isolation \
    --no-deps .`, setuptools >= 74.1) or a plan file";

/// The environment of `setup.py build_ext`: `CIBUILDWHEEL=1` is the convention by which
/// packages with optional speedups (MarkupSafe) make the extension required, so a compiler
/// error fails the step instead of falling back to pure Python with the tests skipped.
const REQUIRE_EXTENSIONS: &[(&str, &str)] = &[("CIBUILDWHEEL", "1")];

/// Python tests when the package has C extensions: built first, even when the intent asked only for tests.
const AFTER_EXTENSIONS: &[(&str, bool)] = &[("build", false), ("build-ext", true)];

/// Whether pytest's `testpaths` setting (in any of the config texts joined
/// in `config`: INI `testpaths = a b` with indented continuation lines, or
/// TOML `testpaths = ["a", "b"]` over several lines) names something that
/// exists below `root`, or a glob pattern (not expanded here). A setting
/// naming only absent directories (an sdist that does not ship its tests,
/// sweep 86 P2) makes pytest collect nothing: no test step is planned then.
fn testpaths_present(config: &str, root: &Path) -> bool {
    let mut lines = config.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim() != "testpaths" {
            continue;
        }
        let mut words = value.to_string();
        if value.trim_start().starts_with('[') {
            // TOML: up to the closing bracket.
            while !words.contains(']') {
                match lines.next() {
                    Some(l) => words.push_str(&format!(" {l}")),
                    None => break,
                }
            }
        } else {
            // INI: indented lines continue the value.
            while let Some(l) = lines.peek().filter(|l| l.starts_with([' ', '\t']) && !l.trim().is_empty()) {
                words.push_str(&format!(" {l}"));
                lines.next();
            }
        }
        let named = words.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']'));
        let present =
            named.map(|w| w.trim_matches(['"', '\'']).trim_end_matches('/')).filter(|w| !w.is_empty()).any(|w| {
                w.contains(['*', '?'])
                    || (!w.starts_with('/') && !w.split('/').any(|c| c == "..") && root.join(w).exists())
            });
        if present {
            return true;
        }
    }
    false
}

fn python(ls: &Listing) -> Result<Project, PlanError> {
    let src_layout = ls.has_dir("src") && has_python(&ls.root.join("src"));
    // pytest's own settings: a project that sets `pythonpath` (or uses a src
    // layout with a configured import path) is run as configured.
    let mut config = String::new();
    // pytest reads its settings from the first of these that has its section.
    let mut has_ini = ls.has("pytest.ini") || ls.has(".pytest.ini");
    for (f, section) in
        [("pyproject.toml", "[tool.pytest.ini_options]"), ("tox.ini", "[pytest]"), ("setup.cfg", "[tool:pytest]")]
    {
        if ls.has(f) {
            let text = ls.text(f)?;
            has_ini |= text.lines().any(|l| l.trim() == section);
            config.push_str(&text);
        }
    }
    for f in ["pytest.ini", ".pytest.ini"] {
        if ls.has(f) {
            config.push_str(&ls.text(f)?);
        }
    }
    let sets_path = config.lines().any(|l| l.trim_start().starts_with("pythonpath"));
    let tests_dir = ["tests", "test"].into_iter().find(|d| ls.has_dir(d));
    let test_files = ls.files.iter().any(|f| (f.starts_with("test_") || f.ends_with("_test.py")) && f.ends_with(".py"));
    let mut p = Project::new(Eco::Python, "python");
    // Byte-compile the sources (a syntax check), never a virtualenv or an output directory.
    let mut source_dirs: Vec<String> = Vec::new();
    let mut source_files: Vec<String> = Vec::new();
    // The packages, which may carry their own tests (`pkg/tests/`).
    let mut packages: Vec<String> = Vec::new();
    if src_layout {
        source_dirs.push("src".into());
        source_dirs.extend(tests_dir.map(str::to_string));
        if let Ok(rd) = std::fs::read_dir(ls.root.join("src")) {
            let names = rd.flatten().take(10_000).filter_map(|e| e.file_name().into_string().ok());
            packages
                .extend(names.map(|n| format!("src/{n}")).filter(|d| ls.root.join(d).join("__init__.py").is_file()));
        }
    } else {
        for d in &ls.dirs {
            let path = ls.root.join(d);
            if ls.inputs.contains(d) && !path.join("pyvenv.cfg").exists() && has_python(&path) {
                source_dirs.push(d.clone());
                if path.join("__init__.py").is_file() {
                    packages.push(d.clone());
                }
            }
        }
        source_files.extend(ls.files.iter().filter(|f| f.ends_with(".py") && ls.inputs.contains(f)).cloned());
    }
    packages.sort();
    let package_tests = pysource::package_tests(&ls.root, &packages);
    let sources = pysource::compile_args(&ls.root, &source_dirs, &source_files);
    let pyproject_ext = ls.has("pyproject.toml") && pyproject_extensions(&ls.text("pyproject.toml")?);
    // Extensions only pyproject.toml declares, with no setup.py: nothing here builds them.
    let unbuildable = pyproject_ext && !ls.has("setup.py");
    if unbuildable {
        p.block(Want::Build, NO_EXTENSION_BUILDER);
    } else if sources.is_empty() {
        p.lack(Want::Build, "no Python sources found at the top level or in src/");
    } else {
        let mut args = vec!["-m", "compileall", "-q"];
        args.extend(sources.iter().map(String::as_str));
        p.step(Step::new(
            "build",
            Some(Want::Build),
            "python3",
            &args,
            "Byte-compile the Python sources (a syntax check; installs nothing).".into(),
        ));
    }
    let ext = ls.has("setup.py") && (pyproject_ext || declares_extensions(&ls.text("setup.py")?));
    if ext {
        p.step(Step {
            env: REQUIRE_EXTENSIONS,
            ..Step::new(
                "build-ext",
                Some(Want::Build),
                "setup-py",
                &["setup.py", "build_ext", "--inplace"],
                "Build the C extensions setup.py declares next to their sources (the host's setuptools, \
                 no build isolation, no downloads), so the tests import them; a compiler error fails the step."
                    .into(),
            )
        });
    }
    if unbuildable {
        p.block(Want::Test, NO_EXTENSION_BUILDER);
    } else if tests_dir.is_some() || test_files || package_tests || testpaths_present(&config, &ls.root) {
        // `-o pythonpath=src` needs a config file to be relative to (pytest
        // 7 fails without one): the project manifest is named when there is none.
        let manifest = if ls.has("pyproject.toml") { "pyproject.toml" } else { "setup.py" };
        let (args, how): (&[&str], &str) = if src_layout && !sets_path && has_ini {
            (&["-m", "pytest", "-o", "pythonpath=src"], " against src/ (not an installed copy)")
        } else if src_layout && !sets_path {
            (&["-m", "pytest", "-c", manifest, "-o", "pythonpath=src"], " against src/ (not an installed copy)")
        } else if src_layout {
            (&["-m", "pytest"], " with the project's pythonpath")
        } else {
            (&["-m", "pytest"], " from the workspace")
        };
        p.step(
            Step::new("test", Some(Want::Test), "python3", args, format!("Run the Python tests with pytest{how}."))
                .needs(if ext { AFTER_EXTENSIONS } else { AFTER_BUILD }),
        );
    } else {
        p.lack(
            Want::Test,
            "no tests/ or test/ directory (at the top level or in a package), test_*.py file or pytest testpaths naming something present",
        );
    }
    p.step(Step::new("lint", Some(Want::Lint), "ruff", &["check", "."], "Lint the Python code with ruff.".into()));
    Ok(p)
}

fn gradle(file: &'static str) -> Project {
    let (tool, who) = if file == "gradlew" { ("gradlew", "the Gradle wrapper") } else { ("gradle", "Gradle") };
    let mut p = Project::new(Eco::Gradle, "gradle");
    p.step(Step::new("build", Some(Want::Build), tool, &["build", "--offline"], format!("Build with {who}, offline.")));
    p.step(
        Step::new(
            "test",
            Some(Want::Test),
            tool,
            &["test", "--offline"],
            format!("Run the tests with {who}, offline."),
        )
        .needs(AFTER_BUILD),
    );
    p.lack(Want::Lint, "Gradle has no standard lint task the offline planner can rely on");
    p
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
        p.tasks.iter().find(|t| t.id() == id).unwrap_or_else(|| panic!("no task {id}: {:?}", ids(p)))
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
        match OfflinePlanner.plan(intent, dir) {
            Ok(p) => panic!("{intent:?} was planned: {}", crate::plan::to_yaml(&p)),
            Err(e) => e,
        }
    }

    /// The error as one line, checked to be one line.
    fn says(e: &PlanError) -> String {
        let m = e.to_string();
        assert!(!m.contains('\n'), "{m}");
        m
    }

    const CARGO: (&str, &str) = ("Cargo.toml", "[package]\nname = \"x\"\n");
    const TS_PKG: &str = r#"{"name": "x", "scripts": {"build": "tsc", "test": "node --test dist/"}}"#;

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
        // Before the first build wrote Cargo.lock, the plan already lists it.
        std::fs::remove_file(dir.path().join("Cargo.lock")).unwrap();
        let first = plan("Build and test", dir.path());
        assert_eq!(crate::plan::to_yaml(&first), crate::plan::to_yaml(&p));
        // A library that .gitignores its lockfile keeps it out either way.
        std::fs::write(dir.path().join(".gitignore"), "/target\nCargo.lock\n").unwrap();
        assert_eq!(task(&plan("Build and test", dir.path()), "build").inputs, ["Cargo.toml", "src"]);
        assert!(task(&p, "build").intent.as_deref().is_some_and(|i| i.contains("crate")));
        assert_eq!((p.name.as_deref(), p.intent.as_deref()), (Some("build-and-test"), Some("Build and test")));
        assert_eq!(OfflinePlanner.name(), "offline");
        assert_eq!(super::super::default_planner().name(), "offline");
    }

    #[test]
    fn rust_lint_is_clippy_denying_warnings_and_fmt() {
        let dir = workspace(&[CARGO]);
        let p = plan("lint", dir.path());
        assert_eq!(ids(&p), ["lint", "fmt"]);
        assert_eq!(cmd(&p, "lint"), "cargo clippy --offline --all-targets -- -D warnings");
        assert_eq!(cmd(&p, "fmt"), "cargo fmt --check");
        assert!(p.tasks.iter().all(|t| t.needs.is_empty()));
        assert_eq!(ids(&plan("run clippy", dir.path())), ["lint", "fmt"]);
    }

    #[test]
    fn cargo_workspaces_build_every_member() {
        let dir = workspace(&[
            ("Cargo.toml", "[workspace]\nmembers = [\"a\", \"b\"]\nresolver = \"2\"\n"),
            ("a/Cargo.toml", "[package]\nname = \"a\"\n"),
        ]);
        let p = plan("build, test and lint", dir.path());
        assert_eq!(ids(&p), ["build", "test", "lint", "fmt"]);
        assert_eq!(cmd(&p, "build"), "cargo build --workspace --offline");
        assert_eq!(cmd(&p, "test"), "cargo test --workspace --offline");
        assert_eq!(cmd(&p, "lint"), "cargo clippy --workspace --offline --all-targets -- -D warnings");
        assert_eq!(cmd(&p, "fmt"), "cargo fmt --all --check");
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
    fn the_seeds_typescript_intent_plans_the_npm_scripts() {
        let dir = workspace(&[("package.json", TS_PKG), ("tsconfig.json", "{}"), ("src/index.ts", "")]);
        let p = plan("Build and test TypeScript project", dir.path());
        assert_eq!(ids(&p), ["build", "test"]);
        assert_eq!(cmd(&p, "build"), "npm run build");
        assert_eq!(cmd(&p, "test"), "npm test");
        assert_eq!(needs(&p, "test"), ["build"]);
        // The same plan as without the language word, and the same every time.
        let q = plan("build and test", dir.path());
        assert_eq!(q.tasks.iter().map(|t| cmd(&q, t.id())).collect::<Vec<_>>(), ["npm run build", "npm test"]);
        // Unknown words do not stop a clear intent.
        assert_eq!(ids(&plan("Build and test the shiny TypeScript frontend", dir.path())), ["build", "test"]);
    }

    #[test]
    fn a_tsconfig_without_scripts_is_compiled_with_tsc_and_type_checked() {
        let dir = workspace(&[
            ("package.json", r#"{"scripts": {"test": "node --test"}}"#),
            ("tsconfig.json", "{\n  // comment\n  \"compilerOptions\": {\"outDir\": \"./lib\"}\n}\n"),
            ("lib/index.js", ""),
            ("index.ts", ""),
        ]);
        let p = plan("build, test and lint", dir.path());
        assert_eq!(ids(&p), ["build", "test", "lint"]);
        assert_eq!(cmd(&p, "build"), "tsc -p tsconfig.json");
        assert_eq!(cmd(&p, "lint"), "tsc --noEmit -p tsconfig.json");
        assert_eq!(task(&p, "test").inputs, ["index.ts", "package.json", "tsconfig.json"], "lib/ is tsc's output");
        let dir = workspace(&[("tsconfig.json", "{}"), ("a.ts", "")]);
        assert_eq!(ids(&plan("build TypeScript", dir.path())), ["build"]);
        let e = err("build and test", dir.path());
        assert!(says(&e).contains("no package.json with a \"test\" script"), "{e}");
    }

    #[test]
    fn a_language_the_workspace_does_not_have_is_refused_clearly() {
        let dir = workspace(&[CARGO]);
        let e = err("Build and test TypeScript project", dir.path());
        let m = says(&e);
        assert!(matches!(e, PlanError::NothingToDo { .. }), "{m}");
        assert!(m.contains("\"typescript\"") && m.contains("no TypeScript/JavaScript project"), "{m}");
        assert!(m.contains("it has: Rust project (Cargo.toml)") && m.contains("\"build and test\""), "{m}");
        // In a mixed workspace, the language picks its projects.
        let dir = workspace(&[CARGO, ("package.json", TS_PKG)]);
        assert_eq!(ids(&plan("build and test the Rust crate", dir.path())), ["build", "test"]);
        assert_eq!(cmd(&plan("test TypeScript", dir.path()), "test"), "npm test");
        assert_eq!(ids(&plan("build and test", dir.path())), ["cargo-build", "cargo-test", "npm-build", "npm-test"]);
    }

    #[test]
    fn npm_workspaces_run_the_members_scripts() {
        let dir = workspace(&[
            ("package.json", r#"{"private": true, "workspaces": ["packages/*", "tools/cli", "../evil"]}"#),
            ("packages/a/package.json", r#"{"scripts": {"build": "tsc", "test": "node --test"}}"#),
            ("packages/b/package.json", r#"{"scripts": {"lint": "eslint ."}}"#),
            ("tools/cli/package.json", r#"{"scripts": {"test": "node --test"}}"#),
        ]);
        let p = plan("build, test and lint", dir.path());
        assert_eq!(cmd(&p, "build"), "npm run build --workspaces --if-present");
        assert_eq!(cmd(&p, "test"), "npm test --workspaces --if-present");
        assert_eq!(cmd(&p, "lint"), "npm run lint --workspaces --if-present");
        assert!(task(&p, "test").intent.as_deref().unwrap().contains("packages/a, packages/b, tools/cli"));
    }

    #[test]
    fn package_json_scripts() {
        let pkg = r#"{"name": "x", "scripts": {"build": "tsc", "test": "jest"}}"#;
        let dir = workspace(&[("package.json", pkg), ("yarn.lock", ""), ("node_modules/x/index.js", "")]);
        let p = plan("ci", dir.path());
        assert_eq!(ids(&p), ["build", "test"], "ci: whatever the project has");
        assert_eq!(task(&p, "build").args, ["run", "build"]);
        assert_eq!(task(&p, "test").args, ["test"]);
        assert!(task(&p, "test").intent.as_deref().is_some_and(|i| i.contains("yarn.lock")));
        assert_eq!(task(&p, "test").inputs, ["package.json", "yarn.lock"]);
        // "lint" asked by name, and there is no linter: said, not dropped.
        let e = err("build, test and lint", dir.path());
        assert!(says(&e).contains("no lint step") && e.to_string().contains("no \"lint\" script"), "{e}");

        let dir = workspace(&[("package.json", r#"{"scripts": {"lint": "eslint ."}}"#)]);
        assert_eq!(ids(&plan("lint", dir.path())), ["lint"]);
        let e = err("lint and test", dir.path());
        assert!(says(&e).contains("no test step"), "{e}");

        // npm init's placeholder is no test suite; plain JS has nothing to build.
        let dir = workspace(&[(
            "package.json",
            r#"{"scripts": {"test": "echo \"Error: no test specified\" && exit 1", "lint": "x"}}"#,
        )]);
        assert!(says(&err("test", dir.path())).contains("placeholder"));
        let dir = workspace(&[("package.json", r#"{"scripts": {"test": "node --test"}}"#)]);
        assert_eq!(ids(&plan("build and test", dir.path())), ["test"], "nothing to compile is not an error");
        assert!(says(&err("build", dir.path())).contains("nothing to compile"));

        for bad in ["{", "[1]", r#"{"scripts": 3}"#] {
            let dir = workspace(&[("package.json", bad)]);
            let e = err("build", dir.path());
            assert!(matches!(e, PlanError::Manifest { .. }) && e.to_string().contains("package.json: "), "{e}");
        }
    }

    #[test]
    fn makefile_targets() {
        let dir = workspace(&[(
            "Makefile",
            "CC := cc\nX = a:b\nall: hello\n\t$(CC) -o hello hello.c\ntest check: all\n\t./hello\n.PHONY: all test\n",
        )]);
        let p = plan("ci", dir.path());
        assert_eq!(ids(&p), ["build", "test"]);
        assert!(task(&p, "build").args.is_empty());
        assert_eq!(task(&p, "test").args, ["test"]);
        assert_eq!(needs(&p, "test"), ["build"]);

        let dir = workspace(&[("GNUmakefile", "x:\n\tcc x.c\ncheck:\n\ttrue\nlint :\n\ttrue\n# test:\ntest := 1\n")]);
        let p = plan("build, test and lint", dir.path());
        assert_eq!(ids(&p), ["build", "test", "lint"]);
        assert_eq!(task(&p, "test").args, ["check"]);
        assert_eq!(task(&p, "lint").args, ["lint"]);
    }

    #[test]
    fn stub_makefiles_get_no_no_op_tasks() {
        // No test target: "build and test" says so instead of planning only the build.
        let dir = workspace(&[("makefile", "all:\n\tcc -o x x.c\n")]);
        let e = err("build and test", dir.path());
        assert!(matches!(e, PlanError::NothingToDo { .. }), "{e}");
        assert!(says(&e).contains("no test step") && e.to_string().contains("no test, tests or check target"), "{e}");
        // A target that does nothing is no target; a Makefile with no target is no build.
        let dir = workspace(&[("Makefile", "test:\n\nall:\n")]);
        assert!(says(&err("test", dir.path())).contains("no test, tests or check target"));
        let dir = workspace(&[("Makefile", "# nothing here\nCFLAGS = -O2\ninclude other.mk\n")]);
        assert!(says(&err("build", dir.path())).contains("defines no target"));
        // A default goal that is the tests is not a build.
        let dir = workspace(&[("Makefile", "test:\n\tpytest\n")]);
        assert_eq!(cmd(&plan("build and test", dir.path()), "test"), "make test");
        assert!(says(&err("build", dir.path())).contains("default target of Makefile is \"test\""));
        // A Makefile CMake generated in the source tree is not a project, nor an input.
        let dir = workspace(&[
            ("CMakeLists.txt", "project(x)\nenable_testing()\nadd_test(NAME t COMMAND x)\n"),
            ("Makefile", "# CMAKE generated file: DO NOT EDIT!\nall: cmake_check_build_system\n\tmake -f x\n"),
            ("main.c", ""),
        ]);
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"]);
        assert_eq!(task(&p, "test").inputs, ["CMakeLists.txt", "main.c"]);
    }

    /// Make `name` in `dir` executable.
    fn chmod_x(dir: &Path, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    const AUTOMAKE_IN: &str = "# Makefile.in generated by automake 1.16.5 from Makefile.am.\n@SET_MAKE@\n\
        .SUFFIXES:\nall: config.h\n\t$(MAKE) all-recursive\ncheck: check-recursive\nclean: clean-recursive\n";

    #[test]
    fn an_autoconf_release_is_configured_then_built_and_checked() {
        let dir = workspace(&[
            ("configure", "#!/bin/sh\n"),
            ("Makefile.in", AUTOMAKE_IN),
            ("Makefile.am", "SUBDIRS = src\n"),
            ("config.h.in", ""),
            ("lib.pc.in", ""),
            ("src/a.c", ""),
        ]);
        chmod_x(dir.path(), "configure");
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"]);
        assert_eq!(cmd(&p, "configure"), "configure");
        assert!(task(&p, "configure").args.is_empty());
        assert_eq!(cmd(&p, "build"), "make");
        assert_eq!(cmd(&p, "test"), "make check");
        assert_eq!(needs(&p, "build"), ["configure"]);
        assert_eq!(needs(&p, "test"), ["configure", "build"]);
        // Only the tests asked for: still configured first.
        let t = plan("run the tests", dir.path());
        assert_eq!(ids(&t), ["configure", "test"]);
        assert_eq!(needs(&t, "test"), ["configure"]);
        // What configure writes is output: the second run plans the same.
        let first = crate::plan::to_yaml(&p);
        for out in ["Makefile", "config.h", "config.status", "config.log", "libtool", "stamp-h1", "lib.pc"] {
            std::fs::write(
                dir.path().join(out),
                "# Makefile.  Generated from Makefile.in by configure.\nall:\n\ttrue\n",
            )
            .unwrap();
        }
        assert_eq!(crate::plan::to_yaml(&plan("build and test", dir.path())), first);
        assert_eq!(
            task(&p, "test").inputs,
            ["Makefile.am", "Makefile.in", "config.h.in", "configure", "lib.pc.in", "src"]
        );
    }

    #[test]
    fn a_makefile_including_what_configure_writes_is_configured_first() {
        let makefile = "ifndef TOP\n TOP = .\nendif\n include $(TOP)/config.mak\n-include local.mk\n\
            all: tcc\ntcc: tcc.c\n\t$(CC) -o tcc tcc.c\ntest: all\n\t./tcc -run t.c\n";
        let dir = workspace(&[
            ("configure", "#!/bin/sh\necho CC=cc > config.mak\necho '#define X' > config.h\n"),
            ("Makefile", makefile),
            ("tcc.c", ""),
        ]);
        chmod_x(dir.path(), "configure");
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"]);
        assert_eq!(cmd(&p, "test"), "make test");
        assert_eq!(needs(&p, "test"), ["configure", "build"]);
        let first = crate::plan::to_yaml(&p);
        std::fs::write(dir.path().join("config.mak"), "CC=cc\n").unwrap();
        std::fs::write(dir.path().join("config.h"), "").unwrap();
        assert_eq!(crate::plan::to_yaml(&plan("build and test", dir.path())), first);
        assert_eq!(task(&p, "build").inputs, ["Makefile", "configure", "tcc.c"]);
    }

    #[test]
    fn a_ready_makefile_gets_no_configure_step() {
        // A configure beside a Makefile that needs nothing from it: the Makefile is run as it is.
        let dir = workspace(&[
            ("configure", "#!/bin/sh\necho CC=cc > config.mak\n"),
            ("Makefile", "include rules.mk\nall: x\nx: x.c\n\tcc -o x x.c\ntest: x\n\t./x\n"),
            ("rules.mk", ""),
        ]);
        chmod_x(dir.path(), "configure");
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["build", "test"]);
        assert_eq!(needs(&p, "test"), ["build"]);
        assert!(task(&p, "test").inputs.contains(&"rules.mk".to_string()));
        // A configure that is not executable is not run, and a Makefile still is.
        let dir = workspace(&[("configure", "#!/bin/sh\n"), ("Makefile", "all:\n\tcc x.c\ntest:\n\t./x\n")]);
        assert_eq!(ids(&plan("build and test", dir.path())), ["build", "test"]);
        // Without a Makefile, it is said.
        let dir = workspace(&[("configure", "#!/bin/sh\n"), ("Makefile.in", AUTOMAKE_IN)]);
        let e = err("build", dir.path());
        assert!(says(&e).contains("configure is not executable"), "{e}");
    }

    #[test]
    fn an_autoconf_release_beside_cmake_is_built_with_cmake_only() {
        // jansson's tarball: configure's headers in src/ would shadow CMake's own.
        let dir = workspace(&[
            ("configure", "#!/bin/sh\n"),
            ("Makefile.in", AUTOMAKE_IN),
            ("CMakeLists.txt", "project(x)\nenable_testing()\nadd_test(NAME t COMMAND x)\n"),
            ("src/a.c", ""),
        ]);
        chmod_x(dir.path(), "configure");
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"]);
        assert_eq!(cmd(&p, "configure"), "cmake -S . -B build");
        let first = crate::plan::to_yaml(&p);
        std::fs::write(dir.path().join("Makefile"), "all:\n\ttrue\ncheck:\n\ttrue\n").unwrap();
        std::fs::write(dir.path().join("config.status"), "").unwrap();
        assert_eq!(crate::plan::to_yaml(&plan("build and test", dir.path())), first);
        // A configure that is not executable, beside CMake: CMake alone, no refusal.
        let dir2 = workspace(&[("configure", "#!/bin/sh\n"), ("CMakeLists.txt", "project(x)\nenable_testing()\n")]);
        assert_eq!(ids(&plan("build and test", dir2.path())), ["configure", "build", "test"]);
    }

    #[test]
    fn a_configure_without_makefile_in_builds_but_cannot_name_tests() {
        let dir = workspace(&[("configure", "#!/bin/sh\necho 'all:' > Makefile\n"), ("a.c", "")]);
        chmod_x(dir.path(), "configure");
        let p = plan("build", dir.path());
        assert_eq!(ids(&p), ["configure", "build"]);
        assert_eq!(needs(&p, "build"), ["configure"]);
        let e = err("build and test", dir.path());
        assert!(says(&e).contains("no Makefile.in to tell the test target"), "{e}");
    }

    #[test]
    fn pytest_testpaths_count_only_when_they_name_something_there() {
        // iniconfig's sdist: setup.cfg names `testing`, which it does not ship.
        let dir = workspace(&[
            ("pyproject.toml", "[tool.pytest.ini_options]\ntestpaths = [\n  \"testing\",\n]\n"),
            ("src/iniconfig/__init__.py", ""),
        ]);
        let e = err("build and test", dir.path());
        assert!(says(&e).contains("pytest testpaths"), "{e}");
        std::fs::create_dir_all(dir.path().join("testing")).unwrap();
        std::fs::write(dir.path().join("testing/check.py"), "").unwrap();
        assert_eq!(ids(&plan("build and test", dir.path())), ["build", "test"]);
        // INI, with continuation lines; a glob counts; `..` and absolute paths do not.
        for (cfg, planned) in [
            ("[pytest]\ntestpaths =\n    nowhere\n    testing\n", true),
            ("[pytest]\ntestpaths = it*\n", true),
            ("[pytest]\ntestpaths = ../testing /tmp\n", false),
            ("[pytest]\n# testpaths = testing\n", false),
        ] {
            std::fs::write(dir.path().join("pytest.ini"), cfg).unwrap();
            std::fs::write(dir.path().join("pyproject.toml"), "[project]\nname = \"x\"\n").unwrap();
            let got = OfflinePlanner.plan("build and test", dir.path()).is_ok_and(|p| ids(&p).contains(&"test"));
            assert_eq!(got, planned, "{cfg}");
        }
    }

    #[test]
    fn python_c_extensions_are_built_in_place_before_the_tests() {
        let setup = "from setuptools import Extension, setup\n\
            ext_modules = [Extension(\"pkg._speedups\", [\"src/pkg/_speedups.c\"])]\nsetup(ext_modules=ext_modules)\n";
        let dir = workspace(&[
            ("setup.py", setup),
            ("setup.cfg", "[tool:pytest]\ntestpaths = tests\n"),
            ("src/pkg/__init__.py", ""),
            ("src/pkg/_speedups.c", ""),
            ("tests/test_pkg.py", ""),
        ]);
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["build", "build-ext", "test"]);
        assert_eq!(cmd(&p, "build-ext"), "setup-py setup.py build_ext --inplace");
        assert_eq!(task(&p, "build-ext").env.get("CIBUILDWHEEL").map(String::as_str), Some("1"));
        assert_eq!(needs(&p, "test"), ["build", "build-ext"]);
        // The tests alone still get the extension built.
        let t = plan("run the tests", dir.path());
        assert_eq!(ids(&t), ["build-ext", "test"]);
        assert_eq!(needs(&t, "test"), ["build-ext"]);
        // A setup.py without extensions (or one only in a comment) gets no build_ext.
        std::fs::write(dir.path().join("setup.py"), "from setuptools import setup\n# no ext_modules here\nsetup()\n")
            .unwrap();
        assert_eq!(ids(&plan("build and test", dir.path())), ["build", "test"]);
    }

    #[test]
    fn cmake_chain() {
        let dir = workspace(&[("CMakeLists.txt", "project(x)\ninclude(CTest)\n"), ("build/CMakeCache.txt", "")]);
        let p = plan("test", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"], "a test needs a configured build");
        assert_eq!(task(&p, "configure").args, ["-S", ".", "-B", "build"]);
        assert_eq!(task(&p, "build").args, ["--build", "build"]);
        assert_eq!(cmd(&p, "test"), "ctest --test-dir build --output-on-failure --no-tests=error");
        assert_eq!(needs(&p, "build"), ["configure"]);
        assert_eq!(needs(&p, "test"), ["build"]);
        assert_eq!(task(&p, "test").inputs, ["CMakeLists.txt"]);
        assert!(says(&err("lint", dir.path())).contains("no standard linter"));
        let dir = workspace(&[("CMakeLists.txt", "project(x)\nadd_executable(x x.c)\n")]);
        assert!(says(&err("build and test", dir.path())).contains("enables no tests"));
        assert_eq!(ids(&plan("ci", dir.path())), ["configure", "build"]);
    }

    #[test]
    fn meson_chain_sets_up_compiles_and_tests_in_build() {
        let dir = workspace(&[
            ("meson.build", "project('x', 'c')\nlib = library('x', 'x.c')\n# test('no', lib)\nsubdir('tests')\n"),
            ("tests/meson.build", "foreach n : ['a']\n  test('t_' + n, executable('u', 'u.c'))\nendforeach\n"),
            ("x.c", ""),
            ("build/build.ninja", ""),
        ]);
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"]);
        assert_eq!(cmd(&p, "configure"), "meson setup build --wrap-mode=nodownload");
        assert_eq!(cmd(&p, "build"), "meson compile -C build");
        assert_eq!(cmd(&p, "test"), "meson test -C build --print-errorlogs");
        assert_eq!(needs(&p, "build"), ["configure"]);
        assert_eq!(needs(&p, "test"), ["build"]);
        assert_eq!(task(&p, "test").inputs, ["meson.build", "tests", "x.c"]);
        assert_eq!(ids(&plan("run the tests", dir.path())), ["configure", "build", "test"]);
        assert_eq!(ids(&plan("build the C project", dir.path())), ["configure", "build"]);
        assert!(says(&err("lint", dir.path())).contains("Meson has no standard linter"));
        // No test() anywhere (a comment and a longer name do not count): `meson test` would pass on nothing.
        std::fs::write(dir.path().join("tests/meson.build"), "unittest_x = 1\n").unwrap();
        let e = err("build and test", dir.path());
        assert!(says(&e).contains("defines no test()"), "{e}");
        assert_eq!(ids(&plan("ci", dir.path())), ["configure", "build"]);
    }

    #[test]
    fn meson_is_preferred_to_cmake_configure_and_a_generated_makefile() {
        let dir = workspace(&[
            ("meson.build", "project('x', 'c')\ntest('t', executable('x', 'x.c'))\n"),
            ("CMakeLists.txt", "project(x)\nenable_testing()\nadd_test(NAME t COMMAND x)\n"),
            ("configure", "#!/bin/sh\n"),
            ("Makefile.in", AUTOMAKE_IN),
            ("x.c", ""),
        ]);
        chmod_x(dir.path(), "configure");
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"]);
        assert_eq!(cmd(&p, "configure"), "meson setup build --wrap-mode=nodownload");
        // What an earlier ./configure wrote is neither a project nor an input.
        let first = crate::plan::to_yaml(&p);
        std::fs::write(
            dir.path().join("Makefile"),
            "# Makefile.  Generated from Makefile.in by configure.\nall:\n\ttrue\ncheck:\n\ttrue\n",
        )
        .unwrap();
        std::fs::remove_file(dir.path().join("configure")).unwrap();
        std::fs::remove_file(dir.path().join("Makefile.in")).unwrap();
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"]);
        assert!(!task(&p, "test").inputs.contains(&"Makefile".to_string()));
        assert_ne!(crate::plan::to_yaml(&p), first, "the inputs lost configure and Makefile.in");
        // A hand-written Makefile beside it is planned too, as beside CMake (prefixed ids).
        std::fs::write(dir.path().join("Makefile"), "all:\n\tcc x.c\n").unwrap();
        assert_eq!(ids(&plan("build", dir.path())), ["make-build", "meson-configure", "meson-build"]);
    }

    #[test]
    fn a_release_only_makefile_beside_go_mod_neither_vetoes_nor_duplicates_the_go_plan() {
        // hey: `release` cross-builds into bin/; the module has tests.
        let makefile = "binary = hey\n\nrelease:\n\tGOOS=linux go build -o ./bin/$(binary)_linux\n";
        let dir = workspace(&[
            ("Makefile", makefile),
            ("go.mod", "module github.com/rakyll/hey\n\ngo 1.13\n"),
            ("hey.go", "package main\n"),
            ("hey_test.go", "package main\n"),
        ]);
        let p = plan("build and test this project", dir.path());
        assert_eq!(ids(&p), ["build", "test"]);
        assert_eq!(cmd(&p, "build"), "go build ./...");
        assert_eq!(cmd(&p, "test"), "go test ./...");
        assert_eq!(ids(&plan("build", dir.path())), ["build"]);
        // A Makefile that builds the usual way is still planned beside go.mod.
        for mk in ["all:\n\tgo build\ntest:\n\tgo test ./...\n", "hey: hey.go\n\tgo build\ntest:\n\tgo test\n"] {
            std::fs::write(dir.path().join("Makefile"), mk).unwrap();
            assert_eq!(
                ids(&plan("build and test", dir.path())),
                ["make-build", "make-test", "go-build", "go-test"],
                "{mk}"
            );
        }
    }

    #[test]
    fn a_makefile_that_wraps_the_python_build_is_not_planned_beside_it() {
        // psutil: `make build` runs setup.py's build_ext, `make test` the suite; planned
        // beside the Python project, both built the extension into one tree at once.
        let makefile = "PYTHON = python3\nBUILD_OPTS = --parallel\n\nall: test\n\n\
            build:  ## Compile.\n\t@# in place\n\tPYTHONWARNINGS=all $(PYTHON) setup.py build_ext -i $(BUILD_OPTS)\n\
            \t$(PYTHON) -c \"import psutil\"\n\ntest:\n\t${MAKE} build\n\t$(PYTHON) psutil/tests/runner.py\n";
        let dir = workspace(&[
            ("Makefile", makefile),
            (
                "setup.py",
                "from setuptools import setup, Extension\nsetup(ext_modules=[Extension('p._c', ['p/_c.c'])])\n",
            ),
            ("p/__init__.py", ""),
            ("p/_c.c", "int x;\n"),
            ("p/tests/__init__.py", ""),
            ("p/tests/test_a.py", "def test_a():\n    pass\n"),
        ]);
        let p = plan("build and test this project", dir.path());
        assert!(ids(&p).iter().all(|id| !id.starts_with("make")), "{:?}", ids(&p));
        assert!(ids(&p).iter().any(|id| id.contains("test")), "{:?}", ids(&p));
        // Other spellings of running Python in the build's recipe.
        for build in [
            "build:\n\tpython3 -m pip install -e .\n",
            "build:\n\tpip install .\n",
            "build: ; ${PYTHON} -m build\n",
            "build:\n\t@python3 setup_ext.py\n",
            "build:\n\t-@pip3 install .\n",
        ] {
            std::fs::write(dir.path().join("Makefile"), format!("{build}test:\n\tpytest\n")).unwrap();
            assert!(ids(&plan("build and test", dir.path())).iter().all(|id| !id.starts_with("make")), "{build}");
        }
        // more-itertools: the default goal has no recipe; a prerequisite runs `python -m pip`.
        let aggregate = "all-checks: requirements coverage check docs package\n\n\
            requirements:\n\tpython -m pip install --upgrade -r requirements/development.txt\n\
            coverage:\n\tcoverage run -m unittest\ncheck:\n\truff check .\ndocs:\n\tsphinx-build docs out\n\
            package:\n\tflit build\ntest:\n\tpython -m unittest -v ${tests}\n";
        std::fs::write(dir.path().join("Makefile"), aggregate).unwrap();
        assert!(ids(&plan("build and test", dir.path())).iter().all(|id| !id.starts_with("make")), "{aggregate}");
        // What a real build step depends on is not followed: a C build whose source a
        // Python script generates is still planned.
        let codegen = "all: prog\nprog: gen.c\n\tcc -o prog gen.c\ngen.c: gen.py\n\tpython3 gen.py\ntest:\n\t./prog\n";
        std::fs::write(dir.path().join("Makefile"), codegen).unwrap();
        let got = ids(&plan("build and test", dir.path())).iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(got.iter().any(|i| i == "make-build") && got.iter().any(|i| i == "make-test"), "{got:?}");
        // A Makefile that builds with the C compiler is still planned beside setup.py.
        std::fs::write(dir.path().join("Makefile"), "all:\n\tcc -c p/_c.c\ntest:\n\t./run-tests\n").unwrap();
        let p = plan("build and test", dir.path());
        let got = ids(&p);
        assert!(got.contains(&"make-build") && got.contains(&"make-test"), "{got:?}");
    }

    #[test]
    fn a_makefile_that_wraps_cmake_is_not_planned_beside_cmakelists() {
        // cmark: `all` builds through `cmake --build`, its build directory's rule runs `cmake -S . -B`.
        let makefile = "BUILDDIR?=build\nall: cmake_build\n\ncmake_build: $(BUILDDIR)\n\tcmake --build $(BUILDDIR)\n\n\
            $(BUILDDIR):\n\t@cmake --version > /dev/null || (echo no cmake && exit 1)\n\tcmake \\\n\t    -S . -B $(BUILDDIR)\n\n\
            test: $(BUILDDIR)\n\tcmake --build $(BUILDDIR) --target test\n";
        let dir = workspace(&[
            ("Makefile", makefile),
            ("CMakeLists.txt", "project(x)\nenable_testing()\n"),
            ("src/a.c", "int x;\n"),
        ]);
        let p = plan("build and test this project", dir.path());
        assert_eq!(ids(&p), ["configure", "build", "test"], "only the CMake project");
        // Other spellings: a path to cmake, $(CMAKE).
        for recipe in ["all:\n\t/usr/bin/cmake --build b\n", "all:\n\t$(CMAKE) --build b\n"] {
            std::fs::write(dir.path().join("Makefile"), format!("{recipe}test:\n\t./t\n")).unwrap();
            assert_eq!(ids(&plan("build and test", dir.path())), ["configure", "build", "test"], "{recipe}");
        }
        // A Makefile that builds without cmake (a word merely containing it too) is still planned.
        std::fs::write(dir.path().join("Makefile"), "all:\n\tcc -c src/a.c -o cmake-free.o\ntest:\n\t./t\n").unwrap();
        let got = plan("build and test", dir.path());
        assert!(ids(&got).contains(&"make-build"), "{:?}", ids(&got));
    }

    #[test]
    fn pyproject_only_c_extensions_are_refused_up_front_saying_why() {
        // mmh3: the extension is declared in [tool.setuptools], there is no setup.py.
        let pyproject = "[build-system]\nrequires = [\"setuptools >= 74.1.0\"]\n\n[project]\nname = \"mmh3\"\n\n\
            [tool.setuptools]\ninclude-package-data = true\next-modules = [\n  {name = \"mmh3\", sources = \
            [\"./src/mmh3/mmh3module.c\"]}\n]\n";
        let dir = workspace(&[
            ("pyproject.toml", pyproject),
            ("src/mmh3/__init__.pyi", ""),
            ("src/mmh3/mmh3module.c", ""),
            ("tests/test_mmh3.py", "import mmh3\n"),
        ]);
        for intent in ["build and test this project", "run the tests", "build"] {
            let e = err(intent, dir.path());
            assert!(matches!(e, PlanError::NothingToDo { .. }), "{intent}: {e}");
            let m = says(&e);
            assert!(m.contains("[tool.setuptools] ext-modules") && m.contains("no setup.py"), "{m}");
            assert!(!m.contains("out of the intent"), "leaving a step out does not help: {m}");
        }
        assert_eq!(ids(&plan("lint", dir.path())), ["lint"]);
        // The table form, too; a key of another table is not it.
        assert!(pyproject_extensions("[[tool.setuptools.ext-modules]]\nname = \"x\"\n"));
        assert!(!pyproject_extensions("[tool.cibuildwheel]\next-modules = 1\n[tool.setuptools]\nzip-safe = false\n"));
        // With a setup.py, setup-py builds them (setuptools reads pyproject.toml).
        std::fs::write(dir.path().join("setup.py"), "from setuptools import setup\nsetup()\n").unwrap();
        let p = plan("build and test", dir.path());
        assert_eq!(ids(&p), ["build", "build-ext", "test"]);
        assert_eq!(needs(&p, "test"), ["build", "build-ext"]);
    }

    #[test]
    fn python_src_layout_tests_the_sources_not_an_installed_copy() {
        let dir = workspace(&[
            ("pyproject.toml", "[project]\nname = \"pkg\"\n"),
            ("src/pkg/__init__.py", ""),
            ("tests/test_pkg.py", ""),
            (".venv/pyvenv.cfg", ""),
        ]);
        let p = plan("build and test", dir.path());
        assert_eq!(cmd(&p, "build"), "python3 -m compileall -q src tests");
        assert_eq!(cmd(&p, "test"), "python3 -m pytest -c pyproject.toml -o pythonpath=src");
        assert!(task(&p, "test").intent.as_deref().unwrap().contains("not an installed copy"));
        // A project that sets pytest's pythonpath itself is run as configured.
        let dir = workspace(&[
            ("pyproject.toml", "[tool.pytest.ini_options]\npythonpath = [\"src\"]\n"),
            ("src/pkg/__init__.py", ""),
            ("tests/test_pkg.py", ""),
        ]);
        assert_eq!(cmd(&plan("run the tests", dir.path()), "test"), "python3 -m pytest");
        // With a pytest config file of its own, the override is relative to it.
        let dir = workspace(&[
            ("setup.py", ""),
            ("setup.cfg", "[tool:pytest]\naddopts = -q\n"),
            ("src/pkg/__init__.py", ""),
            ("tests/test_pkg.py", ""),
        ]);
        assert_eq!(cmd(&plan("run the tests", dir.path()), "test"), "python3 -m pytest -o pythonpath=src");
        let dir = workspace(&[("setup.py", ""), ("src/mod.py", ""), ("tests/test_mod.py", "")]);
        assert_eq!(cmd(&plan("test", dir.path()), "test"), "python3 -m pytest -c setup.py -o pythonpath=src");
    }

    #[test]
    fn python_flat_layout_compiles_its_sources_only() {
        let dir = workspace(&[
            ("setup.py", "from setuptools import setup\nsetup()\n"),
            ("pkg/__init__.py", ""),
            ("test_pkg.py", ""),
            ("venv/pyvenv.cfg", ""),
            ("myenv/pyvenv.cfg", ""),
            ("myenv/x.py", ""),
            ("docs/conf.txt", ""),
        ]);
        let p = plan("build, test and lint", dir.path());
        assert_eq!(cmd(&p, "build"), "python3 -m compileall -q pkg setup.py test_pkg.py");
        assert_eq!(cmd(&p, "test"), "python3 -m pytest");
        assert_eq!(cmd(&p, "lint"), "ruff check .");
        let dir = workspace(&[("pyproject.toml", ""), ("pkg/__init__.py", "")]);
        assert!(says(&err("test", dir.path())).contains("no tests/"));
    }

    #[test]
    fn python_tests_inside_the_package_are_planned() {
        // simplejson's and psutil's shape: the suite in `pkg/tests/`, a C extension built first.
        let setup = "from setuptools import Extension, setup\n\
            setup(ext_modules=[Extension(\"pkg._speedups\", [\"pkg/_speedups.c\"])])\n";
        let dir = workspace(&[
            ("setup.py", setup),
            ("pkg/__init__.py", ""),
            ("pkg/_speedups.c", ""),
            ("pkg/tests/__init__.py", ""),
            ("pkg/tests/test_pkg.py", ""),
        ]);
        let p = plan("build and test this project", dir.path());
        assert_eq!(ids(&p), ["build", "build-ext", "test"]);
        assert_eq!(cmd(&p, "test"), "python3 -m pytest");
        assert_eq!(needs(&p, "test"), ["build", "build-ext"]);
        // `test/` and `*_test.py` count too, and so does a src-layout package.
        let dir = workspace(&[("pyproject.toml", ""), ("pkg/__init__.py", ""), ("pkg/test/pkg_test.py", "")]);
        assert_eq!(cmd(&plan("test", dir.path()), "test"), "python3 -m pytest");
        let dir = workspace(&[("pyproject.toml", ""), ("src/pkg/__init__.py", ""), ("src/pkg/tests/test_x.py", "")]);
        assert_eq!(cmd(&plan("test", dir.path()), "test"), "python3 -m pytest -c pyproject.toml -o pythonpath=src");
        // Helpers without test modules, or tests in a directory that is no package, are no suite.
        let dir = workspace(&[("pyproject.toml", ""), ("pkg/__init__.py", ""), ("pkg/tests/helpers.py", "")]);
        assert!(says(&err("test", dir.path())).contains("in a package"));
        let dir = workspace(&[("pyproject.toml", ""), ("pkg/__init__.py", ""), ("examples/tests/test_x.py", "")]);
        assert!(says(&err("test", dir.path())).contains("no tests/"));
    }

    #[test]
    fn python_build_compiles_imported_code_never_test_data() {
        // Pygments' shape: lexer samples under tests/ that are deliberately not valid Python.
        let dir = workspace(&[
            ("pyproject.toml", "[project]\nname = \"pkg\"\n"),
            ("pkg/__init__.py", "def f():\n    return 1\n"),
            ("pkg/lexers/__init__.py", ""),
            ("pkg/lexers/_mapping.py", "X = 1\n"),
            ("pkg/lexers/data/sample.py", "return 1\n"),
            ("doc/conf.py", "project = 'pkg'\n"),
            ("doc/examples/bad.py", "return 1\n"),
            ("tests/__init__.py", ""),
            ("tests/test_f.py", "def test_f():\n    pass\n"),
            ("tests/examplefiles/python/switch_case.py", "return 1\n"),
            ("tests/snippets/x/__init__.py", "return 1\n"),
        ]);
        let p = plan("build and test", dir.path());
        assert_eq!(cmd(&p, "build"), "python3 -m compileall -q -l doc pkg pkg/lexers tests");
        // The planned step passes and compiles the code, and only the code.
        let t = task(&p, "build");
        let out = std::process::Command::new("python3")
            .args(&t.args)
            .current_dir(dir.path())
            .output()
            .expect("python3 runs (the Python planner tests need it)");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for code in ["doc", "pkg", "pkg/lexers", "tests"] {
            assert!(dir.path().join(code).join("__pycache__").is_dir(), "{code} was not compiled");
        }
        for data in ["doc/examples", "pkg/lexers/data", "tests/examplefiles/python", "tests/snippets/x"] {
            assert!(!dir.path().join(data).join("__pycache__").exists(), "{data} was compiled");
        }
        // The src layout: `src` itself holds no package marker, its packages are listed.
        let dir = workspace(&[
            ("pyproject.toml", ""),
            ("src/pkg/__init__.py", ""),
            ("tests/test_pkg.py", ""),
            ("tests/data/input.py", "return 1\n"),
        ]);
        assert_eq!(cmd(&plan("build", dir.path()), "build"), "python3 -m compileall -q -l src src/pkg tests");
    }

    #[test]
    fn go_and_gradle() {
        let dir = workspace(&[("go.mod", "module x\n"), ("build.gradle.kts", ""), ("pkg/a/a_test.go", "")]);
        let p = plan("ci", dir.path());
        assert_eq!(ids(&p), ["go-build", "go-test", "go-lint", "gradle-build", "gradle-test"]);
        assert_eq!(task(&p, "go-lint").args, ["vet", "./..."]);
        assert_eq!(task(&p, "go-test").env.get("GOPROXY").map(String::as_str), Some("off"));
        assert_eq!(task(&p, "gradle-build").tool.value, "gradle");
        assert_eq!(task(&p, "gradle-test").args, ["test", "--offline"]);
        assert!(says(&err("lint", dir.path())).contains("Gradle has no standard lint"));
        assert_eq!(ids(&plan("lint the Go code", dir.path())), ["lint"]);
        // No test file: `go test` would test nothing.
        let dir = workspace(&[("go.mod", "module x\n"), ("main.go", ""), ("vendor/y/y_test.go", "")]);
        assert!(says(&err("build and test", dir.path())).contains("no *_test.go file"));
        assert_eq!(ids(&plan("ci", dir.path())), ["build", "lint"]);

        let dir = workspace(&[("gradlew", "#!/bin/sh\n"), ("build.gradle", "")]);
        let p = plan("build", dir.path());
        assert_eq!(cmd(&p, "build"), "gradlew build --offline");
    }

    #[test]
    fn a_second_run_plans_the_same_after_building() {
        let dir = workspace(&[
            ("Makefile", "all: hello\nhello: hello.c\n\tcc -o hello hello.c\ntest: hello\n\t./hello\n"),
            ("hello.c", ""),
            (".gitignore", "*.log\n"),
        ]);
        let first = crate::plan::to_yaml(&plan("build and test", dir.path()));
        std::fs::write(dir.path().join("hello"), b"\x7fELF\x02\x01\x01\x00").unwrap();
        std::fs::write(dir.path().join("hello.o"), b"").unwrap();
        std::fs::write(dir.path().join("test.log"), b"").unwrap();
        std::fs::create_dir_all(dir.path().join("runs/x")).unwrap();
        std::fs::create_dir_all(dir.path().join("reports")).unwrap();
        std::fs::create_dir_all(dir.path().join(".pytest_cache")).unwrap();
        assert_eq!(crate::plan::to_yaml(&plan("build and test", dir.path())), first);
    }

    #[test]
    fn intents_that_cannot_be_planned_say_what_was_understood_in_one_line() {
        let dir = workspace(&[CARGO]);
        for (intent, why) in [
            ("deploy to production", "asks to deploy"),
            ("build and deploy", "asks to deploy"),
            ("build without tests", "negates"),
            ("", "names no step"),
            ("   ", "names no step"),
            ("the", "names no step"),
            ("hello\nworld", "words not understood: hello, world"),
        ] {
            let e = err(intent, dir.path());
            assert!(matches!(e, PlanError::NotUnderstood { .. }), "{intent:?}: {e}");
            let msg = says(&e);
            assert!(msg.contains(why), "{msg}");
            assert!(msg.contains("write e.g. \"build and test\", \"run the tests\", \"lint\""), "{msg}");
            assert!(msg.contains("LLM planner"), "{msg}");
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
