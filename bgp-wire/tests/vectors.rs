//! The validated vectors: byte strings that GoBGP 3.10 and FRR 8.4.4 sent or
//! accepted (../shared/ref/bgp-evpn.md §1.2, §1.3, §1.11), each checked in
//! both directions: decoding gives the value, encoding gives the bytes.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{
    Capability, EncodeCx, Esi, EvpnRoute, ExtCommunity, Imet, Label, MacIp, Message, MpReach, MpUnreach,
    Notification, Open, Origin, PathAttributes, PmsiTunnel, PmsiTunnelId, RouteDistinguisher, RouteTarget,
    TUNNEL_VXLAN, Update, evpn_route_refresh,
};
use common::{check_both_ways, hex};

const VTEP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn vni(value: u32) -> Label {
    Label::new(value).expect("fits 24 bits")
}

fn rd_vtep_100() -> RouteDistinguisher {
    RouteDistinguisher::Ipv4 { addr: VTEP, number: 100 }
}

fn rt2(mac_last: u8, ip: Option<IpAddr>) -> EvpnRoute {
    EvpnRoute::MacIp(MacIp {
        rd: rd_vtep_100(),
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: bgp_wire::MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, mac_last]),
        ip,
        label1: vni(10100),
        label2: None,
    })
}

/// ORIGIN IGP, empty `AS_PATH`, `LOCAL_PREF` 100, and these communities.
fn ibgp_attributes(mp_reach: MpReach, communities: Vec<ExtCommunity>) -> PathAttributes {
    PathAttributes {
        mp_reach: Some(mp_reach),
        origin: Some(Origin::Igp),
        as_path: Some(Vec::new()),
        local_pref: Some(100),
        ext_communities: Some(communities),
        ..Default::default()
    }
}

const RT_65000_10100: ExtCommunity = ExtCommunity::RouteTarget(RouteTarget::As2 { asn: 65000, local: 10100 });
const ENCAP_VXLAN: ExtCommunity = ExtCommunity::Encapsulation { tunnel_type: TUNNEL_VXLAN };

fn update(attributes: PathAttributes) -> Message {
    Message::Update(Update { attributes, ..Default::default() })
}

#[test]
fn a_rt2_mac_ip_sticky() {
    let route = rt2(0x01, Some(IpAddr::from([198, 51, 100, 10])));
    let expected = update(ibgp_attributes(
        MpReach::Evpn { next_hop: VTEP.into(), link_local: None, routes: vec![route] },
        vec![RT_65000_10100, ENCAP_VXLAN, ExtCommunity::MacMobility { sticky: true, sequence: 0 }],
    ));
    check_both_ways(
        "ffffffffffffffffffffffffffffffff 0074 02 0000 005d
         900e0030 0019 46 04 c0000201 00
            02 25 0001c00002010064 00000000000000000000 00000000 30 02aabbccdd01 20 c633640a 002774
         40010100 400200 400504 00000064
         c01018 0002fde800002774 030c000000000008 0600010000000000",
        &expected,
        "(a) RT-2 MAC+IP sticky",
    );
}

#[test]
fn b_rt2_mac_only_with_sequence_5() {
    let expected = update(ibgp_attributes(
        MpReach::Evpn { next_hop: VTEP.into(), link_local: None, routes: vec![rt2(0x02, None)] },
        vec![RT_65000_10100, ENCAP_VXLAN, ExtCommunity::MacMobility { sticky: false, sequence: 5 }],
    ));
    check_both_ways(
        "ffffffffffffffffffffffffffffffff00700200000059900e002c00194604c00002010002210001c000020100640000
         0000000000000000000000003002aabbccdd02000027744001010040020040050400000064c010180002fde800002774
         030c0000000000080600000000000005",
        &expected,
        "(b) RT-2 MAC only, MM 5",
    );
}

#[test]
fn c_rt3_with_pmsi_ingress_replication() {
    let route = EvpnRoute::Imet(Imet { rd: rd_vtep_100(), ethernet_tag: 0, originator: VTEP.into() });
    let mut attributes = ibgp_attributes(
        MpReach::Evpn { next_hop: VTEP.into(), link_local: None, routes: vec![route] },
        vec![RT_65000_10100, ENCAP_VXLAN],
    );
    attributes.pmsi_tunnel = Some(PmsiTunnel {
        flags: 0,
        label: vni(10100),
        tunnel: PmsiTunnelId::IngressReplication(VTEP.into()),
    });
    check_both_ways(
        "ffffffffffffffffffffffffffffffff0064020000004d900e001c00194604c00002010003110001c000020100640000
         000020c00002014001010040020040050400000064c010100002fde800002774030c000000000008c016090006002774
         c0000201",
        &update(attributes),
        "(c) RT-3 with PMSI",
    );
}

#[test]
fn d_end_of_rib() {
    let expected = Message::Update(Update::evpn_end_of_rib());
    check_both_ways(
        "ffffffffffffffffffffffffffffffff001e0200000007900f0003001946",
        &expected,
        "(d) End-of-RIB",
    );
    let Message::Update(eor) = expected else { unreachable!() };
    assert!(eor.is_evpn_end_of_rib());
    // The short (non-extended-length) form FRR and the RFC examples use
    // decodes to the same marker.
    let short = hex("ffffffffffffffffffffffffffffffff001d02000000068 00f03001946");
    let decoded = Message::decode(&short, bgp_wire::DecodeCx::default()).expect("decodes");
    assert_eq!(decoded, Message::Update(eor));
}

#[test]
fn e_withdraw_of_a() {
    let route = rt2(0x01, Some(IpAddr::from([198, 51, 100, 10])));
    let expected = update(PathAttributes {
        mp_unreach: Some(MpUnreach::Evpn { routes: vec![route] }),
        ..Default::default()
    });
    check_both_ways(
        "ffffffffffffffffffffffffffffffff0045020000002e900f002a00194602250001c000020100640000000000000000
         0000000000003002aabbccdd0120c633640a002774",
        &expected,
        "(e) withdraw of (a)",
    );
}

#[test]
fn our_minimal_open() {
    let open = Open::new(
        65000,
        30,
        Ipv4Addr::new(127, 0, 0, 9),
        vec![Capability::Multiprotocol { afi: 25, safi: 70 }, Capability::RouteRefresh],
    );
    check_both_ways(
        "ffffffffffffffffffffffffffffffff 002d 01 04 fde8 001e 7f000009 10 02 0e 01040019 0046 0200 41040000fde8",
        &Message::Open(open),
        "minimal OPEN",
    );
}

#[test]
fn gobgp_open_with_unknown_capabilities() {
    let open = Open {
        my_as: 65000,
        hold_time: 90,
        bgp_id: Ipv4Addr::LOCALHOST,
        capabilities: vec![
            Capability::RouteRefresh,
            Capability::Unknown { code: 73, value: hex("02766d00") },
            Capability::Multiprotocol { afi: 25, safi: 70 },
            Capability::FourOctetAs(65000),
            Capability::Unknown { code: 5, value: hex("001900460002") },
        ],
    };
    check_both_ways(
        "ffffffffffffffffffffffffffffffff 003b 01 04 fde8 005a 7f000001 1e 02 1c
         0200 490402766d00 010400190046 41040000fde8 0506001900460002",
        &Message::Open(open),
        "GoBGP 3.10 OPEN",
    );
}

#[test]
fn open_with_a_four_octet_as_uses_as_trans() {
    let open = Open::new(4_200_000_000, 90, Ipv4Addr::new(127, 0, 0, 9), Vec::new());
    assert_eq!(open.my_as, 23_456);
    assert_eq!(open.asn(), 4_200_000_000);
    let bytes = Message::Open(open).to_bytes(EncodeCx::default()).expect("fits");
    assert_eq!(common::to_hex(&bytes[20..22]), "5ba0");
    assert!(common::to_hex(&bytes).ends_with("4104fa56ea00"));
}

#[test]
fn keepalive_notification_route_refresh() {
    check_both_ways("ffffffffffffffffffffffffffffffff001304", &Message::Keepalive, "KEEPALIVE");
    check_both_ways(
        "ffffffffffffffffffffffffffffffff0015030602",
        &Message::Notification(Notification::cease(bgp_wire::CeaseSubcode::AdministrativeShutdown)),
        "Cease/Administrative Shutdown",
    );
    check_both_ways(
        "ffffffffffffffffffffffffffffffff00170500190046",
        &Message::RouteRefresh(evpn_route_refresh()),
        "ROUTE-REFRESH L2VPN/EVPN",
    );
}

#[test]
fn gobgp_rt2_ipv6_with_two_labels_and_rt5() {
    // RT-2 with IPv6 and Label2, and RT-5 as GoBGP encodes them (§1.6, §1.11).
    let rt2_v6 = hex("0234 0000fde800000064 00000000000000000000 00000000 30 aabbcc000003
         80 20010db8000000000000000000000003 002774 004e20");
    let rt5 = hex("0522 0000fde8000000c8 00000000000000000000 00000000 18 c0000200 00000000 004e20");
    for (bytes, what) in [(rt2_v6, "RT-2 IPv6 two labels"), (rt5, "RT-5")] {
        // Wrap the NLRI in a withdraw, the smallest message that carries it.
        let mut message = hex("ffffffffffffffffffffffffffffffff 0000 02 0000 0000 900f 0000 0019 46");
        message.extend_from_slice(&bytes);
        let attr_len = u16::try_from(message.len() - 23).expect("small");
        let mp_len = u16::try_from(message.len() - 27).expect("small");
        let total = u16::try_from(message.len()).expect("small");
        message[16..18].copy_from_slice(&total.to_be_bytes());
        message[21..23].copy_from_slice(&attr_len.to_be_bytes());
        message[25..27].copy_from_slice(&mp_len.to_be_bytes());
        let decoded = Message::decode(&message, bgp_wire::DecodeCx::default()).expect(what);
        let encoded = decoded.to_bytes(EncodeCx::default()).expect(what);
        common::assert_eq_hex(&encoded, &message, what);
        let Message::Update(update) = decoded else { panic!("{what}: not an UPDATE") };
        let Some(MpUnreach::Evpn { routes }) = update.attributes.mp_unreach else {
            panic!("{what}: no routes")
        };
        match &routes[..] {
            [EvpnRoute::MacIp(route)] => {
                assert_eq!(route.ip, Some("2001:db8::3".parse().expect("ip")));
                assert_eq!(route.label1.value(), 10100);
                assert_eq!(route.label2.map(Label::value), Some(20000));
                assert_eq!(route.rd, RouteDistinguisher::As2 { asn: 65000, number: 100 });
            }
            [EvpnRoute::IpPrefix(route)] => {
                assert_eq!(route.prefix, IpAddr::from([192, 0, 2, 0]));
                assert_eq!(route.prefix_len, 24);
                assert_eq!(route.label.value(), 20000);
                assert_eq!(route.rd, RouteDistinguisher::As2 { asn: 65000, number: 200 });
            }
            other => panic!("{what}: unexpected routes {other:?}"),
        }
    }
}

#[test]
fn vni_above_65535_uses_all_24_bits() {
    // VNI 16000000 = 0xf42400; no MPLS shift, in Label1 and in PMSI.
    let mut route = rt2(0x03, None);
    if let EvpnRoute::MacIp(mac_ip) = &mut route {
        mac_ip.label1 = vni(16_000_000);
    }
    let mut out = Vec::new();
    route.encode(&mut out).expect("fits");
    assert!(common::to_hex(&out).ends_with("3002aabbccdd0300f42400"), "{}", common::to_hex(&out));
    let pmsi = PmsiTunnel {
        flags: 0,
        label: vni(16_000_000),
        tunnel: PmsiTunnelId::IngressReplication(VTEP.into()),
    };
    let message = update(PathAttributes { pmsi_tunnel: Some(pmsi), ..Default::default() });
    let bytes = message.to_bytes(EncodeCx::default()).expect("fits");
    assert!(common::to_hex(&bytes).ends_with("c016090006f42400c0000201"), "{}", common::to_hex(&bytes));
}
