//! The CI outputs validated, not only present: `junit.xml` parsed back and
//! counted, `violations.sarif` validated against the SARIF 2.1.0 JSON schema
//! (vendored in tests/data), the GitHub annotations, log groups and step
//! summary read with GitHub's own command rules, from the attacker's side.

use crate::harness::*;
use std::collections::BTreeMap;

const INJECT: &str = "echo '::error title=fake::from the task'; echo '##[warning]v1 from the task'; \
     echo '::add-mask::secret'; echo '::endgroup::'; echo '::stop-commands::mine'; echo '::mine::'; \
     echo '::orchestra-00000000000000000000000000000000::'; printf '\\033[31mred\\000nul ]]> </system-out> & %%0A'; \
     printf '::error::no newline at the end'";

// ---- a model of the GitHub Actions runner's workflow-command processing ----

/// A workflow command the runner would act on.
#[derive(Debug, Clone, PartialEq)]
struct Cmd {
    name: String,
    props: BTreeMap<String, String>,
    data: String,
}

fn unescape_data(s: &str) -> String {
    s.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")
}

fn unescape_prop(s: &str) -> String {
    s.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
}

/// The commands in `output`, as the runner reads them: lines split on LF, CR
/// or CRLF; `::stop-commands::TOKEN` stops everything until a line that is
/// exactly `::TOKEN::`; `::name props::data` at the start of a line (after
/// spaces), and the old `##[name props]data` anywhere in a line.
fn commands(output: &str) -> Vec<Cmd> {
    let mut out = Vec::new();
    let mut stop: Option<String> = None;
    for line in output.split(['\n', '\r']) {
        if let Some(token) = &stop {
            if line.trim() == format!("::{token}::") {
                stop = None;
            }
            continue;
        }
        let t = line.trim_start_matches(' ');
        if let Some(rest) = t.strip_prefix("::")
            && let Some(end) = rest.find("::")
        {
            let info = &rest[..end];
            let data = unescape_data(&rest[end + 2..]);
            let (name, props) = info.split_once(' ').unwrap_or((info, ""));
            let props = props
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.split_once('=').map(|(k, v)| (k.to_string(), unescape_prop(v))))
                .collect();
            if name == "stop-commands" {
                stop = Some(data.clone());
            }
            out.push(Cmd { name: name.to_string(), props, data });
            continue;
        }
        if let Some(at) = line.find("##[")
            && let Some(end) = line[at..].find(']')
        {
            let info = &line[at + 3..at + end];
            let name = info.split([' ', ';']).next().unwrap_or("").to_string();
            out.push(Cmd { name, props: BTreeMap::new(), data: line[at + end + 1..].to_string() });
        }
    }
    out
}

#[test]
fn the_runner_model_sees_what_github_would() {
    let c = commands(
        "x\n::error file=a%2Cb,title=t%3A1::m%0An\n##[warning]w\n::stop-commands::T\n::error::hidden\n::T::\n::warning::after",
    );
    let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["error", "warning", "stop-commands", "warning"]);
    assert_eq!(c[0].props["file"], "a,b");
    assert_eq!(c[0].props["title"], "t:1");
    assert_eq!(c[0].data, "m\nn");
}

fn github_run(w: &World, plan_yaml: &str, summary: &std::path::Path, extra: &[&str]) -> Out {
    let mut c = w.run_cmd(plan_yaml, extra);
    c.env("GITHUB_ACTIONS", "true").env("GITHUB_STEP_SUMMARY", summary);
    w.run_with(c)
}

fn report_tasks(w: &World) -> Vec<serde_json::Value> {
    w.json(&w.only_run_dir().join("report.json"))["tasks"].as_array().unwrap().clone()
}

/// A plan with every outcome and hostile output: tasks print workflow
/// commands, and a violation detail carries a task-chosen path with a newline.
fn hostile_plan() -> String {
    plan(&[
        sh("ok", &format!("echo fine; {INJECT}"), ""),
        sh("fail", &format!("{INJECT}; exit 3"), ""),
        sh("slow", "echo waiting; sleep 30", ", timeout: 1s"),
        sh("bad", "echo x > \"/etc/evil%0A::warning title=x::injected, with: colon\n::error::line two\"", ""),
        sh("bad2", "echo y >> /etc/passwd", ""),
        sh("after", "true", ", needs: [fail]"),
    ])
}

#[test]
fn github_actions_annotations_groups_and_summary_cannot_be_hijacked_by_tasks() {
    let w = World::ci();
    let summary = w.root.join("step-summary.md");
    std::fs::write(&summary, "# earlier step output\n").unwrap();
    // A plan-chosen output path lands in a progress line ("declared output ... was not produced").
    let p = format!(
        "{}  - {{id: planned, tool: sh, args: ['-c', 'true'], outputs: ['##[add-mask]from-plan']}}\n",
        hostile_plan()
    );
    let o = github_run(&w, &p, &summary, &["--keep-going", "-j", "4"]);
    o.assert_code(4);
    assert!(o.stderr.contains("##[add-mask]from-plan"), "the progress line quotes the plan: {}", o.stderr);
    assert!(o.stdout.is_empty(), "workflow commands go to stderr with the progress lines:\n{}", o.stdout);
    let cmds = commands(&o.stderr);

    // Only orchestra's own commands: groups, fences, and its annotations.
    for c in &cmds {
        assert!(
            matches!(c.name.as_str(), "group" | "endgroup" | "stop-commands" | "error" | "warning"),
            "unexpected command {c:?}\n{}",
            o.stderr
        );
        if c.name == "error" || c.name == "warning" {
            assert!(c.props.get("title").is_some_and(|t| t.starts_with("orchestra: ")), "{c:?}\n{}", o.stderr);
        }
    }
    let errors: Vec<&Cmd> = cmds.iter().filter(|c| c.name == "error").collect();
    let warnings: Vec<&Cmd> = cmds.iter().filter(|c| c.name == "warning").collect();
    // bad, bad2 (violations), slow (timeout), fail (failed); after is skipped.
    let titles: Vec<&str> = errors.iter().map(|c| c.props["title"].as_str()).collect();
    assert_eq!(
        titles,
        [
            "orchestra: bad violated fs.write",
            "orchestra: bad2 violated fs.write",
            "orchestra: slow timed out",
            "orchestra: fail failed",
            "orchestra: planned failed"
        ],
        "{}",
        o.stderr
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].props["title"], "orchestra: after skipped");
    // Annotations point at the task's line in the plan, relative to the workspace.
    let plan_text = std::fs::read_to_string(w.ws.join("plan.yaml")).unwrap();
    let line_of = |id: &str| plan_text.lines().position(|l| l.contains(&format!("id: {id},"))).unwrap() + 1;
    assert_eq!(errors[0].props["file"], "plan.yaml");
    assert_eq!(errors[0].props["line"], line_of("bad").to_string());
    assert_eq!(errors[3].props["line"], line_of("fail").to_string());
    // The task-chosen path arrives as data, intact, inside orchestra's annotation.
    assert!(
        errors[0].data.contains("/etc/evil%0A::warning title=x::injected, with: colon ::error::line two"),
        "{:?}",
        errors[0]
    );

    // Every task's log is in a group, fenced: the task's lines are there, inert.
    let groups: Vec<&str> = cmds.iter().filter(|c| c.name == "group").map(|c| c.data.as_str()).collect();
    assert_eq!(groups.len(), 6, "{groups:?}"); // every task that ran
    assert!(groups.iter().any(|g| g.starts_with("orchestra: fail failed")), "{groups:?}");
    assert_eq!(cmds.iter().filter(|c| c.name == "endgroup").count(), 6, "{}", o.stderr);
    assert!(o.stderr.contains("::error title=fake::from the task"), "the task's output is shown");
    let tokens: Vec<&str> = cmds.iter().filter(|c| c.name == "stop-commands").map(|c| c.data.as_str()).collect();
    assert_eq!(tokens.len(), 7, "{tokens:?}"); // the progress lines, then each group
    assert!(tokens.iter().all(|t| t.len() >= 40 && t.starts_with("orchestra-") && *t == tokens[0]), "{tokens:?}");
    // Each fence is closed by a line of its own (also after output without a final newline).
    let resume = format!("::{}::", tokens[0]);
    assert_eq!(o.stderr.lines().filter(|l| *l == resume).count(), 7, "{}", o.stderr);
    assert!(o.stderr.starts_with(&format!("::stop-commands::{}\n", tokens[0])), "fenced from the start: {}", o.stderr);
    assert_ne!(tokens[0], "orchestra-00000000000000000000000000000000");
    // print_failures' plain tail is not printed unfenced under GitHub Actions.
    assert!(!o.stderr.contains("  | "), "{}", o.stderr);

    // The step summary: appended after the earlier content, the run's report.md, escaped.
    let s = std::fs::read_to_string(&summary).unwrap();
    let md = std::fs::read_to_string(w.only_run_dir().join("report.md")).unwrap();
    assert_eq!(s, format!("# earlier step output\n{md}"));
    assert!(s.contains("| `bad` | 🛑 violation"), "{s}");
    assert!(!s.contains("<system-out>") && !s.contains("\n::error::line two"), "{s}");
    assert!(s.contains("/etc/evil%0A::warning title=x::injected, with: colon ::error::line two"), "{s}");
}

#[test]
fn annotations_stay_within_githubs_per_step_limits() {
    let w = World::ci();
    let mut tasks: Vec<String> = (0..14).map(|i| sh(&format!("f{i}"), "exit 1", "")).collect();
    tasks.extend((0..12).map(|i| sh(&format!("s{i}"), "true", &format!(", needs: [f{i}]"))));
    let summary = w.root.join("summary.md");
    let o = github_run(&w, &plan(&tasks), &summary, &["--keep-going", "-j", "4"]);
    o.assert_code(2);
    let cmds = commands(&o.stderr);
    let errors: Vec<&Cmd> = cmds.iter().filter(|c| c.name == "error").collect();
    let warnings: Vec<&Cmd> = cmds.iter().filter(|c| c.name == "warning").collect();
    assert_eq!(errors.len(), 10, "{errors:?}");
    assert_eq!(warnings.len(), 10, "{warnings:?}");
    assert_eq!(errors[9].props["title"], "orchestra: 5 more", "{:?}", errors[9]);
    assert_eq!(warnings[9].props["title"], "orchestra: 3 more", "{:?}", warnings[9]);
}

#[test]
fn the_step_summary_stays_under_one_mebibyte() {
    let w = World::ci();
    let summary = w.root.join("summary.md");
    // Earlier steps left almost 1 MiB: the report must be cut, not dropped past the limit.
    let filler = "x".repeat(1024 * 1024 - 20 * 1024 - 1) + "\n";
    std::fs::write(&summary, &filler).unwrap();
    let tasks: Vec<String> = (0..60).map(|i| sh(&format!("task-with-a-long-name-{i:03}"), "exit 1", "")).collect();
    let o = github_run(&w, &plan(&tasks), &summary, &["--keep-going", "-j", "4"]);
    o.assert_code(2);
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.len() <= 1024 * 1024, "{} bytes", s.len());
    assert!(s.starts_with(&filler));
    let added = &s[filler.len()..];
    assert!(added.starts_with("# ❌ Orchestra run"), "{}", &added[..200.min(added.len())]);
    assert!(added.contains("Cut to fit GitHub's step summary limit"), "{added}");
    let md = std::fs::read_to_string(w.only_run_dir().join("report.md")).unwrap();
    assert!(md.len() > added.len(), "the full report stays in the run directory");
}

#[test]
fn junit_parses_back_with_the_right_counts_and_kinds() {
    let w = World::ci();
    let o = w.run_plan(&hostile_plan(), &["--keep-going", "-j", "4", "--junit", "out/junit.xml"]);
    o.assert_code(4);
    let text = w.read(&w.only_run_dir().join("junit.xml"));
    assert_eq!(text, w.read(&w.ws.join("out/junit.xml")), "the --junit copy is the same document");
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("junit.xml is not XML: {e}\n{text}"));
    let suites = doc.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    let suite = suites.children().find(|n| n.has_tag_name("testsuite")).unwrap();
    let attr = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap_or_default().to_string();
    assert_eq!(attr(suite, "name"), "orchestra: plan.yaml");
    assert_eq!(attr(suite, "tests"), "6");
    assert_eq!(attr(suite, "failures"), "2"); // fail + slow
    assert_eq!(attr(suite, "errors"), "2"); // bad + bad2
    assert_eq!(attr(suite, "skipped"), "1"); // after
    let cases: Vec<roxmltree::Node> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    let names: Vec<String> = cases.iter().map(|c| attr(*c, "name")).collect();
    assert_eq!(names, ["ok", "fail", "slow", "bad", "bad2", "after"]);
    let outcome = |name: &str| -> (String, String) {
        let c = cases.iter().find(|c| c.attribute("name") == Some(name)).unwrap();
        match c.children().find(|n| n.has_tag_name("failure") || n.has_tag_name("error") || n.has_tag_name("skipped")) {
            Some(n) => (n.tag_name().name().to_string(), attr(n, "type")),
            None => ("passed".into(), String::new()),
        }
    };
    assert_eq!(outcome("ok"), ("passed".into(), "".into()));
    assert_eq!(outcome("fail"), ("failure".into(), "failed".into()));
    assert_eq!(outcome("slow"), ("failure".into(), "timeout".into()));
    assert_eq!(outcome("bad"), ("error".into(), "violation".into()));
    assert_eq!(outcome("after"), ("skipped".into(), "skipped".into()));
    // The violation's text lists rule and detail; the failing task's output is in system-out.
    let bad = cases.iter().find(|c| c.attribute("name") == Some("bad")).unwrap();
    let err = bad.children().find(|n| n.has_tag_name("error")).unwrap();
    assert!(err.text().unwrap_or("").contains("fs.write"), "{:?}", err.text());
    let fail = cases.iter().find(|c| c.attribute("name") == Some("fail")).unwrap();
    let out = fail.children().find(|n| n.has_tag_name("system-out")).and_then(|n| n.text()).unwrap_or("");
    assert!(out.contains("::error title=fake::from the task") && out.contains("]]> </system-out> &"), "{out}");
    assert!(!out.contains('\u{0}') && !out.contains('\u{1b}'), "control characters are not carried: {out:?}");
    // Counts agree with report.json.
    let states: Vec<String> = report_tasks(&w).iter().map(|t| t["state"].as_str().unwrap().to_string()).collect();
    assert_eq!(states, ["succeeded", "failed", "timed_out", "violation", "violation", "skipped"]);
}

#[test]
fn sarif_is_valid_sarif_2_1_0_with_one_result_per_violation() {
    let w = World::ci();
    let o = w.run_plan(&hostile_plan(), &["--keep-going", "-j", "4", "--sarif", "out/orchestra.sarif"]);
    o.assert_code(4);
    let sarif = w.json(&w.only_run_dir().join("violations.sarif"));
    assert_eq!(sarif, w.json(&w.ws.join("out/orchestra.sarif")));
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("tests/data/sarif-schema-2.1.0.json")).unwrap())
            .unwrap();
    // The vendored schema (as shipped in serde-sarif) has one invalid regex, the
    // `run.language` pattern `...{2}]?$`; the meta-schema check refuses it. Fix
    // that one pattern in memory (orchestra writes no `language`), nothing else.
    fn fix(v: &mut serde_json::Value) -> usize {
        match v {
            serde_json::Value::Object(m) => {
                let mut n = 0;
                if m.get("pattern").and_then(|p| p.as_str()) == Some("^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$") {
                    m.insert("pattern".into(), serde_json::json!("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$"));
                    n += 1;
                }
                n + m.values_mut().map(fix).sum::<usize>()
            }
            serde_json::Value::Array(a) => a.iter_mut().map(fix).sum(),
            _ => 0,
        }
    }
    assert_eq!(fix(&mut schema), 2, "the erratum changed: re-check this fix");
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> =
        validator.iter_errors(&sarif).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "violations.sarif is not valid SARIF 2.1.0: {errors:#?}");
    // The validator is not a rubber stamp.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("catastrophic");
    assert!(!validator.is_valid(&broken));

    let run = &sarif["runs"][0];
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(run["tool"]["driver"]["name"], "orchestra");
    let rules: Vec<&str> =
        run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    for r in ["fs.write", "fs.hidden", "network.none", "limits.memory", "syscall.ptrace"] {
        assert!(rules.contains(&r), "rule {r} missing: {rules:?}");
    }
    let mut unique = rules.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), rules.len(), "one rule per policy rule");
    // One result per violation in report.json, each pointing at its rule and task.
    let expected: usize = report_tasks(&w).iter().map(|t| t["violations"].as_array().unwrap().len()).sum();
    let results = run["results"].as_array().unwrap();
    assert!(expected >= 2);
    assert_eq!(results.len(), expected);
    let plan_text = std::fs::read_to_string(w.ws.join("plan.yaml")).unwrap();
    for r in results {
        let rule = r["ruleId"].as_str().unwrap();
        assert_eq!(rules[r["ruleIndex"].as_u64().unwrap() as usize], rule);
        assert_eq!(r["level"], "error");
        let task = r["properties"]["task"].as_str().unwrap();
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "plan.yaml");
        let line = loc["region"]["startLine"].as_u64().unwrap() as usize;
        assert!(plan_text.lines().nth(line - 1).unwrap().contains(&format!("id: {task},")), "{r:#}");
        assert!(r["partialFingerprints"]["orchestraViolation/v1"].as_str().is_some_and(|f| f.len() == 32));
    }
    let bad = results.iter().find(|r| r["properties"]["task"] == "bad").unwrap();
    assert!(bad["message"]["text"].as_str().unwrap().contains("/etc/evil%0A::warning"), "{bad:#}");
}

#[test]
fn a_run_without_violations_still_writes_valid_empty_reports() {
    let w = World::ci();
    w.run_plan(&plan(&[sh("a", "true", "")]), &[]).assert_code(0);
    let sarif = w.json(&w.only_run_dir().join("violations.sarif"));
    assert_eq!(sarif["runs"][0]["results"], serde_json::json!([]));
    let xml = w.read(&w.only_run_dir().join("junit.xml"));
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("tests"), Some("1"));
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
}

#[test]
fn config_outputs_and_environment_overrides_follow_the_precedence() {
    let w = World::ci();
    std::fs::write(
        &w.config,
        format!("{SH_TOOL}concurrency: 3\noutputs:\n  junit: from-config/junit.xml\n  sarif: from-config/v.sarif\n"),
    )
    .unwrap();
    // env over config: ORCHESTRA_JUNIT and ORCHESTRA_CONCURRENCY; flag over env: --sarif.
    let mut c = w.run_cmd(&plan(&[sh("a", "true", "")]), &["--sarif", "from-flag.sarif"]);
    c.env("ORCHESTRA_JUNIT", "from-env.xml").env("ORCHESTRA_CONCURRENCY", "2").env("ORCHESTRA_SARIF", "env.sarif");
    let o = w.run_with(c);
    o.assert_code(0);
    assert!(o.stderr.contains("concurrency 2"), "{}", o.all());
    assert!(w.ws.join("from-env.xml").is_file());
    assert!(!w.ws.join("from-config/junit.xml").exists());
    assert!(w.ws.join("from-flag.sarif").is_file());
    assert!(!w.ws.join("env.sarif").exists() && !w.ws.join("from-config/v.sarif").exists());
    // A directory as an output path is refused before anything runs.
    std::fs::create_dir_all(w.ws.join("adir")).unwrap();
    let o = w.run_plan(&plan(&[sh("a", "true", "")]), &["--junit", "adir"]);
    o.assert_code(1);
    assert!(o.stderr.contains("--junit") && o.stderr.contains("directory"), "{}", o.all());
}

#[test]
fn the_config_security_block_reaches_every_tasks_sandbox() {
    let w = World::ci();
    std::fs::write(&w.config, format!("{SH_TOOL}security:\n  sandbox_mode: jail\n  docker_network: none\n")).unwrap();
    w.run_plan(&plan(&[sh("a", "true", "")]), &[]).assert_code(0);
    let sandbox = w.json(&w.only_run_dir().join("reports/a.json"));
    let report = &report_tasks(&w)[0];
    assert_eq!(
        format!("sha256:{}", sandbox["policy_sha256"].as_str().unwrap()),
        report["policy_sha256"].as_str().unwrap()
    );
    let effective = std::fs::read_to_string(sandbox["policy"].as_str().unwrap()).unwrap();
    assert!(effective.contains("docker_network: none"), "{effective}");
}

// ---- config check, schema, and the examples ---------------------------------

#[test]
fn config_check_accepts_the_seed_config_and_refuses_typos_with_positions() {
    let w = World::ci();
    let seed = repo().join(".orchestra/ci.config.yaml");
    let o = w.orchestra(&["config", "check", seed.to_str().unwrap()]);
    o.assert_code(0);
    assert!(o.stdout.contains(": ok (") && o.stdout.contains("sandbox_mode jail"), "{}", o.all());
    let bad = w.root.join("bad.yaml");
    std::fs::write(&bad, "version: 1\noutputs:\n  junt: x.xml\n").unwrap();
    let o = w.orchestra(&["config", "check", bad.to_str().unwrap()]);
    o.assert_code(1);
    assert!(o.stderr.contains("bad.yaml:3:"), "{}", o.all());
    std::fs::write(&bad, "security:\n  sandbox_mode: jail\n  docker_image: x:1\n").unwrap();
    w.orchestra(&["config", "check", bad.to_str().unwrap()]).assert_code(1);
    let mut c = w.command();
    c.args(["config", "check", seed.to_str().unwrap()]).env("ORCHESTRA_TIMEOUT", "whenever");
    let o = w.run_with(c);
    o.assert_code(1);
    assert!(o.stderr.contains("ORCHESTRA_TIMEOUT"), "{}", o.all());
}

#[test]
fn the_config_schema_file_matches_the_types() {
    let w = World::ci();
    let o = w.orchestra(&["config", "schema"]);
    o.assert_code(0);
    let generated: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("policies/config.schema.json")).unwrap()).unwrap();
    assert_eq!(generated, committed, "regenerate with: orchestra config schema > policies/config.schema.json");
    // The seed config is valid under it.
    let seed: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(repo().join(".orchestra/ci.config.yaml")).unwrap()).unwrap();
    let v = jsonschema::validator_for(&committed).unwrap();
    assert!(v.is_valid(&seed), "{:?}", v.iter_errors(&seed).map(|e| e.to_string()).collect::<Vec<_>>());
}

fn yaml(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
}

#[test]
fn the_github_workflow_example_parses_and_uploads_what_orchestra_writes() {
    let wf = yaml(".github/workflows/orchestra.yml");
    let job = wf["jobs"].as_object().unwrap().values().next().unwrap();
    assert_eq!(job["runs-on"], "ubuntu-24.04");
    let steps = job["steps"].as_array().unwrap();
    let run_text: String = steps.iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>().join("\n");
    assert!(run_text.contains("kernel.apparmor_restrict_unprivileged_userns=0"), "{run_text}");
    assert!(run_text.contains("cargo install --locked --path ."), "{run_text}");
    assert!(
        run_text.contains("orchestra run") && run_text.contains("--config .orchestra/ci.config.yaml"),
        "{run_text}"
    );
    let uses = |name: &str| {
        steps.iter().filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(name))).collect::<Vec<_>>()
    };
    let upload = uses("actions/upload-artifact");
    assert_eq!(upload.len(), 1);
    assert_eq!(upload[0]["if"], "always()");
    let paths = upload[0]["with"]["path"].as_str().unwrap();
    for p in ["runs/**/report.md", "runs/**/junit.xml", "runs/**/violations.sarif"] {
        assert!(paths.lines().any(|l| l.trim() == p), "{p} not uploaded: {paths}");
    }
    let sarif = uses("github/codeql-action/upload-sarif");
    assert_eq!(sarif.len(), 1);
    assert_eq!(sarif[0]["if"], "always()");
    // It uploads the fixed copy the seed config asks for.
    let seed = yaml(".orchestra/ci.config.yaml");
    assert_eq!(sarif[0]["with"]["sarif_file"], seed["outputs"]["sarif"]);
    assert!(wf["permissions"]["security-events"] == "write", "upload-sarif needs security-events: write");
}

#[test]
fn the_gitlab_example_parses_and_reports_junit() {
    let ci = yaml("examples/ci/gitlab-ci.yml");
    let job = ci.as_object().unwrap().values().find(|v| v.get("script").is_some()).unwrap();
    let script: Vec<&str> = job["script"].as_array().unwrap().iter().filter_map(|s| s.as_str()).collect();
    assert!(script.iter().any(|s| s.contains("orchestra run") && s.contains("--config .orchestra/ci.config.yaml")));
    assert_eq!(job["artifacts"]["when"], "always");
    let seed = yaml(".orchestra/ci.config.yaml");
    assert_eq!(job["artifacts"]["reports"]["junit"], seed["outputs"]["junit"]);
    let paths: Vec<&str> = job["artifacts"]["paths"].as_array().unwrap().iter().filter_map(|s| s.as_str()).collect();
    assert!(paths.contains(&"runs/"), "{paths:?}");
}

#[test]
fn under_github_with_json_stdout_stays_json_and_commands_go_to_stderr() {
    let w = World::ci();
    let summary = w.root.join("summary.md");
    let o = github_run(&w, &plan(&[sh("f", "echo '::error::from task'; exit 1", "")]), &summary, &["--json"]);
    o.assert_code(2);
    for line in o.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(v["event"].is_string(), "{line}");
    }
    let errors: Vec<Cmd> = commands(&o.stderr).into_iter().filter(|c| c.name == "error").collect();
    assert_eq!(errors.len(), 1, "{}", o.stderr);
    assert_eq!(errors[0].props["title"], "orchestra: f failed");
    assert!(std::fs::read_to_string(&summary).unwrap().contains("| `f` | ❌ failed"));
}

#[test]
fn the_github_workflows_run_step_leaves_every_file_it_uploads() {
    // Run the workflow's own "Build and test" command in a copy of the
    // repository's files it uses, as GitHub would (GITHUB_ACTIONS, step summary).
    let w = World::ci();
    let repo_copy = w.root.join("checkout");
    copy_tree(&repo().join("examples/hello-c"), &repo_copy.join("examples/hello-c"));
    let _ = std::fs::remove_file(repo_copy.join("examples/hello-c/hello"));
    copy_tree(&repo().join(".orchestra"), &repo_copy.join(".orchestra"));
    let _ = std::fs::remove_dir_all(repo_copy.join(".orchestra/audit"));
    let wf = yaml(".github/workflows/orchestra.yml");
    let steps = wf["jobs"]["build-and-test"]["steps"].as_array().unwrap();
    let step = steps.iter().find(|s| s["name"] == "Build and test").unwrap();
    let line = step["run"].as_str().unwrap().trim();
    let script = line.strip_prefix("orchestra ").expect("the step runs orchestra");
    let summary = w.root.join("step-summary.md");
    // World::command's clean environment, through a shell so the step's quoting applies.
    let envs: Vec<(std::ffi::OsString, std::ffi::OsString)> =
        w.command().get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))).collect();
    let mut sh = std::process::Command::new("/bin/sh");
    sh.env_clear().envs(envs);
    sh.current_dir(&repo_copy)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("ORCHESTRA_BIN", orchestra())
        .arg("-c")
        .arg(format!("exec \"$ORCHESTRA_BIN\" {script}"));
    let o = sh.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(std::fs::read_to_string(&summary).unwrap().contains("Orchestra run"), "step summary written");
    // Every path the upload step names matches something.
    let upload =
        steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact"))).unwrap();
    let runs: Vec<std::path::PathBuf> =
        std::fs::read_dir(repo_copy.join("runs")).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    assert_eq!(runs.len(), 1);
    for p in upload["with"]["path"].as_str().unwrap().lines().map(str::trim).filter(|l| !l.is_empty()) {
        let found = match p.strip_prefix("runs/**/") {
            Some(rest) => runs[0].join(rest.trim_end_matches('/')).exists(),
            None => repo_copy.join(p.trim_end_matches('/')).exists(),
        };
        assert!(found, "the workflow uploads {p}, which orchestra did not write");
    }
    let sarif_file = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif")))
        .unwrap()["with"]["sarif_file"]
        .as_str()
        .unwrap()
        .to_string();
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_copy.join(&sarif_file)).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
}

// ---- text quoted from plans, configs and planners; exec; SARIF locations ------

/// The commands a runner would act on, other than orchestra's own fences.
fn live(output: &str) -> Vec<Cmd> {
    commands(output).into_iter().filter(|c| c.name != "stop-commands").collect()
}

#[test]
fn plan_errors_planner_answers_and_config_values_cannot_issue_workflow_commands() {
    let w = World::ci();
    let github = |args: &[&str]| {
        let mut c = w.command();
        c.args(args).env("GITHUB_ACTIONS", "true");
        w.run_with(c)
    };
    // A plan whose tool name is a command: the whitelist refusal quotes it.
    w.write("plan.yaml", "tasks:\n  - {id: a, tool: '##[add-mask]from-plan'}\n");
    let o = github(&["run", "plan.yaml", "--config", w.config.to_str().unwrap()]);
    o.assert_code(1);
    assert!(o.stderr.contains("##[add-mask]from-plan"), "{}", o.all());
    assert_eq!(live(&o.stderr), [], "{}", o.all());
    assert_eq!(live(&o.stdout), [], "{}", o.all());
    // An intent the planner refuses: its answer quotes the intent.
    w.write("Makefile", "all:\n\tcc -o x x.c\n");
    let o = github(&["run", "deploy ##[add-mask]from-intent\n::add-mask::x", "--config", w.config.to_str().unwrap()]);
    o.assert_code(1);
    assert!(o.stderr.contains("asks to deploy") && o.stderr.contains("##[add-mask]from-intent"), "{}", o.all());
    assert_eq!(live(&o.stderr), [], "{}", o.all());
    // A plan printed by `orchestra plan` quotes the intent too.
    let o = github(&["plan", "build ##[add-mask]in-plan", "--config", w.config.to_str().unwrap()]);
    o.assert_code(0);
    assert!(o.stdout.contains("##[add-mask]in-plan") && o.stdout.contains("tool: make"), "{}", o.all());
    assert_eq!(live(&o.stdout), [], "{}", o.all());
    assert_eq!(live(&o.stderr), [], "{}", o.all());
    // Redirected to a file, the plan is only the plan (a file is no runner).
    let file = w.root.join("plan-out.yaml");
    let mut c = w.command();
    c.args(["plan", "build ##[add-mask]in-plan", "--config", w.config.to_str().unwrap()]);
    c.env("GITHUB_ACTIONS", "true").stdout(std::fs::File::create(&file).unwrap());
    w.run_with(c).assert_code(0);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("version: 1\n") && !text.contains("stop-commands"), "{text}");
    // `config check` prints config values.
    let cfg = w.root.join("hostile.yaml");
    std::fs::write(&cfg, "runs_dir: \"r\\n::add-mask::from-config\\n##[error]x\"\n").unwrap();
    let o = github(&["config", "check", cfg.to_str().unwrap()]);
    o.assert_code(0);
    assert!(o.stdout.contains(": ok (") && o.stdout.contains("::add-mask::from-config"), "{}", o.all());
    assert_eq!(live(&o.stdout), [], "{}", o.all());
    // `runs list` and `runs show` quote a run's intent.
    let runs = w.runs.to_str().unwrap();
    let mut c = w.command();
    c.args(["run", "build ##[add-mask]in-run", "--config", w.config.to_str().unwrap(), "--runs-dir", runs]);
    c.arg("--audit-dir").arg(&w.audit);
    assert_eq!(w.run_with(c).code, 2, "x.c is missing: the build fails");
    let o = github(&["runs", "list", "--runs-dir", runs]);
    o.assert_code(0);
    assert!(o.stdout.contains("##[add-mask]in-run"), "{}", o.all());
    assert_eq!(live(&o.stdout), [], "{}", o.all());
    assert_eq!(live(&o.stderr), [], "{}", o.all());
    let o = github(&["runs", "list", "--runs-dir", runs, "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&o.stdout).expect("--json stays JSON");
    assert_eq!(rows[0]["source"], "intent: build ##[add-mask]in-run", "the same value");
    assert_eq!(commands(&o.stdout), [], "{}", o.all());
    // `policy show` prints a policy file's values.
    let pol = w.root.join("hostile-policy.yaml");
    let strict = std::fs::read_to_string(repo().join("policies/strict.yaml")).unwrap();
    std::fs::write(&pol, strict.replace("name: strict", "name: '##[add-mask]from-policy'")).unwrap();
    for args in [&["policy", "show", pol.to_str().unwrap()][..], &["policy", "check", pol.to_str().unwrap()]] {
        let o = github(args);
        o.assert_code(0);
        assert!(o.stdout.contains("##[add-mask]from-policy"), "{}", o.all());
        assert_eq!(live(&o.stdout), [], "{}", o.all());
    }
    // Not vacuous: outside GitHub Actions the same text is printed as it is,
    // and would be a command there.
    let o = w.orchestra(&["config", "check", cfg.to_str().unwrap()]);
    o.assert_code(0);
    assert!(!o.stdout.contains("::stop-commands::"), "{}", o.all());
    let names: Vec<String> = live(&o.stdout).into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["add-mask", "error"], "{}", o.all());
}

#[test]
fn exec_under_github_actions_fences_the_tasks_output_like_run() {
    let w = World::ci();
    let script = "echo '::add-mask::from-stdout'; echo '##[error]from-stderr' >&2; printf '::warning::no newline'";
    let mut c = w.exec_cmd(&[], &["/bin/sh", "-c", script]);
    c.env("GITHUB_ACTIONS", "true");
    let o = w.run_with(c);
    o.assert_code(0);
    assert!(o.stdout.contains("::add-mask::from-stdout") && o.stderr.contains("##[error]from-stderr"), "{}", o.all());
    assert_eq!(live(&o.stdout), [], "{}", o.all());
    assert_eq!(live(&o.stderr), [], "{}", o.all());
    // Opened on both streams with one token, closed on stderr after the verdict line.
    let token = o.stdout.lines().next().and_then(|l| l.strip_prefix("::stop-commands::")).expect("fenced stdout");
    assert!(o.stderr.starts_with(&format!("::stop-commands::{token}\n")), "{}", o.all());
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.last().copied(), Some(format!("::{token}::").as_str()), "{}", o.all());
    assert!(lines[lines.len() - 2].starts_with("orchestra: sh ok"), "{}", o.all());
    // Output redirected to a file stays the task's, byte for byte; stderr (the runner's) is still fenced.
    let file = w.root.join("exec-out.txt");
    let mut c = w.exec_cmd(&[], &["/bin/sh", "-c", "echo '::add-mask::to-file'"]);
    c.env("GITHUB_ACTIONS", "true").stdout(std::fs::File::create(&file).unwrap());
    let o = w.run_with(c);
    o.assert_code(0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "::add-mask::to-file\n");
    assert!(o.stderr.starts_with("::stop-commands::") && o.stderr.trim_end().ends_with("::"), "{}", o.all());
    // Outside GitHub Actions nothing changes.
    let o = w.run_with(w.exec_cmd(&[], &["/bin/sh", "-c", "echo plain"]));
    o.assert_code(0);
    assert_eq!(o.stdout, "plain\n");
    assert!(!o.stderr.contains("stop-commands"), "{}", o.all());
    // The tasks of a run are fenced by the run, once: their logs carry no fence of their own.
    let summary = w.root.join("summary.md");
    github_run(&w, &plan(&[sh("t", "echo '::add-mask::x'", "")]), &summary, &[]).assert_code(0);
    let log = w.read(&w.only_run_dir().join("logs/t.log"));
    assert!(log.contains("::add-mask::x") && !log.contains("stop-commands"), "{log}");
}

/// The SARIF results of the only run in `runs`.
fn sarif_results(runs: &std::path::Path) -> Vec<serde_json::Value> {
    let ids: Vec<std::path::PathBuf> =
        std::fs::read_dir(runs).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ids[0].join("violations.sarif")).unwrap()).unwrap();
    v["runs"][0]["results"].as_array().unwrap().clone()
}

fn uri(r: &serde_json::Value) -> &str {
    r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap()
}

#[test]
fn sarif_locations_are_relative_to_github_workspace_and_intent_runs_point_at_the_manifest() {
    let passwd = std::fs::read("/etc/passwd").unwrap();
    // The repository root is the world's root; the workspace is its `ws/`.
    let mut w = World::ci();
    w.env.push(("GITHUB_WORKSPACE".into(), w.root.display().to_string()));
    let o = w.run_plan(&plan(&[sh("bad", "echo y >> /etc/passwd", "")]), &[]);
    o.assert_code(4);
    let results = sarif_results(&w.runs);
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(results[0]["ruleId"], "fs.write");
    assert_eq!(uri(&results[0]), "ws/plan.yaml", "{results:#?}");
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd, "/etc/passwd changed");

    // An intent run points at the workspace's manifest, the same file every run.
    let mut w2 = World::ci();
    w2.env.push(("GITHUB_WORKSPACE".into(), w2.root.display().to_string()));
    w2.write("Makefile", "all:\n\techo y >> /etc/passwd\ntest: all\n\ttrue\n");
    let mut fingerprints = Vec::new();
    for round in 0..2 {
        let runs = w2.root.join(format!("runs{round}"));
        let mut c = w2.command();
        c.args(["run", "build and test", "--config"]).arg(&w2.config).arg("--runs-dir").arg(&runs);
        c.arg("--audit-dir").arg(&w2.audit);
        let o = w2.run_with(c);
        o.assert_code(4);
        assert!(o.stderr.contains("fs.write"), "{}", o.all());
        let results = sarif_results(&runs);
        assert_eq!(results.len(), 1, "{results:#?}");
        assert_eq!(results[0]["ruleId"], "fs.write");
        assert_eq!(uri(&results[0]), "ws/Makefile", "{results:#?}");
        assert!(!uri(&results[0]).contains("plan.yaml"), "{results:#?}");
        fingerprints.push(results[0]["partialFingerprints"].clone());
    }
    assert_eq!(fingerprints[0], fingerprints[1], "the alert is the same alert in the next run");
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd, "/etc/passwd changed");
}

#[test]
fn the_ci_examples_install_orchestra_from_a_git_repository_not_this_checkout() {
    let wf = yaml("examples/ci/github-actions.yml");
    let job = wf["jobs"].as_object().unwrap().values().next().unwrap();
    let steps = job["steps"].as_array().unwrap();
    let gitlab = yaml("examples/ci/gitlab-ci.yml");
    let gl_job = gitlab.as_object().unwrap().values().find(|v| v.get("script").is_some()).unwrap();
    let scripts: Vec<String> = vec![
        steps.iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>().join("\n"),
        gl_job["script"].as_array().unwrap().iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
    ];
    let vars = [&wf["env"], &gl_job["variables"]];
    for (script, vars) in scripts.iter().zip(vars) {
        assert!(script.contains("cargo install --locked --git \"$INSTALL_ORCHESTRA_GIT\""), "{script}");
        assert!(script.contains("--rev \"$INSTALL_ORCHESTRA_REV\""), "{script}");
        assert!(!script.contains("--path") && !script.contains("--workdir"), "a path of this repository: {script}");
        assert!(vars["INSTALL_ORCHESTRA_GIT"].as_str().is_some_and(|u| u.starts_with("https://")), "{vars}");
        // The seed's own command, unchanged.
        assert!(
            script.contains("orchestra run \"Build and test\" --config .orchestra/ci.config.yaml --concurrency 4"),
            "{script}"
        );
    }
    let seed = yaml(".orchestra/ci.config.yaml");
    let sarif =
        steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif")));
    assert_eq!(sarif.unwrap()["with"]["sarif_file"], seed["outputs"]["sarif"]);
    assert_eq!(wf["permissions"]["security-events"], "write");
    assert_eq!(gl_job["artifacts"]["reports"]["junit"], seed["outputs"]["junit"]);
}

#[test]
fn the_seeds_typescript_workflow_command_builds_and_tests_a_typescript_project() {
    for tool in ["tsc", "node", "npm"] {
        let found = std::process::Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
        assert!(found.status.success(), "{tool} is not installed (.ci/run installs nodejs and node-typescript)");
    }
    let w = World::ci();
    std::fs::create_dir_all(w.ws.join(".orchestra")).unwrap();
    std::fs::copy(repo().join(".orchestra/ci.config.yaml"), w.ws.join(".orchestra/ci.config.yaml")).unwrap();
    w.write(
        "package.json",
        r#"{"name": "adder", "private": true, "scripts": {"build": "tsc -p tsconfig.json", "test": "node --test"}}"#,
    );
    w.write(
        "tsconfig.json",
        r#"{"compilerOptions": {"outDir": "dist", "module": "commonjs", "target": "es2020", "strict": true}, "include": ["src"]}"#,
    );
    w.write("src/add.ts", "export function add(a: number, b: number): number {\n  return a + b;\n}\n");
    w.write(
        "src/add.test.ts",
        "declare function require(name: string): any;\nconst test = require(\"node:test\");\n\
         const assert = require(\"node:assert\");\nimport { add } from \"./add\";\n\
         test(\"adds\", () => assert.strictEqual(add(2, 3), 5));\n\
         test(\"adds negatives\", () => assert.strictEqual(add(-2, -3), -5));\n",
    );
    // The seed workflow's exact command line, from the repository root.
    let mut c = w.command();
    c.args([
        "run",
        "Build and test TypeScript project",
        "--config",
        "./.orchestra/ci.config.yaml",
        "--concurrency",
        "4",
    ]);
    let o = w.run_with(c);
    o.assert_code(0);
    let runs: Vec<std::path::PathBuf> =
        std::fs::read_dir(w.ws.join("runs")).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    assert_eq!(runs.len(), 1, "the workflow uploads ./runs/**/report.md");
    assert!(runs[0].join("report.md").is_file());
    let report: serde_json::Value = serde_json::from_str(&w.read(&runs[0].join("report.json"))).unwrap();
    let tasks = report["tasks"].as_array().unwrap();
    let states: Vec<(&str, &str)> =
        tasks.iter().map(|t| (t["id"].as_str().unwrap(), t["state"].as_str().unwrap())).collect();
    assert_eq!(states, [("build", "succeeded"), ("test", "succeeded")], "{report:#}");
    assert!(tasks.iter().all(|t| t["violations"].as_array().is_none_or(|v| v.is_empty())), "{report:#}");
    assert!(w.ws.join("dist/add.js").is_file(), "tsc compiled");
    let log = w.read(&runs[0].join("logs/test.log"));
    assert!(log.contains("# pass 2") && log.contains("# fail 0"), "the tests really ran: {log}");
}

#[test]
fn a_ci_copy_that_names_a_link_or_a_device_is_refused_before_anything_runs() {
    // Replacing it would swap the user's link (or /dev/null) for a plain file.
    let w = World::ci();
    let target = w.ws.join("kept.xml");
    std::fs::write(&target, "kept\n").unwrap();
    std::os::unix::fs::symlink(&target, w.ws.join("link.xml")).unwrap();
    let plan = plan(&[sh("a", "echo ran > ran.txt", "")]);
    for (flag, path) in [("--junit", w.ws.join("link.xml")), ("--sarif", "/dev/null".into())] {
        let o = w.run_plan(&plan, &[flag, &path.display().to_string()]);
        o.assert_code(1);
        assert!(o.stderr.contains("give a new path or a regular file"), "{}", o.stderr);
        assert!(!w.ws.join("ran.txt").exists(), "a task ran\n{}", o.all());
    }
    assert!(std::fs::symlink_metadata(w.ws.join("link.xml")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept\n");
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&std::fs::metadata("/dev/null").unwrap().file_type()));
    assert!(!w.runs.exists() || std::fs::read_dir(&w.runs).unwrap().next().is_none(), "a run was created");
}
