//! ICMP liveness on a real kernel (issue 22): the agent in one network
//! namespace probes static VTEPs through a veth pair, one answering, one
//! that never existed on the link, and one with no route at all (its
//! probes cannot even leave: down too, not unknown). The answering one is
//! up (replies counted, a round trip measured), the others are down from
//! the start (not an error) and their routes are withdrawn; taking the veth down makes the
//! first one down too, bringing it up makes it up again. `/metrics` says
//! the same. Without `CAP_NET_RAW` (`without_privileges.rs`) the
//! VTEPs stay unknown.
//!
//! The BGP peer is a closed port on loopback: the session retries in the
//! background; the routes that would be advertised are in the core's state.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{fs, process::Command, time::Duration};

use serde_json::Value;
use static_vxlan_agent_tests::{
    Netns,
    peers::{Daemon, ScratchDir, free_port, wait_for},
    privileged, veth_pair,
};

const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");

/// GET `path` from the agent's HTTP edge inside `netns`.
fn get(netns: &Netns, http: &str, path: &str) -> Result<String, String> {
    use std::io::{Read as _, Write as _};
    netns.run(|| {
        let mut stream = std::net::TcpStream::connect(http).map_err(|e| format!("{http}: {e}"))?;
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nconnection: close\r\n\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let mut response = String::new();
        stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
        Ok(response.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_owned())
    })
}

fn agent_state(netns: &Netns, http: &str) -> Result<Value, String> {
    serde_json::from_str(&get(netns, http, "/state")?).map_err(|e| e.to_string())
}

#[test]
fn icmp_probes_find_static_vteps_up_and_down() {
    if !privileged("icmp_probes_find_static_vteps_up_and_down") {
        return;
    }
    let agent_ns = Netns::new("la");
    let vtep_ns = Netns::new("lv");
    let (_, vtep_if) = veth_pair(&agent_ns, "10.201.0.1/24", &vtep_ns, "10.201.0.2/24");
    let dir = ScratchDir::new("liveness");
    let http = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("agent.yaml");
    fs::write(
        &config,
        format!(
            "source-address: 10.201.0.1\npeer-address: 127.0.0.1\npeer-port: {}\nlocal-as: 65000\n\
             state-file: ''\nliveness:\n  method: icmp\n  interval-ms: 100\n  multiplier: 3\n  hold-down-secs: 1\n\
             mac-vrfs:\n  blue:\n    evi: 100\n    vni: 100\n    static-vteps:\n\
             \x20     10.201.0.2: {{static-macs: ['02:00:00:00:00:01']}}\n      10.201.0.99: {{}}\n      10.209.0.1: {{}}\n",
            free_port()
        ),
    )
    .expect("write config");
    let log = dir.path().join("agent.log");
    let mut agent = Daemon::spawn(
        "static-vxlan-agent",
        Command::new("ip")
            .args(["netns", "exec", agent_ns.name(), AGENT, "run", "--config"])
            .arg(&config)
            .args(["--http", &http]),
        &log,
    );
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    let vtep = |state: &Value, ip: &str| {
        (state["liveness"][ip].clone(), state["proxy"]["mac-vrfs"]["blue"]["vteps"][ip].clone())
    };

    let state = wait_for("10.201.0.2 up and 10.201.0.99 down", Duration::from_secs(15), || {
        let state = agent_state(&agent_ns, &http)?;
        let (up, _) = vtep(&state, "10.201.0.2");
        let (missing, _) = vtep(&state, "10.201.0.99");
        let (unroutable, _) = vtep(&state, "10.209.0.1");
        // The counters follow the verdicts, about once a second.
        let counted = up["probes-answered"].as_u64() >= Some(1) && missing["probes-sent"].as_u64() >= Some(3);
        if up["state"] == "up" && missing["state"] == "down" && unroutable["state"] == "down" && counted {
            Ok(state)
        } else {
            Err(format!("{state}\n{}", log_text()))
        }
    });
    let (up, up_vtep) = vtep(&state, "10.201.0.2");
    assert!(up["last-rtt-us"].is_u64(), "{up}");
    assert_eq!(up["method"], "icmp");
    assert_eq!(
        (up_vtep["rt3-advertised"].clone(), up_vtep.get("withdrawn-down")),
        (Value::Bool(true), None),
        "{up_vtep}\n{}",
        log_text()
    );
    let (missing, missing_vtep) = vtep(&state, "10.201.0.99");
    assert_eq!(missing["probes-answered"], 0, "{missing}");
    assert_eq!(
        (missing_vtep["rt3-advertised"].clone(), missing_vtep["withdrawn-down"].clone()),
        (Value::Bool(false), Value::Bool(true))
    );
    assert!(missing.get("error").is_none(), "unreachable is down, not an error: {missing}");
    // No route: no probe left (none counted as sent), and the VTEP is down.
    let (unroutable, unroutable_vtep) = vtep(&state, "10.209.0.1");
    assert_eq!(unroutable["probes-sent"], 0, "{unroutable}");
    assert_eq!(unroutable_vtep["withdrawn-down"], true, "{unroutable_vtep}");

    // The link goes: 10.201.0.2 is down, its routes withdrawn; back: up,
    // and after the 1 s hold-down advertised again.
    vtep_ns.exec("ip", &["link", "set", &vtep_if, "down"]);
    wait_for("10.201.0.2 down", Duration::from_secs(5), || {
        let state = agent_state(&agent_ns, &http)?;
        let (live, view) = vtep(&state, "10.201.0.2");
        if live["state"] == "down" && view["withdrawn-down"] == true {
            Ok(())
        } else {
            Err(state.to_string())
        }
    });
    vtep_ns.exec("ip", &["link", "set", &vtep_if, "up"]);
    wait_for("10.201.0.2 up and advertised again", Duration::from_secs(10), || {
        let state = agent_state(&agent_ns, &http)?;
        let (live, view) = vtep(&state, "10.201.0.2");
        if live["state"] == "up" && view["rt3-advertised"] == true { Ok(()) } else { Err(state.to_string()) }
    });
    let metrics = wait_for("the probe counters in /metrics", Duration::from_secs(5), || {
        let metrics = get(&agent_ns, &http, "/metrics")?;
        if metrics.contains("sva_vtep_probes_answered_total{vtep=\"10.201.0.2\"}") {
            Ok(metrics)
        } else {
            Err(metrics)
        }
    });
    for line in [
        "sva_vtep_up{vtep=\"10.201.0.2\",method=\"icmp\"} 1",
        "sva_vtep_up{vtep=\"10.201.0.99\",method=\"icmp\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line:?} in\n{metrics}");
    }
    // `show` lists each VTEP's check and whether its routes are withdrawn.
    let show = agent_ns.exec(AGENT, &["show", "--http", &http]);
    let show = String::from_utf8_lossy(&show.stdout).into_owned();
    let row = |ip: &str| {
        show.lines()
            .find(|l| l.trim_start().starts_with(ip) && l.contains("icmp"))
            .unwrap_or_default()
            .to_owned()
    };
    let missing_row: Vec<String> = row("10.201.0.99").split_whitespace().map(str::to_owned).collect();
    assert_eq!(
        (missing_row.get(1), missing_row.get(2), missing_row.last()),
        (Some(&"icmp".to_owned()), Some(&"down".to_owned()), Some(&"withdrawn".to_owned())),
        "{show}"
    );
    assert!(row("10.201.0.2").contains(" up ") && row("10.201.0.2").ends_with("advertised"), "{show}");
    let text = log_text();
    assert!(text.contains("static VTEP down") && text.contains("vtep-restored"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    agent.stop();
}
