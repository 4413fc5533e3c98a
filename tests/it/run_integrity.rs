//! Orchestrator-side integrity (issue 15): a plan cannot make a whitelisted
//! tool run other code through its `env:` (item 15), and nothing Orchestra
//! writes into a run directory after a task ran goes through a link a task
//! could have placed (item 3, run side). Every test drives the built binary
//! and asserts the effect (a marker file that must not exist, a host
//! directory that must stay empty), the exit code and the message.

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A workspace script named like a whitelisted tool, which leaves `marker` if it ever runs.
fn plant_fake_tool(w: &World, dir: &str, name: &str, marker: &Path) {
    let p = w.write(&format!("{dir}/{name}"), &format!("#!/bin/sh\necho pwned > '{}'\n", marker.display()));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

// ---- item 15: the whitelist cannot be bypassed through env ------------------

#[test]
fn a_plan_setting_path_to_a_workspace_dir_is_refused_at_load() {
    let w = World::new();
    let marker = w.ws.join("PWNED");
    plant_fake_tool(&w, "bin", "true", &marker);
    let plan = format!("tasks:\n- id: t\n  tool: 'true'\n  env:\n    CI: 'yes'\n    PATH: {}/bin\n", w.ws.display());
    let o = w.run_plan(&plan, &[]);
    o.assert_code(1);
    let line = o.stderr.lines().find(|l| l.contains("env PATH is refused")).unwrap_or_else(|| panic!("{}", o.all()));
    assert!(line.contains("plan.yaml:6:5: task \"t\": env PATH is refused"), "{line}");
    assert!(!marker.exists(), "the workspace script ran");
    assert!(w.run_ids().is_empty(), "nothing ran, no run directory");
}

#[test]
fn loader_and_interpreter_variables_in_plan_env_are_refused() {
    for (k, v) in [
        ("LD_PRELOAD", "/ws/evil.so"),
        ("LD_LIBRARY_PATH", "."),
        ("LD_AUDIT", "x.so"),
        ("BASH_ENV", "./evil.sh"),
        ("ENV", "./evil.sh"),
        ("NODE_OPTIONS", "--require ./evil.js"),
        ("PERL5OPT", "-Mevil"),
        ("RUSTC_WRAPPER", "./evil"),
        ("GIT_CONFIG_PARAMETERS", "core.hooksPath=."),
    ] {
        let w = World::new();
        let o = w.run_plan(&format!("tasks:\n- {{id: t, tool: sh, args: ['-c', 'true'], env: {{{k}: '{v}'}}}}\n"), &[]);
        o.assert_code(1);
        assert!(
            o.stderr.contains("plan.yaml:2:") && o.stderr.contains(&format!("env {k} is refused")),
            "{k}: {}",
            o.all()
        );
        assert!(w.run_ids().is_empty(), "{k}: nothing ran");
    }
    // `orchestra plan` checks the same way.
    let w = World::new();
    w.write("p.yaml", "tasks:\n- {id: t, tool: 'true', env: {LD_PRELOAD: x.so}}\n");
    let o = w.orchestra(&["plan", "p.yaml", "--config", w.config.to_str().unwrap()]);
    o.assert_code(1);
    assert!(o.stderr.contains("p.yaml:2:") && o.stderr.contains("env LD_PRELOAD is refused"), "{}", o.all());
}

#[test]
fn the_tool_runs_from_the_policy_path_and_the_report_names_that_file() {
    let w = World::new();
    let marker = w.ws.join("PWNED");
    plant_fake_tool(&w, ".", "true", &marker);
    let o = w.run_plan("tasks:\n- {id: t, tool: 'true', env: {CI: 'yes'}}\n", &[]);
    o.assert_code(0);
    assert!(!marker.exists(), "the workspace's ./true ran");
    let r = w.report(&w.only_run());
    let argv0 = task(&r, "t")["argv"][0].as_str().unwrap().to_string();
    assert!(Path::new(&argv0).is_absolute() && argv0.ends_with("/true"), "{argv0}");
    assert!(!argv0.starts_with(w.ws.to_str().unwrap()), "{argv0}");
    // The dry run shows the same resolved command.
    let o = w.run_plan("tasks:\n- {id: t, tool: 'true'}\n", &["--dry-run"]);
    o.assert_code(0);
    assert!(o.stdout.contains(&format!("t: {argv0} ")), "{}", o.stdout);
}

#[test]
fn a_policy_path_through_the_workspace_is_refused_not_followed() {
    let w = World::new();
    let marker = w.ws.join("PWNED");
    plant_fake_tool(&w, "bin", "true", &marker);
    // The policy (outside the workspace) puts a workspace directory first on PATH.
    let policy = w.root.join("ws-path.yaml");
    std::fs::write(
        &policy,
        format!("version: 1\nname: wspath\nenvironment:\n  set:\n    PATH: {}/bin:/usr/bin:/bin\n", w.ws.display()),
    )
    .unwrap();
    let o = w.run_plan("tasks:\n- {id: t, tool: 'true'}\n", &["--policy", policy.to_str().unwrap()]);
    o.assert_code(1);
    assert!(o.stderr.contains("is the workspace file") && o.stderr.contains("PATH entry"), "{}", o.all());
    assert!(!marker.exists());
    assert!(w.run_ids().is_empty());
}

#[test]
fn an_allowed_path_variable_still_cannot_swap_the_program() {
    let w = World::create("run-e2e", "r", &format!("{SH_CONFIG}allow_task_env: [PATH]\n"));
    let marker = w.ws.join("PWNED");
    plant_fake_tool(&w, "bin", "true", &marker);
    let plan = format!("tasks:\n- {{id: t, tool: 'true', env: {{PATH: '{}/bin'}}}}\n", w.ws.display());
    let o = w.run_plan(&plan, &[]);
    o.assert_code(0);
    assert!(!marker.exists(), "the program was resolved before the plan's PATH applied");
}

#[test]
fn workspace_scripts_by_design_keep_working() {
    let w = World::create("run-e2e", "r", &format!("{SH_CONFIG}  build: {{program: ./build.sh}}\n"));
    let made = w.ws.join("made.txt");
    let p = w.write("build.sh", "#!/bin/sh\necho built > made.txt\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = w.run_plan("tasks:\n- {id: b, tool: build}\n", &[]);
    o.assert_code(0);
    assert_eq!(std::fs::read_to_string(&made).unwrap(), "built\n");
    assert_eq!(task(&w.report(&w.only_run()), "b")["argv"][0], "./build.sh");
}

// ---- item 3 (run side): nothing is written through a link a task placed ----

/// Every file under `dir` (recursively, links listed themselves).
fn files_under(dir: &Path) -> Vec<String> {
    walk(dir).into_iter().map(|(p, _)| p.display().to_string()).collect()
}

/// `run plan.yaml` with the runs directory at `runs` (inside the workspace).
fn run_with_runs(w: &World, plan: &str, runs: &Path, extra: &[&str]) -> Out {
    w.write("plan.yaml", plan);
    let (cfg, audit) = (w.config.display().to_string(), w.audit.display().to_string());
    let mut c = w.command();
    c.args(["run", "plan.yaml", "--config", &cfg, "--audit-dir", &audit, "--runs-dir", runs.to_str().unwrap()]);
    c.args(extra);
    w.run_with(c)
}

/// A host directory outside the workspace that must stay empty.
fn host_dir(w: &World) -> std::path::PathBuf {
    let h = w.root.join("host-dir");
    std::fs::create_dir_all(&h).unwrap();
    h
}

#[test]
fn a_task_that_swaps_a_parent_of_the_runs_dir_for_links_is_a_violation_and_writes_nothing_on_the_host() {
    let w = World::new();
    let host = host_dir(&w);
    let runs = w.ws.join("out/runs");
    // Move the real parent away and rebuild the path with links to a host directory.
    let swap = format!(
        "mv out out.old; mkdir -p out/runs/x && for d in logs artifacts reports; do ln -s '{h}' out/runs/x/$d; done",
        h = host.display()
    );
    w.write("swap.sh", &swap);
    let plan = "tasks:\n- {id: swap, tool: sh, args: [swap.sh]}\n- {id: next, tool: sh, args: ['-c', 'echo made > a.txt'], needs: [swap], outputs: [a.txt]}\n";
    let o = run_with_runs(&w, plan, &runs, &["-j", "1", "--keep-going"]);
    o.assert_code(4);
    assert!(files_under(&host).is_empty(), "{:?}", files_under(&host));
    let r = w_report(&runs);
    assert_eq!(state(&r, "swap"), "violation");
    let rules: Vec<&str> =
        task(&r, "swap")["violations"].as_array().unwrap().iter().map(|v| v["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"fs.write"), "{rules:?}");
    assert!(!w.ws.join("out.old").exists(), "the runs directory's parent was not moved");
}

/// The report of the only run under `runs`.
fn w_report(runs: &Path) -> serde_json::Value {
    let ids = World::run_ids_in(runs);
    assert_eq!(ids.len(), 1, "{ids:?}");
    read_json(&runs.join(&ids[0]).join("report.json"))
}

/// The same attack by a process the sandbox does not hold (a task's escaped
/// helper, a container that sees the runs directory through a volume): the
/// orchestrator's own writes follow the directory it opened, never the links.
#[test]
fn a_run_dir_whose_parent_is_swapped_for_links_mid_run_gets_every_file_and_the_host_nothing() {
    let w = World::new();
    let host = host_dir(&w);
    let runs = w.ws.join("out/runs");
    let plan = "tasks:\n- {id: wait, tool: sh, args: ['-c', 'sleep 3']}\n- {id: art, tool: sh, args: ['-c', 'echo made > a.txt; echo log line'], needs: [wait], outputs: [a.txt]}\n- {id: bad, tool: sh, args: ['-c', 'exit 3'], needs: [art]}\n";
    w.write("plan.yaml", plan);
    let (cfg, audit) = (w.config.display().to_string(), w.audit.display().to_string());
    let mut c = w.command();
    c.args([
        "run",
        "plan.yaml",
        "--config",
        &cfg,
        "--audit-dir",
        &audit,
        "--runs-dir",
        runs.to_str().unwrap(),
        "-j",
        "1",
    ]);
    let child = c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    assert!(wait_until(std::time::Duration::from_secs(10), || World::run_ids_in(&runs).len() == 1));
    let id = World::run_ids_in(&runs).remove(0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::fs::rename(w.ws.join("out"), w.ws.join("out.old")).unwrap();
    std::fs::create_dir_all(w.ws.join("out/runs").join(&id)).unwrap();
    for d in ["logs", "artifacts", "reports", "policies", "plans"] {
        std::os::unix::fs::symlink(&host, w.ws.join("out/runs").join(&id).join(d)).unwrap();
    }
    for f in ["report.json", "report.md", "junit.xml", "checkpoint.json"] {
        std::os::unix::fs::symlink(host.join(f), w.ws.join("out/runs").join(&id).join(f)).unwrap();
    }
    let (o, _) = wait_child(child, std::time::Duration::from_secs(60));
    assert!(files_under(&host).is_empty(), "written through the links: {:?}\n{}", files_under(&host), o.all());
    // `bad` failed: exit 2, not masked by the refused CI reports.
    o.assert_code(2);
    assert!(o.stderr.contains("was moved or replaced while tasks ran"), "{}", o.all());
    let dir = w.ws.join("out.old/runs").join(&id);
    assert!(std::fs::read_to_string(dir.join("logs/art.log")).unwrap().contains("log line"));
    assert_eq!(std::fs::read_to_string(dir.join("artifacts/art/a.txt")).unwrap(), "made\n");
    assert!(dir.join("reports/art.json").is_file(), "exec wrote its report into the real run directory");
    let r = read_json(&dir.join("report.json"));
    assert_eq!(state(&r, "art"), "succeeded");
    assert_eq!(state(&r, "bad"), "failed");
}

#[test]
fn a_task_cannot_redirect_a_ci_report_copy_through_a_link() {
    let w = World::new();
    let host = host_dir(&w);
    let junit = w.ws.join("ci/junit.xml");
    let swap = format!("rm -rf ci && ln -s '{}' ci", host.display());
    let plan = format!("tasks:\n- {{id: swap, tool: sh, args: ['-c', \"{swap}\"]}}\n");
    let o = w.run_plan(&plan, &["--junit", junit.to_str().unwrap()]);
    assert!(files_under(&host).is_empty(), "{:?}", files_under(&host));
    // Every task succeeded, but a requested report copy is missing: exit 1.
    o.assert_code(1);
    assert!(o.stderr.contains(&format!("not writing {}", junit.display())), "{}", o.all());
    // The run directory's own junit.xml is there.
    assert!(w.run_dir(&w.only_run()).join("junit.xml").is_file());
}

#[test]
fn a_violation_stays_exit_4_when_a_report_copy_is_sabotaged() {
    let w = World::new();
    let host = host_dir(&w);
    let junit = w.ws.join("ci/junit.xml");
    let evil = format!("rm -rf ci && ln -s '{}' ci; echo x > /etc/orchestra-run-integrity", host.display());
    let o = w.run_plan(
        &format!("tasks:\n- {{id: evil, tool: sh, args: ['-c', \"{evil}\"]}}\n"),
        &["--junit", junit.to_str().unwrap()],
    );
    o.assert_code(4);
    assert!(!Path::new("/etc/orchestra-run-integrity").exists());
    assert!(files_under(&host).is_empty());
    let r = w.report(&w.only_run());
    assert_eq!(state(&r, "evil"), "violation");
    assert!(task(&r, "evil")["violations"].as_array().is_some_and(|v| !v.is_empty()), "{r:#}");
}

#[test]
fn a_link_left_where_the_runs_dir_goes_is_refused_before_anything_runs() {
    let w = World::new();
    let host = host_dir(&w);
    // As an earlier task (or the repository) could have left it.
    std::os::unix::fs::symlink(&host, w.ws.join("out")).unwrap();
    let marker = w.ws.join("ran.txt");
    let runs = w.ws.join("out/runs");
    let o = run_with_runs(&w, "tasks:\n- {id: t, tool: sh, args: ['-c', 'echo > ran.txt']}\n", &runs, &[]);
    o.assert_code(1);
    assert!(o.stderr.contains("symbolic link") && o.stderr.contains("workspace"), "{}", o.all());
    assert!(files_under(&host).is_empty(), "{:?}", files_under(&host));
    assert!(!marker.exists(), "nothing ran");
}
