//! The Adj-RIB-Out: what we want the peer to have, keyed by NLRI in a
//! compact form, with the dirty keys and the table walk that turn it into
//! UPDATEs.

use std::{
    borrow::Cow,
    cmp::Ordering,
    collections::{BTreeSet, HashMap},
    net::IpAddr,
    ops::Bound,
    sync::Arc,
};

use bgp_wire::{
    EncodeCx, EncodeError, Esi, EvpnRoute, EvpnRouteKey, Label, MacAddr, MacIp, RouteDistinguisher,
    pack_announcements, pack_withdrawals,
};

use super::{OutRoute, RouteAttributes};
use crate::packed_map::PackedMap;

/// An NLRI as the Adj-RIB-Out keeps it, ordered by its key alone (as
/// [`EvpnRoute::cmp_key`] orders), so that no copy of the key sits next to
/// it. The RT-2 we originate (zero ESI, Ethernet tag 0, one label) takes
/// 40 bytes instead of `EvpnRoute`'s 72; anything else is boxed.
#[derive(Clone, Debug)]
pub(super) enum ByKey {
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
    pub(super) fn new(route: EvpnRoute) -> Self {
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
    pub(super) fn probe(key: &EvpnRouteKey) -> Self {
        Self::new(EvpnRoute::from_key(key))
    }

    /// The route itself.
    pub(super) fn route(&self) -> Cow<'_, EvpnRoute> {
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
    pub(super) fn same_route(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::MacIp { label, .. }, Self::MacIp { label: other_label, .. }) => {
                self == other && label == other_label
            }
            _ => self.route() == other.route(),
        }
    }

    pub(super) fn key(&self) -> EvpnRouteKey {
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
