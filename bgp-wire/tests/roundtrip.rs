//! Property tests: any value we can build encodes, and decodes back to
//! itself; and the UPDATE packer keeps every route, within the size limit.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_wire::{
    AsSegment, AsSegmentType, DecodeCx, EncodeCx, Esi, EthernetAd, EthernetSegment, EvpnRoute, ExtCommunity,
    Imet, IpPrefix, Label, MacAddr, MacIp, Message, MpReach, MpUnreach, Origin, PathAttributes, PmsiTunnel,
    PmsiTunnelId, RawAttribute, RouteDistinguisher, Update, pack_announcements, pack_withdrawals,
};
use proptest::{collection::vec, option, prelude::*};

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

fn label() -> impl Strategy<Value = Label> {
    (0..=Label::MAX).prop_map(|v| Label::new(v).expect("in range"))
}

fn rd() -> impl Strategy<Value = RouteDistinguisher> {
    prop_oneof![
        (any::<u16>(), any::<u32>()).prop_map(|(asn, number)| RouteDistinguisher::As2 { asn, number }),
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(a, number)| RouteDistinguisher::Ipv4 { addr: Ipv4Addr::from(a), number }),
        (any::<u32>(), any::<u16>()).prop_map(|(asn, number)| RouteDistinguisher::As4 { asn, number }),
        (3..=u16::MAX, any::<[u8; 6]>()).prop_map(|(kind, value)| RouteDistinguisher::Other { kind, value }),
    ]
}

fn route() -> impl Strategy<Value = EvpnRoute> {
    prop_oneof![
        (rd(), any::<[u8; 10]>(), any::<u32>(), label()).prop_map(|(rd, esi, ethernet_tag, label)| {
            EvpnRoute::EthernetAd(EthernetAd { rd, esi: Esi(esi), ethernet_tag, label })
        }),
        (
            rd(),
            any::<[u8; 10]>(),
            any::<u32>(),
            any::<[u8; 6]>(),
            option::of(ip()),
            label(),
            option::of(label())
        )
            .prop_map(|(rd, esi, ethernet_tag, mac, ip, label1, label2)| {
                EvpnRoute::MacIp(MacIp {
                    rd,
                    esi: Esi(esi),
                    ethernet_tag,
                    mac: MacAddr(mac),
                    ip,
                    label1,
                    label2,
                })
            }),
        (rd(), any::<u32>(), ip()).prop_map(|(rd, ethernet_tag, originator)| EvpnRoute::Imet(Imet {
            rd,
            ethernet_tag,
            originator
        })),
        (rd(), any::<[u8; 10]>(), ip()).prop_map(|(rd, esi, originator)| {
            EvpnRoute::EthernetSegment(EthernetSegment { rd, esi: Esi(esi), originator })
        }),
        (
            rd(),
            any::<[u8; 10]>(),
            any::<u32>(),
            any::<bool>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            label(),
            0..=128u8
        )
            .prop_map(|(rd, esi, ethernet_tag, v6, p, g, label, len)| {
                let (prefix, gateway, prefix_len) = if v6 {
                    (IpAddr::from(p), IpAddr::from(g), len)
                } else {
                    let p4: [u8; 4] = p[..4].try_into().expect("4");
                    let g4: [u8; 4] = g[..4].try_into().expect("4");
                    (IpAddr::from(p4), IpAddr::from(g4), len % 33)
                };
                EvpnRoute::IpPrefix(IpPrefix {
                    rd,
                    esi: Esi(esi),
                    ethernet_tag,
                    prefix,
                    prefix_len,
                    gateway,
                    label,
                })
            }),
        // Unknown types: anything from 6 up, any value that fits.
        (6..=u8::MAX, vec(any::<u8>(), 0..40))
            .prop_map(|(route_type, value)| EvpnRoute::Unknown { route_type, value }),
    ]
}

fn community() -> impl Strategy<Value = ExtCommunity> {
    // Decoding normalizes: bytes that match a typed community become it.
    // Generating from bytes keeps the property honest for both kinds.
    any::<[u8; 8]>().prop_map(ExtCommunity::from_bytes)
}

fn attributes() -> impl Strategy<Value = PathAttributes> {
    (
        (ip(), vec(route(), 0..8)),
        prop_oneof![Just(Origin::Igp), Just(Origin::Egp), Just(Origin::Incomplete)],
        vec((1..=4u8, vec(any::<u32>(), 1..5)), 0..3),
        option::of(any::<u32>()),
        any::<u32>(),
        option::of(any::<[u8; 4]>()),
        option::of(vec(any::<[u8; 4]>(), 1..4)),
        option::of(vec(community(), 1..6)),
        option::of((any::<u8>(), label(), ip())),
        vec((100..=200u8, vec(any::<u8>(), 0..300)), 0..3),
    )
        .prop_map(
            |(
                (next_hop, routes),
                origin,
                segments,
                med,
                local_pref,
                originator,
                clusters,
                communities,
                pmsi,
                raw,
            )| {
                let mut other: Vec<RawAttribute> = raw
                    .into_iter()
                    .map(|(type_code, value)| RawAttribute { flags: 0xc0, type_code, value })
                    .collect();
                // One of each type: repeats are discarded on decode.
                other.sort_by_key(|a| a.type_code);
                other.dedup_by_key(|a| a.type_code);
                PathAttributes {
                    mp_reach: Some(MpReach::Evpn { next_hop, link_local: None, routes }),
                    mp_unreach: None,
                    origin: Some(origin),
                    as_path: Some(
                        segments
                            .into_iter()
                            .map(|(kind, asns)| AsSegment {
                                kind: match kind {
                                    1 => AsSegmentType::Set,
                                    2 => AsSegmentType::Sequence,
                                    3 => AsSegmentType::ConfedSequence,
                                    _ => AsSegmentType::ConfedSet,
                                },
                                asns,
                            })
                            .collect(),
                    ),
                    next_hop: None,
                    med,
                    local_pref: Some(local_pref),
                    originator_id: originator.map(Ipv4Addr::from),
                    cluster_list: clusters.map(|c| c.into_iter().map(Ipv4Addr::from).collect()),
                    ext_communities: communities,
                    pmsi_tunnel: pmsi.map(|(flags, label, endpoint)| PmsiTunnel {
                        flags,
                        label,
                        tunnel: PmsiTunnelId::IngressReplication(endpoint),
                    }),
                    other,
                }
            },
        )
}

/// Routes from a few values per field, so that two of them often share a
/// kind and a key prefix (the cases an ordering gets wrong).
fn near_route() -> impl Strategy<Value = EvpnRoute> {
    let rd = prop_oneof![
        Just(RouteDistinguisher::As2 { asn: 1, number: 1 }),
        Just(RouteDistinguisher::Ipv4 { addr: Ipv4Addr::new(192, 0, 2, 1), number: 1 }),
    ];
    let ip = prop_oneof![Just(IpAddr::from([10, 0, 0, 1])), Just(IpAddr::from([10, 0, 0, 2]))];
    let esi = prop_oneof![Just(Esi::ZERO), Just(Esi([1; 10]))];
    prop_oneof![
        (rd.clone(), esi.clone(), 0..2u32, 0..2u32).prop_map(|(rd, esi, ethernet_tag, label)| {
            EvpnRoute::EthernetAd(EthernetAd {
                rd,
                esi,
                ethernet_tag,
                label: Label::new(label).expect("fits"),
            })
        }),
        (rd.clone(), esi.clone(), 0..2u32, 0..2u8, option::of(ip.clone()), 0..2u32).prop_map(
            |(rd, esi, ethernet_tag, mac, ip, label)| EvpnRoute::MacIp(MacIp {
                rd,
                esi,
                ethernet_tag,
                mac: MacAddr([2, 0, 0, 0, 0, mac]),
                ip,
                label1: Label::new(label).expect("fits"),
                label2: None,
            })
        ),
        (rd.clone(), 0..2u32, ip.clone()).prop_map(|(rd, ethernet_tag, originator)| EvpnRoute::Imet(Imet {
            rd,
            ethernet_tag,
            originator
        })),
        (rd.clone(), esi, ip.clone()).prop_map(|(rd, esi, originator)| EvpnRoute::EthernetSegment(
            EthernetSegment { rd, esi, originator }
        )),
        (rd, 0..2u32, ip.clone(), 24..26u8, ip).prop_map(
            |(rd, ethernet_tag, prefix, prefix_len, gateway)| {
                EvpnRoute::IpPrefix(IpPrefix {
                    rd,
                    esi: Esi::ZERO,
                    ethernet_tag,
                    prefix,
                    prefix_len,
                    gateway,
                    label: Label::default(),
                })
            }
        ),
        (6..8u8, vec(0..2u8, 0..2)).prop_map(|(route_type, value)| EvpnRoute::Unknown { route_type, value }),
    ]
}

proptest! {
    #[test]
    fn any_update_round_trips(attributes in attributes()) {
        let message = Message::Update(Update { attributes, ..Default::default() });
        let cx = EncodeCx { extended_message: true, ..EncodeCx::default() };
        let bytes = message.to_bytes(cx).expect("fits in an extended message");
        let decoded = Message::decode(&bytes, DecodeCx { extended_message: true, ..DecodeCx::default() })
            .expect("what we encode decodes");
        prop_assert_eq!(decoded, message);
    }

    #[test]
    fn any_withdrawal_round_trips(routes in vec(route(), 0..20)) {
        let message = Message::Update(Update {
            attributes: PathAttributes { mp_unreach: Some(MpUnreach::Evpn { routes }), ..Default::default() },
            ..Default::default()
        });
        let bytes = message.to_bytes(EncodeCx::default()).expect("fits");
        prop_assert_eq!(Message::decode(&bytes, DecodeCx::default()).expect("decodes"), message);
    }

    #[test]
    fn encoded_len_is_exact(route in route()) {
        let mut out = Vec::new();
        route.encode(&mut out).expect("fits");
        prop_assert_eq!(out.len(), route.encoded_len());
    }
}

proptest! {
    // Two near routes share a kind and most of a key only now and then:
    // many cases, each cheap.
    #![proptest_config(ProptestConfig { cases: 8192, ..ProptestConfig::default() })]

    #[test]
    fn routes_order_as_their_keys(a in near_route(), b in near_route()) {
        prop_assert_eq!(a.cmp_key(&b), a.key().cmp(&b.key()));
        prop_assert_eq!(b.cmp_key(&a), b.key().cmp(&a.key()));
        prop_assert_eq!(a.cmp_key(&a), std::cmp::Ordering::Equal);
    }

    #[test]
    fn the_probe_of_a_key_has_that_key(route in route()) {
        let probe = EvpnRoute::from_key(&route.key());
        prop_assert_eq!(probe.key(), route.key());
        prop_assert_eq!(probe.cmp_key(&route), std::cmp::Ordering::Equal);
        // Only non-key fields differ: the probe encodes as a valid route.
        let mut out = Vec::new();
        probe.encode(&mut out).expect("fits");
        prop_assert_eq!(EvpnRoute::decode_nlri(&out).expect("decodes"), vec![probe]);
    }
}

fn mac_only(i: u32) -> EvpnRoute {
    let [_, b, c, d] = i.to_be_bytes();
    EvpnRoute::MacIp(MacIp {
        rd: RouteDistinguisher::Ipv4 { addr: Ipv4Addr::new(192, 0, 2, 1), number: 100 },
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddr([0x02, 0, 0, b, c, d]),
        ip: None,
        label1: Label::new(10100).expect("fits"),
        label2: None,
    })
}

fn rt2_attributes() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(Vec::new()),
        local_pref: Some(100),
        ext_communities: Some(vec![
            ExtCommunity::RouteTarget(bgp_wire::RouteTarget::As2 { asn: 65000, local: 10100 }),
            ExtCommunity::Encapsulation { tunnel_type: bgp_wire::TUNNEL_VXLAN },
            ExtCommunity::MacMobility { sticky: false, sequence: 3 },
        ]),
        ..Default::default()
    }
}

/// Decodes packed messages and returns every route they carry, checking
/// each message's size and attributes.
fn unpack(messages: &[Vec<u8>], max: usize, announce: bool) -> Vec<EvpnRoute> {
    let cx = DecodeCx { extended_message: max > 4096, ..DecodeCx::default() };
    let mut routes = Vec::new();
    for bytes in messages {
        assert!(bytes.len() <= max, "{} bytes", bytes.len());
        let Ok(Message::Update(update)) = Message::decode(bytes, cx) else { panic!("not an UPDATE") };
        assert!(update.problems.is_empty());
        if announce {
            assert_eq!(update.attributes.local_pref, Some(100));
            let Some(MpReach::Evpn { routes: batch, next_hop, .. }) = update.attributes.mp_reach else {
                panic!("no MP_REACH")
            };
            assert_eq!(next_hop, IpAddr::from([192, 0, 2, 1]));
            routes.extend(batch);
        } else {
            assert_eq!(update.attributes.origin, None, "a withdrawal carries only MP_UNREACH");
            let Some(MpUnreach::Evpn { routes: batch }) = update.attributes.mp_unreach else {
                panic!("no MP_UNREACH")
            };
            routes.extend(batch);
        }
    }
    routes
}

#[test]
fn packing_fills_4096_byte_updates_and_keeps_every_route_in_order() {
    let routes: Vec<EvpnRoute> = (0..1000).map(mac_only).collect();
    let next_hop = IpAddr::from([192, 0, 2, 1]);
    let messages =
        pack_announcements(&rt2_attributes(), next_hop, &routes, EncodeCx::default()).expect("packs");
    // 35 bytes per MAC-only RT-2 after 77 bytes of overhead: 114 per UPDATE,
    // as ../shared/ref/bgp-evpn.md §5.5 works out.
    assert_eq!(messages.len(), 1000usize.div_ceil(114));
    assert!(messages[0].len() > 4096 - 35, "the first UPDATE is full: {}", messages[0].len());
    assert_eq!(unpack(&messages, 4096, true), routes);

    let withdrawals = pack_withdrawals(&routes, EncodeCx::default()).expect("packs");
    assert_eq!(unpack(&withdrawals, 4096, false), routes);
    assert!(withdrawals.len() < messages.len() + 1);
}

#[test]
fn extended_messages_pack_up_to_65535_bytes() {
    let routes: Vec<EvpnRoute> = (0..5000).map(mac_only).collect();
    let cx = EncodeCx { extended_message: true, ..EncodeCx::default() };
    let messages =
        pack_announcements(&rt2_attributes(), IpAddr::from([192, 0, 2, 1]), &routes, cx).expect("packs");
    assert_eq!(messages.len(), 5000usize.div_ceil((65_535 - 77) / 35));
    assert_eq!(unpack(&messages, 65_535, true), routes);
}

#[test]
fn packing_nothing_sends_nothing() {
    let none = pack_announcements(&rt2_attributes(), IpAddr::from([192, 0, 2, 1]), &[], EncodeCx::default());
    assert_eq!(none, Ok(Vec::new()));
    assert_eq!(pack_withdrawals(&[], EncodeCx::default()), Ok(Vec::new()));
}
