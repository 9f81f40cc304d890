//! Least privilege, on a real kernel: the agent keeps only the capabilities
//! it needs (`privileges::NEEDED`) and drops the rest before it starts any
//! thread; with just those, as a user that is not root, it still snoops and
//! learns; and a bare `--http` port is served on loopback only.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{
    fs,
    net::{Ipv4Addr, SocketAddr},
    os::unix::fs::PermissionsExt as _,
    process::Command,
    time::Duration,
};

use static_vxlan_agent::privileges::NEEDED;
use static_vxlan_agent_tests::{
    Netns,
    peers::{Daemon, ScratchDir, agent_state, free_port, wait_for},
    privileged,
    vxlan::{arp_request, send_all},
};

const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");

/// A capability set line of /proc/<pid>/status (`CapEff:` ...), as a mask.
fn cap_mask(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

fn state(http: &str) -> Result<serde_json::Value, String> {
    agent_state(AGENT, http)
}

#[test]
fn the_agent_keeps_only_the_capabilities_it_needs_and_serves_state_on_loopback() {
    let test = "the_agent_keeps_only_the_capabilities_it_needs_and_serves_state_on_loopback";
    if !privileged(test) {
        return;
    }
    let dir = ScratchDir::new("caps");
    let config = dir.path().join("agent.yaml");
    fs::write(&config, "source-address: 127.0.0.1\nconnect: false\nstate-file: ''\n").expect("write config");
    let port = free_port();
    let mut agent = Daemon::spawn(
        "static-vxlan-agent",
        Command::new(AGENT).args([
            "run",
            "--config",
            config.to_str().expect("utf-8"),
            "--http",
            &port.to_string(),
        ]),
        &dir.path().join("agent.log"),
    );
    let http = format!("127.0.0.1:{port}");
    let state = wait_for("the agent's state", Duration::from_secs(10), || state(&http));
    let pid = agent.pid().expect("running");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");

    let needed: u64 = NEEDED.iter().map(|(cap, _)| cap.bitmask()).sum();
    for set in ["CapPrm:", "CapBnd:"] {
        assert_eq!(cap_mask(&status, set), needed, "{set} {status}");
    }
    // CAP_SYS_ADMIN is raised only around setns(2), on the thread doing it.
    let sys_admin = caps::Capability::CAP_SYS_ADMIN.bitmask();
    assert_eq!(cap_mask(&status, "CapEff:"), needed & !sys_admin, "{status}");
    for set in ["CapInh:", "CapAmb:"] {
        assert_eq!(cap_mask(&status, set), 0, "{set} {status}");
    }
    assert!(status.lines().any(|l| l.split_whitespace().eq(["NoNewPrivs:", "1"])), "{status}");
    let mut names: Vec<String> = NEEDED.iter().map(|(cap, _)| cap.to_string()).collect();
    names.sort();
    assert_eq!(state["capabilities"], serde_json::json!(names), "{state}");

    // The bare port is on 127.0.0.1 only: the one listening socket on it in
    // /proc/<pid>/net/tcp (state 0A) has local address 0100007F.
    let tcp = fs::read_to_string(format!("/proc/{pid}/net/tcp")).expect("net/tcp");
    let listening: Vec<&str> = tcp
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.get(3) == Some(&"0A") && fields.get(1)?.ends_with(&format!(":{port:04X}")))
                .then(|| fields[1])
        })
        .collect();
    assert_eq!(listening, vec![format!("0100007F:{port:04X}")], "{tcp}");
    agent.stop();
}

/// The agent run as nobody (uid 65534) with `caps` as its ambient
/// capabilities, learning on the loopback of its own namespace, where
/// VXLAN comes from 127.0.0.3, a static VTEP.
struct UnprivilegedAgent {
    agent: Daemon,
    http: String,
    dir: ScratchDir,
    // Last: the agent goes before its namespace.
    netns: Netns,
}

impl UnprivilegedAgent {
    fn start(caps: &[caps::Capability]) -> Self {
        let netns = Netns::new("cap");
        let dir = ScratchDir::new("capuser");
        let config = dir.path().join("agent.yaml");
        fs::write(
            &config,
            format!(
                "source-address: 127.0.0.1\nconnect: false\nstate-file: ''\nlearning-interfaces: [lo]\nlearning-netns: {}\n\
                 mac-vrfs:\n  blue:\n    evi: 100\n    vni: 100\n    static-vteps:\n      127.0.0.3: {{}}\n",
                netns.path().display()
            ),
        )
        .expect("write config");
        let http = format!("127.0.0.1:{}", free_port());
        // The user must be able to run the binary, wherever the checkout is
        // (a home directory may be closed to others): a copy in the scratch
        // directory, which is under the world-readable temp directory.
        let binary = dir.path().join("static-vxlan-agent");
        fs::copy(AGENT, &binary).expect("copy the agent");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod scratch dir");
        let names: Vec<String> = caps
            .iter()
            .map(|cap| format!("+{}", cap.to_string().trim_start_matches("CAP_").to_lowercase()))
            .collect();
        let caps = format!("-all,{}", names.join(","));
        let agent = Daemon::spawn(
            "static-vxlan-agent",
            Command::new("setpriv").args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                &format!("--inh-caps={caps}"),
                &format!("--ambient-caps={caps}"),
                binary.to_str().expect("utf-8"),
                "run",
                "--config",
                config.to_str().expect("utf-8"),
                "--http",
                &http,
            ]),
            &dir.path().join("agent.log"),
        );
        Self { agent, http, dir, netns }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// The snooper's state once it attached to lo or gave up.
    fn snooper(&self) -> serde_json::Value {
        wait_for("the snooper attached to lo or failed", Duration::from_secs(20), || {
            let s = state(&self.http)?;
            let snooper = &s["snooper"];
            let attached = snooper["interfaces"]["lo"]["status"]
                .as_str()
                .is_some_and(|status| status.starts_with("attached"));
            if attached || snooper["status"] == "error" {
                Ok(snooper.clone())
            } else {
                Err(format!("{s}\n{}", self.log()))
            }
        })
    }
}

impl Drop for UnprivilegedAgent {
    fn drop(&mut self) {
        self.agent.stop();
    }
}

#[test]
fn with_only_the_needed_capabilities_an_unprivileged_user_runs_the_agent_and_it_learns() {
    let test = "with_only_the_needed_capabilities_an_unprivileged_user_runs_the_agent_and_it_learns";
    if !privileged(test) {
        return;
    }
    let needed: Vec<caps::Capability> = NEEDED.iter().map(|(cap, _)| *cap).collect();
    let agent = UnprivilegedAgent::start(&needed);
    let snooper = agent.snooper();
    assert!(snooper["status"] != "error", "{snooper}\n{}", agent.log());
    let pid = agent.agent.pid().expect("running");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(
        status.lines().any(|l| l.split_whitespace().eq(["Uid:", "65534", "65534", "65534", "65534"])),
        "{status}"
    );

    // An ARP request from 02:00:00:00:00:aa (10.0.0.1) in VNI 100, from 127.0.0.3.
    let arp = arp_request(100, [2, 0, 0, 0, 0, 0xaa], Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, 4789));
    let learned = wait_for("02:00:00:00:00:aa learned behind 127.0.0.3", Duration::from_secs(20), || {
        let _ = agent.netns.run(|| send_all(Ipv4Addr::new(127, 0, 0, 3), to, std::iter::once(arp.clone())));
        let s = state(&agent.http)?;
        let mac = &s["proxy"]["mac-vrfs"]["blue"]["macs"]["02:00:00:00:00:aa"];
        if mac["vtep"] == "127.0.0.3" { Ok(mac.clone()) } else { Err(format!("{s}\n{}", agent.log())) }
    });
    assert_eq!(learned["source"], "learned", "{learned}");
    assert!(!agent.log().contains("panicked"), "{}", agent.log());
}

#[test]
fn without_any_one_of_the_snoopers_capabilities_it_does_not_start_and_says_why() {
    let test = "without_any_one_of_the_snoopers_capabilities_it_does_not_start_and_says_why";
    if !privileged(test) {
        return;
    }
    // CAP_NET_RAW is for attach-mode socket, CAP_NET_BIND_SERVICE for low
    // ports; the tc snooper in a namespace needs each of these four.
    for (missing, expected) in [
        (caps::Capability::CAP_BPF, "needs CAP_BPF"),
        (caps::Capability::CAP_PERFMON, "Permission denied"),
        (caps::Capability::CAP_NET_ADMIN, "Operation not permitted"),
        (caps::Capability::CAP_SYS_ADMIN, "entering a namespace needs CAP_SYS_ADMIN"),
    ] {
        let caps: Vec<caps::Capability> =
            NEEDED.iter().map(|(cap, _)| *cap).filter(|cap| *cap != missing).collect();
        let agent = UnprivilegedAgent::start(&caps);
        let snooper = agent.snooper();
        let error = snooper["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "without {missing}: {snooper}\n{}", agent.log());
    }
}
