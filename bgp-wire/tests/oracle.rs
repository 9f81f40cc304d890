//! netgauze-bgp-pkt as an independent oracle: it decodes what we encode to
//! the same values (routes field by field, next hop, MAC mobility, PMSI),
//! and re-encodes it to the same bytes.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{
    EncodeCx, Esi, EvpnRoute, ExtCommunity, Imet, Label, MacAddr, MacIp, Message, MpReach, MpUnreach, Origin,
    PathAttributes, PmsiTunnel, PmsiTunnelId, RouteDistinguisher, RouteTarget, TUNNEL_VXLAN, Update,
};
use netgauze_bgp_pkt::{
    BgpMessage,
    community::{EvpnExtendedCommunity, ExtendedCommunity as NgCommunity},
    nlri::{L2EvpnRoute, RouteDistinguisher as NgRd},
    path_attribute::{MpReach as NgMpReach, MpUnreach as NgMpUnreach, PathAttributeValue},
    wire::deserializer::BgpParsingContext,
};
use netgauze_parse_utils::{WritablePdu as _, reader::SliceReader, traits::ParseFromWithOneInput as _};
use proptest::{collection::vec, option, prelude::*};

fn oracle_decode(bytes: &[u8]) -> BgpMessage {
    let mut ctx = BgpParsingContext::default();
    let mut cursor = SliceReader::new(bytes);
    let message = BgpMessage::parse(&mut cursor, &mut ctx)
        .unwrap_or_else(|error| panic!("netgauze rejected our bytes: {error:?}"));
    assert!(
        ctx.parsing_errors().path_attr_errors().is_empty(),
        "netgauze found problems: {:?}",
        ctx.parsing_errors()
    );
    message
}

fn same_rd(ours: RouteDistinguisher, theirs: NgRd) -> bool {
    match (ours, theirs) {
        (RouteDistinguisher::As2 { asn, number }, NgRd::As2Administrator { asn2, number: n }) => {
            asn == asn2 && number == n
        }
        (RouteDistinguisher::Ipv4 { addr, number }, NgRd::Ipv4Administrator { ip, number: n }) => {
            addr == ip && number == n
        }
        (RouteDistinguisher::As4 { asn, number }, NgRd::As4Administrator { asn4, number: n }) => {
            asn == asn4 && number == n
        }
        _ => false,
    }
}

fn label_bytes(label: Label) -> [u8; 3] {
    let [_, a, b, c] = label.value().to_be_bytes();
    [a, b, c]
}

/// Asserts that netgauze's route is ours, field by field.
fn assert_same_route(ours: &EvpnRoute, theirs: &L2EvpnRoute) {
    match (ours, theirs) {
        (EvpnRoute::MacIp(o), L2EvpnRoute::MacIpAdvertisement(t)) => {
            assert!(same_rd(o.rd, t.rd()), "RD {} vs {:?}", o.rd, t.rd());
            assert_eq!(&o.esi.0, t.segment_id().value());
            assert_eq!(o.ethernet_tag, t.tag().value());
            assert_eq!(&o.mac.0, t.mac().value());
            assert_eq!(o.ip, t.ip());
            assert_eq!(&label_bytes(o.label1), t.mpls_label1().value(), "label1 (VNI) of {ours}");
            assert_eq!(o.label2.map(label_bytes), t.mpls_label2().map(|l| *l.value()));
        }
        (EvpnRoute::Imet(o), L2EvpnRoute::InclusiveMulticastEthernetTagRoute(t)) => {
            assert!(same_rd(o.rd, t.rd()), "RD {} vs {:?}", o.rd, t.rd());
            assert_eq!(o.ethernet_tag, t.tag().value());
            assert_eq!(o.originator, t.ip());
        }
        _ => panic!("route kinds differ: {ours:?} vs {theirs:?}"),
    }
}

fn check(message: &Message) {
    let bytes = message.to_bytes(EncodeCx::default()).expect("fits");
    let theirs = oracle_decode(&bytes);

    let mut rewritten = Vec::new();
    theirs.write(&mut rewritten).expect("netgauze writes");
    assert_eq!(rewritten, bytes, "netgauze re-encodes our bytes differently");

    let Message::Update(update) = message else { return };
    let BgpMessage::Update(theirs) = theirs else { panic!("netgauze saw no UPDATE") };
    let attributes = &update.attributes;
    let mut seen_reach = false;
    let mut seen_unreach = false;
    for attribute in theirs.path_attributes() {
        match attribute.value() {
            PathAttributeValue::MpReach(NgMpReach::L2Evpn { next_hop, nlri }) => {
                seen_reach = true;
                let Some(MpReach::Evpn { next_hop: ours_nh, routes, .. }) = &attributes.mp_reach else {
                    panic!("netgauze saw an MP_REACH we did not send")
                };
                assert_eq!(next_hop, ours_nh);
                assert_eq!(nlri.len(), routes.len());
                for (ours, theirs) in routes.iter().zip(nlri.iter()) {
                    assert_same_route(ours, theirs.route());
                }
            }
            PathAttributeValue::MpUnreach(NgMpUnreach::L2Evpn { nlri }) => {
                seen_unreach = true;
                let Some(MpUnreach::Evpn { routes }) = &attributes.mp_unreach else {
                    panic!("netgauze saw an MP_UNREACH we did not send")
                };
                assert_eq!(nlri.len(), routes.len());
                for (ours, theirs) in routes.iter().zip(nlri.iter()) {
                    assert_same_route(ours, theirs.route());
                }
            }
            PathAttributeValue::ExtendedCommunities(communities) => {
                let ours = attributes.ext_communities.as_ref().expect("we sent communities");
                assert_eq!(communities.communities().len(), ours.len());
                for (theirs, ours) in communities.communities().iter().zip(ours) {
                    if let ExtCommunity::MacMobility { sticky, sequence } = ours {
                        let NgCommunity::Evpn(EvpnExtendedCommunity::MacMobility { flags, seq_no }) = theirs
                        else {
                            panic!("netgauze does not see MAC mobility in {theirs:?}")
                        };
                        assert_eq!(*flags, u8::from(*sticky));
                        assert_eq!(seq_no, sequence);
                    }
                }
            }
            PathAttributeValue::UnknownAttribute(unknown) if unknown.code() == 22 => {
                let pmsi = attributes.pmsi_tunnel.as_ref().expect("we sent PMSI");
                let mut expected = vec![pmsi.flags, 6];
                expected.extend_from_slice(&label_bytes(pmsi.label));
                if let PmsiTunnelId::IngressReplication(IpAddr::V4(endpoint)) = pmsi.tunnel {
                    expected.extend_from_slice(&endpoint.octets());
                }
                assert_eq!(unknown.value(), &expected[..]);
            }
            PathAttributeValue::LocalPreference(lp) => assert_eq!(Some(lp.metric()), attributes.local_pref),
            _ => {}
        }
    }
    assert_eq!(seen_reach, attributes.mp_reach.is_some());
    assert_eq!(seen_unreach, attributes.mp_unreach.is_some());
}

fn rd() -> impl Strategy<Value = RouteDistinguisher> {
    prop_oneof![
        (any::<u16>(), any::<u32>()).prop_map(|(asn, number)| RouteDistinguisher::As2 { asn, number }),
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(a, number)| RouteDistinguisher::Ipv4 { addr: Ipv4Addr::from(a), number }),
        (any::<u32>(), any::<u16>()).prop_map(|(asn, number)| RouteDistinguisher::As4 { asn, number }),
    ]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)]
}

fn label() -> impl Strategy<Value = Label> {
    (0..=Label::MAX).prop_map(|v| Label::new(v).expect("in range"))
}

/// The routes the agent sends: RT-2 (MAC only, v4, v6; one or two labels)
/// and RT-3.
fn route() -> impl Strategy<Value = EvpnRoute> {
    prop_oneof![
        (rd(), any::<u32>(), any::<[u8; 6]>(), option::of(ip()), label(), option::of(label())).prop_map(
            |(rd, ethernet_tag, mac, ip, label1, label2)| {
                EvpnRoute::MacIp(MacIp {
                    rd,
                    esi: Esi::ZERO,
                    ethernet_tag,
                    mac: MacAddr(mac),
                    ip,
                    label1,
                    label2,
                })
            }
        ),
        (rd(), any::<u32>(), ip()).prop_map(|(rd, ethernet_tag, originator)| EvpnRoute::Imet(Imet {
            rd,
            ethernet_tag,
            originator
        })),
    ]
}

proptest! {
    #[test]
    fn netgauze_decodes_our_announcements_to_the_same_values(
        routes in vec(route(), 1..20),
        next_hop in any::<[u8; 4]>(),
        sticky in any::<bool>(),
        sequence in any::<u32>(),
        local_pref in any::<u32>(),
        pmsi_label in option::of(label()),
    ) {
        let next_hop = Ipv4Addr::from(next_hop);
        let message = Message::Update(Update {
            attributes: PathAttributes {
                mp_reach: Some(MpReach::Evpn { next_hop: next_hop.into(), link_local: None, routes }),
                origin: Some(Origin::Igp),
                as_path: Some(Vec::new()),
                local_pref: Some(local_pref),
                ext_communities: Some(vec![
                    ExtCommunity::RouteTarget(RouteTarget::As2 { asn: 65000, local: 10100 }),
                    ExtCommunity::Encapsulation { tunnel_type: TUNNEL_VXLAN },
                    ExtCommunity::MacMobility { sticky, sequence },
                ]),
                pmsi_tunnel: pmsi_label.map(|label| PmsiTunnel {
                    flags: 0,
                    label,
                    tunnel: PmsiTunnelId::IngressReplication(next_hop.into()),
                }),
                ..Default::default()
            },
            ..Default::default()
        });
        check(&message);
    }

    #[test]
    fn netgauze_decodes_our_withdrawals_to_the_same_values(routes in vec(route(), 0..20)) {
        let message = Message::Update(Update {
            attributes: PathAttributes { mp_unreach: Some(MpUnreach::Evpn { routes }), ..Default::default() },
            ..Default::default()
        });
        check(&message);
    }
}

#[test]
fn netgauze_decodes_our_open_keepalive_and_route_refresh() {
    let open = bgp_wire::Open::new(
        4_200_000_000,
        90,
        Ipv4Addr::new(127, 0, 0, 9),
        vec![
            bgp_wire::Capability::Multiprotocol { afi: 25, safi: 70 },
            bgp_wire::Capability::RouteRefresh,
            bgp_wire::Capability::GracefulRestart {
                restarting: true,
                notification: false,
                restart_time: 120,
                families: vec![bgp_wire::GracefulRestartFamily {
                    afi: 25,
                    safi: 70,
                    forwarding_preserved: true,
                }],
            },
        ],
    );
    for message in
        [Message::Open(open), Message::Keepalive, Message::RouteRefresh(bgp_wire::evpn_route_refresh())]
    {
        check(&message);
    }
}
