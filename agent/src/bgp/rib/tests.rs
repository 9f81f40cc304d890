use std::{net::IpAddr, sync::Arc};

use bgp_wire::{
    DecodeCx, EncodeCx, Esi, EvpnRoute, Imet, Label, MacAddr, MacIp, Message, MpReach, MpUnreach, Origin,
    PathAttributes, RouteDistinguisher, Update,
};

use proptest::prelude::*;

use super::{AdjRibIn, AdjRibOut, OutRoute, RibInChange, RouteAttributes, adj_rib_out::ByKey};

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
    let rd = (0u16..2).prop_map(|number| RouteDistinguisher::Ipv4 { addr: [192, 0, 2, 1].into(), number });
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
