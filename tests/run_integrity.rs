//! Orchestrator-side integrity (issue 15): a plan cannot make a whitelisted
//! tool run other code through its `env:` (item 15), and nothing Orchestra
//! writes into a run directory after a task ran goes through a link a task
//! could have placed (item 3, run side). Every test drives the built binary
//! and asserts the effect (a marker file that must not exist, a host
//! directory that must stay empty), the exit code and the message.

mod run_support;
use run_support::*;
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
            o.stderr.contains(&format!("plan.yaml:2:")) && o.stderr.contains(&format!("env {k} is refused")),
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
