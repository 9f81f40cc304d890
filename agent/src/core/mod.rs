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
//!
//! Modules, one per rule set: `table` (the MAC table), `learning`
//! (snooped ARP/ND), `received` (routes from the route reflector), `aging`
//! (the tick), `liveness` (dead static VTEPs), `origination` (routes and
//! the flush), `restore` (the saved table) and `view` (state).

mod aging;
mod learning;
mod liveness;
pub mod msg;
mod origination;
mod received;
mod restore;
pub mod saved;
mod table;
mod view;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use bgp_wire::{EvpnRouteKey, MacAddr};
use msg::{Forget, Input, Millis, Notice, Output, ReceivedRoute};

pub use self::{
    liveness::Withdrawn,
    table::{Counters, EvpnVtep, IpTimes, MacEntry, Source, Status},
    view::{MacTable, MacVrfState, ProxyState, UpDown, VtepOrigin, VtepState},
};
use self::{
    origination::{Advertised, Scope},
    table::{Refused, VrfState},
};
use crate::{
    bgp::rib::{OutRoute, RouteAttributes},
    config::model::Config,
};

/// The proxy core. Clone lets a configuration change be tried on a copy
/// and adopted only once everything it needs (a new BGP session) is up.
#[derive(Clone, Debug, Default)]
pub struct Core {
    config: Option<Config>,
    now: Millis,
    vrfs: BTreeMap<String, VrfState>,
    evpn_vteps: BTreeMap<IpAddr, EvpnVtep>,
    /// Received routes by their NLRI's key.
    received: HashMap<EvpnRouteKey, ReceivedRoute>,
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
    /// Static VTEPs reported down, whose routes are withdrawn.
    withdrawn_vteps: BTreeMap<Ipv4Addr, Withdrawn>,
    /// The VTEPs the driver was last told to probe with ICMP.
    probe_sent: Vec<Ipv4Addr>,
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
            Input::VtepLiveness { vtep, up } => self.on_vtep_liveness(vtep, up),
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

    /// The native EVPN VTEPs known now.
    #[must_use]
    pub fn evpn_vteps(&self) -> Vec<IpAddr> {
        self.evpn_vteps.keys().copied().collect()
    }

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
        self.liveness_reconfigured();
        self.dirty.insert(Scope::Everything);
        // Any refusal may be lifted by the new configuration.
        self.forget_everything |= self.refused.any;
    }
}

#[cfg(test)]
mod tests;
