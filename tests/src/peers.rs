//! Real BGP daemons as test peers, started on loopback with unique ports and
//! a private directory, and stopped (with their files removed) on drop.

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    releases::{Frr, GoBgpRelease},
    unique_name,
};

/// A free TCP port on loopback (the kernel picks it; we release it at once).
#[must_use]
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A free TCP port on a given local address.
#[must_use]
pub fn free_port_on(addr: &str) -> u16 {
    TcpListener::bind((addr, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Polls `check` every 100 ms until it returns `Some`, or panics with
/// `what` and the last state after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if start.elapsed() > limit => {
                panic!("timed out after {limit:?} waiting for {what}: {last}")
            }
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A directory removed on drop.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A new empty directory under the system temp dir.
    #[must_use]
    pub fn new(tag: &str) -> Self {
        Self::new_in(&std::env::temp_dir(), tag)
    }

    /// A new empty directory under `base` (a Debian root's /tmp, say).
    #[must_use]
    pub fn new_in(base: &Path, tag: &str) -> Self {
        let path = base.join(format!("sva-{}", unique_name(tag)));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        Self(path)
    }

    /// Its path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    name: String,
}

impl Daemon {
    /// Starts `command`, with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, command: &mut Command, log: &Path) -> Self {
        let out = fs::File::create(log).expect("create log");
        let err = out.try_clone().expect("clone log handle");
        let child = command
            .stdout(out)
            .stderr(err)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        Self { child: Some(child), name: name.to_owned() }
    }

    /// The process id, if it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the process: SIGTERM, then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; returns the exit
    /// code (`None`: killed by a signal, or killed with `SIGKILL` after `limit`).
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process's name, for messages.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How to run GoBGP.
#[derive(Clone, Debug, Default)]
pub struct GoBgpOptions {
    /// Be graceful-restart helper for l2vpn-evpn (keep our routes, stale,
    /// while we restart).
    pub graceful_restart: bool,
    /// Dial the neighbor on this port instead of waiting for it.
    pub dial_port: Option<u16>,
    /// Protect the session with this TCP MD5 password (RFC 2385).
    pub md5_password: Option<String>,
}

/// GoBGP (the release `SVA_GOBGP` picks, see [`crate::releases`]) as an
/// iBGP peer for l2vpn-evpn on loopback.
#[derive(Debug)]
pub struct GoBgp {
    daemon: Daemon,
    dir: ScratchDir,
    release: GoBgpRelease,
    /// The BGP port it listens on (127.0.0.1).
    pub port: u16,
    api_port: u16,
}

impl GoBgp {
    /// Starts gobgpd as AS `asn` on 127.0.0.1, waiting passively for
    /// `neighbor` (our speaker's source address).
    #[must_use]
    pub fn start(asn: u32, neighbor: &str) -> Self {
        Self::start_with(asn, neighbor, &GoBgpOptions::default())
    }

    /// As [`GoBgp::start`], with options.
    #[must_use]
    pub fn start_with(asn: u32, neighbor: &str, options: &GoBgpOptions) -> Self {
        let graceful_restart = options.graceful_restart;
        let transport = match options.dial_port {
            Some(port) => format!(
                "    passive-mode = false\n    remote-port = {port}\n    local-address = \"127.0.0.1\"\n"
            ),
            None => "    passive-mode = true\n".to_owned(),
        };
        let auth = options
            .md5_password
            .as_ref()
            .map(|p| format!("    auth-password = \"{p}\"\n"))
            .unwrap_or_default();
        let dir = ScratchDir::new("gobgp");
        let port = free_port();
        let api_port = free_port();
        let config = format!(
            r#"[global.config]
  as = {asn}
  router-id = "127.0.0.1"
  port = {port}
  local-address-list = ["127.0.0.1"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "{neighbor}"
    peer-as = {asn}
{auth}  [neighbors.transport.config]
{transport}  [neighbors.timers.config]
    hold-time = 30
    keepalive-interval = 10
    connect-retry = 1
  [neighbors.graceful-restart.config]
    enabled = {graceful_restart}
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = {graceful_restart}
"#
        );
        fs::write(dir.path().join("gobgpd.toml"), config).expect("write gobgpd.toml");
        let release = GoBgpRelease::selected().unwrap_or_else(|e| panic!("{e}"));
        let daemon = Self::spawn_daemon(&release, &dir, api_port);
        let gobgp = Self { daemon, dir, release, port, api_port };
        wait_for("gobgpd's API", Duration::from_secs(10), || gobgp.try_cli(&["global"]).map(|_| ()));
        gobgp
    }

    fn spawn_daemon(release: &GoBgpRelease, dir: &ScratchDir, api_port: u16) -> Daemon {
        let mut command = Command::new(&release.daemon);
        command.args([
            "-f",
            &dir.path().join("gobgpd.toml").display().to_string(),
            "-p",
            "--pprof-disable",
            &format!("--api-hosts=127.0.0.1:{api_port}"),
        ]);
        Daemon::spawn("gobgpd", &mut command, &dir.path().join("gobgpd.log"))
    }

    /// Stops and starts gobgpd again with the same configuration.
    pub fn restart(&mut self) {
        self.daemon.stop();
        self.daemon = Self::spawn_daemon(&self.release, &self.dir, self.api_port);
        wait_for("gobgpd's API after restart", Duration::from_secs(10), || {
            self.try_cli(&["global"]).map(|_| ())
        });
    }

    /// Runs the gobgp CLI against this daemon.
    pub fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.release.cli)
            .args(["-p", &self.api_port.to_string()])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!("gobgp {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr)))
        }
    }

    /// Runs the gobgp CLI; panics if it fails.
    #[must_use]
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args).unwrap_or_else(|e| panic!("{e}\n--- gobgpd log ---\n{}", self.log()))
    }

    /// Every EVPN path in the global RIB, as GoBGP's JSON objects.
    #[must_use]
    pub fn evpn_paths(&self) -> Vec<serde_json::Value> {
        let text = self.cli(&["-j", "global", "rib", "-a", "evpn"]);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        value
            .as_object()
            .map(|destinations| {
                destinations.values().filter_map(|paths| paths.as_array()).flatten().cloned().collect()
            })
            .unwrap_or_default()
    }

    /// The neighbor's session state as GoBGP reports it ("established", ...).
    #[must_use]
    pub fn neighbor_state(&self, neighbor: &str) -> String {
        let text = self.try_cli(&["-j", "neighbor", neighbor]).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        value["state"]["session_state"].as_u64().map_or_else(
            || value["state"]["session_state"].as_str().unwrap_or("unknown").to_owned(),
            |n| n.to_string(),
        )
    }

    /// gobgpd's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("gobgpd.log")).unwrap_or_default()
    }

    /// The daemon, to kill it.
    pub fn daemon(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

/// FRR's bgpd (without zebra; the release `SVA_FRR` picks, see
/// [`crate::releases`]) as a passive iBGP peer for l2vpn-evpn on 127.0.0.3,
/// queried through vtysh on a private socket directory.
#[derive(Debug)]
pub struct FrrBgpd {
    daemon: Daemon,
    dir: ScratchDir,
    frr: Frr,
    /// The BGP port it listens on (127.0.0.3).
    pub port: u16,
}

/// The address FRR's bgpd listens on.
pub const FRR_ADDR: &str = "127.0.0.3";

impl FrrBgpd {
    /// Starts bgpd as AS `asn`, waiting passively for `neighbor`.
    #[must_use]
    pub fn start(asn: u32, neighbor: &str) -> Self {
        let frr = Frr::selected().unwrap_or_else(|e| panic!("{e}"));
        let dir = frr.scratch("frr");
        let port = free_port();
        let config = format!(
            "frr defaults traditional\n\
             hostname sva-test\n\
             log stdout informational\n\
             !\n\
             router bgp {asn}\n \
             bgp router-id {FRR_ADDR}\n \
             no bgp default ipv4-unicast\n \
             neighbor {neighbor} remote-as {asn}\n \
             neighbor {neighbor} passive\n \
             neighbor {neighbor} timers 10 30\n \
             !\n \
             address-family l2vpn evpn\n  \
             neighbor {neighbor} activate\n \
             exit-address-family\n\
             exit\n"
        );
        fs::write(dir.path().join("bgpd.conf"), config).expect("write bgpd.conf");
        // bgpd drops its privileges to the frr user, which must own its files.
        frr.give_to_frr(dir.path());
        let daemon = Self::spawn_daemon(&frr, &dir, port);
        let frr = Self { daemon, dir, frr, port };
        wait_for("bgpd's vty", Duration::from_secs(10), || frr.try_vtysh("show bgp summary").map(|_| ()));
        frr
    }

    fn spawn_daemon(frr: &Frr, dir: &ScratchDir, port: u16) -> Daemon {
        let path = |name: &str| frr.inside_path(&dir.path().join(name)).display().to_string();
        let mut command = frr.command("/usr/lib/frr/bgpd");
        command.args([
            "-Z",
            "-l",
            FRR_ADDR,
            "-p",
            &port.to_string(),
            "-P",
            "0",
            "-f",
            &path("bgpd.conf"),
            "--vty_socket",
            &path(""),
            "-i",
            &path("bgpd.pid"),
        ]);
        Daemon::spawn("bgpd", &mut command, &dir.path().join("bgpd.log"))
    }

    /// Stops and starts bgpd again with the same configuration.
    pub fn restart(&mut self) {
        self.daemon.stop();
        self.daemon = Self::spawn_daemon(&self.frr, &self.dir, self.port);
        wait_for("bgpd's vty after restart", Duration::from_secs(10), || {
            self.try_vtysh("show bgp summary").map(|_| ())
        });
    }

    /// Runs one vtysh command against this bgpd.
    pub fn try_vtysh(&self, command: &str) -> Result<String, String> {
        let output = self
            .frr
            .command("/usr/bin/vtysh")
            .args([
                "--vty_socket",
                &self.frr.inside_path(self.dir.path()).display().to_string(),
                "-d",
                "bgpd",
                "-c",
                command,
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "vtysh -c {command}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Runs a vtysh command that prints JSON and parses it.
    #[must_use]
    pub fn json(&self, command: &str) -> serde_json::Value {
        let text =
            self.try_vtysh(command).unwrap_or_else(|e| panic!("{e}\n--- bgpd log ---\n{}", self.log()));
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// Every EVPN path FRR holds, from `show bgp l2vpn evpn route detail
    /// json`, each with its RD and prefix added as `"rd"` and `"prefix"`.
    #[must_use]
    pub fn evpn_paths(&self) -> Vec<serde_json::Value> {
        let table = self.json("show bgp l2vpn evpn route detail json");
        let mut paths = Vec::new();
        let Some(rds) = table.as_object() else { return paths };
        for (rd, prefixes) in rds {
            let Some(prefixes) = prefixes.as_object() else { continue };
            for (prefix, entry) in prefixes {
                // Nested: "paths": [[{...}], ...] in route detail output.
                let Some(groups) = entry["paths"].as_array() else { continue };
                for path in
                    groups.iter().flat_map(|g| g.as_array().cloned().unwrap_or_else(|| vec![g.clone()]))
                {
                    let mut path = path;
                    path["rd"] = serde_json::Value::String(rd.clone());
                    path["prefix"] = serde_json::Value::String(prefix.clone());
                    paths.push(path);
                }
            }
        }
        paths
    }

    /// bgpd's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("bgpd.log")).unwrap_or_default()
    }
}

/// The state of the agent `binary` serving on `http`, through its own
/// `show --json` (so the CLI is exercised too).
///
/// # Errors
///
/// When the agent does not answer or answers something that is not JSON.
pub fn agent_state(binary: &str, http: &str) -> Result<serde_json::Value, String> {
    let out =
        Command::new(binary).args(["show", "--http", http, "--json"]).output().map_err(|e| e.to_string())?;
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}
