//! One test per rule of the proxy core.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
};

use bgp_wire::{EvpnRoute, EvpnRouteKey, ExtCommunity, MacAddr, PmsiTunnelId, RouteDistinguisher};

use super::{
    Core,
    msg::{Input, Learned, Mobility, Notice, Output, ReceivedKind, ReceivedRoute, route_name},
};
use crate::{
    bgp::rib::OutRoute,
    config::model::{Config, OriginatingIp},
};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const EVPN: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

fn mac(last: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, last])
}

/// blue: EVI 100, VNI 10100, static VTEPs A (static MAC :aa) and B.
fn config() -> Config {
    serde_json::from_value(serde_json::json!({
        "source-address": "192.0.2.254",
        "local-as": 65000,
        "mac-vrfs": {"blue": {"evi": 100, "vni": 10100, "static-vteps": {
            "192.0.2.1": {"static-macs": ["02:00:00:00:00:aa"]},
            "192.0.2.2": {}
        }}}
    }))
    .expect("valid config")
}

fn core_with(config: Config) -> (Core, Vec<Output>) {
    let mut core = Core::new();
    let out = core.process(0, Input::Config(Box::new(config)));
    (core, out)
}

fn learned(vtep: Ipv4Addr, mac: MacAddr, ip: Option<IpAddr>) -> Input {
    Input::Learned(Learned { vni: 10100, vtep: vtep.into(), mac, ip })
}

fn rt2(key: &str, next_hop: Ipv4Addr, mac: MacAddr, originator: Option<Ipv4Addr>, seq: Option<u32>) -> Input {
    Input::Route(ReceivedRoute {
        key: route_name::key(key),
        kind: ReceivedKind::MacIp { mac, ip: None },
        vni: 10100,
        next_hop: next_hop.into(),
        originator_id: originator,
        mobility: seq.map(|sequence| Mobility { sequence, sticky: false }),
    })
}

fn rt3_from_evpn(key: &str, vtep: Ipv4Addr) -> Input {
    Input::Route(ReceivedRoute {
        key: route_name::key(key),
        kind: ReceivedKind::Imet { originator: vtep.into() },
        vni: 10100,
        next_hop: vtep.into(),
        originator_id: Some(vtep),
        mobility: None,
    })
}

fn announced(out: &[Output]) -> Vec<&crate::bgp::rib::OutRoute> {
    out.iter().filter_map(|o| if let Output::Announce(r) = o { Some(r) } else { None }).collect()
}

fn withdrawn(out: &[Output]) -> usize {
    out.iter().filter(|o| matches!(o, Output::Withdraw(_))).count()
}

fn mobility(route: &crate::bgp::rib::OutRoute) -> Option<(u32, bool)> {
    route.attributes.path.ext_communities.iter().flatten().find_map(|c| match c {
        ExtCommunity::MacMobility { sequence, sticky } => Some((*sequence, *sticky)),
        _ => None,
    })
}

fn mac_routes(core: &Core, mac: MacAddr) -> Vec<OutRoute> {
    core.advertised().filter(|r| matches!(&r.route, EvpnRoute::MacIp(m) if m.mac == mac)).collect()
}

/// The advertised routes by key.
fn table(core: &Core) -> BTreeMap<EvpnRouteKey, OutRoute> {
    core.advertised().map(|r| (r.route.key(), r)).collect()
}

fn notices(out: &[Output]) -> Vec<&Notice> {
    out.iter().filter_map(|o| if let Output::Notice(n) = o { Some(n) } else { None }).collect()
}

#[test]
fn one_rt3_per_static_vtep_with_pmsi_to_the_vtep() {
    let (_, out) = core_with(config());
    let rt3: Vec<_> = announced(&out).into_iter().filter(|r| matches!(r.route, EvpnRoute::Imet(_))).collect();
    assert_eq!(rt3.len(), 2);
    for route in rt3 {
        let EvpnRoute::Imet(imet) = &route.route else { unreachable!() };
        let IpAddr::V4(vtep) = route.attributes.next_hop else { panic!("IPv4 VTEP") };
        assert_eq!(imet.rd, RouteDistinguisher::Ipv4 { addr: vtep, number: 100 });
        assert_eq!(imet.originator, IpAddr::V4(vtep), "originator defaults to the static VTEP");
        let pmsi = route.attributes.path.pmsi_tunnel.as_ref().expect("PMSI");
        assert_eq!(pmsi.tunnel, PmsiTunnelId::IngressReplication(vtep.into()));
        assert_eq!(pmsi.label.value(), 10100);
        let communities = route.attributes.path.ext_communities.as_ref().expect("communities");
        assert!(
            communities
                .iter()
                .any(|c| c.to_bytes() == ExtCommunity::Encapsulation { tunnel_type: 8 }.to_bytes())
        );
        assert!(
            communities
                .iter()
                .any(|c| matches!(c, ExtCommunity::RouteTarget(rt) if rt.to_string() == "target:65000:100"))
        );
    }
    // The predecessor's mode: the agent's address as originating IP.
    let (core, _) = core_with(Config { originating_ip: OriginatingIp::Agent, ..config() });
    assert!(core.advertised().all(|r| match &r.route {
        EvpnRoute::Imet(imet) => imet.originator == IpAddr::from([192, 0, 2, 254]),
        _ => true,
    }));
}

#[test]
fn static_macs_are_sticky_mac_only_routes() {
    let (core, _) = core_with(config());
    let routes = mac_routes(&core, mac(0xaa));
    assert_eq!(routes.len(), 1);
    let EvpnRoute::MacIp(route) = &routes[0].route else { unreachable!() };
    assert_eq!(route.ip, None);
    assert_eq!(route.label1.value(), 10100);
    assert_eq!(mobility(&routes[0]), Some((0, true)));
}

#[test]
fn a_learned_mac_gets_a_mac_route_and_one_per_ip_without_mobility_at_first() {
    let (mut core, _) = core_with(config());
    let v4 = IpAddr::from([10, 0, 0, 1]);
    let v6: IpAddr = "2001:db8::1".parse().expect("ip");
    let out = core.process(1000, learned(A, mac(1), Some(v4)));
    assert_eq!(announced(&out).len(), 2);
    assert!(announced(&out).iter().all(|r| mobility(r).is_none()), "first advertisement: no MAC mobility");
    let out = core.process(2000, learned(A, mac(1), Some(v6)));
    assert_eq!(announced(&out).len(), 1, "a second IP adds one route");
    assert_eq!(mac_routes(&core, mac(1)).len(), 3);
    // A refresh changes nothing.
    assert!(announced(&core.process(3000, learned(A, mac(1), Some(v4)))).is_empty());
    // include-ip off: MAC only.
    let (mut core, _) = core_with(Config { include_ip: false, ..config() });
    core.process(1000, learned(A, mac(1), Some(v4)));
    assert_eq!(mac_routes(&core, mac(1)).len(), 1);
}

#[test]
fn ipv6_link_local_ips_are_advertised_unless_switched_off() {
    let link_local: IpAddr = "fe80::ff:fe00:303".parse().expect("ip");
    let global: IpAddr = "2001:db8::3".parse().expect("ip");
    let ips = |core: &Core| -> Vec<Option<IpAddr>> {
        mac_routes(core, mac(3))
            .iter()
            .map(|r| match &r.route {
                EvpnRoute::MacIp(route) => route.ip,
                _ => None,
            })
            .collect()
    };
    // The default does what FRR does for its own hosts.
    let (mut core, _) = core_with(config());
    core.process(1000, learned(A, mac(3), Some(link_local)));
    core.process(1000, learned(A, mac(3), Some(global)));
    assert_eq!(ips(&core), [None, Some(global), Some(link_local)]);
    // Off: the MAC and its global IP only; the link-local one is still
    // known (the snooper forgets it with the host when it moves).
    let (mut core, _) = core_with(Config { advertise_link_local: false, ..config() });
    core.process(1000, learned(A, mac(3), Some(link_local)));
    core.process(1000, learned(A, mac(3), Some(global)));
    assert_eq!(ips(&core), [None, Some(global)]);
    let out = core.process(2000, learned(B, mac(3), Some(global)));
    let forgotten: Vec<_> = out.iter().filter(|o| matches!(o, Output::ForgetSeen(_))).collect();
    assert_eq!(
        forgotten,
        [&Output::ForgetSeen(super::msg::Forget::Host { vni: 10100, mac: mac(3), ips: vec![link_local] })]
    );
}

#[test]
fn bad_learned_events_are_counted_not_learned() {
    let (mut core, _) = core_with(config());
    for input in [
        learned(A, MacAddr([0xff; 6]), None),
        learned(A, MacAddr([0x01, 0, 0x5e, 0, 0, 1]), None),
        learned(A, MacAddr([0; 6]), None),
        Input::Learned(Learned { vni: 999, vtep: A.into(), mac: mac(1), ip: None }),
        learned(Ipv4Addr::new(198, 51, 100, 1), mac(1), None),
    ] {
        assert!(announced(&core.process(1000, input)).is_empty());
    }
    let counters = state_json(&core)["counters"].clone();
    assert_eq!(counters["invalid"], 3);
    assert_eq!(counters["unknown-vni"], 1);
    assert_eq!(counters["unknown-vtep"], 1);
    // ARP probes (0.0.0.0 sender) teach the MAC only.
    core.process(1000, learned(A, mac(2), Some(IpAddr::from([0, 0, 0, 0]))));
    assert_eq!(mac_routes(&core, mac(2)).len(), 1);
}

#[test]
fn nothing_is_learned_or_advertised_behind_an_evpn_vtep_and_the_snooper_is_told() {
    let (mut core, _) = core_with(config());
    let out = core.process(1000, rt3_from_evpn("evpn-rt3", EVPN));
    assert!(out.contains(&Output::IgnoreVteps(vec![EVPN.into()])));
    assert!(announced(&core.process(2000, learned(EVPN, mac(1), None))).is_empty());
    // A configured static VTEP that starts speaking EVPN: we stop for it.
    let out = core.process(3000, rt3_from_evpn("a-rt3", A));
    assert!(withdrawn(&out) >= 2, "RT-3 and static MAC of A withdrawn: {out:?}");
    assert!(notices(&out).contains(&&Notice::StaticVtepIsEvpn { vtep: A }));
    // Its routes go away; after an aging time it is forgotten and we speak again.
    core.process(4000, Input::Withdrawn { key: route_name::key("a-rt3") });
    let out = core.process(4000 + 300_000, Input::Tick);
    assert!(announced(&out).len() >= 2, "{out:?}");
}

#[test]
fn auto_discovery_only_inside_allowed_prefixes_and_up_to_the_maximum() {
    let mut config = config();
    config.auto_discover =
        serde_json::from_value(serde_json::json!({"allowed-prefixes": ["198.51.100.0/24"], "max-vteps": 1}))
            .expect("valid");
    let (mut core, _) = core_with(config);
    let out = core.process(1000, learned(Ipv4Addr::new(198, 51, 100, 7), mac(1), None));
    assert_eq!(announced(&out).len(), 2, "RT-3 of the discovered VTEP and the MAC");
    assert!(
        announced(&core.process(1000, learned(Ipv4Addr::new(198, 51, 100, 8), mac(2), None))).is_empty(),
        "max 1"
    );
    assert!(
        announced(&core.process(1000, learned(Ipv4Addr::new(203, 0, 113, 1), mac(3), None))).is_empty(),
        "outside"
    );
    // Quiet for an aging time: the MAC and then the VTEP go.
    let out = core.process(1000 + 300_000, Input::Tick);
    assert_eq!(withdrawn(&out), 2, "{out:?}");
}

#[test]
fn a_move_between_static_vteps_increments_the_sequence_and_withdraws_the_old_route() {
    let (mut core, _) = core_with(config());
    core.process(1000, learned(A, mac(1), None));
    let out = core.process(2000, learned(B, mac(1), None));
    assert_eq!(withdrawn(&out), 1, "the route under A's RD");
    let new = announced(&out);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].attributes.next_hop, IpAddr::V4(B));
    assert_eq!(mobility(new[0]), Some((1, false)));
    let out = core.process(3000, learned(A, mac(1), None));
    assert_eq!(mobility(announced(&out)[0]), Some((2, false)));
}

#[test]
fn another_proxy_with_a_higher_sequence_wins_and_we_never_fight_back() {
    let (mut core, _) = core_with(config());
    core.process(1000, learned(A, mac(1), None));
    let other_proxy = Some(Ipv4Addr::new(10, 9, 9, 9));
    let out = core.process(2000, rt2("b-mac1", B, mac(1), other_proxy, Some(1)));
    assert_eq!(withdrawn(&out), 1);
    assert!(mac_routes(&core, mac(1)).is_empty());
    // Refreshes from the old place do not re-advertise; a real move back would.
    assert!(announced(&core.process(2500, Input::Tick)).is_empty());
    // The winner withdraws while our MAC is fresh: we take it back, higher.
    let out = core.process(3000, Input::Withdrawn { key: route_name::key("b-mac1") });
    assert_eq!(mobility(announced(&out)[0]), Some((2, false)));
}

#[test]
fn equal_sequences_go_to_the_lower_vtep_ip() {
    let other_proxy = Some(Ipv4Addr::new(10, 9, 9, 9));
    // B (192.0.2.2) has ours at seq 0; A (lower) arrives with seq 0: A wins.
    let (mut core, _) = core_with(config());
    core.process(1000, learned(B, mac(1), None));
    let out = core.process(2000, rt2("a-mac1", A, mac(1), other_proxy, None));
    assert_eq!(withdrawn(&out), 1);
    // Ours at A (lower); B arrives with seq 0: we keep ours.
    let (mut core, _) = core_with(config());
    core.process(1000, learned(A, mac(1), None));
    let out = core.process(2000, rt2("b-mac1", B, mac(1), other_proxy, None));
    assert_eq!(withdrawn(&out), 0);
    assert_eq!(mac_routes(&core, mac(1)).len(), 1);
}

#[test]
fn a_proxy_for_the_same_vtep_with_a_higher_sequence_is_followed() {
    let (mut core, _) = core_with(config());
    core.process(1000, learned(A, mac(1), None));
    let out = core.process(2000, rt2("a-mac1", A, mac(1), Some(Ipv4Addr::new(10, 9, 9, 9)), Some(4)));
    assert_eq!(mobility(announced(&out)[0]), Some((4, false)), "identical NLRI, identical attributes");
}

#[test]
fn a_mac_that_appears_behind_an_evpn_vtep_is_withdrawn() {
    let (mut core, _) = core_with(config());
    core.process(1000, learned(A, mac(1), Some(IpAddr::from([10, 0, 0, 1]))));
    let out = core.process(2000, rt2("evpn-mac1", EVPN, mac(1), None, Some(1)));
    assert_eq!(withdrawn(&out), 2);
    assert!(matches!(notices(&out)[..], [Notice::MovedToEvpn { .. }]));
}

#[test]
fn sticky_static_macs_hold_against_remote_routes() {
    let (mut core, _) = core_with(config());
    let out = core.process(1000, rt2("evpn-aa", EVPN, mac(0xaa), None, Some(7)));
    assert_eq!(withdrawn(&out), 0);
    assert!(matches!(notices(&out)[..], [Notice::StickyConflict { .. }]));
    // And traffic does not move a static MAC.
    assert!(announced(&core.process(2000, learned(B, mac(0xaa), None))).is_empty());
}

#[test]
fn five_moves_in_180_seconds_freeze_the_mac_for_the_hold_time() {
    let (mut core, _) = core_with(config());
    core.process(0, learned(A, mac(1), None));
    let mut frozen_at = None;
    for i in 1..=5u64 {
        let vtep = if i % 2 == 1 { B } else { A };
        let out = core.process(i * 10_000, learned(vtep, mac(1), None));
        if notices(&out).iter().any(|n| matches!(n, Notice::DuplicateFrozen { .. })) {
            frozen_at = Some(i);
            assert_eq!(announced(&out).len(), 0);
        }
    }
    assert_eq!(frozen_at, Some(5));
    assert!(mac_routes(&core, mac(1)).is_empty());
    assert!(announced(&core.process(100_000, learned(B, mac(1), None))).is_empty(), "still frozen");
    let out = core.process(50_000 + 540_000, Input::Tick);
    assert!(notices(&out).iter().any(|n| matches!(n, Notice::Unfrozen { .. })));
}

#[test]
fn aging_withdraws_stale_macs_and_ips_but_never_static_ones() {
    let (mut core, _) = core_with(config());
    let ip1 = IpAddr::from([10, 0, 0, 1]);
    let ip2 = IpAddr::from([10, 0, 0, 2]);
    core.process(0, learned(A, mac(1), Some(ip1)));
    core.process(200_000, learned(A, mac(1), Some(ip2)));
    let out = core.process(300_000, Input::Tick);
    assert_eq!(withdrawn(&out), 1, "ip1 aged, the MAC and ip2 are fresh");
    let out = core.process(500_000, Input::Tick);
    assert_eq!(withdrawn(&out), 2, "the MAC and ip2 aged");
    assert_eq!(mac_routes(&core, mac(0xaa)).len(), 1, "static MACs never age");
}

#[test]
fn limits_stop_new_macs_and_say_so_once() {
    let (mut core, _) = core_with(Config { max_macs_per_vtep: 2, ..config() });
    core.process(0, learned(A, mac(1), None));
    core.process(0, learned(A, mac(2), None));
    let out = core.process(0, learned(A, mac(3), None));
    assert!(announced(&out).is_empty());
    assert!(matches!(notices(&out)[..], [Notice::LimitReached { limit: "max-macs-per-vtep", .. }]));
    assert!(notices(&core.process(0, learned(A, mac(4), None))).is_empty(), "reported once");
    assert_eq!(announced(&core.process(0, learned(B, mac(3), None))).len(), 1, "another VTEP has room");
    assert_eq!(state_json(&core)["counters"]["over-limit"], 2);
    let (mut core, _) = core_with(Config { max_macs_per_mac_vrf: 1, ..config() });
    core.process(0, learned(A, mac(1), None));
    assert!(announced(&core.process(0, learned(B, mac(2), None))).is_empty());
}

/// Applies a new config to a core that has learned MAC 1 behind A, and
/// returns (withdrawn, announced) counts.
fn reconfigure(change: impl FnOnce(&mut Config)) -> (usize, Vec<crate::bgp::rib::OutRoute>, Core) {
    let (mut core, _) = core_with(config());
    core.process(1000, learned(A, mac(1), Some(IpAddr::from([10, 0, 0, 1]))));
    let mut new = config();
    change(&mut new);
    let out = core.process(2000, Input::Config(Box::new(new)));
    (withdrawn(&out), announced(&out).into_iter().cloned().collect(), core)
}

#[test]
fn config_changes_withdraw_exactly_what_no_longer_holds() {
    // VNI change: same keys, new labels: 2 RT-3 + static + 2 learned re-announced.
    let (gone, new, _) = reconfigure(|c| c.mac_vrfs.get_mut("blue").expect("blue").vni = 20200);
    assert_eq!((gone, new.len()), (0, 5));
    // EVI change: new RDs: everything withdrawn and announced again.
    let (gone, new, _) = reconfigure(|c| c.mac_vrfs.get_mut("blue").expect("blue").evi = 200);
    assert_eq!((gone, new.len()), (5, 5));
    // Static VTEP A removed: its RT-3, static MAC and learned MAC+IP go.
    let (gone, new, core) = reconfigure(|c| {
        c.mac_vrfs.get_mut("blue").expect("blue").static_vteps.remove(&A);
    });
    assert_eq!((gone, new.len()), (4, 0));
    assert_eq!(core.advertised_count(), 1, "only B's RT-3 is left");
    // Static MACs changed: :aa out, :bb in.
    let (gone, new, _) = reconfigure(|c| {
        let macs =
            &mut c.mac_vrfs.get_mut("blue").expect("blue").static_vteps.get_mut(&A).expect("A").static_macs;
        macs.clear();
        macs.insert(mac(0xbb));
    });
    assert_eq!((gone, new.len()), (1, 1));
    // mac-vrf disabled, agent disabled: everything goes.
    let (gone, _, core) = reconfigure(|c| c.mac_vrfs.get_mut("blue").expect("blue").enabled = false);
    assert_eq!((gone, core.advertised_count()), (5, 0));
    let (gone, _, core) = reconfigure(|c| c.enabled = false);
    assert_eq!((gone, core.advertised_count()), (5, 0));
    // The same config again: nothing.
    let (gone, new, _) = reconfigure(|_| {});
    assert_eq!((gone, new.len()), (0, 0));
}

#[test]
fn restarting_with_the_same_config_reproduces_the_same_routes() {
    let (first, _) = core_with(config());
    let (second, _) = core_with(config());
    assert_eq!(table(&first), table(&second));
    assert_eq!(table(&first), first.desired_routes());
    assert_eq!(first.advertised_count(), table(&first).len());
}

#[test]
fn a_session_down_forgets_received_routes_and_we_reclaim_what_they_had_won() {
    let (mut core, _) = core_with(config());
    core.process(0, Input::Session { up: true });
    core.process(1000, learned(A, mac(1), None));
    core.process(2000, rt2("b-mac1", B, mac(1), Some(Ipv4Addr::new(10, 9, 9, 9)), Some(3)));
    core.process(2000, rt3_from_evpn("evpn-rt3", EVPN));
    assert!(mac_routes(&core, mac(1)).is_empty());
    let out = core.process(3000, Input::Session { up: false });
    assert_eq!(mobility(announced(&out)[0]), Some((4, false)), "reclaimed above the sequence it lost to");
    assert_eq!(state_json(&core)["bgp-session"], "down");
    assert_eq!(
        state_json(&core)["evpn-vteps"]["192.0.2.100"]["routes"],
        0,
        "remembered for the grace period"
    );
}

#[test]
fn ips_stay_sorted_and_a_mac_entry_stays_small() {
    let mut ips = super::IpTimes::default();
    assert!(ips.insert(IpAddr::from([10, 0, 0, 3]), 1));
    assert!(matches!(ips.0, super::table::Few::One(_)), "one IP is kept inline");
    for (last, at) in [(1, 2), (2, 3), (1, 4)] {
        ips.insert(IpAddr::from([10, 0, 0, last]), at);
    }
    let sorted = [
        (IpAddr::from([10, 0, 0, 1]), 4),
        (IpAddr::from([10, 0, 0, 2]), 3),
        (IpAddr::from([10, 0, 0, 3]), 1),
    ];
    assert_eq!(ips.0.as_slice(), &sorted);
    ips.retain(|_, at| *at > 3);
    assert!(matches!(ips.0, super::table::Few::One((_, 4))), "back to one: inline again");
    ips.retain(|_, _| false);
    assert!(ips.is_empty());
    // A million entries sit in B-tree nodes, half full when MACs arrive in
    // order: every 8 bytes of an entry is 8 to 16 MB at 1M MACs. 88 is
    // what it takes today, with the first IP inline.
    assert!(std::mem::size_of::<super::MacEntry>() <= 88, "{}", std::mem::size_of::<super::MacEntry>());
    assert!(
        std::mem::size_of::<super::origination::MacRoutes>() <= 48,
        "{}",
        std::mem::size_of::<super::origination::MacRoutes>()
    );
    let few: super::table::Few<u8> = [1, 2, 3].into_iter().collect();
    assert_eq!(
        (few.as_slice(), [7].into_iter().collect::<super::table::Few<u8>>()),
        (&[1, 2, 3][..], super::table::Few::One(7))
    );
}

#[test]
fn a_restore_takes_back_only_what_the_configuration_allows() {
    use super::saved::{SavedMac, SavedStatus, SavedTable};
    const NOW: u64 = 10_000_000;
    let saved = |last: u8, vtep: Ipv4Addr, age_ms: u64, status: SavedStatus| SavedMac {
        mac: mac(last),
        vtep,
        ips: [(IpAddr::from([10, 0, 0, last]), NOW - age_ms)].into(),
        last_seen_unix_ms: NOW - age_ms,
        sequence: u32::from(last),
        best_remote_sequence: 0,
        status,
    };
    let discovered = Ipv4Addr::new(198, 51, 100, 7);
    let table = SavedTable {
        format: super::saved::FORMAT.to_owned(),
        version: super::saved::VERSION,
        written_at_unix_ms: NOW,
        mac_vrfs: [
            (
                "blue".to_owned(),
                vec![
                    saved(1, A, 1000, SavedStatus::Active),
                    // Aged out while the agent was down.
                    saved(2, A, 301_000, SavedStatus::Active),
                    // Behind a VTEP auto-discovery may still discover.
                    saved(3, discovered, 1000, SavedStatus::Active),
                    // Behind one it may not.
                    saved(4, Ipv4Addr::new(203, 0, 113, 9), 1000, SavedStatus::Active),
                    // Still a duplicate for 100 s.
                    saved(5, B, 1000, SavedStatus::Frozen { until_unix_ms: NOW + 100_000 }),
                    // A route beat it: not advertised again.
                    saved(6, B, 1000, SavedStatus::Superseded { by: IpAddr::from(EVPN) }),
                    // The static MAC stays static.
                    saved(0xaa, B, 1000, SavedStatus::Active),
                ],
            ),
            ("gone".to_owned(), vec![saved(7, A, 1000, SavedStatus::Active)]),
        ]
        .into(),
    };
    let mut config = config();
    config.auto_discover = Some(
        serde_json::from_value(serde_json::json!({
            "allowed-prefixes": ["198.51.100.0/24"], "max-vteps": 1
        }))
        .expect("auto-discover"),
    );
    let (mut core, _) = core_with(config);
    let now = 5_000_000;
    let out = core.process(now, Input::Restore { table: Box::new(table), unix_now_ms: NOW });
    assert!(out.contains(&Output::Notice(Notice::Restored { restored: 4, dropped: 4 })), "{out:?}");
    let state = state_json(&core);
    let macs = &state["mac-vrfs"]["blue"]["macs"];
    assert_eq!(macs["02:00:00:00:00:01"]["sequence"], 1);
    assert_eq!(macs["02:00:00:00:00:01"]["last-seen-ms"], now - 1000, "it ages from when it was last seen");
    assert!(macs["02:00:00:00:00:02"].is_null() && macs["02:00:00:00:00:04"].is_null(), "{macs}");
    assert_eq!(macs["02:00:00:00:00:03"]["vtep"], discovered.to_string());
    assert_eq!(state["mac-vrfs"]["blue"]["discovered-vteps"], serde_json::json!([discovered.to_string()]));
    assert_eq!(macs["02:00:00:00:00:05"]["status"], "frozen");
    assert_eq!(macs["02:00:00:00:00:05"]["until-ms"], now + 100_000, "{}", macs["02:00:00:00:00:05"]);
    assert_eq!(macs["02:00:00:00:00:06"]["status"], "superseded");
    assert_eq!(macs["02:00:00:00:00:aa"]["source"], "static");
    // Advertised: h1 and h3 (MAC and MAC+IP each), not the frozen or superseded ones.
    assert_eq!(mac_routes(&core, mac(1)).len(), 2);
    assert_eq!(mac_routes(&core, mac(3)).len(), 2);
    assert!(mac_routes(&core, mac(5)).is_empty() && mac_routes(&core, mac(6)).is_empty());
    // And a save gives back what it holds, times on the wall clock.
    let again = core.save(now, NOW);
    let h1 = again.mac_vrfs["blue"].iter().find(|m| m.mac == mac(1)).expect("h1 saved");
    assert_eq!((h1.last_seen_unix_ms, h1.sequence), (NOW - 1000, 1));
    assert!(again.mac_vrfs["blue"].iter().all(|m| m.mac != mac(0xaa)), "static MACs come from the config");
}

#[test]
fn a_mac_stays_lost_while_any_route_that_beat_it_remains() {
    // Two routes of the winner for one MAC (say MAC-only and MAC+IP, here
    // two keys), then a re-announcement of one: only when the last is
    // withdrawn is the MAC reclaimed (the received-route index counts).
    let (mut core, _) = core_with(config());
    core.process(0, Input::Session { up: true });
    core.process(1000, learned(A, mac(1), None));
    let other_proxy = Some(Ipv4Addr::new(10, 9, 9, 9));
    core.process(2000, rt2("b-mac1", B, mac(1), other_proxy, Some(3)));
    core.process(2000, rt2("b-mac1-ip", B, mac(1), other_proxy, Some(3)));
    core.process(2000, rt2("b-mac1", B, mac(1), other_proxy, Some(3)));
    let out = core.process(3000, Input::Withdrawn { key: route_name::key("b-mac1") });
    assert!(announced(&out).is_empty(), "still beaten by b-mac1-ip");
    let out = core.process(3000, Input::Withdrawn { key: route_name::key("b-mac1-ip") });
    assert_eq!(mobility(announced(&out)[0]), Some((4, false)), "reclaimed once nothing beats it");
}

/// The state as `/state` shows it.
fn state_json(core: &Core) -> serde_json::Value {
    serde_json::to_value(core.state()).expect("state serializes")
}

fn probes(out: &[Output]) -> Option<Vec<Ipv4Addr>> {
    out.iter().find_map(|o| if let Output::Probe(vteps) = o { Some(vteps.clone()) } else { None })
}

#[test]
fn icmp_probes_go_to_static_vteps_only_never_to_evpn_ones() {
    let mut config = config();
    config.liveness.method = crate::config::model::LivenessMethod::Icmp;
    let (mut core, out) = core_with(config);
    assert_eq!(probes(&out), Some(vec![A, B]));
    // B turns out to speak EVPN itself: we stop speaking for it, and stop
    // probing it (what it advertises says it is alive).
    let out = core.process(1000, rt3_from_evpn("b-rt3", B));
    assert_eq!(probes(&out), Some(vec![A]));
    // A down report for it changes nothing: its routes are not ours.
    let out = core.process(2000, Input::VtepLiveness { vtep: B, up: false });
    assert!(out.is_empty(), "{out:?}");
    // A method of `none` for A: no probes at all, and a report is ignored.
    let mut none = core.config.clone().expect("configured");
    if let Some(a) = none.mac_vrfs.get_mut("blue").and_then(|v| v.static_vteps.get_mut(&A)) {
        a.liveness_method = Some(crate::config::model::LivenessMethod::None);
    }
    let out = core.process(3000, Input::Config(Box::new(none)));
    assert_eq!(probes(&out), Some(vec![]));
    let out = core.process(4000, Input::VtepLiveness { vtep: A, up: false });
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_vtep_withdrawn_when_its_check_is_switched_off_comes_back_at_once() {
    let mut config = config();
    config.liveness.method = crate::config::model::LivenessMethod::Icmp;
    let (mut core, _) = core_with(config.clone());
    let out = core.process(1000, Input::VtepLiveness { vtep: A, up: false });
    assert_eq!(withdrawn(&out), 2, "A's RT-3 and its static MAC: {out:?}");
    config.liveness.method = crate::config::model::LivenessMethod::None;
    let out = core.process(2000, Input::Config(Box::new(config)));
    assert_eq!(announced(&out).len(), 2, "without a check A is up: {out:?}");
    assert!(core.withdrawn_vteps().is_empty());
}
