//! Which FRR and GoBGP releases the peers and the lab run.
//!
//! `SVA_FRR` picks FRR: `8.4` (the host's Debian 12 package, the default),
//! `10.3` (a Debian 13 root) or `10.7` (a Debian unstable root). `SVA_GOBGP`
//! picks GoBGP: `3.10` (the host's, the default) or `3.36` (the Debian 13
//! root). `scripts/debian-root.sh` makes the roots under `SVA_ROOTS`
//! (default `/var/cache/static-vxlan-agent/roots`), with the exact package
//! versions beside each root in `SUITE.packages`.
//!
//! FRR from a root runs chrooted (`chroot ROOT /usr/lib/frr/bgpd`): the
//! root's libfrr needs its own glibc. Its files must therefore live inside
//! the root, and [`Frr::scratch`] makes a scratch directory there. GoBGP is
//! a static Go binary that runs from the root without a chroot.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::peers::ScratchDir;

/// The environment variable that picks the FRR release.
pub const FRR_ENV: &str = "SVA_FRR";
/// The environment variable that picks the GoBGP release.
pub const GOBGP_ENV: &str = "SVA_GOBGP";

/// Where `scripts/debian-root.sh` keeps its roots.
#[must_use]
pub fn roots_dir() -> PathBuf {
    std::env::var_os("SVA_ROOTS")
        .map_or_else(|| PathBuf::from("/var/cache/static-vxlan-agent/roots"), PathBuf::from)
}

/// The FRR release the tests run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frr {
    /// What `SVA_FRR` said: "8.4", "10.3" or "10.7".
    pub release: String,
    /// The Debian root it runs from; `None` for the host's FRR.
    pub root: Option<PathBuf>,
}

/// The GoBGP release the tests run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoBgpRelease {
    /// What `SVA_GOBGP` said: "3.10" or "3.36".
    pub release: String,
    /// gobgpd.
    pub daemon: PathBuf,
    /// The gobgp CLI of the same release.
    pub cli: PathBuf,
}

/// `(major, minor)` of a Debian version string such as `10.7.1-1` or
/// `8.4.4-1.1~deb12u1`.
#[must_use]
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let upstream = version.split(':').next_back()?;
    let mut parts = upstream.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The version of `package` in a root's recorded package list, or on the
/// host when `root` is `None`.
fn package_version(root: Option<&Path>, package: &str) -> Option<String> {
    let listing = if let Some(root) = root {
        fs::read_to_string(root.with_extension("packages")).ok()?
    } else {
        let out = Command::new("dpkg-query").args(["-W", package]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    listing.lines().find_map(|line| {
        let (name, version) = line.split_once('\t')?;
        (name == package).then(|| version.trim().to_owned())
    })
}

impl Frr {
    /// The release `SVA_FRR` names.
    ///
    /// # Errors
    ///
    /// An unknown release, named in the message.
    pub fn selected() -> Result<Self, String> {
        let release = std::env::var(FRR_ENV).unwrap_or_else(|_| "8.4".to_owned());
        let root = match release.as_str() {
            "8.4" => None,
            "10.3" => Some(roots_dir().join("trixie")),
            "10.7" => Some(roots_dir().join("sid")),
            other => return Err(format!("{FRR_ENV}={other}: known releases are 8.4, 10.3 and 10.7")),
        };
        Ok(Self { release, root })
    }

    /// The selected release if it can run here; otherwise prints
    /// `SKIP: test: reason` and returns `None`.
    ///
    /// # Panics
    ///
    /// When `SVA_FRR` names no known release: a mistake in the caller.
    #[must_use]
    pub fn available(test: &str) -> Option<Self> {
        let frr = Self::selected().unwrap_or_else(|e| panic!("{e}"));
        if frr.host_path(Path::new("/usr/lib/frr/bgpd")).exists() {
            Some(frr)
        } else {
            println!(
                "SKIP: {test}: FRR {} is not installed ({}; scripts/bootstrap.sh makes it)",
                frr.release,
                frr.root
                    .as_ref()
                    .map_or_else(|| "the host's frr package".to_owned(), |r| r.display().to_string())
            );
            None
        }
    }

    /// The exact Debian version of the frr package that runs.
    #[must_use]
    pub fn version(&self) -> String {
        package_version(self.root.as_deref(), "frr").unwrap_or_else(|| "unknown".to_owned())
    }

    /// Whether this FRR, as graceful-restart helper, keeps a restarting
    /// peer's l2vpn evpn routes: from 10.6.0 on (FRR PR #19778). Older
    /// releases delete them when the session drops.
    #[must_use]
    pub fn keeps_evpn_routes_over_graceful_restart(&self) -> bool {
        major_minor(&self.version()).is_some_and(|v| v >= (10, 6))
    }

    /// A path inside the release's file system, as the host sees it.
    #[must_use]
    pub fn host_path(&self, inside: &Path) -> PathBuf {
        match &self.root {
            Some(root) => root.join(inside.strip_prefix("/").unwrap_or(inside)),
            None => inside.to_owned(),
        }
    }

    /// A path as the host sees it, as FRR (inside its root) sees it.
    #[must_use]
    pub fn inside_path(&self, host: &Path) -> PathBuf {
        match &self.root {
            Some(root) => {
                host.strip_prefix(root).map_or_else(|_| host.to_owned(), |p| Path::new("/").join(p))
            }
            None => host.to_owned(),
        }
    }

    /// A scratch directory that FRR can reach: inside its root.
    #[must_use]
    pub fn scratch(&self, tag: &str) -> ScratchDir {
        match &self.root {
            Some(root) => ScratchDir::new_in(&root.join("tmp"), tag),
            None => ScratchDir::new(tag),
        }
    }

    /// A command that runs `program` (an absolute path inside the
    /// release's file system) of this release.
    #[must_use]
    pub fn command(&self, program: &str) -> Command {
        match &self.root {
            Some(root) => {
                let mut command = Command::new("chroot");
                command.arg(root).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    /// Gives `dir` (a host path inside the release) to the frr user, which
    /// the daemons drop their privileges to. The user's id differs between
    /// the host and a root, hence chown from inside.
    pub fn give_to_frr(&self, dir: &Path) {
        let status = self
            .command("/bin/chown")
            .args(["-R", "frr:frr", &self.inside_path(dir).display().to_string()])
            .status()
            .expect("chown");
        assert!(status.success(), "chown -R frr:frr {}", dir.display());
    }
}

impl GoBgpRelease {
    /// The release `SVA_GOBGP` names.
    ///
    /// # Errors
    ///
    /// An unknown release, named in the message.
    pub fn selected() -> Result<Self, String> {
        let release = std::env::var(GOBGP_ENV).unwrap_or_else(|_| "3.10".to_owned());
        let base = match release.as_str() {
            "3.10" => PathBuf::from("/usr/bin"),
            "3.36" => roots_dir().join("trixie/usr/bin"),
            other => return Err(format!("{GOBGP_ENV}={other}: known releases are 3.10 and 3.36")),
        };
        Ok(Self { release, daemon: base.join("gobgpd"), cli: base.join("gobgp") })
    }

    /// The selected release if it is installed; otherwise prints
    /// `SKIP: test: reason` and returns `None`.
    ///
    /// # Panics
    ///
    /// When `SVA_GOBGP` names no known release: a mistake in the caller.
    #[must_use]
    pub fn available(test: &str) -> Option<Self> {
        let gobgp = Self::selected().unwrap_or_else(|e| panic!("{e}"));
        if gobgp.daemon.exists() && gobgp.cli.exists() {
            Some(gobgp)
        } else {
            println!(
                "SKIP: {test}: GoBGP {} is not installed ({}; scripts/bootstrap.sh installs it)",
                gobgp.release,
                gobgp.daemon.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::major_minor;

    #[test]
    fn debian_versions_give_their_upstream_major_and_minor() {
        assert_eq!(major_minor("8.4.4-1.1~deb12u1"), Some((8, 4)));
        assert_eq!(major_minor("10.3-3+deb13u1"), Some((10, 3)));
        assert_eq!(major_minor("10.7.1-1"), Some((10, 7)));
        assert_eq!(major_minor("1:10.6.0-2"), Some((10, 6)));
        assert_eq!(major_minor("unknown"), None);
    }
}
