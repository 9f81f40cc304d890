//! What the agent publishes as state validates against its YANG model:
//! every node, leaf and enumeration value. The proxy core is driven into
//! every MAC status (active, superseded, in-evpn, frozen), both VTEP
//! origins and a static MAC; the telemetry renderer turns that state into
//! the objects the NDK receives, for every BGP FSM state and every snooper
//! status; and yanglint validates the assembled instance document, state
//! included, against our module and the SR Linux models
//! (`scripts/yanglint.sh SRL --data FILE`).
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{collections::BTreeSet, fs, path::PathBuf, process::Command};

use serde_json::{Map, Value, json};
use static_vxlan_agent::{
    app::SnooperStatus,
    bgp::fsm::State,
    config::model::{Config, LivenessMethod},
    core::{Core, msg::Input},
    ndk::telemetry::{DEFAULT_AGENT_KEY, nodes_from_config, render},
    state::{AgentState, Liveness, VtepLiveness},
};

fn config() -> Config {
    serde_json::from_value(json!({
        "source-address": "192.0.2.254",
        "local-as": 65000,
        "learning-interfaces": ["e1-1"],
        "auto-discover": {"allowed-prefixes": ["198.51.100.0/24"], "max-vteps": 4},
        "duplicate-mac": {"moves": 2, "window-secs": 180, "hold-secs": 540},
        "mac-vrfs": {"blue": {"evi": 100, "vni": 10100, "static-vteps": {
            "192.0.2.1": {"static-macs": ["02:00:00:00:00:aa"]},
            "192.0.2.2": {}
        }}}
    }))
    .expect("valid config")
}

fn learned(at: u64, vtep: &str, mac: &str, ip: &str) -> (u64, Value) {
    (at, json!({"type": "learned", "vni": 10100, "vtep": vtep, "mac": mac, "ip": ip}))
}

/// A core holding a MAC in every status the YANG names.
fn core_in_every_status() -> Core {
    let mut core = Core::new();
    core.process(0, Input::Config(Box::new(config())));
    let events = [
        learned(1000, "192.0.2.1", "02:00:00:00:00:01", "10.0.0.1"),
        learned(1000, "192.0.2.1", "02:00:00:00:00:02", "10.0.0.2"),
        // Another proxy's route for h2 with a higher sequence: superseded.
        (
            2000,
            json!({"type": "route", "key": "proxy-h2", "route": "mac-ip", "mac": "02:00:00:00:00:02",
                      "vni": 10100, "next-hop": "192.0.2.2", "originator-id": "10.9.9.9",
                      "mobility": {"sequence": 5}}),
        ),
        learned(1000, "192.0.2.1", "02:00:00:00:00:03", "fe80::3"),
        // An EVPN leaf's route for h3: in-evpn.
        (
            2000,
            json!({"type": "route", "key": "evpn-h3", "route": "mac-ip", "mac": "02:00:00:00:00:03",
                      "vni": 10100, "next-hop": "192.0.2.100", "mobility": {"sequence": 1}}),
        ),
        // h4 moves twice: frozen.
        learned(1000, "192.0.2.1", "02:00:00:00:00:04", "10.0.0.4"),
        learned(2000, "192.0.2.2", "02:00:00:00:00:04", "10.0.0.4"),
        learned(3000, "192.0.2.1", "02:00:00:00:00:04", "10.0.0.4"),
        // A discovered VTEP.
        learned(4000, "198.51.100.7", "02:00:00:00:00:07", "10.0.0.7"),
    ];
    for (at, input) in events {
        let input: Input = serde_json::from_value(input).expect("input");
        core.process(at, input);
    }
    core
}

/// The agent's state snapshot (as served at /state) around the core's.
fn snapshot(core: &Core, bgp: State, snooper: SnooperStatus, liveness: Liveness) -> AgentState {
    let mut bgp_state = json!({
        "state": format!("{bgp:?}").to_lowercase(),
        "counters": {
            "established-transitions": 1, "routes-received": 2, "withdrawals-received": 0,
            "malformed-updates": 0, "routes-announced": 9, "routes-withdrawn": 3, "own-routes-ignored": 1
        }
    });
    if bgp == State::Established {
        bgp_state["peer-id"] = "192.0.2.253".into();
        bgp_state["established-at-unix-secs"] = 1_700_000_005_u64.into();
    } else {
        bgp_state["last-down-reason"] = "connection refused".into();
    }
    let mut snooper_state = json!({"status": snooper.as_str()});
    match snooper {
        SnooperStatus::Running => {
            snooper_state["interfaces"] = json!({"e1-1": {"status": "attached (ifindex 7)", "seen": 12,
                "matched": 3, "deduplicated": 1, "ignored": 0, "ring-buffer-full": 0, "parse-errors": 0}});
            snooper_state["counters"] = json!({"seen": 12, "matched": 3, "deduplicated": 1, "ignored": 0,
                "ring-buffer-full": 0, "parse-errors": 0});
        }
        SnooperStatus::Waiting | SnooperStatus::Error => snooper_state["error"] = "why".into(),
        SnooperStatus::Off => {}
    }
    let mut state: AgentState = serde_json::from_value(json!({
        "core-clock-epoch-unix-ms": 1_700_000_000_000_u64,
        "bgp": bgp_state,
        "snooper": snooper_state,
    }))
    .expect("the state as /state shows it reads back");
    state.proxy = core.state();
    // Every liveness leaf: ICMP's counters and error, BFD's own states.
    let method = match liveness {
        Liveness::Init | Liveness::AdminDown => LivenessMethod::Bfd,
        _ => LivenessMethod::Icmp,
    };
    let live = VtepLiveness {
        method,
        state: liveness,
        since_unix_ms: Some(1_700_000_003_000),
        probes_sent: 10,
        probes_answered: 9,
        last_rtt_us: Some(120),
        error: Some("cannot open a raw ICMP socket".into()),
    };
    state.liveness.insert("192.0.2.1".parse().expect("ip"), live);
    state
}

/// The value of the key predicate `{.<leaf>==...}` after `list` in a
/// telemetry key.
fn key_in(js_path: &str, list: &str) -> String {
    let start = js_path.find(&format!("{list}{{")).expect("list in key") + list.len() + 1;
    let rest = &js_path[start..];
    let value = &rest[rest.find("==").expect("==") + 2..rest.find('}').expect("}")];
    value.trim_matches('"').to_owned()
}

/// The names of our module's 64-bit integer leaves. RFC 7951 encodes
/// them as JSON strings, and yanglint insists; SR Linux takes numbers too
/// in telemetry (../shared/ref/ndk.md: an agent's uint64 sent as a number
/// shows up), so the agent sends numbers and the document given to
/// yanglint carries them as RFC 7951 says.
fn int64_leaves() -> BTreeSet<String> {
    let text =
        fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../yang/static-vxlan-agent.yang"))
            .expect("our YANG module");
    let mut types: std::collections::BTreeMap<String, BTreeSet<String>> = std::collections::BTreeMap::new();
    let mut leaf: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("leaf ").or_else(|| line.strip_prefix("leaf-list ")) {
            leaf = rest.split_whitespace().next().map(str::to_owned);
        } else if let (Some(name), Some(rest)) = (&leaf, line.strip_prefix("type ")) {
            let ty = rest.trim_end_matches([';', '{', ' ']).to_owned();
            types.entry(name.clone()).or_default().insert(ty);
            leaf = None;
        }
    }
    let wide: BTreeSet<String> = types
        .iter()
        .filter(|(_, t)| t.iter().any(|t| t == "uint64" || t == "int64"))
        .map(|(name, t)| {
            assert_eq!(t.len(), 1, "leaf {name} has several types ({t:?}): encode by path instead");
            name.clone()
        })
        .collect();
    assert!(wide.contains("advertised-routes"), "{wide:?}");
    wide
}

/// Writes the 64-bit integers of `value` as strings (RFC 7951 section 6.1).
fn rfc7951(value: &mut Value, wide: &BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (name, member) in map.iter_mut() {
                if wide.contains(name) && member.is_number() {
                    *member = Value::String(member.to_string());
                } else {
                    rfc7951(member, wide);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rfc7951(item, wide)),
        _ => {}
    }
}

/// One mac-vrf's published objects: its container, its VTEPs, its MACs.
#[derive(Default)]
struct MacVrfObjects {
    node: Map<String, Value>,
    vteps: Vec<Value>,
    macs: Vec<Value>,
}

/// The instance document SR Linux's state datastore would hold for these
/// telemetry entries (YANG JSON, module-qualified where ours augment).
fn instance_document(entries: &std::collections::BTreeMap<String, String>) -> Value {
    let parse = |text: &String| -> Map<String, Value> { serde_json::from_str(text).expect("object") };
    let mut agent = Map::new();
    let mut interfaces = Vec::new();
    let mut vrfs: std::collections::BTreeMap<(String, String), MacVrfObjects> =
        std::collections::BTreeMap::new();
    for (key, text) in entries {
        if key == DEFAULT_AGENT_KEY {
            agent = parse(text);
        } else if key.starts_with(&format!("{DEFAULT_AGENT_KEY}.snooped_interface{{")) {
            interfaces.push(Value::Object(parse(text)));
        } else {
            let vrf = (key_in(key, "network_instance"), key_in(key, "bgp_instance"));
            let entry = vrfs.entry(vrf).or_default();
            if key.contains(".static_vxlan_agent.vtep{") {
                entry.vteps.push(Value::Object(parse(text)));
            } else if key.contains(".static_vxlan_agent.mac{") {
                entry.macs.push(Value::Object(parse(text)));
            } else {
                entry.node = parse(text);
            }
        }
    }
    if !interfaces.is_empty() {
        agent.insert("snooped-interface".into(), Value::Array(interfaces));
    }
    let mut instances = vec![json!({
        "name": "default",
        "type": "srl_nokia-network-instance:default",
        "protocols": {"static-vxlan-agent:static-vxlan-agent": agent},
    })];
    for ((ni, bi), MacVrfObjects { mut node, vteps, macs }) in vrfs {
        let evi = node["evi"].clone();
        // The configuration's static VTEPs, as SR Linux holds them.
        let static_vteps: Vec<Value> = config().mac_vrfs[&ni]
            .static_vteps
            .iter()
            .map(|(ip, v)| {
                let macs: Vec<String> = v.static_macs.iter().map(ToString::to_string).collect();
                if macs.is_empty() {
                    json!({"vtep-ip": ip})
                } else {
                    json!({"vtep-ip": ip, "static-macs": macs})
                }
            })
            .collect();
        node.insert("static-vtep".into(), Value::Array(static_vteps));
        node.insert("vtep".into(), Value::Array(vteps));
        node.insert("mac".into(), Value::Array(macs));
        let id: u64 = bi.parse().expect("bgp-instance id");
        instances.push(json!({
            "name": ni,
            "type": "srl_nokia-network-instance:mac-vrf",
            "protocols": {
                "bgp-evpn": {"srl_nokia-bgp-evpn:bgp-instance": [
                    {"id": id, "evi": evi, "static-vxlan-agent:static-vxlan-agent": node}
                ]},
                "srl_nokia-bgp-vpn:bgp-vpn": {"bgp-instance": [{"id": id}]},
            },
        }));
    }
    let mut document = json!({"srl_nokia-network-instance:network-instance": instances});
    rfc7951(&mut document, &int64_leaves());
    document
}

#[test]
fn published_state_validates_against_the_yang_model() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let srl = std::env::var_os("SRL_YANG_DIR")
        .map_or_else(|| repo.join("../shared/srlinux-yang/v25.3.1"), PathBuf::from);
    if !srl.is_dir() || Command::new("yanglint").arg("--version").output().is_err() {
        println!(
            "SKIP: published_state_validates_against_the_yang_model: needs yanglint and the SR Linux models at {}",
            srl.display()
        );
        return;
    }
    let core = core_in_every_status();
    let nodes = nodes_from_config(&config());
    let all_fsm_states =
        [State::Idle, State::Connect, State::Active, State::OpenSent, State::OpenConfirm, State::Established];
    // A new FSM state must be added above (and to the YANG).
    for state in all_fsm_states {
        match state {
            State::Idle
            | State::Connect
            | State::Active
            | State::OpenSent
            | State::OpenConfirm
            | State::Established => {}
        }
    }
    let dir = std::env::temp_dir().join(format!("sva-yang-state-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("scratch dir");
    let mut statuses = BTreeSet::new();
    let mut failures = Vec::new();
    for (i, (bgp, snooper)) in
        all_fsm_states.iter().flat_map(|bgp| SnooperStatus::ALL.iter().map(move |s| (*bgp, *s))).enumerate()
    {
        // Every liveness value comes round too.
        let liveness = Liveness::ALL[i % Liveness::ALL.len()];
        let entries = render(&snapshot(&core, bgp, snooper, liveness), &nodes);
        let document = instance_document(&entries);
        for ni in document["srl_nokia-network-instance:network-instance"].as_array().into_iter().flatten() {
            let bis = &ni["protocols"]["bgp-evpn"]["srl_nokia-bgp-evpn:bgp-instance"];
            for mac in bis[0]["static-vxlan-agent:static-vxlan-agent"]["mac"].as_array().into_iter().flatten()
            {
                statuses.insert(mac["status"].as_str().unwrap_or_default().to_owned());
                // The leaves each status brings (frozen-until was lost once:
                // the core named it until_ms).
                match mac["status"].as_str() {
                    Some("frozen") => assert!(mac["frozen-until"].is_string(), "{mac}"),
                    Some("superseded" | "in-evpn") => assert!(mac["superseded-by"].is_string(), "{mac}"),
                    _ => {}
                }
            }
        }
        let file = dir.join(format!("state-{i}.json"));
        fs::write(&file, serde_json::to_string_pretty(&document).expect("json")).expect("write");
        let out = Command::new(repo.join("scripts/yanglint.sh"))
            .arg(&srl)
            .arg("--data")
            .arg(&file)
            .output()
            .expect("run yanglint.sh");
        if !out.status.success() {
            failures.push(format!(
                "bgp {bgp:?}, snooper {}: {}{}\n(document: {})",
                snooper.as_str(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                file.display()
            ));
        }
    }
    assert_eq!(
        statuses,
        ["active", "frozen", "in-evpn", "superseded"].map(str::to_owned).into(),
        "the scenario reaches every MAC status"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = fs::remove_dir_all(&dir);
}
