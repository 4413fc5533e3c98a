//! Planting a task's canary secrets ([`crate::canary`]) into its jail plan:
//! a pure function of the compiled plan, the canaries and the home directory.
//!
//! Guarantees:
//! - A canary file is planted only where the task would otherwise find no
//!   host file: below a hidden directory (inside its decoy, in place of an
//!   empty decoy of the same name), over a hidden file's decoy, or where no
//!   host tree is mounted (the jail's empty home). Below a host tree the
//!   policy shows (`read_only: [~]`), or without a mount namespace, none is
//!   planted: the task sees the real path as the policy says.
//! - A canary variable never replaces a variable the plan already sets.
//! - [`JailPlan::canaries`] lists exactly the values planted, and the return
//!   value where they were planted (for the report).

use super::plan::{Decoy, JailPlan, Mount};
use crate::canary::Canaries;
use std::path::Path;

/// Plant `canaries` into `plan` for a task whose home is `home`; returns
/// where they were planted (`~/.aws/credentials`, `$GITHUB_TOKEN`, …).
pub fn plant(plan: &mut JailPlan, canaries: &Canaries, home: &Path) -> Vec<String> {
    let mut planted: Vec<String> = Vec::new();
    for (name, value) in &canaries.env {
        if !plan.env.iter().any(|(k, _)| k == name) {
            plan.env.push((name.clone(), value.clone()));
            planted.push(format!("${name}"));
        }
    }
    plan.env.sort();
    if plan.namespaces {
        for f in &canaries.files {
            let path = home.join(&f.rel);
            let source = format!("~/{}", f.rel);
            if let Some(d) = plan.decoys.iter_mut().find(|d| d.path == path && !d.is_dir && d.watched) {
                d.canary = Some(f.content.clone());
                planted.push(source);
                continue;
            }
            let shown = shown_from_host(plan, &path);
            let in_hidden_dir = plan.decoys.iter_mut().find(|d| d.is_dir && d.watched && path.starts_with(&d.path));
            match in_hidden_dir {
                Some(d) => d.entries.retain(|e| d.path.join(e) != path),
                None if shown => continue,
                None => {}
            }
            plan.decoys.push(Decoy {
                path,
                entries: Vec::new(),
                is_dir: false,
                watched: true,
                canary: Some(f.content.clone()),
            });
            planted.push(source);
        }
        // Parents before children: a canary inside a hidden directory's decoy
        // is placed after that decoy (rootfs::make_decoys).
        plan.decoys.sort_by(|a, b| a.path.cmp(&b.path));
    }
    plan.canaries = canaries.tokens.iter().filter(|t| planted.contains(&t.source)).cloned().collect();
    planted
}

/// Whether `path` lies in a host tree mounted into the jail (anything but an
/// empty directory the jail makes itself).
fn shown_from_host(plan: &JailPlan, path: &Path) -> bool {
    plan.mounts.iter().any(|m| !matches!(m, Mount::Dir { .. }) && path.starts_with(m.dst()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::Token;
    use crate::policy::NetworkMode;
    use std::path::PathBuf;

    fn plan(decoys: Vec<Decoy>, mounts: Vec<Mount>) -> JailPlan {
        JailPlan {
            env: vec![("GITHUB_TOKEN".into(), "from-the-policy".into()), ("HOME".into(), "/home/u".into())],
            network: NetworkMode::Loopback,
            mounts,
            decoys,
            ..JailPlan::for_tests()
        }
    }

    fn canaries() -> Canaries {
        let tok = |s: &str, v: &str| Token { source: s.into(), value: v.into() };
        Canaries {
            files: vec![
                crate::canary::CanaryFile { rel: ".aws/credentials".into(), content: "AWSSECRET".into() },
                crate::canary::CanaryFile { rel: ".ssh/id_ed25519".into(), content: "SSHKEY".into() },
            ],
            env: vec![("GITHUB_TOKEN".into(), "ghp_x".into()), ("NPM_TOKEN".into(), "npm_x".into())],
            tokens: vec![
                tok("~/.aws/credentials", "AWSSECRET"),
                tok("~/.ssh/id_ed25519", "SSHKEY"),
                tok("$GITHUB_TOKEN", "ghp_x"),
                tok("$NPM_TOKEN", "npm_x"),
            ],
        }
    }

    fn hidden_ssh() -> Decoy {
        Decoy {
            path: "/home/u/.ssh".into(),
            entries: vec!["id_rsa".into(), "id_ed25519".into()],
            is_dir: true,
            watched: true,
            canary: None,
        }
    }

    #[test]
    fn files_go_into_the_empty_home_and_hidden_directories() {
        let mut p = plan(vec![hidden_ssh()], vec![Mount::Dir { dst: "/home/u".into() }]);
        let planted = plant(&mut p, &canaries(), Path::new("/home/u"));
        assert_eq!(planted, ["$NPM_TOKEN", "~/.aws/credentials", "~/.ssh/id_ed25519"]);
        let paths: Vec<&Path> = p.decoys.iter().map(|d| d.path.as_path()).collect();
        assert_eq!(
            paths,
            [Path::new("/home/u/.aws/credentials"), Path::new("/home/u/.ssh"), Path::new("/home/u/.ssh/id_ed25519")]
        );
        assert_eq!(p.decoys[1].entries, vec![PathBuf::from("id_rsa")], "the canary replaces the empty decoy");
        assert!(p.decoys[2].canary.as_deref() == Some("SSHKEY") && p.decoys[2].watched);
        assert!(p.env.contains(&("GITHUB_TOKEN".into(), "from-the-policy".into())), "a set variable stays");
        assert!(p.env.contains(&("NPM_TOKEN".into(), "npm_x".into())));
        let sources: Vec<&str> = p.canaries.iter().map(|t| t.source.as_str()).collect();
        assert_eq!(sources, ["~/.aws/credentials", "~/.ssh/id_ed25519", "$NPM_TOKEN"]);
    }

    #[test]
    fn nothing_is_planted_in_a_host_tree_the_policy_shows_or_without_namespaces() {
        let home_shown = Mount::Bind { src: "/home/u".into(), dst: "/home/u".into(), rw: false };
        let mut p = plan(vec![hidden_ssh()], vec![home_shown]);
        let planted = plant(&mut p, &canaries(), Path::new("/home/u"));
        assert_eq!(planted, ["$NPM_TOKEN", "~/.ssh/id_ed25519"], "only inside the hidden ~/.ssh");
        let mut p = plan(vec![], vec![Mount::Dir { dst: "/home/u".into() }]);
        p.namespaces = false;
        assert_eq!(plant(&mut p, &canaries(), Path::new("/home/u")), ["$NPM_TOKEN"]);
        assert!(p.decoys.is_empty());
    }
}
