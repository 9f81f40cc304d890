//! A snooping leaf for agent tests on a real kernel: static VTEPs in one
//! namespace (10.0.0.1, .2, .3 on one veth), the leaf's end of it in
//! another, the agent snooping it, and ARP-in-VXLAN frames sent as a
//! static VTEP sends them. Shared by dedup.rs and restart.rs.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::{
    fs,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    process::Command,
    time::Duration,
};

use static_vxlan_agent_tests::{
    Netns,
    peers::{Daemon, ScratchDir, agent_state, free_port, wait_for},
    veth_pair,
    vxlan::{arp_request, send_all},
};

pub(crate) const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");
pub(crate) const VTEP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub(crate) const VTEP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub(crate) const VTEP_C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
pub(crate) const LEAF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
pub(crate) const VNI: u32 = 100;
/// How long a frame that reached the agent may take to show in its state.
pub(crate) const AT_ONCE: Duration = Duration::from_secs(5);

/// The static VTEPs (in one namespace, one address each), the leaf that
/// snoops, and the agent.
pub(crate) struct Lab {
    pub(crate) vteps: Netns,
    pub(crate) leaf: Netns,
    pub(crate) leaf_if: String,
    pub(crate) dir: ScratchDir,
    pub(crate) http: String,
    pub(crate) agent: Daemon,
    /// Agent processes started so far (each logs to its own file).
    starts: u32,
}

impl Lab {
    /// Starts the agent with `settings` (YAML lines) and the mac-vrf
    /// `blue` with these static VTEPs, and waits until it snoops.
    pub(crate) fn start(tag: &str, settings: &str, static_vteps: &[Ipv4Addr]) -> Self {
        let vteps = Netns::new(&format!("{tag}v"));
        let leaf = Netns::new(&format!("{tag}l"));
        let (vtep_if, leaf_if) = veth_pair(&vteps, &format!("{VTEP_A}/24"), &leaf, &format!("{LEAF}/24"));
        for extra in [VTEP_B, VTEP_C] {
            vteps.exec("ip", &["addr", "add", &format!("{extra}/24"), "dev", &vtep_if]);
        }
        let dir = ScratchDir::new(tag);
        let http = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("agent.yaml");
        write_config(&config, &leaf_if, &leaf, settings, static_vteps);
        let agent = Daemon::spawn(
            "static-vxlan-agent",
            Command::new(AGENT).args(["run", "--config", config.to_str().expect("utf-8"), "--http", &http]),
            &dir.path().join("agent.log"),
        );
        let lab = Self { vteps, leaf, leaf_if, dir, http, agent, starts: 1 };
        lab.wait_attached();
        lab
    }

    /// Kills the agent (SIGKILL: no NOTIFICATION, no last write).
    pub(crate) fn kill(&mut self) {
        self.agent.kill();
    }

    /// Starts the agent again on its configuration file, after `write`
    /// rewrites it if given, and waits until it snoops.
    pub(crate) fn start_agent(&mut self) {
        let config = self.dir.path().join("agent.yaml");
        let log = self.dir.path().join(format!("agent-{}.log", self.starts));
        self.starts += 1;
        self.agent = Daemon::spawn(
            "static-vxlan-agent",
            Command::new(AGENT).args([
                "run",
                "--config",
                config.to_str().expect("utf-8"),
                "--http",
                &self.http,
            ]),
            &log,
        );
        self.wait_attached();
    }

    /// Rewrites the configuration file (not reloaded: see `reload`).
    pub(crate) fn rewrite(&self, settings: &str, static_vteps: &[Ipv4Addr]) {
        write_config(&self.dir.path().join("agent.yaml"), &self.leaf_if, &self.leaf, settings, static_vteps);
    }

    fn wait_attached(&self) {
        wait_for("the snooper attached", Duration::from_secs(20), || {
            let s = self.state()?;
            let status = &s["snooper"]["interfaces"][&self.leaf_if]["status"];
            if status.as_str().is_some_and(|s| s.starts_with("attached")) {
                Ok(())
            } else {
                Err(format!("{s}\n{}", self.log()))
            }
        });
    }

    pub(crate) fn state(&self) -> Result<serde_json::Value, String> {
        agent_state(AGENT, &self.http)
    }

    /// Every agent process's log, in order.
    pub(crate) fn log(&self) -> String {
        let mut text = fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default();
        for n in 1..self.starts {
            text.push_str(
                &fs::read_to_string(self.dir.path().join(format!("agent-{n}.log"))).unwrap_or_default(),
            );
        }
        text
    }

    /// One ARP request from host `host` (MAC 02:00:00:00:00:0N, IP
    /// 10.1.0.N) behind `vtep`.
    pub(crate) fn arp(&self, vtep: Ipv4Addr, host: u8) {
        let payload = arp_request(VNI, host_mac(host), Ipv4Addr::new(10, 1, 0, host), LEAF);
        let sent =
            self.vteps.run(|| send_all(vtep, SocketAddr::from((LEAF, 4789)), std::iter::once(payload)));
        assert_eq!(sent, 1, "the frame left");
    }

    /// Waits until the agent's entry for `host` satisfies `check`.
    pub(crate) fn wait_for_host(&self, what: &str, host: u8, check: impl Fn(&serde_json::Value) -> bool) {
        let mac = mac_text(host);
        wait_for(what, AT_ONCE, || {
            let s = self.state()?;
            let entry = &s["proxy"]["mac-vrfs"]["blue"]["macs"][&mac];
            if check(entry) {
                Ok(())
            } else {
                Err(format!(
                    "{mac}: {entry}; proxy counters {}; snooper counters {}",
                    s["proxy"]["counters"], s["snooper"]["counters"]
                ))
            }
        });
    }

    /// Waits until the proxy counter `name` is `value`.
    pub(crate) fn wait_for_counter(&self, name: &str, value: u64) {
        wait_for(&format!("{name} = {value}"), AT_ONCE, || {
            let s = self.state()?;
            let counters = &s["proxy"]["counters"];
            if counters[name].as_u64() == Some(value) { Ok(()) } else { Err(counters.to_string()) }
        });
    }

    /// Rewrites the configuration and reloads it (SIGHUP), then waits until
    /// the agent runs with the static VTEPs it names.
    pub(crate) fn reload(&self, settings: &str, static_vteps: &[Ipv4Addr]) {
        let config = self.dir.path().join("agent.yaml");
        write_config(&config, &self.leaf_if, &self.leaf, settings, static_vteps);
        let pid = self.agent.pid().expect("running").to_string();
        assert!(Command::new("kill").args(["-HUP", &pid]).status().expect("kill").success());
        let wanted: Vec<String> = static_vteps.iter().map(ToString::to_string).collect();
        wait_for("the reloaded configuration", Duration::from_secs(10), || {
            let s = self.state()?;
            let configured = &s["proxy"]["mac-vrfs"]["blue"]["configured-vteps"];
            let log = self.log();
            // Each test reloads once.
            let applied = log.contains("SIGHUP: configuration reloaded");
            if *configured == serde_json::json!(wanted) && applied {
                Ok(())
            } else {
                Err(format!("{configured}\n{log}"))
            }
        });
    }
}

/// The agent's YAML: `settings` (YAML lines) and the mac-vrf `blue` with
/// these static VTEPs. Unless `settings` set up the session themselves
/// (`source-address`), nobody listens on the peer port (learning does not
/// wait for BGP) and no state file is kept.
pub(crate) fn write_config(
    path: &Path,
    leaf_if: &str,
    leaf: &Netns,
    settings: &str,
    static_vteps: &[Ipv4Addr],
) {
    let vteps: Vec<String> = static_vteps.iter().map(|v| format!("      {v}: {{}}\n")).collect();
    let vteps = vteps.concat();
    let session = if settings.contains("source-address:") {
        String::new()
    } else {
        format!(
            "source-address: 127.0.0.1\npeer-address: 127.0.0.1\npeer-port: {}\nstate-file: ''\n",
            free_port()
        )
    };
    fs::write(
        path,
        format!(
            "{session}local-as: 65000\nlearning-interfaces: [{leaf_if}]\nlearning-netns: {}\n{settings}\
             mac-vrfs:\n  blue:\n    evi: 100\n    vni: {VNI}\n    static-vteps:\n{vteps}",
            leaf.path().display()
        ),
    )
    .expect("write config");
}

pub(crate) fn host_mac(host: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, host]
}

pub(crate) fn mac_text(host: u8) -> String {
    format!("02:00:00:00:00:{host:02x}")
}
