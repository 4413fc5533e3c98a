//! Reading an intent: which steps it asks for, which ecosystems it names, and
//! which words the offline planner passed over.
//!
//! Guarantees: a pure function of the text. Words are split on every
//! character that is not alphanumeric and compared in lower case, so a
//! recorded word never carries punctuation (it is safe to print anywhere).
//! An intent is refused, with the reason in words, when it asks for no step
//! the planner knows, asks for an action it does not do (deploy, publish,
//! install, …), or negates something ("without tests"): planning part of
//! such an intent would be a plan the user did not ask for.

use std::fmt;

/// A step an intent can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Want {
    /// Compile, bundle or byte-compile.
    Build,
    /// Run the project's tests.
    Test,
    /// Run a linter or type checker that needs no network.
    Lint,
}

impl Want {
    /// The word for messages.
    pub fn word(self) -> &'static str {
        match self {
            Want::Build => "build",
            Want::Test => "test",
            Want::Lint => "lint",
        }
    }
}

/// The ecosystems the planner knows (one per kind of project file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Eco {
    /// Rust, `Cargo.toml`.
    Cargo,
    /// TypeScript and JavaScript, `package.json` or `tsconfig.json`.
    Node,
    /// `Makefile` (C, C++ and anything else make drives).
    Make,
    /// `CMakeLists.txt`.
    Cmake,
    /// `meson.build`.
    Meson,
    /// `go.mod`.
    Go,
    /// `pyproject.toml`, `setup.py`.
    Python,
    /// Gradle (Java, Kotlin).
    Gradle,
}

impl Eco {
    /// The language in words, with the files that mark it.
    pub fn describe(self) -> &'static str {
        match self {
            Eco::Cargo => "Rust project (Cargo.toml)",
            Eco::Node => "TypeScript/JavaScript project (package.json or tsconfig.json)",
            Eco::Make => "make project (Makefile)",
            Eco::Cmake => "CMake project (CMakeLists.txt)",
            Eco::Meson => "Meson project (meson.build)",
            Eco::Go => "Go module (go.mod)",
            Eco::Python => "Python project (pyproject.toml or setup.py)",
            Eco::Gradle => "Gradle project (build.gradle, gradlew)",
        }
    }
}

/// A language named in an intent, and the ecosystems that satisfy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    /// The word as written (lower case).
    pub word: String,
    /// Any of these projects satisfies it.
    pub ecos: &'static [Eco],
}

/// What an intent asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// Every step asked for, sorted, without duplicates.
    pub wants: Vec<Want>,
    /// The steps asked for by name (a project lacking one of them is an error);
    /// `ci`, `all` and `everything` ask for whatever each project has.
    pub named: Vec<Want>,
    /// Languages named ("TypeScript", "Rust"): only their projects are planned.
    pub languages: Vec<Language>,
    /// Words passed over (neither a step, a language nor filler), in order.
    pub ignored: Vec<String>,
}

/// Why an intent cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Words that ask for nothing by themselves ("run the tests", "build it please").
const FILLER: &[&str] = &[
    "a",
    "also",
    "an",
    "and",
    "app",
    "application",
    "both",
    "code",
    "codebase",
    "do",
    "for",
    "full",
    "in",
    "it",
    "its",
    "just",
    "library",
    "lib",
    "me",
    "my",
    "of",
    "on",
    "only",
    "our",
    "please",
    "plus",
    "project",
    "projects",
    "repo",
    "repository",
    "run",
    "runs",
    "running",
    "source",
    "sources",
    "suite",
    "suites",
    "the",
    "then",
    "this",
    "unit",
    "with",
    "workspace",
    "package",
    "packages",
    "module",
    "modules",
];

/// Actions the offline planner never takes: an intent asking for one is refused whole.
const NOT_DONE: &[&str] = &[
    "deploy",
    "deploys",
    "deploying",
    "deployment",
    "publish",
    "publishing",
    "install",
    "installing",
    "upload",
    "uploading",
    "push",
    "ship",
    "bench",
    "benchmark",
    "benchmarks",
    "format",
    "reformat",
    "docs",
    "document",
    "documentation",
    "serve",
    "watch",
    "clean",
    "coverage",
    "fuzz",
];

/// Words that negate ("build without tests"): the planner does not take them apart.
const NEGATIONS: &[&str] = &["no", "not", "without", "skip", "skipping", "except", "excluding", "dont", "don", "never"];

fn language(word: &str) -> Option<&'static [Eco]> {
    Some(match word {
        "rust" | "cargo" | "crate" | "crates" => &[Eco::Cargo],
        "typescript" | "ts" | "javascript" | "js" | "node" | "nodejs" | "npm" | "tsc" => &[Eco::Node],
        "python" | "python3" | "py" | "pytest" => &[Eco::Python],
        "go" | "golang" => &[Eco::Go],
        "c" | "cpp" | "cxx" => &[Eco::Make, Eco::Cmake, Eco::Meson],
        "makefile" => &[Eco::Make],
        "cmake" => &[Eco::Cmake],
        "meson" => &[Eco::Meson],
        "java" | "kotlin" | "gradle" => &[Eco::Gradle],
        _ => return None,
    })
}

/// Read an intent.
pub fn parse(intent: &str) -> Result<Intent, Refusal> {
    let mut wants = Vec::new();
    let mut named = Vec::new();
    let mut languages: Vec<Language> = Vec::new();
    let mut ignored = Vec::new();
    let (mut saw_ci, mut saw_all) = (false, false);
    // "type-check" and "type check" are one word (a lint), not "check" (the tests).
    let lower = intent.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let mut joined: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "type" && words.get(i + 1).is_some_and(|n| n.starts_with("check")) {
            joined.push("typecheck".into());
            i += 2;
        } else {
            joined.push(words[i].to_string());
            i += 1;
        }
    }
    for w in joined {
        let step = match w.as_str() {
            "build" | "builds" | "building" | "built" | "compile" | "compiles" | "compiling" | "make" => {
                Some(Want::Build)
            }
            "test" | "tests" | "testing" | "tested" | "check" | "checks" | "verify" => Some(Want::Test),
            "lint" | "lints" | "linting" | "linter" | "linters" | "clippy" | "vet" | "style" | "typecheck"
            | "typechecking" => Some(Want::Lint),
            _ => None,
        };
        if let Some(s) = step {
            named.push(s);
            continue;
        }
        if w == "ci" {
            saw_ci = true;
        } else if w == "all" || w == "everything" {
            saw_all = true;
        } else if NEGATIONS.contains(&w.as_str()) {
            return Err(Refusal(format!(
                "it negates something ({w:?}), and the offline planner does not take negations apart; \
                 name only the steps to run"
            )));
        } else if NOT_DONE.contains(&w.as_str()) {
            return Err(Refusal(format!("it asks to {w}, which the offline planner never does")));
        } else if let Some(ecos) = language(&w) {
            if !languages.iter().any(|l| l.ecos == ecos) {
                languages.push(Language { word: w, ecos });
            }
        } else if !FILLER.contains(&w.as_str()) {
            ignored.push(w);
        }
    }
    // "ci" is every step; "all" alone too, but "run all tests" means the tests.
    let everything = saw_ci || (saw_all && named.is_empty());
    wants.extend(named.iter().copied());
    if everything {
        wants.extend([Want::Build, Want::Test, Want::Lint]);
    }
    wants.sort_unstable();
    wants.dedup();
    named.sort_unstable();
    named.dedup();
    if wants.is_empty() {
        let mut why = "it names no step the offline planner knows (build, test, lint, ci)".to_string();
        if !ignored.is_empty() {
            why.push_str(&format!("; words not understood: {}", ignored.join(", ")));
        }
        return Err(Refusal(why));
    }
    Ok(Intent { wants, named, languages, ignored })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wants(s: &str) -> Vec<Want> {
        parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}")).wants
    }

    #[test]
    fn the_seeds_and_users_intents_are_read() {
        use Want::*;
        let i = parse("Build and test TypeScript project").unwrap();
        assert_eq!(i.wants, [Build, Test]);
        assert_eq!(i.languages.len(), 1);
        assert_eq!(i.languages[0].ecos, [Eco::Node]);
        assert!(i.ignored.is_empty(), "{:?}", i.ignored);
        assert_eq!(wants("run the tests"), [Test]);
        assert_eq!(wants("lint"), [Lint]);
        assert_eq!(wants("build, test and lint"), [Build, Test, Lint]);
        assert_eq!(parse("build, test and lint").unwrap().named, [Build, Test, Lint]);
        assert_eq!(wants("run all tests"), [Test]);
        assert_eq!(wants("type-check"), [Lint]);
        assert_eq!(wants("Type check and test"), [Test, Lint]);
        assert_eq!(wants("test all"), [Test]);
        for all in ["CI", "all", "everything", "ci and lint"] {
            assert_eq!(wants(all), [Build, Test, Lint], "{all}");
        }
        assert_eq!(parse("CI").unwrap().named, []);
        assert_eq!(parse("ci and lint").unwrap().named, [Lint]);
    }

    #[test]
    fn unknown_words_are_passed_over_and_recorded() {
        let i = parse("Quickly build the frontend, then test it!").unwrap();
        assert_eq!(i.wants, [Want::Build, Want::Test]);
        assert_eq!(i.ignored, ["quickly", "frontend"]);
        let i = parse("build ::add-mask::x ##[error]y").unwrap();
        assert!(i.ignored.iter().all(|w| w.chars().all(char::is_alphanumeric)), "{:?}", i.ignored);
    }

    #[test]
    fn intents_that_cannot_be_planned_say_why() {
        for (intent, says) in [
            ("deploy to production", "asks to deploy"),
            ("build and deploy", "asks to deploy"),
            ("build without tests", "negates"),
            ("", "names no step"),
            ("make me a sandwich please", "asks"),
            ("hello world", "words not understood: hello, world"),
        ] {
            match parse(intent) {
                Err(Refusal(why)) if intent == "make me a sandwich please" => panic!("{intent}: {why}"),
                Err(Refusal(why)) => assert!(why.contains(says), "{intent:?}: {why}"),
                Ok(i) if intent == "make me a sandwich please" => assert_eq!(i.ignored, ["sandwich"]),
                Ok(i) => panic!("{intent:?} was planned: {i:?}"),
            }
        }
    }
}
