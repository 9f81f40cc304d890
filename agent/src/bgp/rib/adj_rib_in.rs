//! The Adj-RIB-In: the peer's EVPN routes by NLRI key, so that a
//! withdrawal names exactly what disappeared and our own routes reflected
//! back are told apart (RFC 4456 §8).

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
};

use bgp_wire::{EvpnRoute, EvpnRouteKey, ExtCommunity, MpReach, MpUnreach, PmsiTunnel, Update};

/// A route the peer advertised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InRoute {
    /// The NLRI.
    pub route: EvpnRoute,
    /// The `MP_REACH_NLRI` next hop: the VTEP behind the route.
    pub next_hop: IpAddr,
    /// `ORIGINATOR_ID`, set when a route reflector passed the route on.
    pub originator_id: Option<Ipv4Addr>,
    /// Its extended communities (route targets, MAC mobility, ...).
    pub ext_communities: Vec<ExtCommunity>,
    /// Its PMSI tunnel, for RT-3.
    pub pmsi_tunnel: Option<PmsiTunnel>,
}

/// What an UPDATE changed in the Adj-RIB-In.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RibInChange {
    /// A route appeared or changed.
    Announced(InRoute),
    /// A route disappeared.
    Withdrawn(EvpnRoute),
    /// A route that carries our own BGP identifier as `ORIGINATOR_ID`: ours,
    /// reflected back to us. Ignored (RFC 4456 §8); reported for counting.
    OwnIgnored(EvpnRoute),
}

#[derive(Debug, Default)]
pub struct AdjRibIn {
    routes: HashMap<EvpnRouteKey, InRoute>,
}

impl AdjRibIn {
    #[must_use]
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Applies a received UPDATE. A treat-as-withdraw UPDATE (RFC 7606)
    /// withdraws the routes it announces; other routes are untouched. A
    /// route whose `ORIGINATOR_ID` is `own_id` (our BGP identifier) is one
    /// of ours coming back: it is ignored as RFC 4456 §8 asks, and replaces
    /// (withdraws) whatever the key held. Another proxy's routes carry its
    /// own identifier and are kept.
    pub fn apply(&mut self, update: &Update, own_id: Ipv4Addr) -> Vec<RibInChange> {
        let mut changes = Vec::new();
        let attributes = &update.attributes;
        if let Some(MpUnreach::Evpn { routes }) = &attributes.mp_unreach {
            for route in routes {
                if let Some(old) = self.routes.remove(&route.key()) {
                    changes.push(RibInChange::Withdrawn(old.route));
                }
            }
        }
        if let Some(MpReach::Evpn { next_hop, routes, .. }) = &attributes.mp_reach {
            let treat_as_withdraw = update.treat_as_withdraw();
            for route in routes {
                if matches!(route, EvpnRoute::Unknown { .. }) {
                    continue; // RFC 7606 §5.4: skipped.
                }
                let key = route.key();
                let own = attributes.originator_id == Some(own_id);
                if treat_as_withdraw || own {
                    if let Some(old) = self.routes.remove(&key) {
                        changes.push(RibInChange::Withdrawn(old.route));
                    }
                    if own {
                        changes.push(RibInChange::OwnIgnored(route.clone()));
                    }
                    continue;
                }
                let incoming = InRoute {
                    route: route.clone(),
                    next_hop: *next_hop,
                    originator_id: attributes.originator_id,
                    ext_communities: attributes.ext_communities.clone().unwrap_or_default(),
                    pmsi_tunnel: attributes.pmsi_tunnel.clone(),
                };
                if self.routes.get(&key) != Some(&incoming) {
                    self.routes.insert(key, incoming.clone());
                    changes.push(RibInChange::Announced(incoming));
                }
            }
        }
        changes
    }

    /// The session went down: every route is gone.
    pub fn clear(&mut self) -> Vec<RibInChange> {
        self.routes.drain().map(|(_, r)| RibInChange::Withdrawn(r.route)).collect()
    }
}
