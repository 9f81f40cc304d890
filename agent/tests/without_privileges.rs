//! Without the privileges eBPF needs, the agent keeps running without
//! learning and its state says what is missing (issue: "missing privileges
//! ... give a clear error naming what is missing; the agent keeps running
//! without learning and its state says why. Never a crash.").
//!
//! As root the agent is started through `setpriv` with every capability
//! dropped from its bounding set, so it runs as uid 0 without `CAP_BPF`,
//! `CAP_NET_ADMIN`, `CAP_PERFMON` or `CAP_SYS_ADMIN`; as a normal user it
//! lacks them anyway. Only loopback is used.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{fs, process::Command, time::Duration};

use static_vxlan_agent_tests::peers::{Daemon, ScratchDir, free_port, wait_for};

const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");

#[test]
fn without_bpf_privileges_the_agent_runs_on_and_its_state_says_why() {
    let dir = ScratchDir::new("noprivs");
    let http = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("agent.yaml");
    // The peer port is closed: the session retries in the background, which
    // is fine; this test is about learning.
    fs::write(
        &config,
        format!(
            "source-address: 127.0.0.1\npeer-port: {}\nlocal-as: 65000\nstate-file: ''\nlearning-interfaces: [lo]\n\
             liveness: {{method: icmp}}\n\
             mac-vrfs:\n  blue:\n    evi: 100\n    vni: 100\n    static-vteps: {{127.0.0.2: {{}}}}\n",
            free_port()
        ),
    )
    .expect("write config");
    let config = config.to_str().expect("utf-8 path");
    let root = running_as_root();
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-all", "--inh-caps=-all", AGENT]);
        c
    } else {
        Command::new(AGENT)
    };
    command.args(["run", "--config", config, "--http", &http]);
    let mut agent = Daemon::spawn("static-vxlan-agent", &mut command, &dir.path().join("agent.log"));

    let state: serde_json::Value =
        wait_for("the snooper's error in the agent's state", Duration::from_secs(20), || {
            let out = Command::new(AGENT)
                .args(["show", "--http", &http, "--json"])
                .output()
                .map_err(|e| e.to_string())?;
            let state: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            if state["snooper"]["status"] == "error" { Ok(state) } else { Err(state.to_string()) }
        });
    let error = state["snooper"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("CAP_BPF"), "the error names the missing capability: {error}");
    // The rest of the agent is up: the proxy has its mac-vrf, and the
    // process is still running a while later.
    assert!(state["proxy"]["mac-vrfs"]["blue"].is_object(), "{state}");
    // ICMP liveness needs CAP_NET_RAW too: the VTEP stays unknown, its
    // routes kept, and state says why.
    let live: serde_json::Value = wait_for("the prober's error in state", Duration::from_secs(10), || {
        let out = Command::new(AGENT)
            .args(["show", "--http", &http, "--json"])
            .output()
            .map_err(|e| e.to_string())?;
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let live = state["liveness"]["127.0.0.2"].clone();
        if live["error"].is_string() { Ok(live) } else { Err(state.to_string()) }
    });
    assert!(live["error"].as_str().is_some_and(|e| e.contains("CAP_NET_RAW")), "{live}");
    assert_eq!(live["state"], "unknown", "{live}");
    std::thread::sleep(Duration::from_secs(2));
    let out = Command::new(AGENT).args(["show", "--http", &http, "--json"]).output().expect("show");
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).expect("state");
    assert_eq!(state["proxy"]["mac-vrfs"]["blue"]["vteps"]["127.0.0.2"]["rt3-advertised"], true, "{state}");
    std::thread::sleep(Duration::from_secs(1));
    let again = Command::new(AGENT).args(["show", "--http", &http, "--json"]).output().expect("show");
    assert!(
        again.status.success(),
        "the agent is gone: {}",
        fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default()
    );
    agent.stop();
    let log = fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
}

/// Whether this test runs as root (then privileges must be dropped
/// explicitly), read from /proc rather than through libc.
fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
