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
/// as strings, defaults omitted (the YAML states the one SR Linux default
/// that standalone does not share: learning in srbase).
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
         learning-interfaces: [e1-1]\nlearning-netns: srbase\nmac-vrfs:\n  blue:\n    evi: 100\n    vni: 16000000\n    \
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
