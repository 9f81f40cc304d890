//! The agent's state as NDK telemetry, without I/O: the state snapshot goes
//! in, one JSON object per YANG node comes out ([`render`]), and
//! [`Published`] turns each new rendering into the updates and deletes
//! that bring the NDK's copy up to date.
//!
//! Keys follow the form SR Linux itself uses in `js_path_with_keys`
//! (`.network_instance{.name=="default"}.protocols.static_vxlan_agent`),
//! so a configured node's state is published under the very key its
//! configuration arrived with. An update replaces what was published at
//! its key, so each object carries the node's configuration leaves too (the
//! state datastore shows config and state together). List entries (MACs,
//! VTEPs, snooped interfaces) are keys of their own: a learned MAC changes
//! one small object, not the whole mac-vrf.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
};

use serde::Serialize;

use serde_json::{Map, Value, json};

use super::commit::{RunningNode, RunningNodes};
use crate::{
    config::model::{Config, LivenessMethod},
    core::{MacVrfState, Source, Status},
    state::{AgentState, Liveness, SessionState},
};

/// One telemetry key and its JSON object, as text ready to send.
pub type Entries = BTreeMap<String, String>;

/// Where the agent container's state goes when SR Linux did not tell us
/// (no `js_path_with_keys` yet).
pub const DEFAULT_AGENT_KEY: &str = ".network_instance{.name==\"default\"}.protocols.static_vxlan_agent";

/// A list entry's key: `<parent>.<list>{.<leaf>=="<value>"}`.
#[must_use]
pub fn list_key(parent: &str, list: &str, leaf: &str, value: &str) -> String {
    format!("{parent}.{list}{}", key_predicate(leaf, value))
}

/// `{.<leaf>=="<value>"}`, the value quoted as SR Linux quotes it.
fn key_predicate(leaf: &str, value: &str) -> String {
    let value = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{{.{leaf}==\"{value}\"}}")
}

/// Renders the agent's state as telemetry entries for the configured
/// nodes: the one rendering behind both the NDK's state and `/yang`.
/// Without the agent container there is nothing to publish.
#[must_use]
pub fn render(state: &AgentState, nodes: &RunningNodes) -> Entries {
    let mut entries = Entries::new();
    let Some(agent) = &nodes.agent else { return entries };
    let agent_key = key_of(agent, DEFAULT_AGENT_KEY);
    let proxy = &state.proxy;
    let bgp = &state.bgp;
    // Core times are milliseconds on the core's clock, which counts from
    // `core-clock-epoch-unix-ms`; state shows wall-clock Unix seconds, which
    // do not change from one rendering to the next (so nothing is
    // republished needlessly).
    let unix_secs = |ms: u64| (state.core_clock_epoch_unix_ms + ms) / 1000;

    let enabled = agent.leaves.get("admin-state").and_then(Value::as_str) != Some("disable");
    let established = bgp.state == SessionState::Established;
    let (oper_state, oper_reason) = if !enabled {
        ("down", "admin-state is disable".to_owned())
    } else if !established {
        let mut reason = format!("BGP session {}", bgp.state.as_str());
        if let Some(why) = &bgp.last_down_reason {
            reason.push_str(": ");
            reason.push_str(why);
        }
        ("down", reason)
    } else {
        ("up", String::new())
    };
    let mut bgp_state = json!({
        "state": bgp.state.as_str(),
        "advertised-routes": proxy.advertised_routes,
    });
    if let Some(id) = bgp.peer_id {
        bgp_state["peer-id"] = id.to_string().into();
    }
    if let Some(why) = &bgp.last_down_reason {
        bgp_state["last-down-reason"] = why.as_str().into();
    }
    if let Some(at) = bgp.established_at_unix_secs {
        bgp_state["established-at"] = at.into();
    }
    for (name, value) in bgp.counters.named() {
        bgp_state[name] = value.into();
    }
    let snooper = &state.snooper;
    let mut snooper_state = Map::new();
    snooper_state.insert("status".into(), snooper.status.as_str().into());
    if let Some(error) = &snooper.error {
        snooper_state.insert("error".into(), error.as_str().into());
    }
    for (name, value) in &snooper.counters {
        snooper_state.insert(name.clone(), (*value).into());
    }
    let mut agent_state = agent.leaves.clone();
    agent_state.extend([
        ("oper-state".to_owned(), oper_state.into()),
        ("oper-reason".to_owned(), oper_reason.into()),
        ("bgp".to_owned(), bgp_state),
        (
            "evpn-vteps".to_owned(),
            proxy.evpn_vteps.keys().map(ToString::to_string).collect::<Vec<_>>().into(),
        ),
        ("counters".to_owned(), serde_json::to_value(proxy.counters).unwrap_or_default()),
        ("snooper".to_owned(), Value::Object(snooper_state)),
    ]);
    agent_state.retain(|_, v| !v.is_null());
    entries.insert(agent_key.clone(), Value::Object(agent_state).to_string());
    for (name, interface) in &snooper.interfaces {
        let mut object = Map::from_iter([
            ("name".to_owned(), Value::from(name.as_str())),
            ("status".to_owned(), Value::from(interface.status.as_str())),
        ]);
        object.extend(interface.counters.iter().map(|(counter, n)| (counter.clone(), Value::from(*n))));
        entries.insert(
            list_key(&agent_key, "snooped_interface", "name", name),
            Value::Object(object).to_string(),
        );
    }

    let no_vrf = MacVrfState::default();
    for (ni, node) in &nodes.mac_vrfs {
        let vrf = proxy.mac_vrfs.get(ni).unwrap_or(&no_vrf);
        let vrf_key = node.js_path_with_keys.clone();
        if vrf_key.is_empty() {
            continue;
        }
        let vrf_enabled = node.leaves.get("admin-state").and_then(Value::as_str) != Some("disable");
        let mut vrf_state = node.leaves.clone();
        vrf_state.insert(
            "oper-state".into(),
            if enabled && vrf_enabled && established { "up" } else { "down" }.into(),
        );
        vrf_state.insert("mac-count".into(), vrf.macs.len().into());
        entries.insert(vrf_key.clone(), Value::Object(vrf_state).to_string());
        for (ip, view) in &vrf.vteps {
            let address = ip.to_string();
            let mut object = json!({
                "address": address,
                "origin": view.origin,
                "rt3-advertised": view.rt3_advertised,
                "mac-count": view.macs,
            });
            if let Some(seen) = view.last_seen_ms {
                object["last-seen"] = unix_secs(seen).into();
            }
            let live = state.liveness.get(ip);
            object["liveness"] = live.map_or(Liveness::Unknown, |l| l.state).as_str().into();
            object["withdrawn-down"] = view.withdrawn_down.into();
            if let Some(live) = live {
                object["liveness-method"] = live.method.as_str().into();
                if let Some(since) = live.since_unix_ms {
                    object["liveness-since"] = (since / 1000).into();
                }
                if live.method == LivenessMethod::Icmp {
                    object["probes-sent"] = live.probes_sent.into();
                    object["probes-answered"] = live.probes_answered.into();
                }
                if let Some(rtt) = live.last_rtt_us {
                    object["last-rtt-us"] = rtt.into();
                }
                if let Some(error) = &live.error {
                    object["liveness-error"] = error.as_str().into();
                }
            }
            entries.insert(list_key(&vrf_key, "vtep", "address", &address), object.to_string());
        }
        // A million of these every 2 s: written straight from a struct,
        // not built as a JSON tree first (half the rendering time).
        for (mac, entry) in vrf.macs.iter() {
            let address = mac.to_string();
            let (superseded_by, frozen_until) = match &entry.status {
                Status::Active => (None, None),
                Status::Superseded { by: holder } | Status::InEvpn { vtep: holder } => (Some(*holder), None),
                Status::Frozen { until_ms } => (None, Some(unix_secs(*until_ms))),
            };
            let object = MacObject {
                address: &address,
                vtep: entry.vtep,
                source: entry.source.as_str(),
                ip: entry.ips.keys().collect(),
                sequence: entry.sequence,
                // The YANG's last-seen is when ARP/ND last showed the MAC: a
                // static MAC has none (the core's time for it is its config's).
                last_seen: (entry.source == Source::Learned).then(|| unix_secs(entry.last_seen_ms)),
                superseded_by,
                frozen_until,
                status: entry.status.name(),
            };
            entries.insert(
                list_key(&vrf_key, "mac", "address", &address),
                serde_json::to_string(&object).unwrap_or_default(),
            );
        }
    }
    entries
}

/// A `mac` list entry as the NDK gets it.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct MacObject<'a> {
    address: &'a str,
    vtep: Ipv4Addr,
    source: &'static str,
    ip: Vec<&'a IpAddr>,
    sequence: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    superseded_by: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frozen_until: Option<u64>,
    status: &'static str,
}

/// The nodes SR Linux would hold for `config`, for rendering the same
/// state without SR Linux (standalone `/yang`). Mac-vrfs sit under
/// bgp-instance 1, as they do in every SR Linux configuration we know.
#[must_use]
pub fn nodes_from_config(config: &Config) -> RunningNodes {
    fn leaves(value: Value, drop: &str) -> Map<String, Value> {
        let mut map = match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        map.remove(drop);
        if let Some(enabled) = map.remove("enabled") {
            let state = if enabled == Value::Bool(false) { "disable" } else { "enable" };
            map.insert("admin-state".into(), state.into());
        }
        map.retain(|_, v| !v.is_null());
        map
    }
    RunningNodes {
        agent: Some(RunningNode {
            js_path_with_keys: DEFAULT_AGENT_KEY.to_owned(),
            leaves: leaves(serde_json::to_value(config).unwrap_or_default(), "mac-vrfs"),
        }),
        mac_vrfs: config
            .mac_vrfs
            .iter()
            .map(|(name, mac_vrf)| {
                let key = format!(
                    ".network_instance{}.protocols.bgp_evpn.bgp_instance{{.id==1}}.static_vxlan_agent",
                    key_predicate("name", name)
                );
                let node = RunningNode {
                    js_path_with_keys: key,
                    leaves: leaves(serde_json::to_value(mac_vrf).unwrap_or_default(), "static-vteps"),
                };
                (name.clone(), node)
            })
            .collect(),
    }
}

fn key_of(node: &RunningNode, fallback: &str) -> String {
    if node.js_path_with_keys.is_empty() { fallback.to_owned() } else { node.js_path_with_keys.clone() }
}

/// What the NDK holds of ours, to send only differences.
#[derive(Debug, Default)]
pub struct Published {
    entries: Entries,
}

/// The calls that bring the NDK's copy up to date.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Keys to add or replace, with their JSON.
    pub updates: Vec<(String, String)>,
    /// Keys to remove.
    pub deletes: Vec<String>,
}

impl Delta {
    /// True if nothing needs sending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.deletes.is_empty()
    }
}

impl Published {
    /// The difference between what was published and `desired`. The NDK
    /// is assumed to hold `desired` afterwards; if sending fails, call
    /// [`Published::forget`] so that the next round sends everything.
    pub fn diff(&mut self, desired: Entries) -> Delta {
        let mut delta = Delta::default();
        for (key, json) in &desired {
            if self.entries.get(key) != Some(json) {
                delta.updates.push((key.clone(), json.clone()));
            }
        }
        for key in self.entries.keys() {
            if !desired.contains_key(key) {
                delta.deletes.push(key.clone());
            }
        }
        self.entries = desired;
        delta
    }

    /// Forgets what was published: after a failed send, or when the NDK
    /// server restarted and holds nothing of ours.
    pub fn forget(&mut self) {
        self.entries.clear();
    }

    /// Every key published, to remove them all on shutdown.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> RunningNodes {
        let leaves = |v: Value| v.as_object().cloned().unwrap_or_default();
        RunningNodes {
            agent: Some(RunningNode {
                js_path_with_keys: DEFAULT_AGENT_KEY.into(),
                leaves: leaves(json!({"admin-state": "enable", "source-address": "10.0.0.1", "local-as": 65000})),
            }),
            mac_vrfs: BTreeMap::from([(
                "blue".to_owned(),
                RunningNode {
                    js_path_with_keys:
                        ".network_instance{.name==\"blue\"}.protocols.bgp_evpn.bgp_instance{.id==1}.static_vxlan_agent"
                            .into(),
                    leaves: leaves(json!({"evi": 100, "vni": 10100})),
                },
            )]),
        }
    }

    fn state(bgp: &str) -> AgentState {
        serde_json::from_value(state_json(bgp)).unwrap()
    }

    fn state_json(bgp: &str) -> Value {
        json!({
            "core-clock-epoch-unix-ms": 1_700_000_000_000_u64,
            "bgp": {"state": bgp, "peer-id": "10.0.0.9", "established-at-unix-secs": 1_700_000_005_u64,
                    "counters": {"routes-received": 7}},
            "snooper": {"status": "running", "interfaces": {"e1-1": {"status": "attached (ifindex 7)", "seen": 12, "matched": 3}}, "counters": {"arp": 3}},
            "proxy": {
                "advertised-routes": 3,
                "evpn-vteps": {"10.0.0.2": {"routes": 4}},
                "counters": {"learned-events": 5},
                "mac-vrfs": {"blue": {
                    "vteps": {"192.0.2.1": {"origin": "configured", "rt3-advertised": true, "macs": 1}},
                    "macs": {"02:00:00:00:00:01": {
                        "vtep": "192.0.2.1", "source": "learned", "ips": {"10.1.0.1": 1000},
                        "last-seen-ms": 2500, "sequence": 1, "best-remote-sequence": 0, "status": "active"
                    }, "02:00:00:00:00:aa": {
                        "vtep": "192.0.2.1", "source": "static", "ips": {},
                        "last-seen-ms": 0, "sequence": 0, "best-remote-sequence": 0, "status": "active"
                    }}
                }}
            }
        })
    }

    #[test]
    fn every_node_gets_its_own_key_with_config_and_state_leaves() {
        let mut state = state("established");
        let live = crate::state::VtepLiveness {
            method: LivenessMethod::Icmp,
            state: Liveness::Up,
            since_unix_ms: Some(1_700_000_009_500),
            probes_sent: 12,
            probes_answered: 11,
            last_rtt_us: Some(85),
            error: None,
        };
        state.liveness.insert("192.0.2.1".parse().unwrap(), live);
        let entries = render(&state, &nodes());
        let parse = |k: &str| -> Value { serde_json::from_str(&entries[k]).unwrap() };
        let agent = parse(DEFAULT_AGENT_KEY);
        assert_eq!(agent["source-address"], "10.0.0.1", "config leaves are echoed");
        assert_eq!(agent["oper-state"], "up");
        assert_eq!(agent["bgp"]["advertised-routes"], 3);
        assert_eq!(agent["bgp"]["established-at"], 1_700_000_005_u64);
        assert_eq!(agent["bgp"]["routes-received"], 7, "session counters sit in bgp");
        assert_eq!(agent["evpn-vteps"], json!(["10.0.0.2"]));
        assert_eq!(agent["snooper"]["arp"], 3);
        let vrf_key = &nodes().mac_vrfs["blue"].js_path_with_keys;
        assert_eq!(parse(vrf_key)["mac-count"], 2);
        let vtep = parse(&format!("{vrf_key}.vtep{{.address==\"192.0.2.1\"}}"));
        assert_eq!(
            vtep,
            json!({"address": "192.0.2.1", "origin": "configured", "rt3-advertised": true, "mac-count": 1,
                   "liveness": "up", "liveness-method": "icmp", "liveness-since": 1_700_000_009_u64,
                   "probes-sent": 12, "probes-answered": 11, "last-rtt-us": 85, "withdrawn-down": false})
        );
        let mac = parse(&format!("{vrf_key}.mac{{.address==\"02:00:00:00:00:01\"}}"));
        assert_eq!(mac["ip"], json!(["10.1.0.1"]));
        assert_eq!(mac["last-seen"], 1_700_000_002_u64, "Unix seconds, from the start time");
        let static_mac = parse(&format!("{vrf_key}.mac{{.address==\"02:00:00:00:00:aa\"}}"));
        assert_eq!(static_mac["source"], "static");
        assert!(static_mac.get("last-seen").is_none(), "never seen in ARP/ND: {static_mac}");
        let interface = parse(&format!("{DEFAULT_AGENT_KEY}.snooped_interface{{.name==\"e1-1\"}}"));
        assert_eq!(
            interface,
            json!({"name": "e1-1", "status": "attached (ifindex 7)", "seen": 12, "matched": 3})
        );
        assert_eq!(entries.len(), 6);
    }

    #[test]
    fn oper_state_says_why_it_is_down() {
        let mut state = state_json("active");
        state["bgp"]["last-down-reason"] = "hold timer expired".into();
        let state: AgentState = serde_json::from_value(state).unwrap();
        let entries = render(&state, &nodes());
        let agent: Value = serde_json::from_str(&entries[DEFAULT_AGENT_KEY]).unwrap();
        assert_eq!(agent["oper-state"], "down");
        assert_eq!(agent["oper-reason"], "BGP session active: hold timer expired");
        let mut nodes = nodes();
        nodes.agent.as_mut().unwrap().leaves.insert("admin-state".into(), "disable".into());
        let agent: Value = serde_json::from_str(&render(&state, &nodes)[DEFAULT_AGENT_KEY]).unwrap();
        assert_eq!(agent["oper-reason"], "admin-state is disable");
    }

    #[test]
    fn without_the_agent_container_nothing_is_published() {
        let nodes = RunningNodes { agent: None, ..nodes() };
        assert!(render(&state("established"), &nodes).is_empty());
    }

    #[test]
    fn only_differences_are_sent() {
        let mut published = Published::default();
        let first = Entries::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(published.diff(first.clone()).updates.len(), 2);
        assert!(published.diff(first).is_empty(), "nothing changed, nothing sent");
        let second = Entries::from([("a".into(), "1".into()), ("c".into(), "3".into())]);
        assert_eq!(
            published.diff(second.clone()),
            Delta { updates: vec![("c".into(), "3".into())], deletes: vec!["b".into()] }
        );
        published.forget();
        assert_eq!(published.diff(second).updates.len(), 2, "after forget everything is sent again");
        assert_eq!(published.keys(), vec!["a".to_owned(), "c".to_owned()]);
    }

    #[test]
    fn standalone_renders_the_same_nodes_from_the_yaml_model() {
        let config: Config = serde_norway::from_str(
            "enabled: false\nsource-address: 10.0.0.1\nmac-vrfs:\n  blue:\n    evi: 100\n    vni: 10100\n    \
             static-vteps:\n      192.0.2.1: {}\n",
        )
        .unwrap();
        let standalone = nodes_from_config(&config);
        let agent = standalone.agent.as_ref().unwrap();
        assert_eq!(agent.js_path_with_keys, DEFAULT_AGENT_KEY);
        assert_eq!(agent.leaves["admin-state"], "disable");
        assert_eq!(agent.leaves["source-address"], "10.0.0.1");
        assert!(!agent.leaves.contains_key("mac-vrfs") && !agent.leaves.contains_key("peer-address"));
        assert_eq!(
            standalone.mac_vrfs["blue"],
            nodes().mac_vrfs["blue"]
                .clone()
                .with_leaves(json!({"admin-state": "enable", "evi": 100, "vni": 10100}))
        );
    }

    impl RunningNode {
        fn with_leaves(mut self, leaves: Value) -> Self {
            if let Value::Object(map) = leaves {
                self.leaves = map;
            }
            self
        }
    }

    #[test]
    fn list_keys_quote_their_values() {
        assert_eq!(list_key(".x", "mac", "address", "a\"b"), ".x.mac{.address==\"a\\\"b\"}");
    }
}
