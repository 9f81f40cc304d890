//! The MAC table and what the core counts: one entry per (mac-vrf, MAC)
//! with its VTEP, IPs, MAC mobility sequence (RFC 7432 §15) and status;
//! the recent moves duplicate detection counts (§15.1); per-VTEP learned
//! counts for the limits; the native EVPN VTEPs; and the refusals that
//! decide when the snooper must forget what it saw.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use bgp_wire::MacAddr;
use serde::{Deserialize, Serialize};

use super::msg::Millis;
use crate::packed_map::PackedMap;

/// Where a MAC entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Configured as a static MAC of a static VTEP.
    Static,
    /// Learned from ARP/ND.
    Learned,
}

/// Whether we advertise a MAC, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

impl Source {
    /// The value as state shows it (the YANG enumeration `mac/source`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Learned => "learned",
        }
    }
}

impl Status {
    /// The value as state shows it (the YANG enumeration `mac/status`).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Superseded { .. } => "superseded",
            Self::InEvpn { .. } => "in-evpn",
            Self::Frozen { .. } => "frozen",
        }
    }
}

/// A short list that is almost always one item: that item inline, with
/// no allocation (a boxed slice of one costs a 32- or 48-byte heap chunk
/// per MAC), and only longer lists on the heap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) enum Few<T> {
    #[default]
    Empty,
    One(T),
    Many(Box<[T]>),
}

impl<T: Copy> Few<T> {
    pub(super) fn as_slice(&self) -> &[T] {
        match self {
            Self::Empty => &[],
            Self::One(item) => std::slice::from_ref(item),
            Self::Many(items) => items,
        }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Self::Empty => &mut [],
            Self::One(item) => std::slice::from_mut(item),
            Self::Many(items) => items,
        }
    }

    pub(super) fn from_vec(items: Vec<T>) -> Self {
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
pub struct IpTimes(pub(super) Few<(IpAddr, Millis)>);

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

impl<'de> Deserialize<'de> for IpTimes {
    /// From the map [`Serialize`] writes (for `show`, which reads `/state`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ips = BTreeMap::<IpAddr, Millis>::deserialize(deserializer)?;
        Ok(Self(Few::from_vec(ips.into_iter().collect())))
    }
}

/// One MAC in one mac-vrf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    pub(super) moves: Moves,
}

/// When a MAC moved lately. Most MACs never move: nothing is allocated
/// until the first move, and the entry holds one pointer (8 bytes) where a
/// Vec took 24.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Moves(Option<Box<MoveLog>>);

/// The times of a MAC's recent moves, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct MoveLog(Vec<Millis>);

impl Moves {
    /// Records a move at `now`, forgets those older than `window`, and
    /// returns how many are left.
    pub(super) fn record(&mut self, now: Millis, window: Millis) -> usize {
        let log = &mut self.0.get_or_insert_with(Box::default).0;
        log.push(now);
        log.retain(|t| now.saturating_sub(*t) <= window);
        log.len()
    }

    pub(super) fn clear(&mut self) {
        self.0 = None;
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct VrfState {
    /// The mac-vrf's name, shared by every scope in it (a `String` per
    /// scope was an allocation per MAC).
    pub(super) name: Arc<str>,
    /// Auto-discovered static VTEPs, with when each was last heard from.
    pub(super) discovered: BTreeMap<Ipv4Addr, Millis>,
    pub(super) macs: PackedMap<MacAddr, MacEntry>,
    /// Learned MACs per static VTEP, for the per-VTEP limit.
    pub(super) learned_per_vtep: HashMap<Ipv4Addr, usize>,
    pub(super) learned: usize,
    pub(super) limit_reported: bool,
}

/// A native EVPN VTEP: how many of its routes we hold, and since when it
/// has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EvpnVtep {
    /// Routes from it in the Adj-RIB-In.
    pub routes: usize,
    /// When its last route went away (it is forgotten an aging time later,
    /// so that a BGP flap does not make its ARPs look static).
    pub gone_since_ms: Option<Millis>,
}

/// Counters exported to state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
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

impl Counters {
    /// Every counter with its name in state.
    #[must_use]
    pub const fn named(&self) -> [(&'static str, u64); 6] {
        [
            ("learned-events", self.learned_events),
            ("unknown-vni", self.unknown_vni),
            ("from-evpn-vtep", self.from_evpn_vtep),
            ("unknown-vtep", self.unknown_vtep),
            ("invalid", self.invalid),
            ("over-limit", self.over_limit),
        ]
    }
}

/// Learns the core refused since the snooper last forgot everything, by
/// what could make it accept them: the snooper's dedup holds such a
/// binding back for its window, so when one of these changes the core asks
/// it to forget everything it saw.
#[derive(Clone, Copy, Debug, Default)]
#[expect(clippy::struct_excessive_bools, reason = "one flag per cause, each cleared together")]
pub(super) struct Refused {
    /// Anything at all: a new configuration may accept it.
    pub(super) any: bool,
    /// A new MAC over a limit: a MAC leaving makes room.
    pub(super) over_limit: bool,
    /// A VTEP inside the discovery prefixes over `max-vteps`: an expired
    /// VTEP makes room.
    pub(super) no_discovery_room: bool,
    /// A frame from a native EVPN VTEP: the VTEP may be forgotten.
    pub(super) from_evpn: bool,
    /// A frame of a frozen MAC: the hold ends.
    pub(super) frozen: bool,
}

impl MacEntry {
    pub(super) fn new(vtep: Ipv4Addr, source: Source, now: Millis) -> Self {
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
    pub(super) fn named(name: &str) -> Self {
        Self { name: Arc::from(name), ..Self::default() }
    }

    pub(super) fn recount(&mut self) {
        self.learned_per_vtep.clear();
        self.learned = 0;
        for entry in self.macs.values().filter(|e| e.source == Source::Learned) {
            self.learned += 1;
            *self.learned_per_vtep.entry(entry.vtep).or_default() += 1;
        }
        self.limit_reported = false;
    }
}
