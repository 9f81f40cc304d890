//! Routes received from the route reflector (RFC 7432 §15): the contest
//! between our advertisement of a MAC and another speaker's (a higher
//! sequence, an equal one from a lower VTEP IP, or a sticky one wins; we
//! withdraw and never fight back, and reclaim the MAC when that route goes
//! while it is still fresh), and the native EVPN VTEPs their RT-3s and
//! RT-2s reveal, which we never speak for.

use std::{net::IpAddr, sync::Arc};

use bgp_wire::{EvpnRouteKey, MacAddr};

use super::{
    Core,
    learning::host_of,
    msg::{Notice, ReceivedKind, ReceivedRoute},
    origination::Scope,
    table::{Source, Status},
};

impl Core {
    pub(super) fn on_route(&mut self, route: ReceivedRoute) {
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
    pub(super) fn contest(&mut self, route: &ReceivedRoute, mac: MacAddr) {
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

    pub(super) fn on_withdrawn(&mut self, key: &EvpnRouteKey) {
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

    pub(super) fn on_session(&mut self, up: bool) {
        self.session_up = up;
        if !up {
            let mut keys: Vec<EvpnRouteKey> = self.received.keys().cloned().collect();
            keys.sort();
            for key in keys {
                self.on_withdrawn(&key);
            }
        }
    }

    pub(super) fn forget_received(&mut self, route: &ReceivedRoute) {
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
    pub(super) fn evpn_vtep_changed(&mut self, vtep: IpAddr) {
        let IpAddr::V4(v4) = vtep else { return };
        let configured = self
            .config
            .as_ref()
            .is_some_and(|c| c.mac_vrfs.values().any(|m| m.static_vteps.contains_key(&v4)));
        if configured && self.evpn_vteps.contains_key(&vtep) {
            self.notices.push(Notice::StaticVtepIsEvpn { vtep: v4 });
        }
        self.vtep_routes_dirty(v4);
    }
}

pub(super) fn ip_lower(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) < u32::from(b),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a) < u128::from(b),
        (IpAddr::V4(_), IpAddr::V6(_)) => true,
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}
