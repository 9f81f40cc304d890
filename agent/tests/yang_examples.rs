//! The YANG example configurations, delivered the way SR Linux delivers a
//! commit (one notification per delivery node, then `.commit.end`): every
//! `yang/examples/*.json` is accepted and gives the configuration it
//! describes; every `yang/examples/invalid/*.json` is rejected with the
//! YANG path of the bad value. `scripts/yanglint.sh` checks the same files
//! against the YANG model itself.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{fs, path::PathBuf};

use serde_json::{Map, Value};
use static_vxlan_agent::ndk::commit::{
    AGENT_PATH, COMMIT_END_PATH, CommitAssembler, MAC_VRF_PATH, Notification, Op, Outcome, STATIC_VTEP_PATH,
};

fn examples(dir: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../yang/examples").join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
}

/// Module-qualified JSON member names (`module:name`) without the module.
fn unqualified(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.rsplit(':').next().unwrap_or(k).to_owned(), v.clone())).collect()
}

fn node(js_path: &str, keys: &[&str], json: &Map<String, Value>) -> Notification {
    Notification {
        op: Op::Set,
        js_path: js_path.to_owned(),
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        js_path_with_keys: format!("{js_path}{keys:?}"),
        json: Value::Object(json.clone()).to_string(),
    }
}

/// The notifications SR Linux would send for this configuration.
fn as_commit(document: &Value) -> Vec<Notification> {
    let mut out = Vec::new();
    let instances =
        document["srl_nokia-network-instance:network-instance"].as_array().expect("network-instance list");
    for ni in instances {
        let name = ni["name"].as_str().expect("name");
        let protocols = unqualified(ni["protocols"].as_object().expect("protocols"));
        if let Some(Value::Object(agent)) = protocols.get("static-vxlan-agent") {
            out.push(node(AGENT_PATH, &[name], agent));
        }
        let bgp_instances = protocols.get("bgp-evpn").and_then(Value::as_object).map(unqualified);
        for bi in bgp_instances
            .as_ref()
            .and_then(|b| b.get("bgp-instance"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = bi["id"].to_string();
            let Some(Value::Object(mac_vrf)) =
                unqualified(bi.as_object().expect("bgp-instance")).get("static-vxlan-agent").cloned()
            else {
                continue;
            };
            // List entries are delivery nodes of their own.
            let mut leaves = mac_vrf.clone();
            let vteps = leaves.remove("static-vtep");
            out.push(node(MAC_VRF_PATH, &[name, &id], &leaves));
            for vtep in vteps.as_ref().and_then(Value::as_array).into_iter().flatten() {
                let mut entry = vtep.as_object().expect("static-vtep entry").clone();
                let ip =
                    entry.remove("vtep-ip").and_then(|v| v.as_str().map(str::to_owned)).expect("vtep-ip");
                out.push(node(STATIC_VTEP_PATH, &[name, &id, &ip], &entry));
            }
        }
    }
    out.push(Notification {
        op: Op::Set,
        js_path: COMMIT_END_PATH.into(),
        keys: Vec::new(),
        js_path_with_keys: COMMIT_END_PATH.into(),
        json: "{\"commit_seq\":1}".into(),
    });
    out
}

fn outcome(path: &PathBuf) -> Outcome {
    let document: Value = serde_json::from_str(&fs::read_to_string(path).expect("read")).expect("JSON");
    let mut assembler = CommitAssembler::new();
    as_commit(&document).iter().find_map(|n| assembler.process(n)).expect("an outcome at .commit.end")
}

#[test]
fn every_example_is_accepted_as_the_configuration_it_describes() {
    for path in examples("") {
        let config = match outcome(&path) {
            Outcome::Apply { config: Some(config), .. } => config,
            other => panic!("{}: {other:?}", path.display()),
        };
        let document: Value = serde_json::from_str(&fs::read_to_string(&path).expect("read")).expect("JSON");
        // Every mac-vrf and static VTEP in the file is in the configuration.
        let text = document.to_string();
        for (name, mac_vrf) in &config.mac_vrfs {
            assert!(text.contains(&format!("\"name\":\"{name}\"")), "{}: {name}", path.display());
            for vtep in mac_vrf.static_vteps.keys() {
                assert!(text.contains(&format!("\"vtep-ip\":\"{vtep}\"")), "{}: {vtep}", path.display());
            }
        }
        assert!(!config.mac_vrfs.is_empty(), "{}: no mac-vrf", path.display());
    }
}

#[test]
fn every_invalid_example_is_rejected_naming_the_yang_path() {
    for path in examples("invalid") {
        match outcome(&path) {
            Outcome::Reject { errors, .. } => {
                assert!(
                    errors.iter().all(|e| e.text.contains("network-instance[name=")),
                    "{}: {errors:?}",
                    path.display()
                );
            }
            other => panic!("{}: accepted: {other:?}", path.display()),
        }
    }
}

/// The app-manager YAML: the name the agent registers with, JSON config
/// delivery, no reboot on failure, and the YANG module it ships.
#[test]
fn the_app_manager_yaml_matches_the_agent_and_its_yang() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = fs::read_to_string(root.join("rpm/appmgr/static-vxlan-agent.yml")).expect("app YAML");
    let yaml: Value = serde_norway::from_str(&text).expect("YAML");
    let apps = yaml.as_object().expect("a map of applications");
    assert_eq!(apps.keys().collect::<Vec<_>>(), [static_vxlan_agent::ndk::client::DEFAULT_AGENT_NAME]);
    let app = &yaml[static_vxlan_agent::ndk::client::DEFAULT_AGENT_NAME];
    assert_eq!(app["config-delivery-format"], "json");
    assert!(app["wait-for-config"] == "Yes" || app["wait-for-config"] == true, "{app}");
    let failure = app["failure-action"].as_str().expect("failure-action");
    assert!(
        failure.strip_prefix("wait=").is_some_and(|s| s.parse::<u32>().is_ok()),
        "failure-action {failure:?} (the default reboots the box)"
    );
    assert!(app["launch-command"].as_str().is_some_and(|c| c.ends_with("static-vxlan-agent run --ndk")));
    assert!(app["version-command"].as_str().is_some_and(|c| c.ends_with("static-vxlan-agent --version")));
    // Every module named is one we ship, and every module we ship is named.
    let mut ours: Vec<String> = fs::read_dir(root.join("yang"))
        .expect("yang/")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".yang").map(str::to_owned))
        .collect();
    ours.sort();
    let mut named: Vec<String> = app["yang-modules"]["names"]
        .as_array()
        .expect("yang-modules.names")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    named.sort();
    assert_eq!(named, ours);
    // The version command works.
    let version = std::process::Command::new(env!("CARGO_BIN_EXE_static-vxlan-agent"))
        .arg("--version")
        .output()
        .expect("run --version");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("static-vxlan-agent "));
}
