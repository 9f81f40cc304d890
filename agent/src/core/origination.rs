//! The routes a state calls for, and the flush that sends the difference.
//! RT-3 per (static VTEP, mac-vrf) with its PMSI tunnel (RFC 7432 §7.3,
//! RFC 8365 §5.1.3: ingress replication, the VNI as label); RT-2 per MAC
//! and per (MAC, IP) with the MAC mobility community when the sequence is
//! not 0 and the sticky flag for static MACs (§7.2, §15). Inputs mark
//! scopes dirty; [`Core::flush`] derives each dirty scope again and
//! compares it with what was advertised.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use bgp_wire::{
    Esi, EvpnRoute, ExtCommunity, Imet, Label, MacAddr, MacIp, Origin, PathAttributes, PmsiTunnel,
    PmsiTunnelId, RouteDistinguisher, TUNNEL_VXLAN,
};

use super::{
    Core,
    learning::is_ipv6_link_local,
    msg::{Forget, Output},
    table::{Few, Refused, Source, Status},
};
use crate::{
    bgp::rib::{OutRoute, RouteAttributes},
    config::model::{Config, MacVrf},
    packed_map::PackedMap,
};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Scope {
    Everything,
    Rt3(Arc<str>, Ipv4Addr),
    Mac(Arc<str>, MacAddr),
}

/// The RT-2 of one MAC, compact: they share the RD, the label and the
/// attributes, and differ only in the IP. This is what the core keeps per
/// advertised MAC; 80 bytes per route as `OutRoute`s was a quarter of the
/// agent's memory per learned MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MacRoutes {
    pub(super) rd: RouteDistinguisher,
    pub(super) label: Label,
    pub(super) attributes: Arc<RouteAttributes>,
    /// The MAC+IP routes next to the MAC-only one (none without
    /// `include-ip`).
    pub(super) ips: Few<IpAddr>,
}

impl MacRoutes {
    /// The routes themselves: the MAC-only one first, then one per IP.
    pub(super) fn routes(&self, mac: MacAddr) -> impl Iterator<Item = OutRoute> + '_ {
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
pub(super) struct Advertised {
    pub(super) rt3: BTreeMap<(Arc<str>, Ipv4Addr), OutRoute>,
    pub(super) macs: BTreeMap<Arc<str>, PackedMap<MacAddr, MacRoutes>>,
    /// How many routes all of the above stand for.
    pub(super) count: usize,
}

impl Advertised {
    /// Every route.
    pub(super) fn routes(&self) -> impl Iterator<Item = OutRoute> + '_ {
        let macs = self.macs.values().flat_map(|macs| macs.iter().flat_map(|(mac, r)| r.routes(*mac)));
        self.rt3.values().cloned().chain(macs)
    }
}

impl Core {
    pub(super) fn all_scopes(&self) -> Vec<Scope> {
        let mut scopes = self.rt3_scopes();
        for (name, vrf) in &self.vrfs {
            if self.config.as_ref().is_some_and(|c| c.mac_vrfs.contains_key(name)) {
                scopes.extend(vrf.macs.keys().map(|mac| Scope::Mac(vrf.name.clone(), *mac)));
            }
        }
        scopes
    }

    /// The RT-3 scopes the configuration and the discovered VTEPs call for.
    pub(super) fn rt3_scopes(&self) -> Vec<Scope> {
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
    pub(super) fn every_rt3_scope(&self) -> Vec<Scope> {
        let mut rt3: BTreeSet<Scope> = self.rt3_scopes().into_iter().collect();
        rt3.extend(self.advertised.rt3.keys().map(|(name, vtep)| Scope::Rt3(name.clone(), *vtep)));
        rt3.into_iter().collect()
    }

    /// The MACs of mac-vrf `name` that are in the state (and the
    /// configuration) or advertised, in order.
    pub(super) fn macs_of(&self, name: &Arc<str>) -> Vec<MacAddr> {
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
    /// a native EVPN VTEP, not reported down, the mac-vrf and the agent
    /// enabled.
    pub(super) fn speaks_for(&self, name: &str, vtep: Ipv4Addr) -> Option<(&Config, &MacVrf)> {
        let config = self.config.as_ref().filter(|c| c.enabled)?;
        let mac_vrf = config.mac_vrfs.get(name).filter(|m| m.enabled)?;
        let known = mac_vrf.static_vteps.contains_key(&vtep)
            || self.vrfs.get(name).is_some_and(|v| v.discovered.contains_key(&vtep));
        let alive = !self.withdrawn_vteps.contains_key(&vtep);
        (known && alive && !self.evpn_vteps.contains_key(&IpAddr::V4(vtep))).then_some((config, mac_vrf))
    }

    /// The routes one scope calls for.
    pub(super) fn derive(&self, scope: &Scope) -> Vec<OutRoute> {
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
    pub(super) fn derive_mac(&self, name: &str, mac: MacAddr) -> Option<MacRoutes> {
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

    pub(super) fn attributes(
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
    pub(super) fn intern(&mut self, attributes: &Arc<RouteAttributes>) -> Arc<RouteAttributes> {
        if let Some(shared) = self.interned.get(attributes) {
            return shared.clone();
        }
        self.interned.insert(attributes.clone());
        attributes.clone()
    }

    /// Derives every dirty scope again and emits the differences.
    pub(super) fn flush(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        let mut announce = Vec::new();
        let dirty = std::mem::take(&mut self.dirty);
        if !dirty.is_empty() {
            self.generation += 1;
        }
        // The VTEP set (configured, discovered, EVPN) only changes where an
        // RT-3 scope is dirtied: a learned MAC does not walk the VTEPs.
        let vteps_changed = dirty.iter().any(|scope| matches!(scope, Scope::Everything | Scope::Rt3(..)));
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
        if vteps_changed {
            let probe = self.probe_targets();
            if probe != self.probe_sent {
                self.probe_sent.clone_from(&probe);
                out.push(Output::Probe(probe));
            }
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
    pub(super) fn flush_scope(&mut self, scope: Scope, out: &mut Vec<Output>, announce: &mut Vec<Output>) {
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

pub(super) fn base_path(
    config: &Config,
    communities: Vec<ExtCommunity>,
    pmsi: Option<PmsiTunnel>,
) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(Vec::new()),
        local_pref: Some(config.local_preference),
        ext_communities: Some(communities),
        pmsi_tunnel: pmsi,
        ..Default::default()
    }
}

pub(super) fn rt3_attributes(config: &Config, mac_vrf: &MacVrf, vtep: Ipv4Addr) -> RouteAttributes {
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
