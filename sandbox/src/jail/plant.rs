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
//! - The one exception is a [`Home::Private`]: a home that belongs to the
//!   task's sandbox alone and starts empty (a container's own `/tmp`, named by
//!   the in-container supervisor). Without a mount namespace the init then
//!   writes the canary files there as real files (`rootfs::plant_in_place`),
//!   watched like every decoy.
//! - A canary variable never replaces a variable the plan already sets.
//! - [`JailPlan::canaries`] lists exactly the values planted, and the return
//!   value where they were planted (for the report).

use super::plan::{Decoy, JailPlan, Mount};
use crate::canary::Canaries;
use std::path::Path;

/// The task's home, as far as canary files are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home<'a> {
    /// The jail's home: an empty directory of its mount tree, or a host tree
    /// the policy shows (then nothing is planted there).
    Jail(&'a Path),
    /// A directory private to the task's sandbox and empty at its start (a
    /// container's own `/tmp`): canary files are planted there as real
    /// files, with or without a mount namespace.
    Private(&'a Path),
}

/// Plant `canaries` into `plan` for a task whose home is `home`; returns
/// where they were planted (`~/.aws/credentials`, `$GITHUB_TOKEN`, …).
pub fn plant(plan: &mut JailPlan, canaries: &Canaries, home: Home<'_>) -> Vec<String> {
    let mut planted: Vec<String> = Vec::new();
    for (name, value) in &canaries.env {
        if !plan.env.iter().any(|(k, _)| k == name) {
            plan.env.push((name.clone(), value.clone()));
            planted.push(format!("${name}"));
        }
    }
    plan.env.sort();
    if let (Home::Private(home), false) = (home, plan.namespaces) {
        for f in &canaries.files {
            let path = home.join(&f.rel);
            plan.decoys.retain(|d| d.path != path);
            plan.decoys.push(Decoy {
                path,
                entries: Vec::new(),
                is_dir: false,
                watched: true,
                canary: Some(f.content.clone()),
            });
            planted.push(format!("~/{}", f.rel));
        }
        plan.decoys.sort_by(|a, b| a.path.cmp(&b.path));
    } else if plan.namespaces {
        let home = match home {
            Home::Jail(h) | Home::Private(h) => h,
        };
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
        let planted = plant(&mut p, &canaries(), Home::Jail(Path::new("/home/u")));
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
        let planted = plant(&mut p, &canaries(), Home::Jail(Path::new("/home/u")));
        assert_eq!(planted, ["$NPM_TOKEN", "~/.ssh/id_ed25519"], "only inside the hidden ~/.ssh");
        let mut p = plan(vec![], vec![Mount::Dir { dst: "/home/u".into() }]);
        p.namespaces = false;
        assert_eq!(plant(&mut p, &canaries(), Home::Jail(Path::new("/home/u"))), ["$NPM_TOKEN"]);
        assert!(p.decoys.is_empty());
    }

    #[test]
    fn a_private_home_gets_real_canary_files_without_namespaces() {
        // The in-container supervisor: no mount namespace, the container's /tmp as home.
        let mut p = plan(vec![], vec![]);
        p.namespaces = false;
        let planted = plant(&mut p, &canaries(), Home::Private(Path::new("/tmp")));
        assert_eq!(planted, ["$NPM_TOKEN", "~/.aws/credentials", "~/.ssh/id_ed25519"]);
        let files: Vec<(&Path, Option<&str>, bool)> =
            p.decoys.iter().map(|d| (d.path.as_path(), d.canary.as_deref(), d.watched && !d.is_dir)).collect();
        assert_eq!(
            files,
            [
                (Path::new("/tmp/.aws/credentials"), Some("AWSSECRET"), true),
                (Path::new("/tmp/.ssh/id_ed25519"), Some("SSHKEY"), true)
            ]
        );
        let sources: Vec<&str> = p.canaries.iter().map(|t| t.source.as_str()).collect();
        assert_eq!(sources, ["~/.aws/credentials", "~/.ssh/id_ed25519", "$NPM_TOKEN"]);
        assert!(p.env.contains(&("GITHUB_TOKEN".into(), "from-the-policy".into())), "a set variable stays");
    }
}
