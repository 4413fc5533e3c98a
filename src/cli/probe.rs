//! `orchestra sandbox probe`.

use crate::exit::Exit;

/// Print what this host can enforce.
pub fn run(json: bool) -> Exit {
    let p = crate::sandbox::probe::probe();
    if json {
        outln!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
        return Exit::Ok;
    }
    let yes = |b: bool| if b { "yes" } else { "NO" };
    let j = &p.jail;
    outln!("kernel            {}", p.kernel);
    outln!("uid               {}", p.uid);
    outln!("in a container    {}", yes(p.in_container));
    outln!(
        "landlock          {}",
        if j.landlock_abi > 0 { format!("ABI {}", j.landlock_abi) } else { "NO (not enabled in this kernel)".into() }
    );
    outln!("seccomp notify    {}", yes(j.seccomp_notify));
    outln!(
        "namespaces        {}",
        if j.user_namespaces {
            "yes (user, mount, pid, net, ipc, uts, cgroup)".to_string()
        } else {
            format!("NO: {}", j.userns_error.as_deref().unwrap_or(""))
        }
    );
    outln!("cgroups           {}{}", j.cgroups, if j.cgroups_usable { "" } else { " (not writable)" });
    let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(" ") };
    outln!("  v2 controllers  {}", list(&j.cgroup_v2_controllers));
    outln!("  v1 controllers  {}", list(&j.cgroup_v1_controllers));
    outln!("MAC               {}", p.mac);
    let a = &p.apparmor_exec;
    outln!("  AppArmor exec   {} ({})", if a.change_onexec { "yes" } else { "NO" }, a.detail);
    let engine = |ok: bool, why: &str| if ok { yes(true).to_string() } else { format!("{} ({why})", yes(false)) };
    outln!("docker engine     {}", engine(p.docker, &p.docker_detail));
    outln!("podman service    {}", engine(p.podman, &p.podman_detail));
    let jail_ok = j.landlock_abi >= crate::sandbox::jail::landlock_rules::MIN_ABI && j.seccomp_notify;
    outln!(
        "jail backend      {}",
        match (jail_ok, j.user_namespaces) {
            (true, true) => "full jail available",
            (true, false) => "namespace-less jail only (policy must say jail.namespaces: off)",
            _ => "unavailable",
        }
    );
    Exit::Ok
}
