//! Learning from snooped ARP/ND (RFC 7432 §15): which frames may create
//! or refresh a MAC (a configured or auto-discovered static VTEP, never a
//! native EVPN one), the per-mac-vrf and per-VTEP limits, a move between
//! static VTEPs with its sequence increment, duplicate detection that
//! freezes a MAC moving too often (§15.1), and the hosts the snooper must
//! forget after a move.

use std::{net::IpAddr, sync::Arc};

use bgp_wire::MacAddr;

use super::{
    Core,
    msg::{Forget, Learned, Notice},
    origination::Scope,
    table::{IpTimes, MacEntry, Source, Status, VrfState},
};

impl Core {
    pub(super) fn on_learned(&mut self, learned: &Learned) {
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
}

/// The host a learn moves away from its old VTEP, for the snooper to
/// forget: the MAC with the IPs it had there, less the one this frame
/// carries (its slot already holds the new VTEP's stamp). `None` when
/// nothing is left to forget: no other IP, and this frame had none (frames
/// without an IP share one slot, which this frame just took).
pub(super) fn moved_away(learned: &Learned, ip: Option<IpAddr>, old: &IpTimes) -> Option<Forget> {
    let ips: Vec<IpAddr> = old.keys().copied().filter(|old| Some(*old) != ip).collect();
    // A frame without a sender IP took the IP-less slot itself.
    if ips.is_empty() && ip.is_none() {
        return None;
    }
    Some(Forget::Host { vni: learned.vni, mac: learned.mac, ips })
}

/// The host behind a MAC entry, for the snooper to forget.
pub(super) fn host_of(vni: u32, mac: MacAddr, ips: &IpTimes) -> Forget {
    Forget::Host { vni, mac, ips: ips.keys().copied().collect() }
}

/// `fe80::/10`: an address that means something on one link only.
pub(super) fn is_ipv6_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}
