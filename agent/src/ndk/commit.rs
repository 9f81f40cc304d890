//! SR Linux commits, assembled without I/O: config notifications go in, one
//! outcome per `.commit.end` comes out.
//!
//! SR Linux delivers a commit as one notification per changed "delivery
//! node" (our agent container, each mac-vrf's container, each static-vtep
//! list entry), then `.commit.end`. [`CommitAssembler`] applies them to a
//! copy of the running tree, and at `.commit.end` translates the whole tree
//! into the same [`Config`] the standalone YAML gives, validated. A commit
//! that does not translate or validate is rejected with errors naming the
//! node (`js_path_with_keys`, what `AcknowledgeConfig` wants) and the YANG
//! path; the running tree, and so the running configuration, stays.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::model::{Config, MacVrf, Placement, StaticVtep};

/// The agent-wide container, under the default network-instance.
pub const AGENT_PATH: &str = ".network_instance.protocols.static_vxlan_agent";
/// The per-mac-vrf container, under its bgp-evpn bgp-instance.
pub const MAC_VRF_PATH: &str = ".network_instance.protocols.bgp_evpn.bgp_instance.static_vxlan_agent";
/// A static VTEP of a mac-vrf.
pub const STATIC_VTEP_PATH: &str =
    ".network_instance.protocols.bgp_evpn.bgp_instance.static_vxlan_agent.static_vtep";
/// Ends every commit's batch.
pub const COMMIT_END_PATH: &str = ".commit.end";

/// Leaves whose YANG type is an integer: SR Linux may send them as JSON
/// strings (RFC 7951 does for 64-bit ones), our model wants numbers.
const INTEGER_LEAVES: &[&str] = &[
    "peer-port",
    "listen-port",
    "local-as",
    "peer-as",
    "local-preference",
    "hold-time",
    "graceful-restart-time",
    "mac-aging-secs",
    "max-macs-per-mac-vrf",
    "max-macs-per-vtep",
    "max-vteps",
    "moves",
    "window-secs",
    "hold-secs",
    "evi",
    "vni",
    "vxlan-port",
    "interval-ms",
    "multiplier",
    "hold-down-secs",
];

/// What a notification does to its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create or update: the JSON is the node's whole content.
    Set,
    /// The node (and what is under it) is gone.
    Delete,
}

/// One config notification, as the NDK delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Set or delete.
    pub op: Op,
    /// The node's path without keys, e.g. [`AGENT_PATH`].
    pub js_path: String,
    /// The list keys along the path, outermost first.
    pub keys: Vec<String>,
    /// The path with keys, which acknowledgements refer to.
    pub js_path_with_keys: String,
    /// The node's content as JSON text (empty for some deletes).
    pub json: String,
}

/// One complaint about a commit, for `AcknowledgeConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckError {
    /// The node the error is about.
    pub js_path_with_keys: String,
    /// What is wrong, starting with the YANG path of the bad value.
    pub text: String,
}

/// What a `.commit.end` leads to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The commit is good: run with this configuration (`None`: the agent
    /// container is absent, so the agent is unconfigured and advertises
    /// nothing).
    Apply {
        /// The commit's sequence number.
        commit_seq: u64,
        /// The new configuration.
        config: Option<Box<Config>>,
    },
    /// The commit is refused; the running configuration stays.
    Reject {
        /// The commit's sequence number.
        commit_seq: u64,
        /// Why, per node.
        errors: Vec<AckError>,
    },
    /// A `.commit.end` with sequence 0 and nothing before it: an empty
    /// initial sync, not a commit.
    Nothing,
}

/// One delivery node: its `js_path_with_keys` and its JSON content.
type Node = (String, Map<String, Value>);

/// Our part of the SR Linux configuration tree, one JSON object per
/// delivery node.
#[derive(Clone, Debug, Default, PartialEq)]
struct Tree {
    /// Agent containers by network-instance name.
    agent: BTreeMap<String, Node>,
    /// Mac-vrf containers by (network-instance, bgp-instance).
    mac_vrfs: BTreeMap<(String, String), Node>,
    /// Static VTEPs by (network-instance, bgp-instance, vtep-ip).
    static_vteps: BTreeMap<(String, String, String), Node>,
}

/// A configured node as SR Linux delivered it: where it is and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningNode {
    /// Its `js_path_with_keys`, which is also its telemetry key.
    pub js_path_with_keys: String,
    /// Its leaves, as received.
    pub leaves: Map<String, Value>,
}

/// Our configured nodes, for publishing state next to them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunningNodes {
    /// The agent container in the default network-instance.
    pub agent: Option<RunningNode>,
    /// Each mac-vrf's container, by network-instance name.
    pub mac_vrfs: BTreeMap<String, RunningNode>,
}

/// Buffers a commit's notifications and decides on it at `.commit.end`.
#[derive(Debug, Default)]
pub struct CommitAssembler {
    running: Tree,
    /// The running tree before the last applied commit, for [`revert`].
    ///
    /// [`revert`]: CommitAssembler::revert
    previous: Option<Tree>,
    /// The commit being received: the running tree with its changes so far.
    pending: Option<Tree>,
    /// Notifications of this commit that could not be applied to the tree.
    pending_errors: Vec<AckError>,
}

impl CommitAssembler {
    /// An assembler with nothing configured.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The running configuration's nodes.
    #[must_use]
    pub fn running_nodes(&self) -> RunningNodes {
        let node =
            |(path, leaves): &Node| RunningNode { js_path_with_keys: path.clone(), leaves: leaves.clone() };
        RunningNodes {
            agent: self.running.agent.get("default").map(node),
            mac_vrfs: self.running.mac_vrfs.iter().map(|((ni, _), n)| (ni.clone(), node(n))).collect(),
        }
    }

    /// Undoes the last applied commit: the agent could not carry it out
    /// (e.g. the BGP session could not start), so it is refused after all
    /// and the running tree goes back to match the running configuration.
    pub fn revert(&mut self) {
        if let Some(previous) = self.previous.take() {
            self.running = previous;
        }
    }

    /// Takes one notification; returns the outcome when it ends a commit.
    pub fn process(&mut self, notification: &Notification) -> Option<Outcome> {
        if notification.js_path == COMMIT_END_PATH {
            return Some(self.end(&notification.json));
        }
        let tree = self.pending.get_or_insert_with(|| self.running.clone());
        if let Err(error) = tree.apply(notification) {
            self.pending_errors.push(error);
        }
        None
    }

    fn end(&mut self, json: &str) -> Outcome {
        let commit_seq = serde_json::from_str::<Value>(json)
            .ok()
            .and_then(|v| v.get("commit_seq").and_then(|s| s.as_u64().or_else(|| s.as_str()?.parse().ok())))
            .unwrap_or(0);
        let Some(tree) = self.pending.take() else {
            if commit_seq == 0 {
                return Outcome::Nothing;
            }
            // A commit that changed nothing of ours still gets an answer;
            // there is nothing to revert.
            self.previous = None;
            return match self.running.to_config(&self.running) {
                Ok(config) => Outcome::Apply { commit_seq, config: config.map(Box::new) },
                Err(errors) => Outcome::Reject { commit_seq, errors },
            };
        };
        let mut errors = std::mem::take(&mut self.pending_errors);
        if errors.is_empty() {
            match tree.to_config(&self.running) {
                Ok(config) => {
                    self.previous = Some(std::mem::replace(&mut self.running, tree));
                    return Outcome::Apply { commit_seq, config: config.map(Box::new) };
                }
                Err(found) => errors = found,
            }
        }
        Outcome::Reject { commit_seq, errors }
    }
}

impl Tree {
    fn apply(&mut self, n: &Notification) -> Result<(), AckError> {
        let fail = |text: String| AckError { js_path_with_keys: n.js_path_with_keys.clone(), text };
        let content = || -> Result<Map<String, Value>, AckError> {
            if n.json.trim().is_empty() {
                return Ok(Map::new());
            }
            match serde_json::from_str::<Value>(&n.json) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(other) => Err(fail(format!("{}: expected a JSON object, got {other}", yang_path(n)))),
                Err(e) => Err(fail(format!("{}: invalid JSON: {e}", yang_path(n)))),
            }
        };
        let path = n.js_path_with_keys.clone();
        match (n.js_path.as_str(), n.keys.as_slice()) {
            (AGENT_PATH, [ni]) => match n.op {
                Op::Set => {
                    self.agent.insert(ni.clone(), (path, content()?));
                }
                Op::Delete => {
                    self.agent.remove(ni);
                }
            },
            (MAC_VRF_PATH, [ni, bi]) => {
                let key = (ni.clone(), bi.clone());
                match n.op {
                    Op::Set => {
                        self.mac_vrfs.insert(key, (path, content()?));
                    }
                    Op::Delete => {
                        self.mac_vrfs.remove(&key);
                        // Its list entries go with it (SR Linux may or may not
                        // send their deletes too).
                        self.static_vteps.retain(|(n, b, _), _| (n, b) != (ni, bi));
                    }
                }
            }
            (STATIC_VTEP_PATH, [ni, bi, vtep]) => {
                let key = (ni.clone(), bi.clone(), vtep.clone());
                match n.op {
                    Op::Set => {
                        let entry = unwrap_list_entry(content()?, &["static-vtep", "static_vtep"]);
                        self.static_vteps.insert(key, (path, entry));
                    }
                    Op::Delete => {
                        self.static_vteps.remove(&key);
                    }
                }
            }
            _ => {
                return Err(fail(format!("{}: not a static-vxlan-agent configuration node", yang_path(n))));
            }
        }
        Ok(())
    }

    /// The tree as our configuration model; `None` without the agent
    /// container. Every error found is returned, not just the first; an
    /// error that two mac-vrfs share is blamed on the one that changed
    /// since `before` (the running tree).
    fn to_config(&self, before: &Self) -> Result<Option<Config>, Vec<AckError>> {
        let mut errors = Vec::new();
        for (ni, (path, _)) in &self.agent {
            if ni != "default" {
                errors.push(AckError {
                    js_path_with_keys: path.clone(),
                    text: format!(
                        "network-instance[name={ni}]/protocols/static-vxlan-agent: \
                         the agent is configured in the default network-instance only"
                    ),
                });
            }
        }
        let mut mac_vrfs = Map::new();
        let mut mac_vrf_paths = BTreeMap::new();
        let mut placement = Placement { on_sr_linux: true, ..Placement::default() };
        for ((ni, bi), (path, node)) in &self.mac_vrfs {
            let yang = format!(
                "network-instance[name={ni}]/protocols/bgp-evpn/bgp-instance[id={bi}]/static-vxlan-agent"
            );
            if mac_vrfs.contains_key(ni) {
                errors.push(AckError {
                    js_path_with_keys: path.clone(),
                    text: format!("{yang}: only one bgp-instance per mac-vrf can use the agent"),
                });
                continue;
            }
            let mut node = node.clone();
            if let Err(e) = rename_admin_state(&mut node) {
                errors.push(AckError { js_path_with_keys: path.clone(), text: format!("{yang}/{e}") });
                continue;
            }
            normalize_integers(&mut node);
            let mut vteps = Map::new();
            for ((_, _, vtep), (vtep_path, entry)) in self
                .static_vteps
                .range((ni.clone(), bi.clone(), String::new())..)
                .take_while(|((n, b, _), _)| (n, b) == (ni, bi))
            {
                let mut entry = entry.clone();
                entry.remove("vtep-ip");
                if let Err(e) = typed::<StaticVtep>(&entry) {
                    errors.push(AckError {
                        js_path_with_keys: vtep_path.clone(),
                        text: e.at(&format!("{yang}/static-vtep[vtep-ip={vtep}]")),
                    });
                    continue;
                }
                vteps.insert(vtep.clone(), Value::Object(entry));
            }
            node.remove("static-vtep");
            node.insert("static-vteps".into(), Value::Object(vteps));
            if let Err(e) = typed::<MacVrf>(&node) {
                errors.push(AckError { js_path_with_keys: path.clone(), text: e.at(&yang) });
                continue;
            }
            mac_vrf_paths.insert(ni.clone(), path.clone());
            placement.bgp_instance.insert(ni.clone(), bi.clone());
            if self.mac_vrf_differs(before, ni, bi) {
                placement.changed.insert(ni.clone());
            }
            mac_vrfs.insert(ni.clone(), Value::Object(node));
        }
        let Some((agent_path, agent)) = self.agent.get("default") else {
            return if errors.is_empty() { Ok(None) } else { Err(errors) };
        };
        let yang = "network-instance[name=default]/protocols/static-vxlan-agent";
        let mut agent = agent.clone();
        if let Err(e) = rename_admin_state(&mut agent) {
            errors.push(AckError { js_path_with_keys: agent_path.clone(), text: format!("{yang}/{e}") });
        }
        normalize_integers(&mut agent);
        fill_yang_defaults(&mut agent);
        agent.insert("mac-vrfs".into(), Value::Object(mac_vrfs));
        if !errors.is_empty() {
            return Err(errors);
        }
        let config = match typed::<Config>(&agent) {
            Ok(config) => config,
            Err(e) => {
                return Err(vec![AckError { js_path_with_keys: agent_path.clone(), text: e.at(yang) }]);
            }
        };
        if let Err(e) = config.validate_in(&placement) {
            // Errors about a mac-vrf go to its node, the rest to ours.
            let node = e
                .path
                .strip_prefix("network-instance[name=")
                .and_then(|rest| rest.split(']').next())
                .and_then(|ni| mac_vrf_paths.get(ni))
                .unwrap_or(agent_path);
            let text = if e.path.starts_with("network-instance[") {
                e.to_string()
            } else {
                // validate() names agent leaves relative to the container.
                format!("{}: {}", e.path.replacen("static-vxlan-agent", yang, 1), e.reason)
            };
            return Err(vec![AckError { js_path_with_keys: node.clone(), text }]);
        }
        Ok(Some(config))
    }
}

impl Tree {
    /// Whether the mac-vrf container (ni, bi) or any of its static VTEPs
    /// differs between `before` and this tree.
    fn mac_vrf_differs(&self, before: &Self, ni: &str, bi: &str) -> bool {
        let key = (ni.to_owned(), bi.to_owned());
        let vteps = |tree: &Self| -> Vec<Node> {
            tree.static_vteps
                .iter()
                .filter(|((n, b, _), _)| n == ni && b == bi)
                .map(|(_, node)| node.clone())
                .collect()
        };
        before.mac_vrfs.get(&key) != self.mac_vrfs.get(&key) || vteps(before) != vteps(self)
    }
}

/// A node's leaves as one of our typed structs. The error names the leaf
/// below the node, YANG style (`duplicate-mac/moves: invalid type ...`), so
/// that with the node's path in front it is the YANG path of the bad value.
fn typed<T: serde::de::DeserializeOwned>(node: &Map<String, Value>) -> Result<T, LeafError> {
    serde_path_to_error::deserialize(Value::Object(node.clone())).map_err(|e| {
        let mut leaf = String::new();
        let mut segments = e.path().iter();
        while let Some(segment) = segments.next() {
            match segment {
                serde_path_to_error::Segment::Map { key } => {
                    if !leaf.is_empty() {
                        leaf.push('/');
                    }
                    // Our map of static VTEPs is the YANG list `static-vtep`.
                    if key == "static-vteps"
                        && let Some(serde_path_to_error::Segment::Map { key: vtep }) = segments.next()
                    {
                        leaf.push_str("static-vtep[vtep-ip=");
                        leaf.push_str(vtep);
                        leaf.push(']');
                    } else {
                        leaf.push_str(key);
                    }
                }
                // A leaf-list entry: the leaf-list names it well enough, and
                // the message quotes the value.
                serde_path_to_error::Segment::Seq { .. }
                | serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        LeafError { leaf, message: e.into_inner().to_string() }
    })
}

/// A value that did not fit our model, at a leaf below a node.
struct LeafError {
    /// The leaf's path below the node (empty: the node itself).
    leaf: String,
    /// What serde found wrong.
    message: String,
}

impl LeafError {
    /// The message, led by the YANG path of the value (`node` is the node's).
    fn at(&self, node: &str) -> String {
        if self.leaf.is_empty() {
            format!("{node}: {}", self.message)
        } else {
            format!("{node}/{}: {}", self.leaf, self.message)
        }
    }
}

/// The YANG path of a notification's node, for messages.
fn yang_path(n: &Notification) -> String {
    let mut path = n.js_path.trim_start_matches('.').replace('_', "-").replace('.', "/");
    for key in &n.keys {
        path.push_str(" [");
        path.push_str(key);
        path.push(']');
    }
    path
}

/// Accepts a list entry's leaves bare or wrapped in `{"<list>": {...}}`.
fn unwrap_list_entry(mut map: Map<String, Value>, names: &[&str]) -> Map<String, Value> {
    if map.len() == 1
        && let Some(name) = names.iter().find(|n| map.contains_key(**n))
        && let Some(Value::Object(inner)) = map.remove(*name)
    {
        return inner;
    }
    map
}

/// YANG's `admin-state enable|disable` is our `enabled` boolean.
fn rename_admin_state(map: &mut Map<String, Value>) -> Result<(), String> {
    if let Some(state) = map.remove("admin-state") {
        let enabled = match state.as_str() {
            Some("enable") => true,
            Some("disable") => false,
            _ => return Err(format!("admin-state: must be enable or disable, not {state}")),
        };
        map.insert("enabled".into(), Value::Bool(enabled));
    }
    Ok(())
}

/// Integer leaves sent as strings become numbers.
fn normalize_integers(map: &mut Map<String, Value>) {
    for (name, value) in map.iter_mut() {
        match value {
            Value::String(text) if INTEGER_LEAVES.contains(&name.as_str()) => {
                if let Ok(n) = text.parse::<u64>() {
                    *value = Value::from(n);
                }
            }
            Value::Object(inner) => normalize_integers(inner),
            _ => {}
        }
    }
}

/// SR Linux omits leaves left at their YANG default; where our model has
/// no serde default for them (inside containers), fill them in here.
fn fill_yang_defaults(agent: &mut Map<String, Value>) {
    // On SR Linux the physical ports live in srbase; standalone has no
    // such default (the YAML says where, or the agent's own namespace).
    agent.entry("learning-netns").or_insert(Value::from("srbase"));
    agent.entry("state-file").or_insert(Value::from(crate::config::model::SR_LINUX_STATE_FILE));
    if let Some(Value::Object(auto)) = agent.get_mut("auto-discover") {
        auto.entry("max-vteps").or_insert(Value::from(64));
        auto.entry("allowed-prefixes").or_insert(Value::Array(Vec::new()));
    }
    if let Some(Value::Object(dup)) = agent.get_mut("duplicate-mac") {
        dup.entry("moves").or_insert(Value::from(5));
        dup.entry("window-secs").or_insert(Value::from(180));
        dup.entry("hold-secs").or_insert(Value::from(540));
    }
}

pub mod properties;
#[cfg(test)]
mod tests;
