//! Commits as SR Linux delivers them, and what the assembler makes of them.

use std::net::Ipv4Addr;

use super::*;

fn set(js_path: &str, keys: &[&str], json: &str) -> Notification {
    Notification {
        op: Op::Set,
        js_path: js_path.into(),
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        js_path_with_keys: with_keys(js_path, keys),
        json: json.into(),
    }
}

fn delete(js_path: &str, keys: &[&str]) -> Notification {
    Notification { op: Op::Delete, json: String::new(), ..set(js_path, keys, "") }
}

fn end(seq: u64) -> Notification {
    set(COMMIT_END_PATH, &[], &format!("{{\"commit_seq\":{seq}}}"))
}

/// The `js_path_with_keys` SR Linux would send for our nodes.
fn with_keys(js_path: &str, keys: &[&str]) -> String {
    match keys {
        [ni] => js_path.replacen(".network_instance", &format!(".network_instance{{.name==\"{ni}\"}}"), 1),
        [ni, bi] => js_path
            .replacen(".network_instance", &format!(".network_instance{{.name==\"{ni}\"}}"), 1)
            .replacen(".bgp_instance", &format!(".bgp_instance{{.id=={bi}}}"), 1),
        [ni, bi, vtep] => format!("{}{{.vtep_ip==\"{vtep}\"}}", with_keys(js_path, &[ni, bi])),
        _ => js_path.into(),
    }
}

fn feed(assembler: &mut CommitAssembler, notifications: Vec<Notification>) -> Option<Outcome> {
    let mut outcome = None;
    for n in notifications {
        assert!(outcome.is_none(), "an outcome before the end of the commit");
        outcome = assembler.process(&n);
    }
    outcome
}

fn applied(outcome: Option<Outcome>) -> Option<Config> {
    match outcome {
        Some(Outcome::Apply { config, .. }) => config.map(|c| *c),
        other => panic!("expected Apply, got {other:?}"),
    }
}

fn rejected(outcome: Option<Outcome>) -> Vec<AckError> {
    match outcome {
        Some(Outcome::Reject { errors, .. }) => errors,
        other => panic!("expected Reject, got {other:?}"),
    }
}

/// The lab's configuration, as SR Linux would deliver it: integers partly
/// as strings, defaults omitted (the YAML states the SR Linux defaults that
/// standalone does not share: learning in srbase, the state file's place).
fn lab_commit(seq: u64) -> Vec<Notification> {
    vec![
        set(
            AGENT_PATH,
            &["default"],
            r#"{"admin-state":"enable","source-address":"1.1.1.254","peer-address":"1.1.1.3",
                "local-as":"65000","hold-time":9,"learning-interfaces":["e1-1"]}"#,
        ),
        set(MAC_VRF_PATH, &["blue", "1"], r#"{"admin-state":"enable","evi":100,"vni":"16000000"}"#),
        set(
            STATIC_VTEP_PATH,
            &["blue", "1", "1.1.1.1"],
            r#"{"vtep-ip":"1.1.1.1","static-macs":["02:00:00:00:0f:0f"]}"#,
        ),
        set(STATIC_VTEP_PATH, &["blue", "1", "1.1.1.2"], "{}"),
        end(seq),
    ]
}

fn lab_yaml() -> Config {
    serde_norway::from_str(
        "source-address: 1.1.1.254\npeer-address: 1.1.1.3\nlocal-as: 65000\nhold-time: 9\n\
         learning-interfaces: [e1-1]\nlearning-netns: srbase\n\
         state-file: /etc/opt/static-vxlan-agent/learned-table.json\nmac-vrfs:\n  blue:\n    evi: 100\n    vni: 16000000\n    \
         static-vteps:\n      1.1.1.1:\n        static-macs: [\"02:00:00:00:0f:0f\"]\n      1.1.1.2: {}\n",
    )
    .expect("yaml")
}

#[test]
fn an_empty_initial_sync_is_not_a_commit() {
    let mut assembler = CommitAssembler::new();
    assert_eq!(assembler.process(&end(0)), Some(Outcome::Nothing));
}

#[test]
fn a_commit_becomes_the_same_config_as_the_yaml() {
    let mut assembler = CommitAssembler::new();
    let outcome = feed(&mut assembler, lab_commit(5));
    assert!(matches!(outcome, Some(Outcome::Apply { commit_seq: 5, .. })));
    assert_eq!(applied(outcome), Some(lab_yaml()));
}

#[test]
fn an_invalid_commit_is_rejected_at_its_node_and_the_running_config_stays() {
    let mut assembler = CommitAssembler::new();
    let good = applied(feed(&mut assembler, lab_commit(1)));
    let errors = rejected(feed(
        &mut assembler,
        vec![set(MAC_VRF_PATH, &["blue", "1"], r#"{"evi":100,"vni":0}"#), end(2)],
    ));
    assert_eq!(
        errors,
        vec![AckError {
            js_path_with_keys: ".network_instance{.name==\"blue\"}.protocols.bgp_evpn.bgp_instance{.id==1}.static_vxlan_agent"
                .into(),
            text: "network-instance[name=blue]/protocols/bgp-evpn/bgp-instance[id=1]/static-vxlan-agent/vni: \
                   must be 1..16777215"
                .into(),
        }]
    );
    // SR Linux rolls back; the next commit (here one that changes nothing of
    // ours) sees the configuration from before the rejected one.
    assert_eq!(applied(feed(&mut assembler, vec![end(3)])), good);
}

#[test]
fn agent_leaf_errors_name_the_yang_path() {
    let mut assembler = CommitAssembler::new();
    let errors = rejected(feed(
        &mut assembler,
        vec![set(AGENT_PATH, &["default"], r#"{"source-address":"1.1.1.254","hold-time":2}"#), end(1)],
    ));
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].js_path_with_keys,
        ".network_instance{.name==\"default\"}.protocols.static_vxlan_agent"
    );
    assert_eq!(
        errors[0].text,
        "network-instance[name=default]/protocols/static-vxlan-agent/hold-time: must be 0 or at least 3 seconds (RFC 4271)"
    );
}

#[test]
fn unknown_leaves_bad_json_and_foreign_paths_are_rejected() {
    let cases = [
        (
            set(AGENT_PATH, &["default"], r#"{"source-address":"1.1.1.254","colour":"red"}"#),
            "unknown field `colour`",
        ),
        (set(AGENT_PATH, &["default"], "{not json"), "invalid JSON"),
        (set(AGENT_PATH, &["default"], "[1]"), "expected a JSON object"),
        (
            set(".network_instance.protocols.ospf", &["default"], "{}"),
            "not a static-vxlan-agent configuration node",
        ),
        (
            set(AGENT_PATH, &["default"], r#"{"source-address":"1.1.1.254","admin-state":"sleepy"}"#),
            "static-vxlan-agent/admin-state: must be enable or disable",
        ),
    ];
    for (notification, expected) in cases {
        let mut assembler = CommitAssembler::new();
        let errors = rejected(feed(&mut assembler, vec![notification, end(1)]));
        assert!(errors.iter().any(|e| e.text.contains(expected)), "{expected}: {errors:?}");
    }
}

#[test]
fn the_agent_only_runs_in_the_default_network_instance() {
    let mut assembler = CommitAssembler::new();
    let errors = rejected(feed(
        &mut assembler,
        vec![set(AGENT_PATH, &["blue"], r#"{"source-address":"1.1.1.254"}"#), end(1)],
    ));
    assert!(errors[0].text.contains("default network-instance only"), "{errors:?}");
}

#[test]
fn vni_and_evi_changes_and_deletes_apply() {
    let mut assembler = CommitAssembler::new();
    applied(feed(&mut assembler, lab_commit(1)));

    let config = applied(feed(
        &mut assembler,
        vec![set(MAC_VRF_PATH, &["blue", "1"], r#"{"evi":"200","vni":10100}"#), end(2)],
    ))
    .expect("configured");
    let blue = &config.mac_vrfs["blue"];
    assert_eq!((blue.evi, blue.vni), (200, 10100));
    assert_eq!(blue.static_vteps.len(), 2, "list entries survive their parent's update");

    let config =
        applied(feed(&mut assembler, vec![delete(STATIC_VTEP_PATH, &["blue", "1", "1.1.1.2"]), end(3)]))
            .expect("configured");
    assert_eq!(
        config.mac_vrfs["blue"].static_vteps.keys().copied().collect::<Vec<_>>(),
        [Ipv4Addr::new(1, 1, 1, 1)]
    );

    // Deleting the mac-vrf's container takes its static VTEPs along, even
    // without their own deletes.
    let config = applied(feed(&mut assembler, vec![delete(MAC_VRF_PATH, &["blue", "1"]), end(4)]))
        .expect("configured");
    assert!(config.mac_vrfs.is_empty());
    let config = applied(feed(
        &mut assembler,
        vec![set(MAC_VRF_PATH, &["blue", "1"], r#"{"evi":1,"vni":1}"#), end(5)],
    ))
    .expect("configured");
    assert!(config.mac_vrfs["blue"].static_vteps.is_empty());

    // No agent container: unconfigured.
    assert_eq!(applied(feed(&mut assembler, vec![delete(AGENT_PATH, &["default"]), end(6)])), None);
}

#[test]
fn a_duplicate_vni_is_rejected_at_the_second_mac_vrf() {
    let mut assembler = CommitAssembler::new();
    let mut commit = lab_commit(1);
    commit.insert(4, set(MAC_VRF_PATH, &["red", "1"], r#"{"evi":101,"vni":16000000}"#));
    let errors = rejected(feed(&mut assembler, commit));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].js_path_with_keys.contains("{.name==\"red\"}"), "{errors:?}");
    assert!(errors[0].text.contains("VNI 16000000 is already used by mac-vrf blue"), "{errors:?}");
}

#[test]
fn errors_name_the_bgp_instance_the_mac_vrf_is_on() {
    let mut assembler = CommitAssembler::new();
    let commit = vec![
        set(AGENT_PATH, &["default"], r#"{"source-address":"1.1.1.254"}"#),
        set(MAC_VRF_PATH, &["blue", "2"], r#"{"evi":0,"vni":100}"#),
        end(1),
    ];
    let errors = rejected(feed(&mut assembler, commit));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].text.starts_with(
            "network-instance[name=blue]/protocols/bgp-evpn/bgp-instance[id=2]/static-vxlan-agent/evi:"
        ),
        "{errors:?}"
    );
}

#[test]
fn a_conflict_is_blamed_on_the_mac_vrf_the_commit_changed() {
    let mut assembler = CommitAssembler::new();
    // red (VNI 16000001) is running; the commit gives blue, which sorts
    // first and is untouched, no reason to be blamed when red takes its VNI.
    let mut first = lab_commit(1);
    first.insert(4, set(MAC_VRF_PATH, &["red", "3"], r#"{"evi":101,"vni":16000001}"#));
    assert!(applied(feed(&mut assembler, first)).is_some());
    let errors = rejected(feed(
        &mut assembler,
        vec![set(MAC_VRF_PATH, &["red", "3"], r#"{"evi":101,"vni":16000000}"#), end(2)],
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].js_path_with_keys.contains("{.name==\"red\"}"), "{errors:?}");
    assert_eq!(
        errors[0].text,
        "network-instance[name=red]/protocols/bgp-evpn/bgp-instance[id=3]/static-vxlan-agent/vni: \
         VNI 16000000 is already used by mac-vrf blue"
    );
    // The same the other way round: blue changed to red's EVI is blue's fault.
    let errors = rejected(feed(
        &mut assembler,
        vec![
            set(MAC_VRF_PATH, &["blue", "1"], r#"{"admin-state":"enable","evi":101,"vni":"16000000"}"#),
            end(3),
        ],
    ));
    assert!(errors[0].js_path_with_keys.contains("{.name==\"blue\"}"), "{errors:?}");
    assert!(errors[0].text.ends_with("EVI 101 is already used by mac-vrf red"), "{errors:?}");
}

#[test]
fn wrapped_list_entries_and_defaults_in_containers_are_accepted() {
    let mut assembler = CommitAssembler::new();
    let config = applied(feed(
        &mut assembler,
        vec![
            set(
                AGENT_PATH,
                &["default"],
                r#"{"source-address":"1.1.1.254","auto-discover":{"allowed-prefixes":["10.0.0.0/8"]},
                    "duplicate-mac":{"moves":"3"}}"#,
            ),
            set(MAC_VRF_PATH, &["blue", "1"], r#"{"evi":100,"vni":100}"#),
            set(
                STATIC_VTEP_PATH,
                &["blue", "1", "1.1.1.1"],
                r#"{"static_vtep":{"static-macs":["02:00:00:00:00:01"]}}"#,
            ),
            end(1),
        ],
    ))
    .expect("configured");
    assert_eq!(config.auto_discover.as_ref().map(|a| a.max_vteps), Some(64));
    assert_eq!((config.duplicate_mac.moves, config.duplicate_mac.window_secs), (3, 180));
    assert_eq!(config.mac_vrfs["blue"].static_vteps[&Ipv4Addr::new(1, 1, 1, 1)].static_macs.len(), 1);
}

#[test]
fn many_notifications_in_one_commit_give_one_outcome() {
    let mut assembler = CommitAssembler::new();
    let mut commit = lab_commit(9);
    let end = commit.pop().expect("end");
    for i in 0..500u32 {
        let vtep = Ipv4Addr::from(0x0a00_0000 + i + 1).to_string();
        commit.push(set(STATIC_VTEP_PATH, &["blue", "1", &vtep], "{}"));
    }
    commit.push(end);
    let config = applied(feed(&mut assembler, commit)).expect("configured");
    assert_eq!(config.mac_vrfs["blue"].static_vteps.len(), 502);
}

#[test]
fn every_bad_node_of_a_commit_is_reported() {
    let mut assembler = CommitAssembler::new();
    let errors = rejected(feed(
        &mut assembler,
        vec![
            set(AGENT_PATH, &["default"], r#"{"source-address":"1.1.1.254"}"#),
            set(MAC_VRF_PATH, &["blue", "1"], r#"{"evi":100}"#),
            set(STATIC_VTEP_PATH, &["red", "1", "1.1.1.1"], r#"{"static-macs":"nope"}"#),
            set(MAC_VRF_PATH, &["red", "1"], r#"{"evi":101,"vni":101}"#),
            end(1),
        ],
    ));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].text.contains("missing field `vni`"), "{errors:?}");
    assert!(errors[1].text.contains("static-vtep[vtep-ip=1.1.1.1]"), "{errors:?}");
}

/// The lab's agent container with one leaf replaced (`Value::Null`: removed).
fn agent_with(leaf: &str, value: Value) -> String {
    let mut agent: Map<String, Value> = serde_json::from_str(
        r#"{"admin-state":"enable","source-address":"1.1.1.254","peer-address":"1.1.1.3",
            "local-as":"65000","hold-time":9,"learning-interfaces":["e1-1"]}"#,
    )
    .expect("json");
    if value.is_null() {
        agent.remove(leaf);
    } else {
        agent.insert(leaf.to_owned(), value);
    }
    Value::Object(agent).to_string()
}

/// The lab's mac-vrf container with one leaf replaced.
fn mac_vrf_with(leaf: &str, value: Value) -> String {
    let mut node: Map<String, Value> =
        serde_json::from_str(r#"{"admin-state":"enable","evi":100,"vni":"16000000"}"#).expect("json");
    node.insert(leaf.to_owned(), value);
    Value::Object(node).to_string()
}

#[test]
fn every_invalid_value_is_rejected_at_its_yang_path_and_the_running_config_stays() {
    use serde_json::json;
    let agent = "network-instance[name=default]/protocols/static-vxlan-agent";
    let mac_vrf = "network-instance[name=blue]/protocols/bgp-evpn/bgp-instance[id=1]/static-vxlan-agent";
    let vtep = format!("{mac_vrf}/static-vtep[vtep-ip=1.1.1.1]");
    let agent_set = |leaf: &str, value: Value| set(AGENT_PATH, &["default"], &agent_with(leaf, value));
    let mac_vrf_set =
        |leaf: &str, value: Value| set(MAC_VRF_PATH, &["blue", "1"], &mac_vrf_with(leaf, value));
    let vtep_set = |ip: &str, json: Value| set(STATIC_VTEP_PATH, &["blue", "1", ip], &json.to_string());
    // (the bad notification, the start of the error text)
    let cases: Vec<(Notification, String)> = vec![
        (agent_set("admin-state", json!("sleepy")), format!("{agent}/admin-state: ")),
        (agent_set("source-address", Value::Null), format!("{agent}: missing field `source-address`")),
        (agent_set("source-address", json!("1.1.1")), format!("{agent}/source-address: ")),
        (agent_set("source-address", json!("2001:db8::1")), format!("{agent}/source-address: ")),
        (agent_set("peer-address", json!("leaf1")), format!("{agent}/peer-address: ")),
        (agent_set("peer-port", json!(70000)), format!("{agent}/peer-port: ")),
        (agent_set("listen-port", json!(-1)), format!("{agent}/listen-port: ")),
        (agent_set("local-as", json!(0)), format!("{agent}/local-as: must be 1..4294967295")),
        (agent_set("local-as", json!("4294967296")), format!("{agent}/local-as: ")),
        (agent_set("peer-as", json!(0)), format!("{agent}/peer-as: must be 1..4294967295")),
        (agent_set("local-preference", json!("high")), format!("{agent}/local-preference: ")),
        (agent_set("hold-time", json!(2)), format!("{agent}/hold-time: must be 0 or at least 3")),
        (agent_set("hold-time", json!(65536)), format!("{agent}/hold-time: ")),
        (
            agent_set("graceful-restart-time", json!(4096)),
            format!("{agent}/graceful-restart-time: must fit 12 bits"),
        ),
        (agent_set("md5-password", json!("")), format!("{agent}/md5-password: must be 1 to 80")),
        (agent_set("md5-password", json!("x".repeat(81))), format!("{agent}/md5-password: must be 1 to 80")),
        (agent_set("connect", json!("yes")), format!("{agent}/connect: ")),
        (agent_set("learning-interfaces", json!("e1-1")), format!("{agent}/learning-interfaces: ")),
        (agent_set("learning-interfaces", json!([1])), format!("{agent}/learning-interfaces: ")),
        (agent_set("learning-netns", json!(5)), format!("{agent}/learning-netns: ")),
        (agent_set("attach-mode", json!("xdp")), format!("{agent}/attach-mode: ")),
        (agent_set("vxlan-port", json!(65536)), format!("{agent}/vxlan-port: ")),
        (agent_set("learn-nd", json!("maybe")), format!("{agent}/learn-nd: ")),
        (agent_set("include-ip", json!(1)), format!("{agent}/include-ip: ")),
        (
            agent_set("auto-discover", json!({"allowed-prefixes": []})),
            format!("{agent}/auto-discover/allowed-prefixes: auto-discovery needs at least one prefix"),
        ),
        (
            agent_set("auto-discover", json!({"allowed-prefixes": ["10.0.0.0/33"]})),
            format!("{agent}/auto-discover/allowed-prefixes: "),
        ),
        (
            agent_set("auto-discover", json!({"allowed-prefixes": ["10.0.0.0/8"], "max-vteps": -1})),
            format!("{agent}/auto-discover/max-vteps: "),
        ),
        (agent_set("mac-aging-secs", json!(0)), format!("{agent}/mac-aging-secs: must be 1..86400")),
        (agent_set("mac-aging-secs", json!(86_401)), format!("{agent}/mac-aging-secs: must be 1..86400")),
        (agent_set("max-macs-per-mac-vrf", json!(-5)), format!("{agent}/max-macs-per-mac-vrf: ")),
        (agent_set("max-macs-per-vtep", json!("many")), format!("{agent}/max-macs-per-vtep: ")),
        (agent_set("duplicate-mac", json!({"moves": -1})), format!("{agent}/duplicate-mac/moves: ")),
        (
            agent_set("duplicate-mac", json!({"window-secs": "x"})),
            format!("{agent}/duplicate-mac/window-secs: "),
        ),
        (agent_set("duplicate-mac", json!({"hold-secs": 1.5})), format!("{agent}/duplicate-mac/hold-secs: ")),
        (agent_set("originating-ip", json!("router")), format!("{agent}/originating-ip: ")),
        (mac_vrf_set("admin-state", json!("up")), format!("{mac_vrf}/admin-state: ")),
        (mac_vrf_set("evi", json!(0)), format!("{mac_vrf}/evi: must be 1..65535")),
        (mac_vrf_set("evi", json!(65_536)), format!("{mac_vrf}/evi: ")),
        (mac_vrf_set("vni", json!(0)), format!("{mac_vrf}/vni: must be 1..16777215")),
        (mac_vrf_set("vni", json!(16_777_216)), format!("{mac_vrf}/vni: must be 1..16777215")),
        (mac_vrf_set("route-target", json!("target:abc")), format!("{mac_vrf}/route-target: ")),
        (vtep_set("1.1.1", json!({})), format!("{mac_vrf}/static-vtep[vtep-ip=1.1.1]: ")),
        (
            vtep_set("0.0.0.0", json!({})),
            format!("{mac_vrf}/static-vtep[vtep-ip=0.0.0.0]: must be a unicast address"),
        ),
        (
            vtep_set("1.1.1.1", json!({"static-macs": ["01:00:5e:00:00:01"]})),
            format!("{vtep}/static-macs: 01:00:5e:00:00:01 is not a unicast MAC"),
        ),
        (vtep_set("1.1.1.1", json!({"static-macs": ["zz"]})), format!("{vtep}/static-macs: ")),
        (vtep_set("1.1.1.1", json!({"colour": "red"})), format!("{vtep}/colour: unknown field `colour`")),
    ];
    let mut assembler = CommitAssembler::new();
    let good = applied(feed(&mut assembler, lab_commit(1)));
    let mut seq = 1;
    for (bad, expected) in cases {
        seq += 2;
        let node = bad.js_path_with_keys.clone();
        let errors = rejected(feed(&mut assembler, vec![bad, end(seq)]));
        assert_eq!(errors.len(), 1, "{expected}: {errors:?}");
        assert!(errors[0].text.starts_with(&expected), "expected `{expected}...`, got `{}`", errors[0].text);
        // Errors about a static VTEP may be acknowledged at its mac-vrf.
        assert!(node.starts_with(&errors[0].js_path_with_keys), "{node} vs {:?}", errors[0]);
        assert_eq!(applied(feed(&mut assembler, vec![end(seq + 1)])), good, "after {expected}");
    }
}
