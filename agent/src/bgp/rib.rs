//! The EVPN Adj-RIB-Out and Adj-RIB-In of one session.
//!
//! Adj-RIB-Out holds what we want the peer to have, keyed by NLRI. Changes
//! mark keys dirty; flushing turns the dirty keys into UPDATEs, grouping
//! routes with identical attributes. Setting a route to what it already is
//! changes nothing, and several changes to one key before a flush send only
//! the last: the peer sees differences, never flaps we went through.
//!
//! Adj-RIB-In holds the peer's EVPN routes, so that withdrawals can be
//! matched and the core told exactly what disappeared.

use std::{
    cmp::Ordering,
    collections::{BTreeMap, BTreeSet, HashMap},
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use bgp_wire::{
    EncodeCx, EncodeError, EvpnRoute, EvpnRouteKey, ExtCommunity, MpReach, MpUnreach, PathAttributes,
    PmsiTunnel, Update, pack_announcements, pack_withdrawals,
};

/// The attributes routes share: next hop and everything but the MP
/// attributes. Routes with equal `RouteAttributes` travel in one UPDATE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteAttributes {
    /// `MP_REACH_NLRI` next hop: the (static) VTEP.
    pub next_hop: IpAddr,
    /// ORIGIN, `AS_PATH`, `LOCAL_PREF`, communities, PMSI.
    pub path: PathAttributes,
}

/// A route we advertise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRoute {
    /// The NLRI.
    pub route: EvpnRoute,
    /// Its attributes, usually shared by many routes.
    pub attributes: Arc<RouteAttributes>,
}

/// An NLRI ordered by its key alone (see [`EvpnRoute::cmp_key`]), so that
/// the Adj-RIB-Out needs no copy of the key next to each route.
#[derive(Debug)]
struct ByKey(EvpnRoute);

impl ByKey {
    /// The lookup probe for `key`.
    fn probe(key: &EvpnRouteKey) -> Self {
        Self(EvpnRoute::from_key(key))
    }
}

impl Ord for ByKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp_key(&other.0)
    }
}

impl PartialOrd for ByKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ByKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ByKey {}

#[derive(Debug, Default)]
pub struct AdjRibOut {
    /// Each route's NLRI, ordered by key, with its attributes. A B-tree, not
    /// a hash table: it grows by nodes, while a hash table doubles (with old
    /// and new table alive during the move) and sits at between half and
    /// seven eighths full, which at a million MACs cost hundreds of
    /// megabytes. The NLRI is its own key: a separate `EvpnRouteKey` per
    /// route cost another 40 bytes and its share of the nodes.
    routes: BTreeMap<ByKey, Arc<RouteAttributes>>,
    /// Keys whose state the peer has not been sent yet.
    dirty: BTreeSet<EvpnRouteKey>,
    /// The NLRI to withdraw for dirty keys no longer in `routes`.
    withdrawn: HashMap<EvpnRouteKey, EvpnRoute>,
}

impl AdjRibOut {
    #[must_use]
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    #[must_use]
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Wants `route` advertised. Returns whether anything changed.
    pub fn set(&mut self, route: OutRoute) -> bool {
        let OutRoute { route, attributes } = route;
        let nlri = ByKey(route);
        if let Some((old, old_attributes)) = self.routes.get_key_value(&nlri)
            && old.0 == nlri.0
            && *old_attributes == attributes
        {
            return false;
        }
        let key = nlri.0.key();
        self.withdrawn.remove(&key);
        // `insert` keeps an equal key that is already there, and the NLRI
        // may have changed in a non-key field (a label): replace both.
        self.routes.remove(&nlri);
        self.routes.insert(nlri, attributes);
        self.dirty.insert(key);
        true
    }

    /// Wants the route with `key` withdrawn. Returns whether anything changed.
    pub fn remove(&mut self, key: &EvpnRouteKey) -> bool {
        let Some((old, _)) = self.routes.remove_entry(&ByKey::probe(key)) else { return false };
        self.withdrawn.insert(key.clone(), old.0);
        self.dirty.insert(key.clone());
        true
    }

    /// Makes the table exactly `routes`: withdraws what is not in it, sets
    /// what is. Returns the number of keys that changed.
    pub fn replace(&mut self, routes: Vec<OutRoute>) -> usize {
        let wanted: HashMap<EvpnRouteKey, OutRoute> =
            routes.into_iter().map(|r| (r.route.key(), r)).collect();
        let gone: Vec<EvpnRouteKey> =
            self.routes.keys().map(|nlri| nlri.0.key()).filter(|k| !wanted.contains_key(k)).collect();
        let mut changed = 0;
        for key in gone {
            changed += usize::from(self.remove(&key));
        }
        for route in wanted.into_values() {
            changed += usize::from(self.set(route));
        }
        changed
    }

    /// Marks every route dirty: after a session (re)establishes or the peer
    /// asks for a route refresh, it must get the whole table again.
    /// Pending withdrawals are dropped: a new session starts empty.
    pub fn mark_all_dirty(&mut self, new_session: bool) {
        if new_session {
            for key in self.withdrawn.keys() {
                self.dirty.remove(key);
            }
            self.withdrawn.clear();
        }
        self.dirty.extend(self.routes.keys().map(|nlri| nlri.0.key()));
    }

    /// Encodes the state of up to `max_keys` dirty keys into UPDATEs and
    /// marks them clean. Withdrawals go first, so that a route which moved
    /// between attribute groups is never withdrawn after its replacement.
    pub fn flush(&mut self, max_keys: usize, cx: EncodeCx) -> Result<Vec<Vec<u8>>, EncodeError> {
        let mut withdraw = Vec::new();
        let mut groups: HashMap<&Arc<RouteAttributes>, Vec<EvpnRoute>> = HashMap::new();
        let mut taken = Vec::with_capacity(max_keys.min(self.dirty.len()));
        for key in self.dirty.iter().take(max_keys) {
            taken.push(key.clone());
            if let Some((nlri, attributes)) = self.routes.get_key_value(&ByKey::probe(key)) {
                groups.entry(attributes).or_default().push(nlri.0.clone());
            } else if let Some(route) = self.withdrawn.get(key) {
                withdraw.push(route.clone());
            }
        }
        let mut messages = pack_withdrawals(&withdraw, cx)?;
        for (attributes, routes) in groups {
            messages.extend(pack_announcements(&attributes.path, attributes.next_hop, &routes, cx)?);
        }
        for key in taken {
            self.dirty.remove(&key);
            self.withdrawn.remove(&key);
        }
        Ok(messages)
    }
}

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
    /// withdraws the routes it announces; other routes are untouched.
    pub fn apply(&mut self, update: &Update) -> Vec<RibInChange> {
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
                if treat_as_withdraw {
                    if let Some(old) = self.routes.remove(&key) {
                        changes.push(RibInChange::Withdrawn(old.route));
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

#[cfg(test)]
mod tests {
    use std::{net::IpAddr, sync::Arc};

    use bgp_wire::{
        DecodeCx, EncodeCx, Esi, EvpnRoute, Label, MacAddr, MacIp, Message, MpReach, MpUnreach, Origin,
        PathAttributes, RouteDistinguisher, Update,
    };

    use super::{AdjRibIn, AdjRibOut, OutRoute, RibInChange, RouteAttributes};

    fn attributes(local_pref: u32) -> Arc<RouteAttributes> {
        Arc::new(RouteAttributes {
            next_hop: IpAddr::from([192, 0, 2, 1]),
            path: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(Vec::new()),
                local_pref: Some(local_pref),
                ..Default::default()
            },
        })
    }

    fn route(mac: u8) -> EvpnRoute {
        EvpnRoute::MacIp(MacIp {
            rd: RouteDistinguisher::Ipv4 { addr: [192, 0, 2, 1].into(), number: 1 },
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac: MacAddr([2, 0, 0, 0, 0, mac]),
            ip: None,
            label1: Label::new(10100).expect("fits"),
            label2: None,
        })
    }

    fn out(mac: u8, local_pref: u32) -> OutRoute {
        OutRoute { route: route(mac), attributes: attributes(local_pref) }
    }

    /// Decodes flushed messages into (announced, withdrawn) routes.
    fn decode(messages: &[Vec<u8>]) -> (Vec<EvpnRoute>, Vec<EvpnRoute>) {
        let mut announced = Vec::new();
        let mut withdrawn = Vec::new();
        for bytes in messages {
            let Ok(Message::Update(update)) = Message::decode(bytes, DecodeCx::default()) else { panic!() };
            if let Some(MpReach::Evpn { routes, .. }) = update.attributes.mp_reach {
                announced.extend(routes);
            }
            if let Some(MpUnreach::Evpn { routes }) = update.attributes.mp_unreach {
                withdrawn.extend(routes);
            }
        }
        (announced, withdrawn)
    }

    #[test]
    fn only_differences_are_sent_and_changes_coalesce() {
        let mut rib = AdjRibOut::default();
        assert!(rib.set(out(1, 100)));
        assert!(rib.set(out(2, 100)));
        let (announced, withdrawn) = decode(&rib.flush(usize::MAX, EncodeCx::default()).expect("fits"));
        assert_eq!((announced.len(), withdrawn.len()), (2, 0));

        // The same route again: nothing to send.
        assert!(!rib.set(out(1, 100)));
        assert!(!rib.has_pending());
        // Withdraw then announce again before a flush: one announcement.
        assert!(rib.remove(&route(2).key()));
        assert!(rib.set(out(2, 200)));
        let (announced, withdrawn) = decode(&rib.flush(usize::MAX, EncodeCx::default()).expect("fits"));
        assert_eq!((announced, withdrawn), (vec![route(2)], vec![]));
        // Announce then withdraw before a flush: one withdrawal.
        assert!(rib.set(out(3, 100)));
        assert!(rib.remove(&route(3).key()));
        let (announced, withdrawn) = decode(&rib.flush(usize::MAX, EncodeCx::default()).expect("fits"));
        assert_eq!((announced, withdrawn), (vec![], vec![route(3)]));
        // Removing what is not there changes nothing.
        assert!(!rib.remove(&route(9).key()));
        assert!(!rib.has_pending());
    }

    #[test]
    fn a_change_in_a_non_key_field_replaces_the_route() {
        let mut rib = AdjRibOut::default();
        assert!(rib.set(out(1, 100)));
        let _ = rib.flush(usize::MAX, EncodeCx::default()).expect("fits");
        // The same key with another label (the VNI changed): one route, sent
        // again with the new label.
        let mut relabelled = out(1, 100);
        if let EvpnRoute::MacIp(mac_ip) = &mut relabelled.route {
            mac_ip.label1 = Label::new(10200).expect("fits");
        }
        assert!(rib.set(relabelled.clone()));
        assert!(!rib.set(relabelled.clone()), "set twice is no change");
        assert_eq!(rib.len(), 1);
        let (announced, withdrawn) = decode(&rib.flush(usize::MAX, EncodeCx::default()).expect("fits"));
        assert_eq!((announced, withdrawn), (vec![relabelled.route], Vec::new()));
        assert!(rib.remove(&route(1).key()), "found by key whatever its label");
        assert!(rib.is_empty());
    }

    #[test]
    fn replace_withdraws_exactly_what_is_no_longer_wanted() {
        let mut rib = AdjRibOut::default();
        rib.replace(vec![out(1, 100), out(2, 100), out(3, 100)]);
        rib.flush(usize::MAX, EncodeCx::default()).expect("fits");
        assert_eq!(rib.replace(vec![out(2, 100), out(3, 200), out(4, 100)]), 3);
        let (mut announced, withdrawn) = decode(&rib.flush(usize::MAX, EncodeCx::default()).expect("fits"));
        announced.sort_by_key(EvpnRoute::key);
        assert_eq!(announced, vec![route(3), route(4)]);
        assert_eq!(withdrawn, vec![route(1)]);
        assert_eq!(rib.len(), 3);
    }

    #[test]
    fn a_new_session_gets_the_whole_table_and_no_stale_withdrawals() {
        let mut rib = AdjRibOut::default();
        rib.set(out(1, 100));
        rib.set(out(2, 100));
        rib.flush(usize::MAX, EncodeCx::default()).expect("fits");
        rib.remove(&route(2).key());
        rib.mark_all_dirty(true);
        let (announced, withdrawn) = decode(&rib.flush(usize::MAX, EncodeCx::default()).expect("fits"));
        assert_eq!((announced, withdrawn), (vec![route(1)], vec![]));
    }

    #[test]
    fn flushing_in_slices_sends_everything_once() {
        let mut rib = AdjRibOut::default();
        for mac in 0..=255 {
            rib.set(out(mac, u32::from(mac % 3)));
        }
        let mut announced = Vec::new();
        while rib.has_pending() {
            let messages = rib.flush(40, EncodeCx::default()).expect("fits");
            announced.extend(decode(&messages).0);
        }
        announced.sort_by_key(EvpnRoute::key);
        announced.dedup();
        assert_eq!(announced.len(), 256);
    }

    fn received(routes: Vec<EvpnRoute>, withdrawn: Vec<EvpnRoute>, treat_as_withdraw: bool) -> Update {
        let mut update = Update {
            attributes: PathAttributes {
                mp_reach: (!routes.is_empty()).then(|| MpReach::Evpn {
                    next_hop: IpAddr::from([192, 0, 2, 7]),
                    link_local: None,
                    routes,
                }),
                mp_unreach: (!withdrawn.is_empty()).then_some(MpUnreach::Evpn { routes: withdrawn }),
                originator_id: Some([192, 0, 2, 7].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        if treat_as_withdraw {
            update.problems.push(bgp_wire::DecodeError::new(0, bgp_wire::ErrorKind::MalformedAsPath));
        }
        update
    }

    #[test]
    fn rib_in_reports_announcements_withdrawals_and_treat_as_withdraw() {
        let mut rib = AdjRibIn::default();
        let changes = rib.apply(&received(vec![route(1), route(2)], vec![], false));
        assert_eq!(changes.len(), 2);
        let RibInChange::Announced(first) = &changes[0] else { panic!() };
        assert_eq!(first.next_hop, IpAddr::from([192, 0, 2, 7]));
        assert_eq!(first.originator_id, Some([192, 0, 2, 7].into()));
        // The same announcement again changes nothing.
        assert!(rib.apply(&received(vec![route(1)], vec![], false)).is_empty());
        // A malformed re-announcement withdraws that route only.
        let changes = rib.apply(&received(vec![route(1)], vec![], true));
        assert_eq!(changes, vec![RibInChange::Withdrawn(route(1))]);
        assert_eq!(rib.len(), 1);
        // Withdrawing an unknown route is silent.
        assert!(rib.apply(&received(vec![], vec![route(9)], false)).is_empty());
        assert_eq!(rib.clear(), vec![RibInChange::Withdrawn(route(2))]);
    }
}
