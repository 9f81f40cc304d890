//! The core's state as operators see it: per mac-vrf its VTEPs (where
//! each comes from, whether its RT-3 is wanted, how many MACs sit behind
//! it) and MACs, the native EVPN VTEPs and the counters.
//!
//! [`Core::state`] copies typed records; nothing is turned into JSON on the
//! agent task. `/state` serializes the copy, NDK telemetry and `/yang`
//! render it (`ndk::telemetry`), `show` reads it back.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    net::{IpAddr, Ipv4Addr},
};

use bgp_wire::MacAddr;
use serde::{Deserialize, Serialize};

use super::{Core, Counters, EvpnVtep, MacEntry, msg::Millis};

/// The proxy core's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ProxyState {
    /// Per configured mac-vrf, by name.
    pub mac_vrfs: BTreeMap<String, MacVrfState>,
    /// The native EVPN VTEPs we hold routes from (or held lately).
    pub evpn_vteps: BTreeMap<IpAddr, EvpnVtep>,
    /// Routes advertised now.
    pub advertised_routes: usize,
    /// The session as the core last heard of it.
    pub bgp_session: UpDown,
    /// What the core counted.
    pub counters: Counters,
}

/// Up or down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpDown {
    /// Up.
    Up,
    /// Down.
    #[default]
    Down,
}

/// One mac-vrf.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct MacVrfState {
    /// The static VTEPs in its configuration.
    pub configured_vteps: Vec<Ipv4Addr>,
    /// The static VTEPs found by auto-discovery.
    pub discovered_vteps: Vec<Ipv4Addr>,
    /// Every VTEP we may speak for, configured or discovered.
    pub vteps: BTreeMap<Ipv4Addr, VtepState>,
    /// Its MACs.
    pub macs: MacTable,
}

/// A static VTEP as seen from one mac-vrf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VtepState {
    /// Where it comes from.
    pub origin: VtepOrigin,
    /// Whether its RT-3 is wanted now.
    pub rt3_advertised: bool,
    /// How many MACs sit behind it.
    pub macs: usize,
    /// When a discovered VTEP was last heard from (core clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<Millis>,
    /// Its liveness check found it down: its routes are withdrawn (until
    /// it has been up for the hold-down).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withdrawn_down: bool,
}

/// Where a static VTEP comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VtepOrigin {
    /// The configuration names it.
    Configured,
    /// Auto-discovery found it.
    Discovered,
}

/// A mac-vrf's MACs in MAC order: a sorted list, not a map, because it is
/// copied at every state request (a million MACs every 2 s) and only ever
/// walked. It reads and writes as a JSON object keyed by MAC text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MacTable(pub Vec<(MacAddr, MacEntry)>);

impl MacTable {
    /// How many MACs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No MAC at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The MACs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&MacAddr, &MacEntry)> {
        self.0.iter().map(|(mac, entry)| (mac, entry))
    }
}

impl Serialize for MacTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(mac, entry)| (MacText(*mac), entry)))
    }
}

impl<'de> Deserialize<'de> for MacTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let macs = BTreeMap::<String, MacEntry>::deserialize(deserializer)?;
        macs.into_iter()
            .map(|(mac, entry)| Ok((mac.parse().map_err(serde::de::Error::custom)?, entry)))
            .collect::<Result<Vec<_>, D::Error>>()
            .map(|mut macs| {
                macs.sort_by_key(|(mac, _)| *mac);
                Self(macs)
            })
    }
}

/// A MAC as a map key: its text, written without an allocation.
struct MacText(MacAddr);

impl Serialize for MacText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for MacText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Core {
    /// Every static VTEP, configured or discovered, in any mac-vrf.
    #[must_use]
    pub fn state_vteps(&self) -> Vec<Ipv4Addr> {
        let configured =
            self.config.iter().flat_map(|c| c.mac_vrfs.values()).flat_map(|m| m.static_vteps.keys());
        let discovered = self.vrfs.values().flat_map(|v| v.discovered.keys());
        let mut vteps: Vec<Ipv4Addr> = configured.chain(discovered).copied().collect();
        vteps.sort_unstable();
        vteps.dedup();
        vteps
    }

    /// A copy of the state, for `/state`, NDK telemetry and `show`.
    #[must_use]
    pub fn state(&self) -> ProxyState {
        let mac_vrfs = self
            .vrfs
            .iter()
            .map(|(name, vrf)| {
                let configured: Vec<Ipv4Addr> = self
                    .config
                    .as_ref()
                    .and_then(|c| c.mac_vrfs.get(name))
                    .map(|v| v.static_vteps.keys().copied().collect())
                    .unwrap_or_default();
                let macs = MacTable(vrf.macs.iter().map(|(mac, entry)| (*mac, entry.clone())).collect());
                let mut per_vtep: HashMap<Ipv4Addr, usize> = HashMap::new();
                for entry in vrf.macs.values() {
                    *per_vtep.entry(entry.vtep).or_default() += 1;
                }
                // One view per VTEP we may speak for; a VTEP both configured
                // and discovered shows as configured.
                let origins = configured.iter().map(|ip| (*ip, VtepOrigin::Configured, None)).chain(
                    vrf.discovered.iter().map(|(ip, seen)| (*ip, VtepOrigin::Discovered, Some(*seen))),
                );
                let mut vteps = BTreeMap::new();
                for (ip, origin, last_seen_ms) in origins {
                    vteps.entry(ip).or_insert_with(|| VtepState {
                        origin,
                        rt3_advertised: self.speaks_for(name, ip).is_some(),
                        macs: per_vtep.get(&ip).copied().unwrap_or(0),
                        last_seen_ms,
                        withdrawn_down: self.withdrawn_vteps.contains_key(&ip),
                    });
                }
                let state = MacVrfState {
                    configured_vteps: configured,
                    discovered_vteps: vrf.discovered.keys().copied().collect(),
                    vteps,
                    macs,
                };
                (name.clone(), state)
            })
            .collect();
        ProxyState {
            mac_vrfs,
            evpn_vteps: self.evpn_vteps.clone(),
            advertised_routes: self.advertised.count,
            bgp_session: if self.session_up { UpDown::Up } else { UpDown::Down },
            counters: self.counters,
        }
    }
}
