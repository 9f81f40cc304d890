//! The snooper's in-kernel dedup never hides a frame the agent must act on
//! (issue 27), on a real kernel: the agent snoops a veth in a namespace and
//! ARP-in-VXLAN frames arrive from static VTEPs in another one.
//!
//! - A host that moves from VTEP A to B and back to A within the dedup
//!   window (a third of `mac-aging-secs`) ends behind A with sequence 2.
//! - A binding the agent refused (an unknown VTEP; a MAC over a limit) is
//!   learned from the host's next ARP once a reload accepts it, not a
//!   window later.
//!
//! Each frame is sent once: a frame held back by the dedup window would
//! fail the test, where resending it would wait the window out.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

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
    privileged, veth_pair,
    vxlan::{arp_request, send_all},
};

const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");
const VTEP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const VTEP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const VTEP_C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const LEAF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
const VNI: u32 = 100;
/// How long a frame that reached the agent may take to show in its state.
const AT_ONCE: Duration = Duration::from_secs(5);

/// The static VTEPs (in one namespace, one address each), the leaf that
/// snoops, and the agent.
struct Lab {
    vteps: Netns,
    leaf: Netns,
    leaf_if: String,
    dir: ScratchDir,
    http: String,
    agent: Daemon,
}

impl Lab {
    /// Starts the agent with `settings` (YAML lines) and the mac-vrf
    /// `blue` with these static VTEPs, and waits until it snoops.
    fn start(tag: &str, settings: &str, static_vteps: &[Ipv4Addr]) -> Self {
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
        let lab = Self { vteps, leaf, leaf_if, dir, http, agent };
        wait_for("the snooper attached", Duration::from_secs(20), || {
            let s = lab.state()?;
            let status = &s["snooper"]["interfaces"][&lab.leaf_if]["status"];
            if status.as_str().is_some_and(|s| s.starts_with("attached")) {
                Ok(())
            } else {
                Err(format!("{s}\n{}", lab.log()))
            }
        });
        lab
    }

    fn state(&self) -> Result<serde_json::Value, String> {
        agent_state(AGENT, &self.http)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// One ARP request from host `host` (MAC 02:00:00:00:00:0N, IP
    /// 10.1.0.N) behind `vtep`.
    fn arp(&self, vtep: Ipv4Addr, host: u8) {
        let payload = arp_request(VNI, host_mac(host), Ipv4Addr::new(10, 1, 0, host), LEAF);
        let sent =
            self.vteps.run(|| send_all(vtep, SocketAddr::from((LEAF, 4789)), std::iter::once(payload)));
        assert_eq!(sent, 1, "the frame left");
    }

    /// Waits until the agent's entry for `host` satisfies `check`.
    fn wait_for_host(&self, what: &str, host: u8, check: impl Fn(&serde_json::Value) -> bool) {
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
    fn wait_for_counter(&self, name: &str, value: u64) {
        wait_for(&format!("{name} = {value}"), AT_ONCE, || {
            let s = self.state()?;
            let counters = &s["proxy"]["counters"];
            if counters[name].as_u64() == Some(value) { Ok(()) } else { Err(counters.to_string()) }
        });
    }

    /// Rewrites the configuration and reloads it (SIGHUP), then waits until
    /// the agent runs with the static VTEPs it names.
    fn reload(&self, settings: &str, static_vteps: &[Ipv4Addr]) {
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

fn write_config(path: &Path, leaf_if: &str, leaf: &Netns, settings: &str, static_vteps: &[Ipv4Addr]) {
    // Nobody listens on the peer port: learning does not wait for BGP.
    let vteps: Vec<String> = static_vteps.iter().map(|v| format!("      {v}: {{}}\n")).collect();
    let vteps = vteps.concat();
    fs::write(
        path,
        format!(
            "source-address: 127.0.0.1\npeer-address: 127.0.0.1\npeer-port: {}\nlocal-as: 65000\n\
             learning-interfaces: [{leaf_if}]\nlearning-netns: {}\n{settings}\
             mac-vrfs:\n  blue:\n    evi: 100\n    vni: {VNI}\n    static-vteps:\n{vteps}",
            free_port(),
            leaf.path().display()
        ),
    )
    .expect("write config");
}

fn host_mac(host: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, host]
}

fn mac_text(host: u8) -> String {
    format!("02:00:00:00:00:{host:02x}")
}

fn behind(entry: &serde_json::Value, vtep: Ipv4Addr, sequence: u64) -> bool {
    entry["vtep"] == vtep.to_string()
        && entry["sequence"].as_u64() == Some(sequence)
        && entry["status"] == "active"
}

#[test]
fn a_host_moving_back_within_the_dedup_window_is_advertised_where_it_is() {
    if !privileged("a_host_moving_back_within_the_dedup_window_is_advertised_where_it_is") {
        return;
    }
    // The default aging (300 s) makes a 100 s dedup window: all of this
    // happens well inside it.
    let mut lab = Lab::start("ddm", "", &[VTEP_A, VTEP_B]);
    lab.arp(VTEP_A, 1);
    lab.wait_for_host("h1 learned behind A", 1, |e| behind(e, VTEP_A, 0));
    lab.arp(VTEP_B, 1);
    lab.wait_for_host("h1 moved to B, sequence 1", 1, |e| behind(e, VTEP_B, 1));
    lab.arp(VTEP_A, 1);
    lab.wait_for_host("h1 moved back to A, sequence 2", 1, |e| behind(e, VTEP_A, 2));
    // And once more, the other way.
    lab.arp(VTEP_B, 1);
    lab.wait_for_host("h1 moved to B again, sequence 3", 1, |e| behind(e, VTEP_B, 3));
    lab.agent.stop();
}

#[test]
fn an_arp_from_an_unknown_vtep_is_learned_at_the_next_arp_after_a_reload_adds_it() {
    if !privileged("an_arp_from_an_unknown_vtep_is_learned_at_the_next_arp_after_a_reload_adds_it") {
        return;
    }
    let mut lab = Lab::start("ddu", "", &[VTEP_A]);
    lab.arp(VTEP_C, 3);
    lab.wait_for_counter("unknown-vtep", 1);
    lab.reload("", &[VTEP_A, VTEP_C]);
    lab.arp(VTEP_C, 3);
    lab.wait_for_host("h3 learned behind C at its next ARP", 3, |e| behind(e, VTEP_C, 0));
    lab.agent.stop();
}

#[test]
fn a_mac_refused_over_a_limit_is_learned_at_the_next_arp_after_a_reload_raises_it() {
    if !privileged("a_mac_refused_over_a_limit_is_learned_at_the_next_arp_after_a_reload_raises_it") {
        return;
    }
    let mut lab = Lab::start("ddl", "max-macs-per-vtep: 1\n", &[VTEP_A]);
    lab.arp(VTEP_A, 1);
    lab.wait_for_host("h1 learned behind A", 1, |e| behind(e, VTEP_A, 0));
    lab.arp(VTEP_A, 2);
    lab.wait_for_counter("over-limit", 1);
    lab.reload("max-macs-per-vtep: 2\n", &[VTEP_A]);
    lab.arp(VTEP_A, 2);
    lab.wait_for_host("h2 learned behind A at its next ARP", 2, |e| behind(e, VTEP_A, 0));
    lab.agent.stop();
}
