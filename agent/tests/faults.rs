//! Faults on the learning side, on a real kernel: a learning namespace that
//! does not exist when the agent starts, and a learning interface deleted
//! and created again. The agent recovers from each by itself; the time it
//! took is printed (`recovery: ...`), for docs/RELIABILITY.md, not asserted.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{
    fs,
    net::{Ipv4Addr, SocketAddr},
    process::Command,
    time::{Duration, Instant},
};

use static_vxlan_agent_tests::{
    Netns,
    peers::{Daemon, ScratchDir, agent_state, free_port, wait_for},
    privileged, run, unique_name, veth_pair, veth_pair_named,
    vxlan::{arp_request, numbered_mac, send_all},
};

const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");
const VNI: u32 = 100;

/// The agent learning on `interface` in `netns`, VTEPs 10.0.0.1 and
/// 127.0.0.3 configured, no BGP peer.
fn start_agent(dir: &ScratchDir, netns: &str, interface: &str) -> (Daemon, String) {
    let config = dir.path().join("agent.yaml");
    fs::write(
        &config,
        format!(
            "source-address: 127.0.0.1\nconnect: false\nstate-file: ''\nlearning-interfaces: [{interface}]\n\
             learning-netns: {netns}\nmac-vrfs:\n  blue:\n    evi: 100\n    vni: {VNI}\n    static-vteps:\n      \
             10.0.0.1: {{}}\n      127.0.0.3: {{}}\n"
        ),
    )
    .expect("write config");
    let http = format!("127.0.0.1:{}", free_port());
    let agent = Daemon::spawn(
        "static-vxlan-agent",
        Command::new(AGENT).args(["run", "--config", config.to_str().expect("utf-8"), "--http", &http]),
        &dir.path().join("agent.log"),
    );
    (agent, http)
}

fn snooper_status(http: &str, interface: &str) -> Result<String, String> {
    let state = agent_state(AGENT, http)?;
    Ok(state["snooper"]["interfaces"][interface]["status"].as_str().unwrap_or_default().to_owned())
}

/// Sends an ARP from `mac` through `send` until the agent holds it.
fn learn(http: &str, mac: [u8; 6], send: &dyn Fn(Vec<u8>)) {
    let text = mac.map(|b| format!("{b:02x}")).join(":");
    wait_for(&format!("{text} learned"), Duration::from_secs(20), || {
        send(arp_request(VNI, mac, Ipv4Addr::new(10, 0, 0, 50), Ipv4Addr::new(10, 0, 0, 254)));
        let state = agent_state(AGENT, http)?;
        let held = &state["proxy"]["mac-vrfs"]["blue"]["macs"][&text];
        if held["source"] == "learned" { Ok(()) } else { Err(state["snooper"].to_string()) }
    });
}

#[test]
fn a_learning_namespace_that_appears_after_the_start_is_used_once_it_does() {
    let test = "a_learning_namespace_that_appears_after_the_start_is_used_once_it_does";
    if !privileged(test) {
        return;
    }
    let name = unique_name("svalate");
    let dir = ScratchDir::new("latens");
    let (mut agent, http) = start_agent(&dir, &name, "lo");
    let state = wait_for("the snooper waits for the namespace", Duration::from_secs(10), || {
        let state = agent_state(AGENT, &http)?;
        if state["snooper"]["status"] == "waiting" { Ok(state) } else { Err(state["snooper"].to_string()) }
    });
    let error = state["snooper"]["error"].as_str().unwrap_or_default();
    assert!(error.contains(&name), "the state names the namespace: {error}");

    // The namespace appears (and is deleted again when the test ends).
    run("ip", &["netns", "add", &name]);
    let netns = Netns::adopt(&name);
    netns.exec("ip", &["link", "set", "lo", "up"]);
    let created = Instant::now();
    wait_for("the snooper attached in the new namespace", Duration::from_secs(10), || {
        let status = snooper_status(&http, "lo")?;
        if status.starts_with("attached") { Ok(()) } else { Err(status) }
    });
    let attached = created.elapsed();
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, 4789));
    learn(&http, numbered_mac(0x1a, 1), &|arp| {
        let _ = netns.run(|| send_all(Ipv4Addr::new(127, 0, 0, 3), to, std::iter::once(arp)));
    });
    println!(
        "recovery: namespace created -> snooper attached {} ms, -> first MAC learned {} ms",
        attached.as_millis(),
        created.elapsed().as_millis()
    );
    agent.stop();
}

#[test]
fn a_learning_interface_deleted_and_created_again_is_snooped_again() {
    let test = "a_learning_interface_deleted_and_created_again_is_snooped_again";
    if !privileged(test) {
        return;
    }
    let vteps = Netns::new("fiv");
    let leaf = Netns::new("fil");
    let (_, leaf_if) = veth_pair(&vteps, "10.0.0.1/24", &leaf, "10.0.0.254/24");
    let dir = ScratchDir::new("ifagain");
    let (mut agent, http) = start_agent(&dir, leaf.name(), &leaf_if);
    let to = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 254), 4789));
    let send = |arp: Vec<u8>| {
        let _ = vteps.run(|| send_all(Ipv4Addr::new(10, 0, 0, 1), to, std::iter::once(arp)));
    };
    learn(&http, numbered_mac(0x1b, 1), &send);

    // The interface goes (and its peer with it), then comes back by the same name.
    leaf.exec("ip", &["link", "del", &leaf_if]);
    wait_for("the snooper notices", Duration::from_secs(10), || {
        let status = snooper_status(&http, &leaf_if)?;
        if status.starts_with("waiting") { Ok(()) } else { Err(status) }
    });
    let vtep_if = unique_name("vr");
    veth_pair_named((&leaf, &leaf_if, "10.0.0.254/24"), (&vteps, &vtep_if, "10.0.0.1/24"));
    let created = Instant::now();
    wait_for("the snooper attached again", Duration::from_secs(10), || {
        let status = snooper_status(&http, &leaf_if)?;
        if status.starts_with("attached") { Ok(()) } else { Err(status) }
    });
    let attached = created.elapsed();
    learn(&http, numbered_mac(0x1b, 2), &send);
    println!(
        "recovery: interface created again -> snooper attached {} ms, -> next MAC learned {} ms",
        attached.as_millis(),
        created.elapsed().as_millis()
    );
    agent.stop();
}
