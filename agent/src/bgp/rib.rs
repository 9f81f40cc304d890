//! The EVPN Adj-RIB-Out and Adj-RIB-In of one session.
//!
//! Adj-RIB-Out holds what we want the peer to have, keyed by NLRI. Changes
//! mark keys dirty; flushing turns the dirty keys into UPDATEs, grouping
//! routes with identical attributes. Setting a route to what it already is
//! changes nothing, and several changes to one key before a flush send only
//! the last: the peer sees differences, never flaps we went through.
//! A new session (or a route refresh) gets the whole table by a cursor that
//! walks it in key order, not by marking every key dirty: at a million MACs
//! a dirty set of every key was a transient of about 150 MB. While no
//! session is up nothing is marked: the next one gets the whole table.
//!
//! Adj-RIB-In holds the peer's EVPN routes, so that withdrawals can be
//! matched and the core told exactly what disappeared.

use std::{
    borrow::Cow,
    cmp::Ordering,
    collections::{BTreeSet, HashMap},
    net::{IpAddr, Ipv4Addr},
    ops::Bound,
    sync::Arc,
};

use bgp_wire::{
    EncodeCx, EncodeError, Esi, EvpnRoute, EvpnRouteKey, ExtCommunity, Label, MacAddr, MacIp, MpReach,
    MpUnreach, PathAttributes, PmsiTunnel, RouteDistinguisher, Update, pack_announcements, pack_withdrawals,
};

use crate::packed_map::PackedMap;

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

/// An NLRI as the Adj-RIB-Out keeps it, ordered by its key alone (as
/// [`EvpnRoute::cmp_key`] orders), so that no copy of the key sits next to
/// it. The RT-2 we originate (zero ESI, Ethernet tag 0, one label) takes
/// 40 bytes instead of `EvpnRoute`'s 72; anything else is boxed.
#[derive(Clone, Debug)]
enum ByKey {
    /// A VLAN-based service's RT-2 (RFC 7432 §6.1: Ethernet tag 0).
    MacIp {
        rd: RouteDistinguisher,
        mac: MacAddr,
        ip: Option<IpAddr>,
        label: Label,
    },
    Other(Box<EvpnRoute>),
}

impl ByKey {
    fn new(route: EvpnRoute) -> Self {
        match route {
            EvpnRoute::MacIp(MacIp {
                rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac,
                ip,
                label1,
                label2: None,
            }) => Self::MacIp { rd, mac, ip, label: label1 },
            other => Self::Other(Box::new(other)),
        }
    }

    /// The lookup probe for `key`.
    fn probe(key: &EvpnRouteKey) -> Self {
        Self::new(EvpnRoute::from_key(key))
    }

    /// The route itself.
    fn route(&self) -> Cow<'_, EvpnRoute> {
        match self {
            Self::MacIp { rd, mac, ip, label } => Cow::Owned(EvpnRoute::MacIp(MacIp {
                rd: *rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: *mac,
                ip: *ip,
                label1: *label,
                label2: None,
            })),
            Self::Other(route) => Cow::Borrowed(route),
        }
    }

    /// The same route, non-key fields (labels, ESI) included: equality
    /// (`==`) is by key alone, as the order is.
    fn same_route(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::MacIp { label, .. }, Self::MacIp { label: other_label, .. }) => {
                self == other && label == other_label
            }
            _ => self.route() == other.route(),
        }
    }

    fn key(&self) -> EvpnRouteKey {
        match self {
            Self::MacIp { rd, mac, ip, .. } => EvpnRouteKey::MacIp(*rd, 0, *mac, *ip),
            Self::Other(route) => route.key(),
        }
    }
}

impl Ord for ByKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // The common case without building routes; the same order as
            // `EvpnRoute::cmp_key` (a unit test compares the two).
            (
                Self::MacIp { rd, mac, ip, .. },
                Self::MacIp { rd: other_rd, mac: other_mac, ip: other_ip, .. },
            ) => (rd, mac, ip).cmp(&(other_rd, other_mac, other_ip)),
            _ => self.route().cmp_key(&other.route()),
        }
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
    /// Each route's NLRI, ordered by key, with its attributes. Ordered, not
    /// hashed: a hash table doubles (with old and new table alive during
    /// the move) and sits at between half and seven eighths full; and
    /// packed, not a `BTreeMap`, whose nodes sit about half full when routes
    /// come in key order. At a million MACs either cost about a hundred
    /// megabytes. The NLRI is its own key.
    routes: PackedMap<ByKey, Arc<RouteAttributes>>,
    /// Keys whose state the peer has not been sent yet.
    dirty: BTreeSet<EvpnRouteKey>,
    /// The NLRI to withdraw for dirty keys no longer in `routes`.
    withdrawn: HashMap<EvpnRouteKey, EvpnRoute>,
    /// A session is up and has been promised the table: only then are
    /// changes worth marking.
    sending: bool,
    /// Where a whole-table send stands.
    walk: Walk,
}

/// Where a whole-table send stands.
#[derive(Debug, Default)]
enum Walk {
    /// None in progress.
    #[default]
    Idle,
    /// Every route still goes out.
    FromStart,
    /// The routes after this one still go out.
    After(ByKey),
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
        !self.dirty.is_empty() || !matches!(self.walk, Walk::Idle)
    }

    /// Wants `route` advertised. Returns whether anything changed.
    pub fn set(&mut self, route: OutRoute) -> bool {
        let OutRoute { route, attributes } = route;
        let nlri = ByKey::new(route);
        if let Some((old, old_attributes)) = self.routes.get_key_value(&nlri)
            && old.same_route(&nlri)
            && *old_attributes == attributes
        {
            return false;
        }
        let key = nlri.key();
        // The cursor will send it, as it is then, unless it passed already.
        let cursor_ahead = match &self.walk {
            Walk::Idle => false,
            Walk::FromStart => true,
            Walk::After(sent) => nlri > *sent,
        };
        // The NLRI may have changed in a non-key field (a label): the
        // packed map's `insert` replaces the stored key too.
        self.routes.insert(nlri, attributes);
        self.withdrawn.remove(&key);
        if self.sending && !cursor_ahead {
            self.dirty.insert(key);
        } else {
            self.dirty.remove(&key);
        }
        true
    }

    /// Wants the route with `key` withdrawn. Returns whether anything changed.
    pub fn remove(&mut self, key: &EvpnRouteKey) -> bool {
        let Some((old, _)) = self.routes.remove_entry(&ByKey::probe(key)) else { return false };
        if self.sending {
            self.withdrawn.insert(key.clone(), old.route().into_owned());
            self.dirty.insert(key.clone());
        }
        true
    }

    /// Makes the table exactly `routes` (one per key): withdraws what is
    /// not in it, sets what is. Returns the number of keys that changed.
    pub fn replace(&mut self, routes: impl IntoIterator<Item = OutRoute>) -> usize {
        if self.routes.is_empty() {
            // A new session's first table: nothing to withdraw, so no index
            // of every wanted key to find that out; built in one go.
            self.routes = routes.into_iter().map(|r| (ByKey::new(r.route), r.attributes)).collect();
            if self.sending {
                // Pending withdrawals stay; the walk announces the rest.
                self.walk = Walk::FromStart;
            }
            return self.routes.len();
        }
        let wanted: HashMap<EvpnRouteKey, OutRoute> =
            routes.into_iter().map(|r| (r.route.key(), r)).collect();
        let gone: Vec<EvpnRouteKey> =
            self.routes.keys().map(ByKey::key).filter(|k| !wanted.contains_key(k)).collect();
        let mut changed = 0;
        for key in gone {
            changed += usize::from(self.remove(&key));
        }
        for route in wanted.into_values() {
            changed += usize::from(self.set(route));
        }
        changed
    }

    /// The peer must get the whole table: a session was established
    /// (`new_session`), or the peer asked for a route refresh. A new
    /// session starts empty, so what was pending is dropped; a refresh
    /// keeps pending withdrawals, since the peer still holds those routes.
    pub fn send_all(&mut self, new_session: bool) {
        if new_session {
            self.dirty.clear();
            self.withdrawn.clear();
        } else {
            // Announcements among the pending keys go with the walk.
            let withdrawn = &self.withdrawn;
            self.dirty.retain(|key| withdrawn.contains_key(key));
        }
        self.sending = true;
        self.walk = Walk::FromStart;
    }

    /// The session went down: nothing is marked until the next one, which
    /// gets the whole table (with graceful restart, the peer drops what it
    /// does not get again by our End-of-RIB).
    pub fn session_down(&mut self) {
        self.sending = false;
        self.walk = Walk::Idle;
        self.dirty.clear();
        self.withdrawn.clear();
    }

    /// Encodes up to `max_keys` routes into UPDATEs: the dirty keys first,
    /// then the whole-table walk if one is in progress. Withdrawals go
    /// first, so that a route which moved between attribute groups is
    /// never withdrawn after its replacement.
    pub fn flush(&mut self, max_keys: usize, cx: EncodeCx) -> Result<Vec<Vec<u8>>, EncodeError> {
        let mut withdraw = Vec::new();
        let mut groups: HashMap<&Arc<RouteAttributes>, Vec<EvpnRoute>> = HashMap::new();
        let mut taken = Vec::with_capacity(max_keys.min(self.dirty.len()));
        for key in self.dirty.iter().take(max_keys) {
            taken.push(key.clone());
            if let Some((nlri, attributes)) = self.routes.get_key_value(&ByKey::probe(key)) {
                groups.entry(attributes).or_default().push(nlri.route().into_owned());
            } else if let Some(route) = self.withdrawn.get(key) {
                withdraw.push(route.clone());
            }
        }
        let budget = max_keys - taken.len();
        let start = match &self.walk {
            Walk::Idle => None,
            Walk::FromStart => Some(Bound::Unbounded),
            Walk::After(sent) => Some(Bound::Excluded(sent)),
        };
        let mut walked_to = None;
        if let Some(start) = start
            && budget > 0
        {
            let mut walked = 0;
            for (nlri, attributes) in self.routes.range_from(start).take(budget) {
                groups.entry(attributes).or_default().push(nlri.route().into_owned());
                walked_to = Some(nlri);
                walked += 1;
            }
            if walked < budget {
                // The end of the table.
                walked_to = None;
                self.walk = Walk::Idle;
            }
        }
        let walked_to = walked_to.cloned();
        let mut messages = pack_withdrawals(&withdraw, cx)?;
        for (attributes, routes) in groups {
            messages.extend(pack_announcements(&attributes.path, attributes.next_hop, &routes, cx)?);
        }
        if let Some(last) = walked_to {
            self.walk = Walk::After(last);
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

#[cfg(test)]
mod tests {
    use std::{net::IpAddr, sync::Arc};

    use bgp_wire::{
        DecodeCx, EncodeCx, Esi, EvpnRoute, Imet, Label, MacAddr, MacIp, Message, MpReach, MpUnreach, Origin,
        PathAttributes, RouteDistinguisher, Update,
    };

    use proptest::prelude::*;

    use super::{AdjRibIn, AdjRibOut, ByKey, OutRoute, RibInChange, RouteAttributes};

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

    /// An Adj-RIB-Out whose session is up and has its (empty) table.
    fn with_session() -> AdjRibOut {
        let mut rib = AdjRibOut::default();
        rib.send_all(true);
        rib
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
        let mut rib = with_session();
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
        let mut rib = with_session();
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
        let mut rib = with_session();
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
    fn a_new_session_drops_pending_withdrawals_and_a_refresh_keeps_them() {
        // Two routes sent, one of them removed but not flushed yet, then
        // the whole table asked for.
        let whole_table = |new_session| {
            let mut rib = with_session();
            rib.set(out(1, 100));
            rib.set(out(2, 100));
            rib.flush(usize::MAX, EncodeCx::default()).expect("fits");
            rib.remove(&route(2).key());
            rib.send_all(new_session);
            let sent = decode(&rib.flush(usize::MAX, EncodeCx::default()).expect("fits"));
            assert!(!rib.has_pending());
            sent
        };
        // A new session never had route 2; after a refresh the peer still does.
        assert_eq!(whole_table(true), (vec![route(1)], vec![]));
        assert_eq!(whole_table(false), (vec![route(1)], vec![route(2)]));
    }

    #[test]
    fn a_whole_table_into_an_empty_rib_goes_out_once_after_pending_withdrawals() {
        let mut rib = with_session();
        rib.set(out(1, 100));
        rib.flush(usize::MAX, EncodeCx::default()).expect("fits");
        rib.remove(&route(1).key());
        assert!(rib.is_empty());
        assert_eq!(rib.replace((2..=9).map(|mac| out(mac, 100))), 8);
        let (mut announced, withdrawn) = drain(&mut rib, 3, |_, _| {});
        announced.sort_by_key(EvpnRoute::key);
        assert_eq!(withdrawn, vec![route(1)], "the peer still had it");
        assert_eq!(announced, (2..=9).map(route).collect::<Vec<_>>());
        // Without a session nothing is sent until one comes up.
        let mut idle = AdjRibOut::default();
        idle.replace(vec![out(1, 100)]);
        assert!(!idle.has_pending());
    }

    #[test]
    fn nothing_is_marked_while_the_session_is_down() {
        let mut rib = with_session();
        rib.set(out(1, 100));
        rib.session_down();
        assert!(!rib.has_pending());
        rib.set(out(2, 100));
        rib.remove(&route(1).key());
        assert!(!rib.has_pending(), "no session: nothing to send, nothing kept for it");
        assert_eq!(rib.len(), 1);
        rib.send_all(true);
        let (announced, withdrawn) = decode(&rib.flush(usize::MAX, EncodeCx::default()).expect("fits"));
        assert_eq!((announced, withdrawn), (vec![route(2)], vec![]));
    }

    /// Flushes `slice` keys at a time, running `between` after each slice,
    /// until nothing is pending; returns everything sent, in order.
    fn drain(
        rib: &mut AdjRibOut,
        slice: usize,
        mut between: impl FnMut(&mut AdjRibOut, usize),
    ) -> (Vec<EvpnRoute>, Vec<EvpnRoute>) {
        let (mut announced, mut withdrawn) = (Vec::new(), Vec::new());
        let mut round = 0;
        while rib.has_pending() {
            let (a, w) = decode(&rib.flush(slice, EncodeCx::default()).expect("fits"));
            announced.extend(a);
            withdrawn.extend(w);
            between(rib, round);
            round += 1;
            assert!(round < 1000, "the walk does not end");
        }
        (announced, withdrawn)
    }

    #[test]
    fn flushing_in_slices_sends_everything_once() {
        let mut rib = AdjRibOut::default();
        for mac in 0..=255 {
            rib.set(out(mac, u32::from(mac % 3)));
        }
        rib.send_all(true);
        let (mut announced, withdrawn) = drain(&mut rib, 40, |_, _| {});
        assert!(withdrawn.is_empty());
        announced.sort_by_key(EvpnRoute::key);
        let expected: Vec<EvpnRoute> = (0..=255).map(route).collect();
        assert_eq!(announced, expected, "each route once");
    }

    #[test]
    fn changes_during_a_whole_table_send_reach_the_peer_once_and_last() {
        let mut rib = AdjRibOut::default();
        for mac in 0..100 {
            rib.set(out(mac, 100));
        }
        rib.send_all(true);
        // After the first slice (MACs 0..10 sent): change one that went
        // (5), the last that went (9, where the walk stands), one still to
        // go (50), remove one still to go (60), add one.
        let (announced, withdrawn) = drain(&mut rib, 10, |rib, round| {
            if round == 0 {
                rib.set(out(5, 200));
                rib.set(out(9, 200));
                rib.set(out(50, 200));
                rib.remove(&route(60).key());
                rib.set(out(200, 100));
            }
        });
        let count = |mac: u8| announced.iter().filter(|r| **r == route(mac)).count();
        assert_eq!((count(5), count(9)), (2, 2), "sent, then sent again changed");
        assert_eq!((count(50), count(60), count(200)), (1, 0, 1));
        assert_eq!(announced.len(), 100 + 2 - 1 + 1);
        // A new session never had 60: a withdrawal of it is allowed (and
        // ignored by the peer), but it must not be announced.
        assert!(withdrawn.iter().all(|r| *r == route(60)));
    }

    /// RT-2 and RT-3 that differ in few places, key fields and others.
    fn near_route() -> impl Strategy<Value = EvpnRoute> {
        let rd =
            (0u16..2).prop_map(|number| RouteDistinguisher::Ipv4 { addr: [192, 0, 2, 1].into(), number });
        let label = (0u32..2).prop_map(|l| Label::new(l).expect("fits"));
        let mac_ip = (
            rd.clone(),
            0u32..2,
            0u8..2,
            0u8..3,
            proptest::option::of(0u8..2),
            label.clone(),
            proptest::option::of(label),
        )
            .prop_map(|(rd, ethernet_tag, esi, mac, ip, label1, label2)| {
                EvpnRoute::MacIp(MacIp {
                    rd,
                    esi: Esi([esi; 10]),
                    ethernet_tag,
                    mac: MacAddr([2, 0, 0, 0, 0, mac]),
                    ip: ip.map(|last| IpAddr::from([10, 0, 0, last])),
                    label1,
                    label2,
                })
            });
        let imet = (rd, 0u8..2).prop_map(|(rd, last)| {
            EvpnRoute::Imet(Imet { rd, ethernet_tag: 0, originator: IpAddr::from([192, 0, 2, last]) })
        });
        prop_oneof![3 => mac_ip, 1 => imet]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The compact form orders, compares and gives back routes exactly
        /// as the codec's own `cmp_key` and `==` do.
        #[test]
        fn the_stored_form_keeps_routes_and_their_order(a in near_route(), b in near_route()) {
            let (stored_a, stored_b) = (ByKey::new(a.clone()), ByKey::new(b.clone()));
            prop_assert_eq!(stored_a.route().into_owned(), a.clone());
            prop_assert_eq!(stored_a.key(), a.key());
            prop_assert_eq!(stored_a.cmp(&stored_b), a.cmp_key(&b));
            prop_assert_eq!(stored_a.same_route(&stored_b), a == b);
        }
    }

    #[test]
    fn our_rt2_is_stored_in_40_bytes() {
        // Two per learned MAC sit in half-full B-tree nodes: every 8 bytes
        // here is about 30 MB at a million MACs.
        assert!(matches!(ByKey::new(route(1)), ByKey::MacIp { .. }));
        assert!(std::mem::size_of::<ByKey>() <= 40, "{}", std::mem::size_of::<ByKey>());
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
        let changes = rib.apply(&received(vec![route(1), route(2)], vec![], false), US);
        assert_eq!(changes.len(), 2);
        let RibInChange::Announced(first) = &changes[0] else { panic!() };
        assert_eq!(first.next_hop, IpAddr::from([192, 0, 2, 7]));
        assert_eq!(first.originator_id, Some([192, 0, 2, 7].into()));
        // The same announcement again changes nothing.
        assert!(rib.apply(&received(vec![route(1)], vec![], false), US).is_empty());
        // A malformed re-announcement withdraws that route only.
        let changes = rib.apply(&received(vec![route(1)], vec![], true), US);
        assert_eq!(changes, vec![RibInChange::Withdrawn(route(1))]);
        assert_eq!(rib.len(), 1);
        // Withdrawing an unknown route is silent.
        assert!(rib.apply(&received(vec![], vec![route(9)], false), US).is_empty());
        assert_eq!(rib.clear(), vec![RibInChange::Withdrawn(route(2))]);
    }

    /// Our BGP identifier.
    const US: std::net::Ipv4Addr = std::net::Ipv4Addr::new(192, 0, 2, 254);

    #[test]
    fn our_own_routes_reflected_back_are_ignored_and_another_proxys_are_kept() {
        let mut rib = AdjRibIn::default();
        // Another proxy's route (its identifier 192.0.2.7 as ORIGINATOR_ID).
        assert!(matches!(
            rib.apply(&received(vec![route(1)], vec![], false), US)[..],
            [RibInChange::Announced(_)]
        ));
        // Ours, reflected back: ignored, and it replaces what the key held.
        let mut ours = received(vec![route(1), route(2)], vec![], false);
        ours.attributes.originator_id = Some(US);
        assert_eq!(
            rib.apply(&ours, US),
            vec![
                RibInChange::Withdrawn(route(1)),
                RibInChange::OwnIgnored(route(1)),
                RibInChange::OwnIgnored(route(2))
            ]
        );
        assert!(rib.is_empty());
        // Without an ORIGINATOR_ID (the route reflector's own route) it is kept.
        let mut plain = received(vec![route(3)], vec![], false);
        plain.attributes.originator_id = None;
        assert_eq!(rib.apply(&plain, US).len(), 1);
    }
}
