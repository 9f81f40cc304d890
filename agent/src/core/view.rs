//! The core's state as operators see it: per mac-vrf its VTEPs (where
//! each comes from, whether its RT-3 is wanted, how many MACs sit behind
//! it) and MACs, the native EVPN VTEPs and the counters.

use std::{collections::HashMap, net::Ipv4Addr};

use super::Core;

impl Core {
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
}
