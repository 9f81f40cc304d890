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

/// How many hosts [`host_of`] can number in random order: 2^22.
pub const RANDOM_ORDER_HOSTS: u32 = 1 << 22;

/// The host that the `n`th learned binding stands for. In order, `n`
/// itself. In random order, `n` times an odd number on 22 bits, which is a
/// bijection: distinct bindings stay distinct hosts, but their MACs arrive
/// scattered, as real hosts' do, instead of in order (which left the
/// agent's B-tree nodes half full before its tables were packed).
/// `bench/learning.py` computes the same (`host_of`) to find the MACs
/// snoop-bench sent.
#[must_use]
pub fn host_of(n: u32, random_order: bool) -> u32 {
    if random_order { n.wrapping_mul(0x9E37_79B1) & (RANDOM_ORDER_HOSTS - 1) } else { n }
}
