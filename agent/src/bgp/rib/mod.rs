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

mod adj_rib_in;
mod adj_rib_out;

use std::{net::IpAddr, sync::Arc};

use bgp_wire::{EvpnRoute, PathAttributes};

pub use self::{
    adj_rib_in::{AdjRibIn, InRoute, RibInChange},
    adj_rib_out::AdjRibOut,
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

#[cfg(test)]
mod tests;
