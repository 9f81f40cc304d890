//! Time: what the 1-second tick expires. Learned MACs and IPs not seen for
//! `mac-aging-secs`, auto-discovered VTEPs that went quiet, native EVPN
//! VTEPs gone for an aging time, frozen MACs whose hold ended, and interned
//! attribute sets nobody holds.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use super::{
    Core,
    msg::Notice,
    origination::Scope,
    table::{Source, Status},
};

impl Core {
    pub(super) fn on_tick(&mut self) {
        // Attribute sets only the cache still holds are no longer used.
        self.interned.retain(|attributes| Arc::strong_count(attributes) > 1);
        self.restore_held();
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
}
