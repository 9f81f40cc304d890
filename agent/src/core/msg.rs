//! The proxy core's inputs and outputs: the replay contract. Inputs
//! deserialize from conformance scenarios; outputs render to readable
//! golden records.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{EvpnRouteKey, ExtCommunity, MacAddr, PmsiTunnelId};
use serde::{Deserialize, Serialize};

use crate::{bgp::rib::OutRoute, config::model::Config};

/// Milliseconds on a monotonic clock; only differences matter.
pub type Millis = u64;

/// Everything that can happen to the core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Input {
    /// A committed configuration, whole (a transaction: apply it at once).
    Config(Box<Config>),
    /// The snooper saw ARP or ND inside VXLAN.
    Learned(Learned),
    /// The BGP peer advertised (or changed) an EVPN route.
    Route(ReceivedRoute),
    /// The BGP peer withdrew an EVPN route.
    Withdrawn {
        /// The route's key, as in [`ReceivedRoute::key`].
        #[serde(with = "route_name")]
        key: EvpnRouteKey,
    },
    /// The BGP session came up or went down. Down means every received
    /// route is gone (whatever withdrawals the driver also reports).
    Session {
        /// Up or down.
        up: bool,
    },
    /// Time passed: aging, duplicate-MAC holds, grace periods.
    Tick,
    /// A static VTEP's liveness check (ICMP probes, BFD) found it up or
    /// down.
    VtepLiveness {
        /// The static VTEP.
        vtep: Ipv4Addr,
        /// Alive or not.
        up: bool,
    },
    /// The learned table saved before a restart, at `unix-now-ms` by the
    /// wall clock: taken back where the configuration allows.
    Restore {
        /// The saved table.
        table: Box<super::saved::SavedTable>,
        /// The wall clock now, to age the saved MACs by.
        unix_now_ms: u64,
    },
}

/// One snooped binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Learned {
    /// The VXLAN VNI.
    pub vni: u32,
    /// The outer source IP: the VTEP the host sits behind.
    pub vtep: IpAddr,
    /// The inner sender MAC.
    #[serde(with = "mac_text")]
    pub mac: MacAddr,
    /// The inner sender IP, if the frame carried a usable one.
    #[serde(default)]
    pub ip: Option<IpAddr>,
}

/// MAC mobility as received (RFC 7432 §7.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Mobility {
    /// Sequence number.
    pub sequence: u32,
    /// Sticky (static) MAC.
    #[serde(default)]
    pub sticky: bool,
}

/// What kind of EVPN route was received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "route", rename_all = "kebab-case")]
pub enum ReceivedKind {
    /// RT-3.
    Imet {
        /// Originating router IP.
        originator: IpAddr,
    },
    /// RT-2.
    MacIp {
        /// The MAC.
        #[serde(with = "mac_text")]
        mac: MacAddr,
        /// The IP, if any.
        #[serde(default)]
        ip: Option<IpAddr>,
    },
}

/// An EVPN route from the peer, reduced to what the proxy needs.
// No deny_unknown_fields here: serde cannot combine it with `flatten`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReceivedRoute {
    /// The NLRI's key (RFC 7432 §7: what a withdrawal names).
    #[serde(with = "route_name")]
    pub key: EvpnRouteKey,
    /// The route.
    #[serde(flatten)]
    pub kind: ReceivedKind,
    /// Label1 (RT-2) or PMSI label (RT-3): the VNI.
    pub vni: u32,
    /// `MP_REACH_NLRI` next hop: the VTEP.
    pub next_hop: IpAddr,
    /// `ORIGINATOR_ID`, set by a route reflector.
    #[serde(default)]
    pub originator_id: Option<Ipv4Addr>,
    /// MAC mobility, if the route carries it.
    #[serde(default)]
    pub mobility: Option<Mobility>,
}

impl ReceivedRoute {
    /// A route comes from a native EVPN VTEP when its originator is the
    /// VTEP itself: no `ORIGINATOR_ID` (our route reflector's own route), or
    /// one equal to the next hop (a reflected route of a VTEP whose router
    /// id is its VTEP address). Other proxies' routes carry their own router
    /// id, which differs from the static VTEP in the next hop.
    #[must_use]
    pub fn from_evpn_vtep(&self) -> bool {
        self.originator_id.is_none_or(|id| IpAddr::V4(id) == self.next_hop)
    }
}

/// Something operators should see, in logs and state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "notice", rename_all = "kebab-case", rename_all_fields = "kebab-case")]
pub enum Notice {
    /// A new MAC was learned behind a static VTEP.
    Learned { mac_vrf: String, mac: String, vtep: Ipv4Addr },
    /// A learned MAC moved between static VTEPs.
    Moved { mac_vrf: String, mac: String, from: Ipv4Addr, to: Ipv4Addr, sequence: u32 },
    /// Another VTEP won the MAC (higher sequence, or equal and lower IP, or sticky).
    Superseded { mac_vrf: String, mac: String, by: IpAddr, sequence: u32 },
    /// The MAC appeared behind a native EVPN VTEP.
    MovedToEvpn { mac_vrf: String, mac: String, vtep: IpAddr },
    /// A MAC we lost came back to us.
    Reclaimed { mac_vrf: String, mac: String, vtep: Ipv4Addr, sequence: u32 },
    /// Too many moves: frozen.
    DuplicateFrozen { mac_vrf: String, mac: String, until_ms: Millis },
    /// The hold time of a frozen MAC ended.
    Unfrozen { mac_vrf: String, mac: String },
    /// A learned MAC or one of its IPs was not refreshed in time.
    Aged { mac_vrf: String, mac: String, ip: Option<IpAddr> },
    /// A static VTEP was discovered from traffic.
    VtepDiscovered { mac_vrf: String, vtep: Ipv4Addr },
    /// A discovered static VTEP went quiet and was removed.
    VtepExpired { mac_vrf: String, vtep: Ipv4Addr },
    /// A static MAC of ours is also advertised by an EVPN VTEP or as sticky elsewhere.
    StickyConflict { mac_vrf: String, mac: String, other: IpAddr },
    /// A configured static VTEP speaks EVPN itself: we stop speaking for it.
    StaticVtepIsEvpn { vtep: Ipv4Addr },
    /// A limit kept a new MAC from being learned (reported when first hit).
    LimitReached { mac_vrf: String, limit: &'static str },
    /// A static VTEP's liveness check found it down: its routes are
    /// withdrawn.
    VtepDown { vtep: Ipv4Addr },
    /// A static VTEP found down has been up for the hold-down: its routes
    /// are advertised again, after `down-ms` withdrawn.
    VtepRestored { vtep: Ipv4Addr, down_ms: Millis },
    /// The learned table saved before a restart was taken back: `restored`
    /// MACs, and `dropped` that the configuration no longer allows or that
    /// aged out meanwhile.
    Restored { restored: usize, dropped: usize },
}

/// What the core asks of the outside world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Advertise this route (replacing one with the same key).
    Announce(OutRoute),
    /// Withdraw the route with this key.
    Withdraw(EvpnRouteKey),
    /// The snooper's ignore map: the whole set of native EVPN VTEPs.
    IgnoreVteps(Vec<IpAddr>),
    /// The whole set of static VTEPs to probe with ICMP.
    Probe(Vec<Ipv4Addr>),
    /// The snooper's in-kernel dedup must let these bindings through again:
    /// the core would now act on a frame it suppresses.
    ForgetSeen(Forget),
    /// Tell the operator.
    Notice(Notice),
}

/// What the snooper's dedup must forget (see [`Output::ForgetSeen`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forget {
    /// Every binding: something the core refused (unknown VNI or VTEP, over
    /// a limit, from an EVPN VTEP, a frozen MAC) may be accepted now.
    Everything,
    /// One host of one VNI, from whatever VTEP: the core stopped advertising
    /// it behind the VTEP it learned it on (it moved, or a route beat ours),
    /// and must see it there again at once if it comes back.
    Host {
        /// The VNI.
        vni: u32,
        /// The MAC.
        mac: MacAddr,
        /// Its IPs; a frame without a sender IP is always included.
        ips: Vec<IpAddr>,
    },
}

impl Output {
    /// A readable record for golden files and logs.
    #[must_use]
    pub fn record(&self) -> serde_json::Value {
        match self {
            Self::Announce(route) => {
                let path = &route.attributes.path;
                let communities: Vec<String> = path
                    .ext_communities
                    .iter()
                    .flatten()
                    .map(|c| match c {
                        ExtCommunity::RouteTarget(rt) => rt.to_string(),
                        ExtCommunity::Encapsulation { tunnel_type: 8 } => "encap:vxlan".to_owned(),
                        ExtCommunity::MacMobility { sticky: true, sequence } => {
                            format!("mm:{sequence}:sticky")
                        }
                        ExtCommunity::MacMobility { sticky: false, sequence } => format!("mm:{sequence}"),
                        other => format!("{other:?}"),
                    })
                    .collect();
                let mut record = serde_json::json!({
                    "announce": route.route.to_string(),
                    "next-hop": route.attributes.next_hop.to_string(),
                    "communities": communities,
                });
                if let bgp_wire::EvpnRoute::MacIp(mac_ip) = &route.route {
                    record["label"] = mac_ip.label1.value().into();
                }
                if let Some(pmsi) = &path.pmsi_tunnel {
                    let endpoint = match &pmsi.tunnel {
                        PmsiTunnelId::IngressReplication(ip) => ip.to_string(),
                        PmsiTunnelId::Other { tunnel_type, .. } => format!("type {tunnel_type}"),
                    };
                    record["pmsi"] = format!("ir {} label {}", endpoint, pmsi.label.value()).into();
                }
                record
            }
            Self::Withdraw(key) => serde_json::json!({ "withdraw": format!("{key:?}") }),
            Self::IgnoreVteps(vteps) => {
                serde_json::json!({ "ignore-vteps": vteps.iter().map(ToString::to_string).collect::<Vec<_>>() })
            }
            Self::Probe(vteps) => {
                serde_json::json!({ "probe": vteps.iter().map(ToString::to_string).collect::<Vec<_>>() })
            }
            Self::ForgetSeen(Forget::Everything) => serde_json::json!({ "forget-seen": "everything" }),
            Self::ForgetSeen(Forget::Host { vni, mac, ips }) => serde_json::json!({
                "forget-seen": {
                    "vni": vni,
                    "mac": mac.to_string(),
                    "ips": ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }
            }),
            Self::Notice(notice) => serde_json::to_value(notice).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Received routes in the replay contract: a scenario names a route
/// (`"evpn-h1"`) rather than spelling out its NLRI, because the core only
/// compares received keys, never reads them. A name stands for the key of
/// an EVPN route of type 0, which does not exist on the wire, holding the
/// name's bytes; such a key prints back as its name.
pub mod route_name {
    use bgp_wire::EvpnRouteKey;
    use serde::{Deserialize, Deserializer, Serializer};

    /// The key a scenario's route name stands for.
    #[must_use]
    pub fn key(name: &str) -> EvpnRouteKey {
        EvpnRouteKey::Unknown(0, name.as_bytes().to_vec())
    }

    pub(crate) fn serialize<S: Serializer>(key: &EvpnRouteKey, s: S) -> Result<S::Ok, S::Error> {
        match key {
            EvpnRouteKey::Unknown(0, name) => s.serialize_str(&String::from_utf8_lossy(name)),
            other => s.serialize_str(&format!("{other:?}")),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EvpnRouteKey, D::Error> {
        Ok(key(&String::deserialize(d)?))
    }
}

/// MACs as `aa:bb:cc:dd:ee:ff` text.
pub(crate) mod mac_text {
    use bgp_wire::MacAddr;
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's `with` passes a reference to the field")]
    pub(crate) fn serialize<S: Serializer>(mac: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&mac.to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}
