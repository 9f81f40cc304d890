//! Property: for any sequence of inputs, the routes the core's outputs
//! leave advertised equal the routes its state calls for; nothing is ever
//! advertised behind a native EVPN VTEP or a static VTEP found down; the
//! VTEPs the driver is told to probe are the ones the state calls for; no
//! withdrawal names a route that is not advertised; no announcement
//! repeats one that is.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
};

use bgp_wire::{EvpnRouteKey, MacAddr};
use proptest::prelude::*;
use static_vxlan_agent::{
    bgp::rib::OutRoute,
    config::model::Config,
    core::{
        Core,
        msg::{Input, Learned, Mobility, Output, ReceivedKind, ReceivedRoute, route_name},
    },
};

/// Two configured static VTEPs, one discoverable range, two EVPN VTEPs.
const VTEPS: [Ipv4Addr; 5] = [
    Ipv4Addr::new(192, 0, 2, 1),
    Ipv4Addr::new(192, 0, 2, 2),
    Ipv4Addr::new(198, 51, 100, 7),
    Ipv4Addr::new(192, 0, 2, 100),
    Ipv4Addr::new(192, 0, 2, 101),
];

fn config(variant: u8) -> Config {
    let mut value = serde_json::json!({
        "source-address": "192.0.2.254",
        "local-as": 65000,
        "max-macs-per-vtep": 4,
        "duplicate-mac": {"moves": 3, "window-secs": 60, "hold-secs": 120},
        "auto-discover": {"allowed-prefixes": ["198.51.100.0/24"], "max-vteps": 1},
        "liveness": {"method": "icmp", "hold-down-secs": 3},
        "mac-vrfs": {
            "blue": {"evi": 100, "vni": 10100, "static-vteps": {
                "192.0.2.1": {"static-macs": ["02:00:00:00:00:0a"]}, "192.0.2.2": {}}},
            "red": {"evi": 7, "vni": 16_000_000, "static-vteps": {"192.0.2.1": {}}}
        }
    });
    match variant % 9 {
        7 => value["liveness"]["method"] = "none".into(),
        8 => value["mac-vrfs"]["blue"]["static-vteps"]["192.0.2.2"]["liveness-method"] = "none".into(),
        1 => value["mac-vrfs"]["blue"]["vni"] = 20200.into(),
        2 => value["mac-vrfs"]["blue"]["evi"] = 200.into(),
        3 => {
            value["mac-vrfs"]["blue"]["static-vteps"].as_object_mut().map(|v| v.remove("192.0.2.2"));
        }
        4 => value["mac-vrfs"]["red"]["enabled"] = false.into(),
        5 => value["include-ip"] = false.into(),
        6 => {
            value["mac-vrfs"].as_object_mut().map(|v| v.remove("red"));
        }
        _ => {}
    }
    serde_json::from_value(value).expect("valid config")
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

#[derive(Clone, Debug)]
enum Step {
    Learn { vni_red: bool, vtep: usize, mac: u8, ip: Option<u8> },
    Route { key: u8, vni_red: bool, vtep: usize, mac: Option<u8>, proxy: bool, seq: Option<(u32, bool)> },
    Withdraw { key: u8 },
    Tick { secs: u64 },
    Config { variant: u8 },
    Session { up: bool },
    Liveness { vtep: usize, up: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (any::<bool>(), 0..VTEPS.len(), 1..8u8, proptest::option::of(1..4u8))
            .prop_map(|(vni_red, vtep, mac, ip)| Step::Learn { vni_red, vtep, mac, ip }),
        3 => (0..6u8, any::<bool>(), 0..VTEPS.len(), proptest::option::of(1..8u8), any::<bool>(),
              proptest::option::of((0..6u32, any::<bool>())))
            .prop_map(|(key, vni_red, vtep, mac, proxy, seq)| Step::Route { key, vni_red, vtep, mac, proxy, seq }),
        2 => (0..6u8).prop_map(|key| Step::Withdraw { key }),
        2 => (0..400u64).prop_map(|secs| Step::Tick { secs }),
        1 => (0..9u8).prop_map(|variant| Step::Config { variant }),
        2 => (0..VTEPS.len(), any::<bool>()).prop_map(|(vtep, up)| Step::Liveness { vtep, up }),
        1 => any::<bool>().prop_map(|up| Step::Session { up }),
    ]
}

fn input(step: &Step) -> Input {
    let vni = |red: bool| if red { 16_000_000 } else { 10100 };
    match step {
        Step::Learn { vni_red, vtep, mac: m, ip } => Input::Learned(Learned {
            vni: vni(*vni_red),
            vtep: VTEPS[*vtep].into(),
            mac: mac(*m),
            ip: ip.map(|i| IpAddr::from([10, 0, 0, i])),
        }),
        Step::Route { key, vni_red, vtep, mac: m, proxy, seq } => {
            let next_hop = VTEPS[*vtep];
            Input::Route(ReceivedRoute {
                key: route_name::key(&format!("route-{key}")),
                kind: match m {
                    Some(m) => ReceivedKind::MacIp { mac: mac(*m), ip: None },
                    None => ReceivedKind::Imet { originator: next_hop.into() },
                },
                vni: vni(*vni_red),
                next_hop: next_hop.into(),
                // Another proxy's routes carry its router id; a native VTEP's its own.
                originator_id: Some(if *proxy { Ipv4Addr::new(10, 9, 9, 9) } else { next_hop }),
                mobility: seq.map(|(sequence, sticky)| Mobility { sequence, sticky }),
            })
        }
        Step::Withdraw { key } => Input::Withdrawn { key: route_name::key(&format!("route-{key}")) },
        Step::Tick { .. } => Input::Tick,
        Step::Config { variant } => Input::Config(Box::new(config(*variant))),
        Step::Session { up } => Input::Session { up: *up },
        Step::Liveness { vtep, up } => Input::VtepLiveness { vtep: VTEPS[*vtep], up: *up },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_advertised_set_always_follows_the_state(steps in proptest::collection::vec(step(), 1..80)) {
        let mut core = Core::new();
        let mut rib: BTreeMap<EvpnRouteKey, OutRoute> = BTreeMap::new();
        let mut now = 0;
        let mut probed: Vec<Ipv4Addr> = Vec::new();
        let mut all = vec![Step::Config { variant: 0 }];
        all.extend(steps);
        for (i, step) in all.iter().enumerate() {
            now += match step { Step::Tick { secs } => secs * 1000, _ => 1000 };
            for output in core.process(now, input(step)) {
                match output {
                    Output::Announce(route) => {
                        let key = route.route.key();
                        prop_assert!(rib.get(&key) != Some(&route), "step {i}: duplicate announcement of {key:?}");
                        rib.insert(key, route);
                    }
                    Output::Withdraw(key) => {
                        prop_assert!(rib.remove(&key).is_some(), "step {i}: withdrawal of unknown {key:?}");
                    }
                    Output::Probe(vteps) => probed = vteps,
                    Output::IgnoreVteps(_) | Output::ForgetSeen(_) | Output::Notice(_) => {}
                }
            }
            prop_assert_eq!(&rib, &core.desired_routes(), "step {}: {:?}", i, step);
            let advertised: BTreeMap<_, _> = core.advertised().map(|r| (r.route.key(), r)).collect();
            prop_assert_eq!(&rib, &advertised, "step {}: the core's own table", i);
            prop_assert_eq!(core.advertised_count(), rib.len(), "step {}", i);
            // The driver probes exactly what the state calls for.
            prop_assert_eq!(&probed, &core.probe_targets(), "step {}: probe targets", i);
            let evpn = core.evpn_vteps();
            for route in rib.values() {
                prop_assert!(!evpn.contains(&route.attributes.next_hop),
                    "step {}: {} advertised behind EVPN VTEP {}", i, route.route, route.attributes.next_hop);
                let down = core.withdrawn_vteps().keys().any(|v| IpAddr::V4(*v) == route.attributes.next_hop);
                prop_assert!(!down, "step {}: {} advertised behind down VTEP {}", i, route.route, route.attributes.next_hop);
            }
        }
    }
}
