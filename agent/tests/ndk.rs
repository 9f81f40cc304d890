//! The agent as an SR Linux NDK app, against the fake NDK server (our
//! protos, proven wire-compatible with NDK 0.5.0) and a real GoBGP 3.10 as
//! the route reflector: registration, commits (valid, invalid, refused by
//! the agent, VNI/EVI changes, many nodes, deletes) with their
//! acknowledgements, published state, BFD liveness, NDK restarts, and
//! SIGTERM. Loopback only.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{
    collections::BTreeSet,
    fs,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use static_vxlan_agent_tests::{
    fake_ndk::{AckInfo, Change, FakeNdk},
    peers::{Daemon, GoBgp, ScratchDir, free_port, wait_for},
    releases::GoBgpRelease,
};

const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");
/// The agent's BGP source address (loopback).
const SOURCE: &str = "127.0.0.9";
const AGENT_NODE: &str = ".network_instance.protocols.static_vxlan_agent";
const MAC_VRF_NODE: &str = ".network_instance.protocols.bgp_evpn.bgp_instance.static_vxlan_agent";
const VTEP_NODE: &str = ".network_instance.protocols.bgp_evpn.bgp_instance.static_vxlan_agent.static_vtep";
const AGENT_KEY: &str = ".network_instance{.name==\"default\"}.protocols.static_vxlan_agent";

fn blue_key() -> String {
    ".network_instance{.name==\"blue\"}.protocols.bgp_evpn.bgp_instance{.id==1}.static_vxlan_agent".to_owned()
}

fn set(js_path: &str, keys: &[&str], json: Value) -> Change {
    Change::Set { js_path: js_path.into(), keys: keys.iter().map(|k| (*k).to_owned()).collect(), json }
}

fn delete(js_path: &str, keys: &[&str]) -> Change {
    Change::Delete { js_path: js_path.into(), keys: keys.iter().map(|k| (*k).to_owned()).collect() }
}

/// The agent container as SR Linux delivers it (integers partly as strings).
fn agent_node(gobgp: &GoBgp, source: &str) -> Change {
    set(
        AGENT_NODE,
        &["default"],
        json!({
            "admin-state": "enable",
            "source-address": source,
            "peer-address": "127.0.0.1",
            "peer-port": gobgp.port,
            "local-as": "65000",
            "graceful-restart-time": 0,
            // SR Linux's default is a file under /etc/opt: keep nothing here.
            "state-file": "",
        }),
    )
}

fn mac_vrf(name: &str, evi: u32, vni: u32) -> Change {
    set(MAC_VRF_NODE, &[name, "1"], json!({"admin-state": "enable", "evi": evi, "vni": vni}))
}

fn static_vtep(name: &str, vtep: &str, macs: &[&str]) -> Change {
    set(VTEP_NODE, &[name, "1", vtep], json!({"static-macs": macs}))
}

/// GoBGP's EVPN RIB as one line per route: `rt<type> <rd> <mac or originator> vni <label>`.
fn routes(gobgp: &GoBgp) -> BTreeSet<String> {
    gobgp
        .evpn_paths()
        .iter()
        .map(|p| {
            let value = &p["nlri"]["value"];
            let rd = format!("{}:{}", value["rd"]["admin"].as_str().unwrap_or("?"), value["rd"]["assigned"]);
            match p["nlri"]["type"].as_u64() {
                Some(2) => {
                    format!("rt2 {rd} {} vni {}", value["mac"].as_str().unwrap_or("?"), value["labels"][0])
                }
                Some(3) => {
                    let pmsi = p["attrs"].as_array().into_iter().flatten().find(|a| a["type"] == 22);
                    let label = pmsi.map_or(Value::Null, |a| a["label"].clone());
                    format!("rt3 {rd} {} vni {label}", value["ip"].as_str().unwrap_or("?"))
                }
                other => format!("type {other:?}"),
            }
        })
        .collect()
}

fn expect_routes(gobgp: &GoBgp, agent_log: &std::path::Path, expected: &[String]) {
    let expected: BTreeSet<String> = expected.iter().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let actual = routes(gobgp);
        if actual == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "GoBGP holds\n{actual:#?}\nexpected\n{expected:#?}\n--- agent log ---\n{}",
            fs::read_to_string(agent_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn blue_routes(evi: u32, vni: u32) -> Vec<String> {
    vec![
        format!("rt3 192.0.2.1:{evi} 192.0.2.1 vni {vni}"),
        format!("rt3 192.0.2.2:{evi} 192.0.2.2 vni {vni}"),
        format!("rt2 192.0.2.1:{evi} 02:00:00:00:00:01 vni {vni}"),
    ]
}

struct Lab {
    _dir: ScratchDir,
    ndk: FakeNdk,
    gobgp: GoBgp,
    agent: Daemon,
    log: std::path::PathBuf,
    http: String,
}

fn start(test: &str) -> Option<Lab> {
    GoBgpRelease::available(test)?;
    let dir = ScratchDir::new("ndk");
    // The same shape of name as the real socket: the `:50053` is part of it.
    let ndk = FakeNdk::start(&dir.path().join("sr_sdk_service_manager:50053"));
    let gobgp = GoBgp::start(65000, SOURCE);
    let log = dir.path().join("agent.log");
    let http = format!("127.0.0.1:{}", free_port());
    let agent = Daemon::spawn(
        "static-vxlan-agent",
        Command::new(AGENT)
            .args(["run", "--ndk", "--ndk-address", &ndk.address(), "--http", &http])
            .env("RUST_LOG", "info"),
        &log,
    );
    wait_for("the agent to register and subscribe", Duration::from_secs(15), || {
        if ndk.subscribed() { Ok(()) } else { Err(format!("{:?}", ndk.calls())) }
    });
    Some(Lab { _dir: dir, ndk, gobgp, agent, log, http })
}

impl Lab {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The agent's `/yang`: the state rendered as the NDK gets it.
    fn yang(&self) -> Value {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(&self.http).expect("the agent serves HTTP");
        stream.write_all(b"GET /yang HTTP/1.1\r\nconnection: close\r\n\r\n").expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("/yang is JSON ({e}): {response}"))
    }

    fn telemetry_at(&self, key: &str, check: impl Fn(&Value) -> bool) -> Value {
        wait_for(&format!("state at {key}"), Duration::from_secs(15), || {
            match self.ndk.telemetry().get(key) {
                Some(value) if check(value) => Ok(value.clone()),
                other => Err(format!("{other:?}\n{:#?}", self.ndk.telemetry().keys().collect::<Vec<_>>())),
            }
        })
    }
}

/// GoBGP's view of our session (it reports states as names or numbers).
fn established(gobgp: &GoBgp) -> bool {
    matches!(gobgp.neighbor_state(SOURCE).as_str(), "established" | "6")
}

fn errors(ack: Option<&Vec<AckInfo>>) -> Vec<AckInfo> {
    ack.map(|infos| infos.iter().filter(|i| i.kind == "error").cloned().collect()).unwrap_or_default()
}

#[test]
fn commits_are_applied_or_refused_as_a_whole_and_state_is_published() {
    let Some(mut lab) = start("commits_are_applied_or_refused_as_a_whole_and_state_is_published") else {
        return;
    };
    assert!(
        lab.ndk.calls().iter().any(|c| c == "AgentRegister wait_config_ack=true"),
        "{:?}",
        lab.ndk.calls()
    );
    assert!(lab.ndk.acks().is_empty(), "an empty initial sync is not a commit");

    // 1. A valid commit: agent, mac-vrf, two static VTEPs, one static MAC.
    let result = lab.ndk.commit(&[
        agent_node(&lab.gobgp, SOURCE),
        mac_vrf("blue", 100, 10100),
        static_vtep("blue", "192.0.2.1", &["02:00:00:00:00:01"]),
        static_vtep("blue", "192.0.2.2", &[]),
    ]);
    assert_eq!(result.ack, Some(Vec::new()), "accepted without complaint: {}", lab.log());
    expect_routes(&lab.gobgp, &lab.log, &blue_routes(100, 10100));
    let agent = lab.telemetry_at(AGENT_KEY, |v| v["oper-state"] == "up");
    assert_eq!(agent["source-address"], SOURCE, "config leaves are published with the state");
    assert_eq!(agent["bgp"]["state"], "established");
    assert_eq!(agent["bgp"]["advertised-routes"], 3);
    assert_eq!(agent["bgp"]["established-transitions"], 1);
    assert!(agent["bgp"]["routes-announced"].as_u64().is_some_and(|n| n >= 3), "{agent}");
    let vrf = lab.telemetry_at(&blue_key(), |v| v["mac-count"] == 1);
    assert_eq!((vrf["evi"].clone(), vrf["oper-state"].clone()), (json!(100), json!("up")));
    let vtep_key = format!("{}.vtep{{.address==\"192.0.2.1\"}}", blue_key());
    let vtep = lab.telemetry_at(&vtep_key, |_| true);
    assert_eq!((vtep["origin"].clone(), vtep["rt3-advertised"].clone()), (json!("configured"), json!(true)));
    let mac = lab.telemetry_at(&format!("{}.mac{{.address==\"02:00:00:00:00:01\"}}", blue_key()), |_| true);
    assert_eq!((mac["source"].clone(), mac["vtep"].clone()), (json!("static"), json!("192.0.2.1")));

    // BFD tells the liveness of a static VTEP.
    lab.ndk.bfd("192.0.2.1".parse().expect("ip"), ndk_proto::sdk::BfdSessionStatus::Up);
    let vtep = lab.telemetry_at(&vtep_key, |v| v["liveness"] == "up");
    // One rendering: /yang shows what the NDK got, liveness included.
    assert_eq!(lab.yang()[&vtep_key], vtep, "/yang and the NDK's state differ");

    // 2. An invalid commit (a VNI used twice) is rejected with the YANG path;
    // SR Linux rolls it back; nothing is withdrawn, nothing is added.
    let result = lab.ndk.commit(&[mac_vrf("red", 200, 10100), static_vtep("red", "192.0.2.3", &[])]);
    let refused = errors(result.ack.as_ref());
    assert!(result.rolled_back && refused.len() == 1, "{result:?}");
    assert!(
        refused[0].text.contains("network-instance[name=red]") && refused[0].text.contains("VNI 10100"),
        "{refused:?}"
    );
    assert!(refused[0].js_path_with_keys.contains("{.name==\"red\"}"), "{refused:?}");
    for _ in 0..5 {
        assert_eq!(routes(&lab.gobgp), blue_routes(100, 10100).into_iter().collect());
        std::thread::sleep(Duration::from_millis(200));
    }

    // 3. A commit the agent cannot carry out (a source address that is not
    // local: no session can start) is refused by the agent; the running
    // session and routes stay.
    let result = lab.ndk.commit(&[agent_node(&lab.gobgp, "192.0.2.99")]);
    let refused = errors(result.ack.as_ref());
    assert!(result.rolled_back && refused.len() == 1, "{result:?}\n{}", lab.log());
    assert_eq!(refused[0].js_path_with_keys, AGENT_KEY);
    assert!(
        refused[0].text.contains("cannot start the BGP speaker")
            && refused[0].text.contains("192.0.2.99 is not usable on this host"),
        "{refused:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    expect_routes(&lab.gobgp, &lab.log, &blue_routes(100, 10100));
    assert!(established(&lab.gobgp), "the session dropped: {}", lab.log());

    // 4. New VNI and EVI: every route is replaced.
    let result = lab.ndk.commit(&[mac_vrf("blue", 200, 10200)]);
    assert_eq!(errors(result.ack.as_ref()), Vec::new());
    expect_routes(&lab.gobgp, &lab.log, &blue_routes(200, 10200));

    // 5. Many nodes in one commit (delivered over several stream messages):
    // a second mac-vrf with 20 static VTEPs.
    let mut changes = vec![mac_vrf("red", 300, 10300)];
    let red: Vec<String> = (1..=20).map(|i| format!("198.51.100.{i}")).collect();
    changes.extend(red.iter().map(|ip| static_vtep("red", ip, &[])));
    let acks_before = lab.ndk.acks().len();
    let result = lab.ndk.commit(&changes);
    assert_eq!(errors(result.ack.as_ref()), Vec::new());
    assert_eq!(lab.ndk.acks().len(), acks_before + 1, "one acknowledgement per commit");
    let mut expected = blue_routes(200, 10200);
    expected.extend(red.iter().map(|ip| format!("rt3 {ip}:300 {ip} vni 10300")));
    expect_routes(&lab.gobgp, &lab.log, &expected);

    // 6. Deletes: a static VTEP, then a whole mac-vrf (its VTEPs go with it).
    let result = lab
        .ndk
        .commit(&[delete(VTEP_NODE, &["blue", "1", "192.0.2.2"]), delete(MAC_VRF_NODE, &["red", "1"])]);
    assert_eq!(errors(result.ack.as_ref()), Vec::new());
    expect_routes(
        &lab.gobgp,
        &lab.log,
        &blue_routes(200, 10200)[..1]
            .iter()
            .chain(&blue_routes(200, 10200)[2..])
            .cloned()
            .collect::<Vec<_>>(),
    );
    wait_for("red's state to be removed", Duration::from_secs(10), || {
        let keys: Vec<String> =
            lab.ndk.telemetry().keys().filter(|k| k.contains("\"red\"")).cloned().collect();
        if keys.is_empty() { Ok(()) } else { Err(format!("{keys:?}")) }
    });

    // 7. SIGTERM: state removed, stream deleted, unregistered, exit 0.
    let status = lab.agent.terminate(Duration::from_secs(10));
    assert_eq!(status, Some(0), "{}", lab.log());
    let calls = lab.ndk.calls();
    for expected in ["TelemetryDelete", "NotificationRegister OPERATION_DELETE", "AgentUnRegister"] {
        assert!(calls.iter().any(|c| c.starts_with(expected)), "no {expected} in {calls:?}");
    }
    assert!(lab.ndk.telemetry().is_empty(), "{:?}", lab.ndk.telemetry());
    assert_eq!(lab.ndk.calls_without_agent_name(), Vec::<String>::new());
    assert_eq!(lab.ndk.bad_telemetry(), Vec::<String>::new());
}

#[test]
fn routes_stay_up_while_the_ndk_server_restarts_and_go_when_the_agent_is_deconfigured() {
    let Some(mut lab) =
        start("routes_stay_up_while_the_ndk_server_restarts_and_go_when_the_agent_is_deconfigured")
    else {
        return;
    };
    let result = lab.ndk.commit(&[
        agent_node(&lab.gobgp, SOURCE),
        mac_vrf("blue", 100, 10100),
        static_vtep("blue", "192.0.2.1", &["02:00:00:00:00:01"]),
        static_vtep("blue", "192.0.2.2", &[]),
    ]);
    assert_eq!(result.ack, Some(Vec::new()));
    expect_routes(&lab.gobgp, &lab.log, &blue_routes(100, 10100));
    lab.telemetry_at(AGENT_KEY, |v| v["oper-state"] == "up");

    // The NDK server dies for 3 s: the agent keeps its session and routes.
    lab.ndk.stop();
    for _ in 0..15 {
        assert_eq!(routes(&lab.gobgp), blue_routes(100, 10100).into_iter().collect(), "{}", lab.log());
        assert!(lab.agent.running(), "the agent died: {}", lab.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Back: the agent registers again, resubscribes, gets the running
    // configuration replayed (no change) and republishes its state.
    lab.ndk.restart();
    let restarted = Instant::now();
    wait_for("the agent to register again", Duration::from_secs(20), || {
        if lab.ndk.subscribed() { Ok(()) } else { Err(format!("{:?}", lab.ndk.calls())) }
    });
    let subscribed = restarted.elapsed();
    lab.telemetry_at(AGENT_KEY, |v| v["oper-state"] == "up");
    lab.telemetry_at(&blue_key(), |v| v["mac-count"] == 1);
    // Timed for docs/RELIABILITY.md, not asserted.
    println!(
        "recovery: NDK server back -> agent registered and subscribed {} ms, -> state published again {} ms",
        subscribed.as_millis(),
        restarted.elapsed().as_millis()
    );
    assert_eq!(routes(&lab.gobgp), blue_routes(100, 10100).into_iter().collect());
    assert!(established(&lab.gobgp), "the session dropped: {}", lab.log());

    // The operator removes the agent: every route is withdrawn, the
    // session closes, the state goes.
    let result = lab.ndk.commit(&[delete(AGENT_NODE, &["default"])]);
    assert_eq!(errors(result.ack.as_ref()), Vec::new());
    expect_routes(&lab.gobgp, &lab.log, &[]);
    wait_for("the agent's state to be removed", Duration::from_secs(10), || {
        let telemetry = lab.ndk.telemetry();
        if telemetry.is_empty() { Ok(()) } else { Err(format!("{:?}", telemetry.keys())) }
    });
    assert_eq!(lab.ndk.calls_without_agent_name(), Vec::<String>::new());
    assert_eq!(lab.agent.terminate(Duration::from_secs(10)), Some(0), "{}", lab.log());
}

#[test]
fn a_static_vtep_whose_bfd_session_goes_down_has_its_routes_withdrawn_until_it_is_back() {
    let Some(mut lab) =
        start("a_static_vtep_whose_bfd_session_goes_down_has_its_routes_withdrawn_until_it_is_back")
    else {
        return;
    };
    let Change::Set { json: mut agent, js_path, keys } = agent_node(&lab.gobgp, SOURCE) else {
        unreachable!("agent_node sets")
    };
    // Integers as SR Linux may send them: strings.
    agent["liveness"] = json!({"method": "bfd", "hold-down-secs": "1"});
    let result = lab.ndk.commit(&[
        Change::Set { json: agent, js_path, keys },
        mac_vrf("blue", 100, 10100),
        static_vtep("blue", "192.0.2.1", &["02:00:00:00:00:01"]),
        static_vtep("blue", "192.0.2.2", &[]),
    ]);
    assert_eq!(result.ack, Some(Vec::new()), "accepted: {}", lab.log());
    expect_routes(&lab.gobgp, &lab.log, &blue_routes(100, 10100));
    let vtep_key = format!("{}.vtep{{.address==\"192.0.2.1\"}}", blue_key());

    // BFD to 192.0.2.1 goes down: its RT-3 and its MAC go, 192.0.2.2 stays.
    lab.ndk.bfd("192.0.2.1".parse().expect("ip"), ndk_proto::sdk::BfdSessionStatus::Down);
    expect_routes(&lab.gobgp, &lab.log, &["rt3 192.0.2.2:100 192.0.2.2 vni 10100".to_owned()]);
    let vtep = lab.telemetry_at(&vtep_key, |v| v["withdrawn-down"] == true);
    assert_eq!((vtep["liveness"].clone(), vtep["liveness-method"].clone()), (json!("down"), json!("bfd")));
    assert_eq!(vtep["rt3-advertised"], false, "{vtep}");
    assert_eq!(lab.yang()[&vtep_key], vtep, "/yang and the NDK's state differ");
    // Init (coming up) is not up yet: nothing returns.
    lab.ndk.bfd("192.0.2.1".parse().expect("ip"), ndk_proto::sdk::BfdSessionStatus::Init);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(routes(&lab.gobgp), BTreeSet::from(["rt3 192.0.2.2:100 192.0.2.2 vni 10100".to_owned()]));

    // Up again: after the 1 s hold-down everything is back, as it was.
    let up = Instant::now();
    lab.ndk.bfd("192.0.2.1".parse().expect("ip"), ndk_proto::sdk::BfdSessionStatus::Up);
    expect_routes(&lab.gobgp, &lab.log, &blue_routes(100, 10100));
    assert!(up.elapsed() >= Duration::from_secs(1), "back before the hold-down: {:?}", up.elapsed());
    lab.telemetry_at(&vtep_key, |v| v["withdrawn-down"] == false && v["liveness"] == "up");
    assert!(lab.log().contains("vtep-restored"), "{}", lab.log());

    // bfd is refused standalone only: on SR Linux a per-VTEP override of
    // another method for the same VTEP in a second mac-vrf is refused.
    let mut vtep = static_vtep("red", "192.0.2.1", &[]);
    if let Change::Set { json, .. } = &mut vtep {
        json["liveness-method"] = "icmp".into();
    }
    let result = lab.ndk.commit(&[mac_vrf("red", 200, 10200), vtep]);
    let refused = errors(result.ack.as_ref());
    assert!(result.rolled_back && refused.len() == 1, "{result:?}");
    assert!(refused[0].text.contains("one VTEP has one liveness method"), "{refused:?}");
    assert_eq!(lab.agent.terminate(Duration::from_secs(10)), Some(0), "{}", lab.log());
}
