//! The learned table across restarts: [`Core::save`] writes the learned
//! MACs with wall-clock times, `Input::Restore` takes them back on the
//! core's clock, keeping only what the configuration still allows.

use std::net::IpAddr;

use super::{
    Core,
    msg::{Millis, Notice},
    origination::Scope,
    saved,
    table::{MacEntry, Source, Status, VrfState},
};

impl Core {
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

    /// Takes back a saved learned table, MAC by MAC, as if each had been
    /// learned when it was last seen: only into a configured, enabled
    /// mac-vrf, behind a configured static VTEP (or one auto-discovery may
    /// still discover, within `max-vteps`), within the MAC limits, and not
    /// aged out meanwhile; a MAC the core holds already (static, or learned
    /// since the start) keeps what it has. Sequences come back as they
    /// were, so that a move after the restart continues from them.
    pub(super) fn on_restore(&mut self, table: saved::SavedTable, unix_now_ms: u64) {
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
}
