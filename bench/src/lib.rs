//! Workloads shared by the benchmarks: realistic tables of routes the
//! agent originates, built deterministically so runs compare.
#![forbid(unsafe_code)]
#![allow(unused_crate_dependencies, reason = "the benchmark binaries and criterion benches use the rest")]

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{
    Esi, EvpnRoute, ExtCommunity, Label, MacAddr, MacIp, Origin, PathAttributes, RouteDistinguisher,
    RouteTarget, TUNNEL_VXLAN,
};

/// The static VTEP behind every benchmark route.
pub const VTEP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// `n` distinct RT-2 MAC+IPv4 routes behind [`VTEP`] in VNI 10100, the
/// shape a learned host produces.
#[must_use]
pub fn mac_ip_routes(n: u32) -> Vec<EvpnRoute> {
    let vni = Label::new(10_100).unwrap_or_default();
    (0..n)
        .map(|i| {
            let [_, b, c, d] = i.to_be_bytes();
            EvpnRoute::MacIp(MacIp {
                rd: RouteDistinguisher::Ipv4 { addr: VTEP, number: 100 },
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: MacAddr([0x02, 0, 0, b, c, d]),
                ip: Some(IpAddr::from([10, b, c, d])),
                label1: vni,
                label2: None,
            })
        })
        .collect()
}

/// The attributes the agent sends with them (iBGP, RT, VXLAN, MAC mobility).
#[must_use]
pub fn attributes() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(Vec::new()),
        local_pref: Some(100),
        ext_communities: Some(vec![
            ExtCommunity::RouteTarget(RouteTarget::As2 { asn: 65000, local: 100 }),
            ExtCommunity::Encapsulation { tunnel_type: TUNNEL_VXLAN },
            ExtCommunity::MacMobility { sticky: false, sequence: 1 },
        ]),
        ..Default::default()
    }
}
