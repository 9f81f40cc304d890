//! The proxy core: everything the agent decides, as a deterministic state
//! machine. `process(now, input)` applies one input and returns what to
//! advertise, withdraw, ignore and report. No tokio, no clocks, no sockets.
//!
//! Every route we advertise is a pure function of the state (see
//! [`Core::desired_routes`]). Processing an input marks *scopes* dirty (one
//! MAC, one VTEP, or everything after a configuration change); only dirty
//! scopes are derived again and compared with what was advertised, so an
//! input costs what it touches, and the advertised set always equals the
//! full derivation (the property test checks exactly that).
//!
//! Rules (RFC 7432 §15 for MAC mobility, with the predecessor's bugs fixed):
//! - RT-3 per (static VTEP, mac-vrf); RT-2 per static MAC (sticky, no IP)
//!   and per learned MAC, plus one per (MAC, IP) when `include-ip` is on
//!   (IPv6 link-local IPs too unless `advertise-link-local` is off: FRR
//!   advertises its hosts' link-local neighbours, see docs/OPERATOR-GUIDE.md).
//! - Nothing is learned or advertised behind a native EVPN VTEP.
//! - A learned MAC's first advertisement has no MAC mobility community;
//!   each move between static VTEPs increments the sequence. A received
//!   route with a higher sequence, or an equal one from a lower VTEP IP, or
//!   a sticky one, wins: we withdraw and never fight back. When that route is
//!   withdrawn and the MAC is still fresh, we reclaim it with a higher
//!   sequence.
//! - Duplicate detection freezes a MAC that moves too often; aging withdraws
//!   what is not refreshed; limits stop learning, and say so.
//! - The snooper suppresses repeats of a binding in the kernel, so the core
//!   tells it what it must see again ([`msg::Forget`]): a host it stopped
//!   advertising behind the VTEP it learned it on (moved, or beaten by a
//!   received route), and, once something it refused may be accepted (a
//!   new configuration, room under a limit or `max-vteps`, an EVPN VTEP
//!   forgotten, a MAC unfrozen), everything.

pub mod msg;
pub mod saved;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use bgp_wire::{
    Esi, EvpnRoute, EvpnRouteKey, ExtCommunity, Imet, Label, MacAddr, MacIp, Origin, PathAttributes,
    PmsiTunnel, PmsiTunnelId, RouteDistinguisher, TUNNEL_VXLAN,
};
use msg::{Forget, Input, Learned, Millis, Notice, Output, ReceivedKind, ReceivedRoute};
use serde::Serialize;

use crate::{
    bgp::rib::{OutRoute, RouteAttributes},
    config::model::{Config, MacVrf},
    packed_map::PackedMap,
};

/// Where a MAC entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Configured as a static MAC of a static VTEP.
    Static,
    /// Learned from ARP/ND.
    Learned,
}

/// Whether we advertise a MAC, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case", rename_all_fields = "kebab-case")]
pub enum Status {
    /// Advertised.
    Active,
    /// Another VTEP won it (higher sequence, equal and lower IP, or sticky).
    Superseded {
        /// The winner's next hop.
        by: IpAddr,
    },
    /// It sits behind a native EVPN VTEP now.
    InEvpn {
        /// That VTEP (named apart from the entry's own `vtep`, which this
        /// is flattened next to).
        #[serde(rename = "evpn-vtep")]
        vtep: IpAddr,
    },
    /// Moved too often: not advertised until the hold time ends.
    Frozen {
        /// When the hold ends.
        until_ms: Millis,
    },
}

/// A short list that is almost always one item: that item inline, with
/// no allocation (a boxed slice of one costs a 32- or 48-byte heap chunk
/// per MAC), and only longer lists on the heap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Few<T> {
    #[default]
    Empty,
    One(T),
    Many(Box<[T]>),
}

impl<T: Copy> Few<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            Self::Empty => &[],
            Self::One(item) => std::slice::from_ref(item),
            Self::Many(items) => items,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Self::Empty => &mut [],
            Self::One(item) => std::slice::from_mut(item),
            Self::Many(items) => items,
        }
    }

    fn from_vec(items: Vec<T>) -> Self {
        match *items.as_slice() {
            [] => Self::Empty,
            [item] => Self::One(item),
            _ => Self::Many(items.into_boxed_slice()),
        }
    }
}

impl<T: Copy> FromIterator<T> for Few<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut items = items.into_iter();
        let Some(first) = items.next() else { return Self::Empty };
        let Some(second) = items.next() else { return Self::One(first) };
        Self::from_vec([first, second].into_iter().chain(items).collect())
    }
}

/// A MAC's IPs, each with when it was last seen, sorted by IP. Usually one
/// IP, kept inline: a `BTreeMap` allocates a whole node (about 300 bytes)
/// for its first entry, and a Vec's first growth makes room for four. A new
/// IP rebuilds the list, which is rare next to refreshes of a known one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpTimes(Few<(IpAddr, Millis)>);

impl IpTimes {
    /// Records that `ip` was seen at `at`; true if it is a new IP.
    pub fn insert(&mut self, ip: IpAddr, at: Millis) -> bool {
        match self.0.as_slice().binary_search_by(|(known, _)| known.cmp(&ip)) {
            Ok(index) => {
                self.0.as_mut_slice()[index].1 = at;
                false
            }
            Err(index) => {
                let mut ips = self.0.as_slice().to_vec();
                ips.insert(index, (ip, at));
                self.0 = Few::from_vec(ips);
                true
            }
        }
    }

    /// Forgets every IP.
    pub fn clear(&mut self) {
        self.0 = Few::Empty;
    }

    /// How many IPs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.as_slice().len()
    }

    /// No IP at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.as_slice().is_empty()
    }

    /// Keeps the IPs for which `keep(ip, last_seen)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&IpAddr, &mut Millis) -> bool) {
        let mut ips = self.0.as_slice().to_vec();
        ips.retain_mut(|(ip, at)| keep(ip, at));
        self.0 = Few::from_vec(ips);
    }

    /// The IPs, in order.
    pub fn keys(&self) -> impl Iterator<Item = &IpAddr> {
        self.0.as_slice().iter().map(|(ip, _)| ip)
    }
}

impl Serialize for IpTimes {
    /// As a map from IP to last seen, as before this type existed.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.as_slice().iter().map(|(ip, at)| (ip, at)))
    }
}

/// One MAC in one mac-vrf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct MacEntry {
    /// The static VTEP it sits behind.
    pub vtep: Ipv4Addr,
    /// Static or learned.
    pub source: Source,
    /// Its IPs, with when each was last seen.
    pub ips: IpTimes,
    /// When the MAC was last seen.
    pub last_seen_ms: Millis,
    /// The MAC mobility sequence we advertise (0: none sent).
    pub sequence: u32,
    /// The highest sequence seen from others for this MAC.
    pub best_remote_sequence: u32,
    /// Advertised or not, and why.
    #[serde(flatten)]
    pub status: Status,
    /// Recent moves, for duplicate detection.
    #[serde(skip)]
    moves: Moves,
}

/// When a MAC moved lately. Most MACs never move: nothing is allocated
/// until the first move, and the entry holds one pointer (8 bytes) where a
/// Vec took 24.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Moves(Option<Box<MoveLog>>);

/// The times of a MAC's recent moves, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct MoveLog(Vec<Millis>);

impl Moves {
    /// Records a move at `now`, forgets those older than `window`, and
    /// returns how many are left.
    fn record(&mut self, now: Millis, window: Millis) -> usize {
        let log = &mut self.0.get_or_insert_with(Box::default).0;
        log.push(now);
        log.retain(|t| now.saturating_sub(*t) <= window);
        log.len()
    }

    fn clear(&mut self) {
        self.0 = None;
    }
}

#[derive(Clone, Debug, Default)]
struct VrfState {
    /// The mac-vrf's name, shared by every scope in it (a `String` per
    /// scope was an allocation per MAC).
    name: Arc<str>,
    /// Auto-discovered static VTEPs, with when each was last heard from.
    discovered: BTreeMap<Ipv4Addr, Millis>,
    macs: PackedMap<MacAddr, MacEntry>,
    /// Learned MACs per static VTEP, for the per-VTEP limit.
    learned_per_vtep: HashMap<Ipv4Addr, usize>,
    learned: usize,
    limit_reported: bool,
}

/// A native EVPN VTEP: how many of its routes we hold, and since when it
/// has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EvpnVtep {
    /// Routes from it in the Adj-RIB-In.
    pub routes: usize,
    /// When its last route went away (it is forgotten an aging time later,
    /// so that a BGP flap does not make its ARPs look static).
    pub gone_since_ms: Option<Millis>,
}

/// Counters exported to state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Counters {
    /// Learned events processed.
    pub learned_events: u64,
    /// Ignored: the VNI is not configured.
    pub unknown_vni: u64,
    /// Ignored: from a native EVPN VTEP.
    pub from_evpn_vtep: u64,
    /// Ignored: from a VTEP that is not configured and not discoverable.
    pub unknown_vtep: u64,
    /// Ignored: multicast, broadcast or zero MAC, or IPv6 outer VTEP.
    pub invalid: u64,
    /// Not learned: a MAC limit was reached.
    pub over_limit: u64,
}

/// Learns the core refused since the snooper last forgot everything, by
/// what could make it accept them: the snooper's dedup holds such a
/// binding back for its window, so when one of these changes the core asks
/// it to forget everything it saw.
#[derive(Clone, Copy, Debug, Default)]
#[expect(clippy::struct_excessive_bools, reason = "one flag per cause, each cleared together")]
struct Refused {
    /// Anything at all: a new configuration may accept it.
    any: bool,
    /// A new MAC over a limit: a MAC leaving makes room.
    over_limit: bool,
    /// A VTEP inside the discovery prefixes over `max-vteps`: an expired
    /// VTEP makes room.
    no_discovery_room: bool,
    /// A frame from a native EVPN VTEP: the VTEP may be forgotten.
    from_evpn: bool,
    /// A frame of a frozen MAC: the hold ends.
    frozen: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Everything,
    Rt3(Arc<str>, Ipv4Addr),
    Mac(Arc<str>, MacAddr),
}

/// The RT-2 of one MAC, compact: they share the RD, the label and the
/// attributes, and differ only in the IP. This is what the core keeps per
/// advertised MAC; 80 bytes per route as `OutRoute`s was a quarter of the
/// agent's memory per learned MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MacRoutes {
    rd: RouteDistinguisher,
    label: Label,
    attributes: Arc<RouteAttributes>,
    /// The MAC+IP routes next to the MAC-only one (none without
    /// `include-ip`).
    ips: Few<IpAddr>,
}

impl MacRoutes {
    /// The routes themselves: the MAC-only one first, then one per IP.
    fn routes(&self, mac: MacAddr) -> impl Iterator<Item = OutRoute> + '_ {
        let ips = std::iter::once(None).chain(self.ips.as_slice().iter().copied().map(Some));
        ips.map(move |ip| OutRoute {
            route: EvpnRoute::MacIp(MacIp {
                rd: self.rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac,
                ip,
                label1: self.label,
                label2: None,
            }),
            attributes: self.attributes.clone(),
        })
    }
}

/// What the core told the speaker to advertise, by the scope that called
/// for it. MACs are kept per mac-vrf by MAC address: a `Scope` key per MAC
/// cost 24 bytes and its share of half-full B-tree nodes.
#[derive(Clone, Debug, Default)]
struct Advertised {
    rt3: BTreeMap<(Arc<str>, Ipv4Addr), OutRoute>,
    macs: BTreeMap<Arc<str>, PackedMap<MacAddr, MacRoutes>>,
    /// How many routes all of the above stand for.
    count: usize,
}

impl Advertised {
    /// Every route.
    fn routes(&self) -> impl Iterator<Item = OutRoute> + '_ {
        let macs = self.macs.values().flat_map(|macs| macs.iter().flat_map(|(mac, r)| r.routes(*mac)));
        self.rt3.values().cloned().chain(macs)
    }
}

/// The proxy core. Clone lets a configuration change be tried on a copy
/// and adopted only once everything it needs (a new BGP session) is up.
#[derive(Clone, Debug, Default)]
pub struct Core {
    config: Option<Config>,
    now: Millis,
    vrfs: BTreeMap<String, VrfState>,
    evpn_vteps: BTreeMap<IpAddr, EvpnVtep>,
    received: HashMap<String, ReceivedRoute>,
    /// How many received RT-2s there are per (VNI, MAC, next hop): whether
    /// a MAC is still beaten from a VTEP is one lookup here, where a scan
    /// of every received route made a session drop O(N²) (issue 23).
    received_macs: HashMap<(u32, MacAddr, IpAddr), u32>,
    /// What we told the speaker to advertise. Keyed by scope alone: a map
    /// by route key next to it held every key twice more.
    advertised: Advertised,
    /// One shared copy of each attribute set in use: a million MACs behind
    /// ten VTEPs share ten sets instead of carrying a million. Pruned on
    /// ticks of what nobody holds any more.
    interned: HashSet<Arc<RouteAttributes>>,
    ignore_sent: Vec<IpAddr>,
    counters: Counters,
    session_up: bool,
    dirty: BTreeSet<Scope>,
    notices: Vec<Notice>,
    refused: Refused,
    /// Something refused may be accepted now: the next flush asks the
    /// snooper to forget everything.
    forget_everything: bool,
    /// Hosts the snooper must forget at the next flush.
    forget_hosts: Vec<Forget>,
    /// Counts the flushes that changed something: a saved table older than
    /// the current count is out of date.
    generation: u64,
}

impl Core {
    /// A core with no configuration: it advertises nothing until one comes.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one input at time `now` and returns what to do.
    pub fn process(&mut self, now: Millis, input: Input) -> Vec<Output> {
        self.now = self.now.max(now);
        match input {
            Input::Config(config) => self.on_config(*config),
            Input::Learned(learned) => self.on_learned(&learned),
            Input::Route(route) => self.on_route(route),
            Input::Withdrawn { key } => self.on_withdrawn(&key),
            Input::Session { up } => self.on_session(up),
            Input::Tick => self.on_tick(),
            Input::Restore { table, unix_now_ms } => self.on_restore(*table, unix_now_ms),
        }
        self.flush()
    }

    /// Every route the current state calls for, derived from scratch.
    #[must_use]
    pub fn desired_routes(&self) -> BTreeMap<EvpnRouteKey, OutRoute> {
        let mut all = BTreeMap::new();
        for scope in self.all_scopes() {
            for route in self.derive(&scope) {
                all.insert(route.route.key(), route);
            }
        }
        all
    }

    /// What is advertised now, in no particular order. Built on the way
    /// from the compact table, so owned.
    pub fn advertised(&self) -> impl Iterator<Item = OutRoute> + '_ {
        self.advertised.routes()
    }

    /// How many routes are advertised now.
    #[must_use]
    pub fn advertised_count(&self) -> usize {
        self.advertised.count
    }

    /// Counts the changes to the state (see [`Core::save`]): equal counts,
    /// the same learned table but for when its MACs were last seen.
    #[must_use]
    pub const fn generation(&self) -> u64 {
        self.generation
    }

    /// The learned MACs of every mac-vrf, with their times on the wall clock
    /// (`now` on the core's clock is `unix_now_ms` on the wall clock), for
    /// [`Input::Restore`] after a restart.
    #[must_use]
    pub fn save(&self, now: Millis, unix_now_ms: u64) -> saved::SavedTable {
        let now = now.max(self.now);
        let unix = |at: Millis| unix_now_ms.saturating_sub(now.saturating_sub(at));
        let mac_vrfs = self
            .vrfs
            .iter()
            .map(|(name, vrf)| {
                let macs = vrf
                    .macs
                    .iter()
                    .filter(|(_, entry)| entry.source == Source::Learned)
                    .map(|(mac, entry)| saved::SavedMac {
                        mac: *mac,
                        vtep: entry.vtep,
                        ips: entry.ips.0.as_slice().iter().map(|(ip, at)| (*ip, unix(*at))).collect(),
                        last_seen_unix_ms: unix(entry.last_seen_ms),
                        sequence: entry.sequence,
                        best_remote_sequence: entry.best_remote_sequence,
                        status: match entry.status {
                            Status::Active => saved::SavedStatus::Active,
                            Status::Superseded { by } => saved::SavedStatus::Superseded { by },
                            Status::InEvpn { vtep } => saved::SavedStatus::InEvpn { vtep },
                            Status::Frozen { until_ms } => saved::SavedStatus::Frozen {
                                until_unix_ms: unix_now_ms + until_ms.saturating_sub(now),
                            },
                        },
                    })
                    .collect();
                (name.clone(), macs)
            })
            .collect();
        saved::SavedTable {
            format: saved::FORMAT.to_owned(),
            version: saved::VERSION,
            written_at_unix_ms: unix_now_ms,
            mac_vrfs,
        }
    }

    /// The native EVPN VTEPs known now.
    #[must_use]
    pub fn evpn_vteps(&self) -> Vec<IpAddr> {
        self.evpn_vteps.keys().copied().collect()
    }

    /// A serializable view of the state, for NDK telemetry and HTTP.
    #[must_use]
    pub fn state(&self) -> serde_json::Value {
        let mac_vrfs: serde_json::Map<String, serde_json::Value> = self
            .vrfs
            .iter()
            .map(|(name, vrf)| {
                let configured: Vec<String> = self
                    .config
                    .as_ref()
                    .and_then(|c| c.mac_vrfs.get(name))
                    .map(|v| v.static_vteps.keys().map(ToString::to_string).collect())
                    .unwrap_or_default();
                let macs: serde_json::Map<String, serde_json::Value> = vrf
                    .macs
                    .iter()
                    .map(|(mac, entry)| (mac.to_string(), serde_json::to_value(entry).unwrap_or_default()))
                    .collect();
                // One view per VTEP we may speak for: where it comes from,
                // whether its RT-3 is wanted now, how many MACs sit behind it.
                let mut vteps = serde_json::Map::new();
                let configured_ips = self
                    .config
                    .as_ref()
                    .and_then(|c| c.mac_vrfs.get(name))
                    .map(|v| v.static_vteps.keys().copied().collect::<Vec<_>>())
                    .unwrap_or_default();
                let origins = configured_ips
                    .iter()
                    .map(|ip| (*ip, "configured", None))
                    .chain(vrf.discovered.iter().map(|(ip, seen)| (*ip, "discovered", Some(*seen))));
                let mut per_vtep: HashMap<Ipv4Addr, usize> = HashMap::new();
                for entry in vrf.macs.values() {
                    *per_vtep.entry(entry.vtep).or_default() += 1;
                }
                for (ip, origin, last_seen_ms) in origins {
                    let macs = per_vtep.get(&ip).copied().unwrap_or(0);
                    let mut view = serde_json::json!({
                        "origin": origin,
                        "rt3-advertised": self.speaks_for(name, ip).is_some(),
                        "macs": macs,
                    });
                    if let Some(seen) = last_seen_ms {
                        view["last-seen-ms"] = seen.into();
                    }
                    vteps.entry(ip.to_string()).or_insert(view);
                }
                let value = serde_json::json!({
                    "configured-vteps": configured,
                    "discovered-vteps": vrf.discovered.keys().map(ToString::to_string).collect::<Vec<_>>(),
                    "vteps": vteps,
                    "macs": macs,
                });
                (name.clone(), value)
            })
            .collect();
        serde_json::json!({
            "mac-vrfs": mac_vrfs,
            "evpn-vteps": self.evpn_vteps.iter().map(|(ip, v)| (ip.to_string(), serde_json::to_value(v).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
            "advertised-routes": self.advertised.count,
            "bgp-session": if self.session_up { "up" } else { "down" },
            "counters": self.counters,
        })
    }

    // ===== Inputs =====

    fn on_config(&mut self, config: Config) {
        // Static MACs follow the configuration; learned ones are kept where
        // their mac-vrf and VTEP still exist.
        self.vrfs.retain(|name, _| config.mac_vrfs.contains_key(name));
        for (name, mac_vrf) in &config.mac_vrfs {
            let vrf = self.vrfs.entry(name.clone()).or_insert_with(|| VrfState::named(name));
            let configured: BTreeMap<MacAddr, Ipv4Addr> = mac_vrf
                .static_vteps
                .iter()
                .flat_map(|(vtep, sv)| sv.static_macs.iter().map(move |mac| (*mac, *vtep)))
                .collect();
            vrf.macs.retain(|mac, entry| entry.source == Source::Learned || configured.contains_key(mac));
            for (mac, vtep) in &configured {
                if !vrf.macs.contains_key(mac) {
                    vrf.macs.insert(*mac, MacEntry::new(*vtep, Source::Static, self.now));
                }
                let Some(entry) = vrf.macs.get_mut(mac) else { continue };
                // A static MAC overrides a learned one (never both).
                entry.source = Source::Static;
                entry.vtep = *vtep;
                entry.ips.clear();
                entry.sequence = 0;
                entry.status = Status::Active;
            }
            // Learned MACs behind a VTEP that is no longer static go.
            let discovered = &vrf.discovered;
            vrf.macs.retain(|_, entry| {
                entry.source == Source::Static
                    || mac_vrf.static_vteps.contains_key(&entry.vtep)
                    || discovered.contains_key(&entry.vtep)
            });
            if config.auto_discover.is_none() {
                vrf.discovered.clear();
                vrf.macs
                    .retain(|_, e| e.source == Source::Static || mac_vrf.static_vteps.contains_key(&e.vtep));
            }
            vrf.recount();
        }
        self.config = Some(config);
        self.dirty.insert(Scope::Everything);
        // Any refusal may be lifted by the new configuration.
        self.forget_everything |= self.refused.any;
    }

    fn on_learned(&mut self, learned: &Learned) {
        self.counters.learned_events += 1;
        let Some(config) = self.config.as_ref().filter(|c| c.enabled) else {
            self.refused.any = true;
            return;
        };
        let IpAddr::V4(vtep) = learned.vtep else {
            self.counters.invalid += 1;
            return;
        };
        if learned.mac.is_multicast() || learned.mac.is_zero() {
            self.counters.invalid += 1;
            return;
        }
        let Some((name, mac_vrf)) = config.mac_vrf_by_vni(learned.vni) else {
            self.counters.unknown_vni += 1;
            self.refused.any = true;
            return;
        };
        if !mac_vrf.enabled {
            self.counters.unknown_vni += 1;
            self.refused.any = true;
            return;
        }
        if self.evpn_vteps.contains_key(&learned.vtep) {
            self.counters.from_evpn_vtep += 1;
            self.refused.any = true;
            self.refused.from_evpn = true;
            return;
        }
        let name = name.to_owned();
        let configured = mac_vrf.static_vteps.contains_key(&vtep);
        let ip = learned.ip.filter(|ip| !ip.is_unspecified() && !ip.is_multicast());
        let (limits, duplicate) =
            ((config.max_macs_per_mac_vrf, config.max_macs_per_vtep), config.duplicate_mac);
        let in_prefixes = config
            .auto_discover
            .as_ref()
            .is_some_and(|auto| auto.allowed_prefixes.iter().any(|p| p.contains(vtep)));
        let discoverable = config.auto_discover.as_ref().filter(|auto| {
            in_prefixes && self.vrfs.values().map(|v| v.discovered.len()).sum::<usize>() < auto.max_vteps
        });
        let now = self.now;
        let vrf = self.vrfs.entry(name.clone()).or_insert_with(|| VrfState::named(&name));
        let vrf_name = Arc::clone(&vrf.name);

        if !configured {
            if let Some(seen) = vrf.discovered.get_mut(&vtep) {
                *seen = now;
            } else if discoverable.is_some() {
                vrf.discovered.insert(vtep, now);
                self.notices.push(Notice::VtepDiscovered { mac_vrf: name.clone(), vtep });
                self.dirty.insert(Scope::Rt3(vrf_name.clone(), vtep));
            } else {
                self.counters.unknown_vtep += 1;
                self.refused.any = true;
                self.refused.no_discovery_room |= in_prefixes;
                return;
            }
        }
        // IPs are kept with include-ip off too, unadvertised (`derive_mac`
        // leaves them out): the snooper keys its dedup by IP, and a host
        // that moves away must be forgotten with every IP it used.

        let Some(entry) = vrf.macs.get_mut(&learned.mac) else {
            // A new MAC: within the limits?
            let per_vtep = vrf.learned_per_vtep.get(&vtep).copied().unwrap_or(0);
            if vrf.learned >= limits.0 || per_vtep >= limits.1 {
                self.counters.over_limit += 1;
                self.refused.any = true;
                self.refused.over_limit = true;
                if !vrf.limit_reported {
                    vrf.limit_reported = true;
                    let limit =
                        if vrf.learned >= limits.0 { "max-macs-per-mac-vrf" } else { "max-macs-per-vtep" };
                    self.notices.push(Notice::LimitReached { mac_vrf: name, limit });
                }
                return;
            }
            let mut entry = MacEntry::new(vtep, Source::Learned, now);
            if let Some(ip) = ip {
                entry.ips.insert(ip, now);
            }
            vrf.macs.insert(learned.mac, entry);
            vrf.learned += 1;
            *vrf.learned_per_vtep.entry(vtep).or_default() += 1;
            self.notices.push(Notice::Learned { mac_vrf: name, mac: learned.mac.to_string(), vtep });
            self.dirty.insert(Scope::Mac(vrf_name, learned.mac));
            return;
        };

        if entry.source == Source::Static {
            // Configured static MACs do not move by traffic (RFC 7432 §15.2).
            // A configuration without it may learn it.
            self.refused.any = true;
            return;
        }
        entry.last_seen_ms = now;
        if entry.vtep == vtep {
            if let Some(ip) = ip
                && entry.ips.insert(ip, now)
            {
                self.dirty.insert(Scope::Mac(vrf_name.clone(), learned.mac));
            }
            if entry.status == Status::Active {
                return;
            }
            // Seen again behind our VTEP after losing it: a move back.
        }
        if let Status::Frozen { .. } = entry.status {
            self.refused.any = true;
            self.refused.frozen = true;
            return;
        }
        if entry.status == (Status::Superseded { by: IpAddr::V4(vtep) }) {
            // We see the MAC where the winning route says it is: agree with
            // it (same VTEP, same sequence), so both advertise one route.
            let from = entry.vtep;
            let left = moved_away(learned, ip, &entry.ips);
            self.forget_hosts.extend(left);
            entry.vtep = vtep;
            entry.ips.clear();
            if let Some(ip) = ip {
                entry.ips.insert(ip, now);
            }
            entry.sequence = entry.best_remote_sequence;
            entry.status = Status::Active;
            let sequence = entry.sequence;
            vrf.recount();
            let mac = learned.mac.to_string();
            self.notices.push(Notice::Moved { mac_vrf: name, mac, from, to: vtep, sequence });
            self.dirty.insert(Scope::Mac(vrf_name, learned.mac));
            return;
        }
        // A move between static VTEPs (or back to us after losing the MAC).
        let from = entry.vtep;
        *vrf.learned_per_vtep.entry(from).or_default() =
            vrf.learned_per_vtep.get(&from).copied().unwrap_or(1).saturating_sub(1);
        *vrf.learned_per_vtep.entry(vtep).or_default() += 1;
        if from != vtep {
            // Room behind the old VTEP.
            self.forget_everything |= self.refused.over_limit;
        }
        self.forget_hosts.extend(moved_away(learned, ip, &entry.ips));
        entry.vtep = vtep;
        entry.ips.clear();
        if let Some(ip) = ip {
            entry.ips.insert(ip, now);
        }
        entry.sequence = entry.sequence.max(entry.best_remote_sequence).saturating_add(1);
        entry.status = Status::Active;
        let recent_moves = entry.moves.record(now, duplicate.window_secs * 1000);
        let mac = learned.mac.to_string();
        if duplicate.moves > 0 && recent_moves >= usize::try_from(duplicate.moves).unwrap_or(usize::MAX) {
            let until_ms = now + duplicate.hold_secs * 1000;
            entry.status = Status::Frozen { until_ms };
            self.notices.push(Notice::DuplicateFrozen { mac_vrf: name.clone(), mac, until_ms });
        } else if from == vtep {
            self.notices.push(Notice::Reclaimed {
                mac_vrf: name.clone(),
                mac,
                vtep,
                sequence: entry.sequence,
            });
        } else {
            self.notices.push(Notice::Moved {
                mac_vrf: name.clone(),
                mac,
                from,
                to: vtep,
                sequence: entry.sequence,
            });
        }
        self.dirty.insert(Scope::Mac(vrf_name, learned.mac));
    }

    /// Takes back a saved learned table, MAC by MAC, as if each had been
    /// learned when it was last seen: only into a configured, enabled
    /// mac-vrf, behind a configured static VTEP (or one auto-discovery may
    /// still discover, within `max-vteps`), within the MAC limits, and not
    /// aged out meanwhile; a MAC the core holds already (static, or learned
    /// since the start) keeps what it has. Sequences come back as they
    /// were, so that a move after the restart continues from them.
    fn on_restore(&mut self, table: saved::SavedTable, unix_now_ms: u64) {
        let Some(config) = self.config.as_ref().filter(|c| c.enabled) else { return };
        let now = self.now;
        let aging = config.mac_aging_secs * 1000;
        // Wall-clock times to the core's clock; None if aged out.
        let core_time = |unix_ms: u64| {
            let age = unix_now_ms.saturating_sub(unix_ms);
            (age < aging).then(|| now.saturating_sub(age))
        };
        let (mut restored, mut dropped) = (0, 0);
        let mut discovered_total: usize = self.vrfs.values().map(|v| v.discovered.len()).sum();
        for (name, macs) in table.mac_vrfs {
            let Some(mac_vrf) = config.mac_vrfs.get(&name).filter(|m| m.enabled) else {
                dropped += macs.len();
                continue;
            };
            let vrf = self.vrfs.entry(name.clone()).or_insert_with(|| VrfState::named(&name));
            for saved in macs {
                let configured = mac_vrf.static_vteps.contains_key(&saved.vtep);
                let discovered = vrf.discovered.contains_key(&saved.vtep);
                let discoverable = config.auto_discover.as_ref().is_some_and(|auto| {
                    auto.allowed_prefixes.iter().any(|p| p.contains(saved.vtep))
                        && discovered_total < auto.max_vteps
                });
                let per_vtep = vrf.learned_per_vtep.get(&saved.vtep).copied().unwrap_or(0);
                let within_limits =
                    vrf.learned < config.max_macs_per_mac_vrf && per_vtep < config.max_macs_per_vtep;
                let Some(last_seen) = core_time(saved.last_seen_unix_ms) else {
                    dropped += 1;
                    continue;
                };
                if vrf.macs.contains_key(&saved.mac)
                    || !(configured || discovered || discoverable)
                    || !within_limits
                    || self.evpn_vteps.contains_key(&IpAddr::V4(saved.vtep))
                {
                    dropped += 1;
                    continue;
                }
                if !configured && !discovered {
                    vrf.discovered.insert(saved.vtep, last_seen);
                    discovered_total += 1;
                    self.dirty.insert(Scope::Rt3(vrf.name.clone(), saved.vtep));
                }
                let mut entry = MacEntry::new(saved.vtep, Source::Learned, last_seen);
                for (ip, seen) in &saved.ips {
                    if let Some(at) = core_time(*seen) {
                        entry.ips.insert(*ip, at);
                    }
                }
                entry.sequence = saved.sequence;
                entry.best_remote_sequence = saved.best_remote_sequence;
                entry.status = match saved.status {
                    saved::SavedStatus::Superseded { by } => Status::Superseded { by },
                    saved::SavedStatus::InEvpn { vtep } => Status::InEvpn { vtep },
                    saved::SavedStatus::Frozen { until_unix_ms } if until_unix_ms > unix_now_ms => {
                        Status::Frozen { until_ms: now + (until_unix_ms - unix_now_ms) }
                    }
                    // Active, or a hold that ended while the agent was down.
                    saved::SavedStatus::Active | saved::SavedStatus::Frozen { .. } => Status::Active,
                };
                vrf.macs.insert(saved.mac, entry);
                vrf.learned += 1;
                *vrf.learned_per_vtep.entry(saved.vtep).or_default() += 1;
                self.dirty.insert(Scope::Mac(vrf.name.clone(), saved.mac));
                restored += 1;
            }
        }
        self.notices.push(Notice::Restored { restored, dropped });
    }

    fn on_route(&mut self, route: ReceivedRoute) {
        if let Some(old) = self.received.remove(&route.key) {
            self.forget_received(&old);
        }
        if let ReceivedKind::MacIp { mac, .. } = &route.kind {
            *self.received_macs.entry((route.vni, *mac, route.next_hop)).or_default() += 1;
        }
        if route.from_evpn_vtep() {
            let was_known = self.evpn_vteps.contains_key(&route.next_hop);
            let vtep = self.evpn_vteps.entry(route.next_hop).or_default();
            vtep.routes += 1;
            vtep.gone_since_ms = None;
            if !was_known {
                self.evpn_vtep_changed(route.next_hop);
            }
        }
        if let ReceivedKind::MacIp { mac, .. } = &route.kind {
            self.contest(&route, *mac);
        }
        self.received.insert(route.key.clone(), route);
    }

    /// A received RT-2 for a MAC we may advertise.
    fn contest(&mut self, route: &ReceivedRoute, mac: MacAddr) {
        let Some(config) = &self.config else { return };
        let Some((name, _)) = config.mac_vrf_by_vni(route.vni) else { return };
        let name = name.to_owned();
        let Some(vrf) = self.vrfs.get_mut(&name) else { return };
        let vrf_name = Arc::clone(&vrf.name);
        let Some(entry) = vrf.macs.get_mut(&mac) else { return };
        let remote = route.mobility.map_or((0, false), |m| (m.sequence, m.sticky));
        entry.best_remote_sequence = entry.best_remote_sequence.max(remote.0);
        let ours = IpAddr::V4(entry.vtep);
        if route.next_hop == ours {
            // Another proxy speaks for the same VTEP: agree on the sequence,
            // so that both advertise the same route.
            if entry.source == Source::Learned && remote.0 > entry.sequence {
                entry.sequence = remote.0;
                self.dirty.insert(Scope::Mac(vrf_name, mac));
            }
            return;
        }
        let mac_text = mac.to_string();
        if entry.source == Source::Static {
            // Ours is sticky: receivers keep it; tell the operator.
            self.notices.push(Notice::StickyConflict { mac_vrf: name, mac: mac_text, other: route.next_hop });
            return;
        }
        if route.from_evpn_vtep() {
            if entry.status == Status::Active {
                self.forget_hosts.push(host_of(route.vni, mac, &entry.ips));
            }
            entry.status = Status::InEvpn { vtep: route.next_hop };
            self.notices.push(Notice::MovedToEvpn { mac_vrf: name, mac: mac_text, vtep: route.next_hop });
            self.dirty.insert(Scope::Mac(vrf_name, mac));
            return;
        }
        let remote_wins = remote.1
            || remote.0 > entry.sequence
            || (remote.0 == entry.sequence && ip_lower(route.next_hop, ours));
        if remote_wins && entry.status == Status::Active {
            self.forget_hosts.push(host_of(route.vni, mac, &entry.ips));
            entry.status = Status::Superseded { by: route.next_hop };
            self.notices.push(Notice::Superseded {
                mac_vrf: name,
                mac: mac_text,
                by: route.next_hop,
                sequence: remote.0,
            });
            self.dirty.insert(Scope::Mac(vrf_name, mac));
        }
    }

    fn on_withdrawn(&mut self, key: &str) {
        let Some(route) = self.received.remove(key) else { return };
        self.forget_received(&route);
        // If this route had beaten one of our MACs and the MAC is still
        // fresh behind our VTEP, take it back with a higher sequence.
        let ReceivedKind::MacIp { mac, .. } = route.kind else { return };
        let Some(config) = &self.config else { return };
        let Some((name, _)) = config.mac_vrf_by_vni(route.vni) else { return };
        let aging = config.mac_aging_secs * 1000;
        let name = name.to_owned();
        let now = self.now;
        let still_beaten = self.received_macs.contains_key(&(route.vni, mac, route.next_hop));
        let Some(vrf) = self.vrfs.get_mut(&name) else { return };
        let vrf_name = Arc::clone(&vrf.name);
        let Some(entry) = vrf.macs.get_mut(&mac) else { return };
        let lost_to_it = match entry.status {
            Status::Superseded { by } | Status::InEvpn { vtep: by } => by == route.next_hop,
            _ => false,
        };
        if !lost_to_it || still_beaten {
            return;
        }
        if now.saturating_sub(entry.last_seen_ms) < aging {
            entry.sequence = entry.sequence.max(entry.best_remote_sequence).saturating_add(1);
            entry.status = Status::Active;
            self.notices.push(Notice::Reclaimed {
                mac_vrf: name,
                mac: mac.to_string(),
                vtep: entry.vtep,
                sequence: entry.sequence,
            });
            self.dirty.insert(Scope::Mac(vrf_name, mac));
        }
    }

    fn on_session(&mut self, up: bool) {
        self.session_up = up;
        if !up {
            let mut keys: Vec<String> = self.received.keys().cloned().collect();
            keys.sort();
            for key in keys {
                self.on_withdrawn(&key);
            }
        }
    }

    fn on_tick(&mut self) {
        // Attribute sets only the cache still holds are no longer used.
        self.interned.retain(|attributes| Arc::strong_count(attributes) > 1);
        let Some(config) = &self.config else { return };
        let now = self.now;
        let aging = config.mac_aging_secs * 1000;
        for (name, vrf) in &mut self.vrfs {
            let mut gone = Vec::new();
            for (mac, entry) in vrf.macs.iter_mut() {
                if let Status::Frozen { until_ms } = entry.status
                    && until_ms <= now
                {
                    entry.status = Status::Active;
                    entry.moves.clear();
                    entry.sequence = entry.sequence.max(entry.best_remote_sequence).saturating_add(1);
                    // Where it was seen while frozen was not recorded.
                    self.forget_everything |= self.refused.frozen;
                    self.notices.push(Notice::Unfrozen { mac_vrf: name.clone(), mac: mac.to_string() });
                    self.dirty.insert(Scope::Mac(vrf.name.clone(), *mac));
                }
                if entry.source != Source::Learned {
                    continue;
                }
                if now.saturating_sub(entry.last_seen_ms) >= aging {
                    gone.push(*mac);
                    continue;
                }
                let before = entry.ips.len();
                let mut aged_ips = Vec::new();
                entry.ips.retain(|ip, seen| {
                    let keep = now.saturating_sub(*seen) < aging;
                    if !keep {
                        aged_ips.push(*ip);
                    }
                    keep
                });
                if entry.ips.len() != before {
                    for ip in aged_ips {
                        self.notices.push(Notice::Aged {
                            mac_vrf: name.clone(),
                            mac: mac.to_string(),
                            ip: Some(ip),
                        });
                    }
                    self.dirty.insert(Scope::Mac(vrf.name.clone(), *mac));
                }
            }
            if !gone.is_empty() {
                // Room under the limits.
                self.forget_everything |= self.refused.over_limit;
            }
            for mac in gone {
                vrf.macs.remove(&mac);
                self.notices.push(Notice::Aged { mac_vrf: name.clone(), mac: mac.to_string(), ip: None });
                self.dirty.insert(Scope::Mac(vrf.name.clone(), mac));
            }
            // A discovered VTEP with no learned MAC left and quiet for an
            // aging time is forgotten.
            let busy: BTreeSet<Ipv4Addr> = vrf.macs.values().map(|e| e.vtep).collect();
            let expired: Vec<Ipv4Addr> = vrf
                .discovered
                .iter()
                .filter(|(vtep, seen)| !busy.contains(vtep) && now.saturating_sub(**seen) >= aging)
                .map(|(vtep, _)| *vtep)
                .collect();
            if !expired.is_empty() {
                self.forget_everything |= self.refused.no_discovery_room;
            }
            for vtep in expired {
                vrf.discovered.remove(&vtep);
                self.notices.push(Notice::VtepExpired { mac_vrf: name.clone(), vtep });
                self.dirty.insert(Scope::Rt3(vrf.name.clone(), vtep));
            }
            vrf.recount();
        }
        let forgotten: Vec<IpAddr> = self
            .evpn_vteps
            .iter()
            .filter(|(_, v)| v.gone_since_ms.is_some_and(|t| now.saturating_sub(t) >= aging))
            .map(|(ip, _)| *ip)
            .collect();
        if !forgotten.is_empty() {
            self.forget_everything |= self.refused.from_evpn;
        }
        for ip in forgotten {
            self.evpn_vteps.remove(&ip);
            self.evpn_vtep_changed(ip);
        }
    }

    // ===== Helpers =====

    fn forget_received(&mut self, route: &ReceivedRoute) {
        if let ReceivedKind::MacIp { mac, .. } = &route.kind {
            let key = (route.vni, *mac, route.next_hop);
            if let Some(count) = self.received_macs.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    self.received_macs.remove(&key);
                }
            }
        }
        if route.from_evpn_vtep()
            && let Some(vtep) = self.evpn_vteps.get_mut(&route.next_hop)
        {
            vtep.routes = vtep.routes.saturating_sub(1);
            if vtep.routes == 0 {
                vtep.gone_since_ms = Some(self.now);
            }
        }
    }

    /// The EVPN VTEP set changed at `vtep`: its RT-3 and MACs are derived
    /// again in every mac-vrf.
    fn evpn_vtep_changed(&mut self, vtep: IpAddr) {
        let IpAddr::V4(v4) = vtep else { return };
        let configured = self
            .config
            .as_ref()
            .is_some_and(|c| c.mac_vrfs.values().any(|m| m.static_vteps.contains_key(&v4)));
        if configured && self.evpn_vteps.contains_key(&vtep) {
            self.notices.push(Notice::StaticVtepIsEvpn { vtep: v4 });
        }
        for vrf in self.vrfs.values() {
            self.dirty.insert(Scope::Rt3(vrf.name.clone(), v4));
            for (mac, entry) in vrf.macs.iter() {
                if entry.vtep == v4 {
                    self.dirty.insert(Scope::Mac(vrf.name.clone(), *mac));
                }
            }
        }
    }

    fn all_scopes(&self) -> Vec<Scope> {
        let mut scopes = self.rt3_scopes();
        for (name, vrf) in &self.vrfs {
            if self.config.as_ref().is_some_and(|c| c.mac_vrfs.contains_key(name)) {
                scopes.extend(vrf.macs.keys().map(|mac| Scope::Mac(vrf.name.clone(), *mac)));
            }
        }
        scopes
    }

    /// The RT-3 scopes the configuration and the discovered VTEPs call for.
    fn rt3_scopes(&self) -> Vec<Scope> {
        let mut scopes = Vec::new();
        let Some(config) = &self.config else { return scopes };
        for (name, mac_vrf) in &config.mac_vrfs {
            let vrf = self.vrfs.get(name);
            let vrf_name = vrf.map_or_else(|| Arc::from(name.as_str()), |vrf| Arc::clone(&vrf.name));
            for vtep in mac_vrf.static_vteps.keys() {
                scopes.push(Scope::Rt3(vrf_name.clone(), *vtep));
            }
            if let Some(vrf) = vrf {
                scopes.extend(vrf.discovered.keys().map(|vtep| Scope::Rt3(vrf_name.clone(), *vtep)));
            }
        }
        scopes
    }

    /// Every RT-3 scope that is called for or has a route, in order.
    fn every_rt3_scope(&self) -> Vec<Scope> {
        let mut rt3: BTreeSet<Scope> = self.rt3_scopes().into_iter().collect();
        rt3.extend(self.advertised.rt3.keys().map(|(name, vtep)| Scope::Rt3(name.clone(), *vtep)));
        rt3.into_iter().collect()
    }

    /// The MACs of mac-vrf `name` that are in the state (and the
    /// configuration) or advertised, in order.
    fn macs_of(&self, name: &Arc<str>) -> Vec<MacAddr> {
        let configured = self.config.as_ref().is_some_and(|c| c.mac_vrfs.contains_key(&**name));
        let known = self.vrfs.get(&**name).filter(|_| configured).map(|vrf| vrf.macs.keys());
        let advertised = self.advertised.macs.get(name).map(PackedMap::keys);
        let mut macs: Vec<MacAddr> =
            known.into_iter().flatten().chain(advertised.into_iter().flatten()).copied().collect();
        macs.sort_unstable();
        macs.dedup();
        macs
    }

    /// True if we speak for `vtep` in `name`: configured or discovered, not
    /// a native EVPN VTEP, the mac-vrf and the agent enabled.
    fn speaks_for(&self, name: &str, vtep: Ipv4Addr) -> Option<(&Config, &MacVrf)> {
        let config = self.config.as_ref().filter(|c| c.enabled)?;
        let mac_vrf = config.mac_vrfs.get(name).filter(|m| m.enabled)?;
        let known = mac_vrf.static_vteps.contains_key(&vtep)
            || self.vrfs.get(name).is_some_and(|v| v.discovered.contains_key(&vtep));
        (known && !self.evpn_vteps.contains_key(&IpAddr::V4(vtep))).then_some((config, mac_vrf))
    }

    /// The routes one scope calls for.
    fn derive(&self, scope: &Scope) -> Vec<OutRoute> {
        match scope {
            Scope::Everything => Vec::new(),
            Scope::Rt3(name, vtep) => {
                let Some((config, mac_vrf)) = self.speaks_for(name, *vtep) else { return Vec::new() };
                let route = EvpnRoute::Imet(Imet {
                    rd: RouteDistinguisher::Ipv4 { addr: *vtep, number: mac_vrf.evi },
                    ethernet_tag: 0,
                    originator: config.rt3_originator(*vtep),
                });
                vec![OutRoute { route, attributes: Arc::new(rt3_attributes(config, mac_vrf, *vtep)) }]
            }
            Scope::Mac(name, mac) => {
                self.derive_mac(name, *mac).map(|r| r.routes(*mac).collect()).unwrap_or_default()
            }
        }
    }

    /// The RT-2 one MAC calls for, if any.
    fn derive_mac(&self, name: &str, mac: MacAddr) -> Option<MacRoutes> {
        let entry = self.vrfs.get(name)?.macs.get(&mac)?;
        if entry.status != Status::Active {
            return None;
        }
        let (config, mac_vrf) = self.speaks_for(name, entry.vtep)?;
        let mobility = match entry.source {
            Source::Static => Some((0, true)),
            Source::Learned if entry.sequence > 0 => Some((entry.sequence, false)),
            Source::Learned => None,
        };
        let ips = if entry.source == Source::Learned && config.include_ip {
            let advertised = |ip: &&IpAddr| config.advertise_link_local || !is_ipv6_link_local(**ip);
            entry.ips.keys().filter(advertised).copied().collect()
        } else {
            Few::Empty
        };
        Some(MacRoutes {
            rd: RouteDistinguisher::Ipv4 { addr: entry.vtep, number: mac_vrf.evi },
            label: Label::new(mac_vrf.vni).unwrap_or_default(),
            attributes: Self::attributes(config, mac_vrf, entry.vtep, mobility),
            ips,
        })
    }

    fn attributes(
        config: &Config,
        mac_vrf: &MacVrf,
        vtep: Ipv4Addr,
        mobility: Option<(u32, bool)>,
    ) -> Arc<RouteAttributes> {
        let mut communities = vec![
            ExtCommunity::RouteTarget(config.route_target(mac_vrf)),
            ExtCommunity::Encapsulation { tunnel_type: TUNNEL_VXLAN },
        ];
        if let Some((sequence, sticky)) = mobility {
            communities.push(ExtCommunity::MacMobility { sticky, sequence });
        }
        Arc::new(RouteAttributes { next_hop: vtep.into(), path: base_path(config, communities, None) })
    }

    /// The shared copy of `attributes`.
    fn intern(&mut self, attributes: &Arc<RouteAttributes>) -> Arc<RouteAttributes> {
        if let Some(shared) = self.interned.get(attributes) {
            return shared.clone();
        }
        self.interned.insert(attributes.clone());
        attributes.clone()
    }

    /// Derives every dirty scope again and emits the differences.
    fn flush(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        let mut announce = Vec::new();
        let dirty = std::mem::take(&mut self.dirty);
        if !dirty.is_empty() {
            self.generation += 1;
        }
        if dirty.contains(&Scope::Everything) {
            // Every scope, but not as one set of every scope (50 MB at 1M
            // MACs, measured by `route-memory`): the RT-3 scopes, then each
            // mac-vrf's MAC addresses.
            for scope in self.every_rt3_scope() {
                self.flush_scope(scope, &mut out, &mut announce);
            }
            let mut names: BTreeSet<Arc<str>> = self.vrfs.values().map(|vrf| vrf.name.clone()).collect();
            names.extend(self.advertised.macs.keys().cloned());
            for name in names {
                for mac in self.macs_of(&name) {
                    self.flush_scope(Scope::Mac(name.clone(), mac), &mut out, &mut announce);
                }
            }
        } else {
            for scope in dirty {
                self.flush_scope(scope, &mut out, &mut announce);
            }
        }
        out.extend(announce);
        let ignore = self.evpn_vteps();
        if ignore != self.ignore_sent {
            self.ignore_sent.clone_from(&ignore);
            out.push(Output::IgnoreVteps(ignore));
        }
        if std::mem::take(&mut self.forget_everything) {
            // Everything is seen again, so every refusal with it.
            self.refused = Refused::default();
            self.forget_hosts.clear();
            out.push(Output::ForgetSeen(Forget::Everything));
        }
        out.extend(self.forget_hosts.drain(..).map(Output::ForgetSeen));
        out.extend(self.notices.drain(..).map(Output::Notice));
        out
    }

    /// Derives one scope again: withdrawals go to `out`, announcements to
    /// `announce` (sent after every withdrawal).
    fn flush_scope(&mut self, scope: Scope, out: &mut Vec<Output>, announce: &mut Vec<Output>) {
        let (old, routes): (Vec<OutRoute>, Vec<OutRoute>) = match scope {
            Scope::Everything => return,
            Scope::Rt3(name, vtep) => {
                let mut routes = self.derive(&Scope::Rt3(name.clone(), vtep));
                for route in &mut routes {
                    route.attributes = self.intern(&route.attributes);
                }
                let old = self.advertised.rt3.remove(&(name.clone(), vtep));
                if let Some(route) = routes.first() {
                    self.advertised.rt3.insert((name, vtep), route.clone());
                }
                (old.into_iter().collect(), routes)
            }
            Scope::Mac(name, mac) => {
                let mut wanted = self.derive_mac(&name, mac);
                if let Some(wanted) = &mut wanted {
                    wanted.attributes = self.intern(&wanted.attributes);
                }
                if self.advertised.macs.get(&name).and_then(|macs| macs.get(&mac)) == wanted.as_ref() {
                    // Unchanged: nothing to compare, and the table is left
                    // alone (no churn when a commit re-derives all).
                    return;
                }
                let expand = |r: Option<&MacRoutes>| r.into_iter().flat_map(|r| r.routes(mac)).collect();
                let routes = expand(wanted.as_ref());
                // One write: `insert` returns what it replaced.
                let old = if let Some(wanted) = wanted {
                    self.advertised.macs.entry(name).or_default().insert(mac, wanted)
                } else {
                    let old = self.advertised.macs.get_mut(&name).and_then(|macs| macs.remove(&mac));
                    if self.advertised.macs.get(&name).is_some_and(PackedMap::is_empty) {
                        self.advertised.macs.remove(&name);
                    }
                    old
                };
                (expand(old.as_ref()), routes)
            }
        };
        // A scope has one to a few routes: comparing lists is cheaper
        // than any index.
        for gone in old.iter().filter(|o| !routes.iter().any(|r| r.route.cmp_key(&o.route).is_eq())) {
            out.push(Output::Withdraw(gone.route.key()));
        }
        announce.extend(routes.iter().filter(|r| !old.contains(r)).cloned().map(Output::Announce));
        self.advertised.count = self.advertised.count - old.len() + routes.len();
    }
}

impl MacEntry {
    fn new(vtep: Ipv4Addr, source: Source, now: Millis) -> Self {
        Self {
            vtep,
            source,
            ips: IpTimes::default(),
            last_seen_ms: now,
            sequence: 0,
            best_remote_sequence: 0,
            status: Status::Active,
            moves: Moves::default(),
        }
    }
}

impl VrfState {
    fn named(name: &str) -> Self {
        Self { name: Arc::from(name), ..Self::default() }
    }

    fn recount(&mut self) {
        self.learned_per_vtep.clear();
        self.learned = 0;
        for entry in self.macs.values().filter(|e| e.source == Source::Learned) {
            self.learned += 1;
            *self.learned_per_vtep.entry(entry.vtep).or_default() += 1;
        }
        self.limit_reported = false;
    }
}

/// The host a learn moves away from its old VTEP, for the snooper to
/// forget: the MAC with the IPs it had there, less the one this frame
/// carries (its slot already holds the new VTEP's stamp). `None` when
/// nothing is left to forget: no other IP, and this frame had none (frames
/// without an IP share one slot, which this frame just took).
fn moved_away(learned: &Learned, ip: Option<IpAddr>, old: &IpTimes) -> Option<Forget> {
    let ips: Vec<IpAddr> = old.keys().copied().filter(|old| Some(*old) != ip).collect();
    // A frame without a sender IP took the IP-less slot itself.
    if ips.is_empty() && ip.is_none() {
        return None;
    }
    Some(Forget::Host { vni: learned.vni, mac: learned.mac, ips })
}

/// The host behind a MAC entry, for the snooper to forget.
fn host_of(vni: u32, mac: MacAddr, ips: &IpTimes) -> Forget {
    Forget::Host { vni, mac, ips: ips.keys().copied().collect() }
}

/// `fe80::/10`: an address that means something on one link only.
fn is_ipv6_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

fn ip_lower(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) < u32::from(b),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a) < u128::from(b),
        (IpAddr::V4(_), IpAddr::V6(_)) => true,
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

fn base_path(config: &Config, communities: Vec<ExtCommunity>, pmsi: Option<PmsiTunnel>) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(Vec::new()),
        local_pref: Some(config.local_preference),
        ext_communities: Some(communities),
        pmsi_tunnel: pmsi,
        ..Default::default()
    }
}

fn rt3_attributes(config: &Config, mac_vrf: &MacVrf, vtep: Ipv4Addr) -> RouteAttributes {
    let pmsi = PmsiTunnel {
        flags: 0,
        label: Label::new(mac_vrf.vni).unwrap_or_default(),
        tunnel: PmsiTunnelId::IngressReplication(vtep.into()),
    };
    let communities = vec![
        ExtCommunity::RouteTarget(config.route_target(mac_vrf)),
        ExtCommunity::Encapsulation { tunnel_type: TUNNEL_VXLAN },
    ];
    RouteAttributes { next_hop: vtep.into(), path: base_path(config, communities, Some(pmsi)) }
}

#[cfg(test)]
mod tests;
