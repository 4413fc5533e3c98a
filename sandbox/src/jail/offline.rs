//! Name lookups in a jail with its own network namespace fail as on an
//! offline machine, without a packet towards the host's name server.
//!
//! With network `none` or `loopback` (and namespaces), nothing the task sends
//! can leave the jail; a lookup through the host's `/etc/resolv.conf` would
//! still open a socket to the host's name server, which the jail reports as
//! a violation (sweep 90, F1: every "host not found" test of a suite). The
//! plan therefore mounts two generated read-only files over the host's:
//!
//! - `/etc/resolv.conf`: orchestra's own, `nameserver 127.0.0.1` (the jail's
//!   own loopback, where nothing listens: refused);
//! - `/etc/nsswitch.conf`: the host's, with the `hosts:` line reduced to
//!   `files` (and `myhostname` where the host has it), so glibc and Go answer
//!   from `/etc/hosts` and never open a socket.
//!
//! Guarantees: only in a jail with its own network namespace (never with
//! `host`, never without namespaces); over an entry the jail shows from the
//! host (a bound `/etc`, not hidden), or made in the jail's own root where
//! no host tree is bound (a policy without `/etc`, as `strict`: then the
//! nsswitch.conf holds only the hosts line); never inside a hidden or
//! writable tree, and none where a bound host `/etc` lacks the file (its
//! mount point would have to be made in the host's tree: glibc's default
//! without resolv.conf is 127.0.0.1 already, without nsswitch.conf it asks
//! that resolver, which `none` reports). Nothing
//! else changes: a task that opens its own socket to a non-loopback address
//! is judged exactly as before.

use super::plan::{Decoy, Generated, HostEntry, HostView, Mount};
use crate::policy::NetworkMode;
use std::path::Path;

/// The resolver configuration the jail shows.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The name service switch configuration the jail shows.
pub const NSSWITCH_CONF: &str = "/etc/nsswitch.conf";

/// The content of the jail's `/etc/resolv.conf`.
pub const RESOLV_CONTENT: &str = "\
# orchestra: this jail has its own network namespace and no name server; lookups fail as on an offline machine (names in /etc/hosts still resolve).
nameserver 127.0.0.1
";

/// The hosts file the jail makes where it shows no `/etc` of the host's.
pub const HOSTS: &str = "/etc/hosts";

/// The content of that `/etc/hosts`: the loopback names every host's has.
pub const HOSTS_CONTENT: &str = "\
# orchestra: this jail shows no /etc of the host's; the loopback names every host has.
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
";

/// The largest host `nsswitch.conf` taken over (a larger one: none generated).
pub const NSSWITCH_MAX: usize = 64 * 1024;

/// The generated files for a jail with `network` (and `namespaces`), given
/// its planned `mounts` and `decoys` and the host as `view`.
pub fn files(
    network: NetworkMode,
    namespaces: bool,
    mounts: &[Mount],
    decoys: &[Decoy],
    view: &dyn HostView,
) -> Vec<Generated> {
    if !namespaces || network == NetworkMode::Host {
        return Vec::new();
    }
    let mut out = Vec::new();
    let resolv = Path::new(RESOLV_CONF);
    match place(resolv, mounts, decoys, view) {
        Place::Cover => out.push(Generated { path: resolv.into(), content: RESOLV_CONTENT.into(), make: false }),
        Place::Make => out.push(Generated { path: resolv.into(), content: RESOLV_CONTENT.into(), make: true }),
        Place::None => {}
    }
    let nss = Path::new(NSSWITCH_CONF);
    match place(nss, mounts, decoys, view) {
        Place::Cover => {
            if let Some(host) = view.small_file(nss, NSSWITCH_MAX) {
                out.push(Generated { path: nss.into(), content: nsswitch(&host), make: false });
            }
        }
        // The jail shows none of the host's: only the hosts line.
        Place::Make => out.push(Generated { path: nss.into(), content: nsswitch(""), make: true }),
        Place::None => {}
    }
    // Without the host's /etc the hosts file nsswitch.conf names is made
    // too: `localhost` resolves, as on any host (attack review 91).
    let hosts = Path::new(HOSTS);
    if place(hosts, mounts, decoys, view) == Place::Make {
        out.push(Generated { path: hosts.into(), content: HOSTS_CONTENT.into(), make: true });
    }
    out
}

/// Where a generated file goes.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// Over the host's entry, which the jail shows.
    Cover,
    /// Made in the jail's own root (no host tree bound above it).
    Make,
    /// Nowhere: hidden, inside a writable tree, or absent in a bound host tree.
    None,
}

/// Where the file at `path` goes, given the planned `mounts` and `decoys`:
/// over the host's entry where the deepest mount above it binds the host's
/// tree read-only and the host has the entry (a file or a link; a policy
/// that makes /etc writable keeps the host's); made where no mount
/// lies above it (the jail's own root, read-only to the task) or only an
/// empty directory of the jail's own; nowhere when a decoy hides it, a
/// writable private mount holds it, or a mount lies below it.
fn place(path: &Path, mounts: &[Mount], decoys: &[Decoy], view: &dyn HostView) -> Place {
    if decoys.iter().any(|d| path.starts_with(&d.path) || d.path.starts_with(path)) {
        return Place::None;
    }
    let deepest = mounts.iter().filter(|m| path.starts_with(m.dst())).max_by_key(|m| m.dst().components().count());
    match deepest {
        Some(Mount::Bind { rw: false, .. }) => match view.kind(path) {
            Some(HostEntry::File | HostEntry::Symlink(_)) => Place::Cover,
            _ => Place::None,
        },
        None | Some(Mount::Dir { .. }) if !mounts.iter().any(|m| m.dst().starts_with(path)) => Place::Make,
        _ => Place::None,
    }
}

/// The host's `nsswitch.conf` with its `hosts:` line reduced to `files` (and
/// `myhostname` if the host's line has it), every other line as the host's;
/// a `hosts:` line is added when the host's has none (glibc's default asks
/// DNS).
pub fn nsswitch(host: &str) -> String {
    let mut out = String::from(
        "# orchestra: the hosts line is reduced to local sources (this jail has no name server); the rest is the host's.\n",
    );
    let mut had_hosts = false;
    for line in host.lines() {
        let sources = line.trim_start().strip_prefix("hosts:");
        match sources {
            Some(sources) => {
                had_hosts = true;
                out.push_str(&hosts_line(sources));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if !had_hosts {
        out.push_str(&hosts_line(""));
        out.push('\n');
    }
    out
}

/// `hosts: files`, with ` myhostname` when `sources` (the host's line after
/// `hosts:`) names it.
fn hosts_line(sources: &str) -> String {
    let uncommented = sources.split('#').next().unwrap_or("");
    let myhostname = uncommented.split_whitespace().any(|s| s == "myhostname");
    format!("hosts:          files{}", if myhostname { " myhostname" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jail::plan::ScanError;
    use std::path::PathBuf;

    struct Host {
        resolv: Option<HostEntry>,
        nss: Option<&'static str>,
    }
    impl HostView for Host {
        fn kind(&self, p: &Path) -> Option<HostEntry> {
            match p.to_str()? {
                RESOLV_CONF => self.resolv.clone(),
                NSSWITCH_CONF => self.nss.map(|_| HostEntry::File),
                _ => None,
            }
        }
        fn first_link(&self, _: &Path) -> Option<(PathBuf, PathBuf)> {
            None
        }
        fn files_below(&self, _: &Path) -> Vec<PathBuf> {
            Vec::new()
        }
        fn unreadable_below(&self, _: &Path) -> Result<Vec<PathBuf>, ScanError> {
            Ok(Vec::new())
        }
        fn entries(&self, _: &Path) -> Vec<PathBuf> {
            Vec::new()
        }
        fn small_file(&self, p: &Path, _: usize) -> Option<String> {
            (p == Path::new(NSSWITCH_CONF)).then(|| self.nss.map(str::to_string)).flatten()
        }
    }

    const NSS: &str = "passwd: files systemd\nhosts:          files mdns4_minimal [NOTFOUND=return] dns myhostname\nnetworks: files\n";

    fn etc() -> Vec<Mount> {
        vec![Mount::Bind { src: "/etc".into(), dst: "/etc".into(), rw: false }]
    }

    fn host() -> Host {
        Host { resolv: Some(HostEntry::File), nss: Some(NSS) }
    }

    #[test]
    fn a_private_network_gets_both_files() {
        for mode in [NetworkMode::None, NetworkMode::Loopback] {
            let g = files(mode, true, &etc(), &[], &host());
            assert_eq!(g.len(), 2, "{g:?}");
            assert_eq!(g[0].path, Path::new(RESOLV_CONF));
            assert!(g[0].content.lines().any(|l| l == "nameserver 127.0.0.1"), "{}", g[0].content);
            assert_eq!(g[0].content.lines().filter(|l| l.starts_with("nameserver")).count(), 1);
            assert_eq!(g[1].path, Path::new(NSSWITCH_CONF));
            let lines: Vec<&str> = g[1].content.lines().collect();
            assert!(lines.contains(&"hosts:          files myhostname"), "{lines:?}");
            assert!(lines.contains(&"passwd: files systemd") && lines.contains(&"networks: files"), "{lines:?}");
            assert!(!g[1].content.contains("dns"), "{}", g[1].content);
        }
    }

    #[test]
    fn the_hosts_network_or_no_namespace_keeps_the_hosts_files() {
        assert!(files(NetworkMode::Host, true, &etc(), &[], &host()).is_empty());
        assert!(files(NetworkMode::None, false, &etc(), &[], &host()).is_empty());
    }

    #[test]
    fn only_over_an_entry_the_jail_shows_from_the_host() {
        // /etc not bound (strict): made in the jail's own root, nsswitch.conf
        // with the hosts line only.
        let g = files(NetworkMode::None, true, &[], &[], &host());
        assert!(g.len() == 3 && g.iter().all(|g| g.make), "{g:?}");
        assert_eq!(g[1].content.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>(), ["hosts:          files"]);
        // With a hosts file naming localhost (attack review 91).
        assert_eq!(g[2].path, Path::new(HOSTS));
        assert!(g[2].content.contains("127.0.0.1 localhost\n"), "{g:?}");
        // The file itself bound (a policy listing /etc/nsswitch.conf): covered.
        let file = vec![Mount::Bind { src: NSSWITCH_CONF.into(), dst: NSSWITCH_CONF.into(), rw: false }];
        let g = files(NetworkMode::None, true, &file, &[], &host());
        assert!(
            g.iter().any(|g| g.path == Path::new(NSSWITCH_CONF) && !g.make && g.content.contains("passwd:")),
            "{g:?}"
        );
        // Inside a private writable tree: nothing.
        let rw = vec![Mount::Tmpfs { dst: "/etc".into(), size: None }];
        assert!(files(NetworkMode::None, true, &rw, &[], &host()).is_empty());
        // Absent on the host: none made.
        assert!(files(NetworkMode::None, true, &etc(), &[], &Host { resolv: None, nss: None }).is_empty());
        // A link (systemd-resolved's stub) is covered like a file.
        let link =
            Host { resolv: Some(HostEntry::Symlink("../run/systemd/resolve/stub-resolv.conf".into())), nss: None };
        let g = files(NetworkMode::Loopback, true, &etc(), &[], &link);
        assert!(g.iter().all(|g| !g.make), "{g:?}");
        assert_eq!(g.iter().map(|g| g.path.clone()).collect::<Vec<_>>(), vec![PathBuf::from(RESOLV_CONF)]);
        // Hidden by a decoy: left to the decoy.
        let d = Decoy { path: NSSWITCH_CONF.into(), entries: vec![], is_dir: false, watched: true, canary: None };
        let g = files(NetworkMode::Loopback, true, &etc(), &[d], &host());
        assert_eq!(g.iter().map(|g| g.path.clone()).collect::<Vec<_>>(), vec![PathBuf::from(RESOLV_CONF)]);
    }

    #[test]
    fn the_hosts_line_keeps_only_local_sources() {
        assert!(nsswitch("hosts: dns files\n").lines().any(|l| l == "hosts:          files"));
        assert!(
            nsswitch("hosts: resolve [!UNAVAIL=return] files # myhostname\n")
                .lines()
                .any(|l| l == "hosts:          files")
        );
        let none = nsswitch("passwd: files\n");
        assert!(none.lines().any(|l| l == "hosts:          files"), "{none}");
        assert!(none.lines().any(|l| l == "passwd: files"), "{none}");
    }
}
