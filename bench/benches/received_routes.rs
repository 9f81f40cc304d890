//! The proxy core when the BGP session goes down while it holds N received
//! RT-2 routes (a fabric's EVPN table from the route reflector): every one
//! is withdrawn at once. Issue 23 found each withdrawal scanning all the
//! others; this measures the whole drop, at 10k and 100k routes.
#![allow(unused_crate_dependencies, reason = "a bench links every dependency of its crate")]

use std::{hint::black_box, net::Ipv4Addr};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use static_vxlan_agent::{
    config::model::Config,
    core::{
        Core,
        msg::{Input, Mobility, ReceivedKind, ReceivedRoute},
    },
};

fn core_with_received(routes: u32) -> Core {
    let config: Config = serde_json::from_value(serde_json::json!({
        "source-address": "192.0.2.254",
        "mac-vrfs": {"blue": {"evi": 100, "vni": 10100, "static-vteps": {"192.0.2.1": {}}}}
    }))
    .expect("config");
    let mut core = Core::new();
    core.process(1, Input::Config(Box::new(config)));
    core.process(1, Input::Session { up: true });
    for n in 0..routes {
        let [_, b, c, d] = n.to_be_bytes();
        let mac = bgp_wire::MacAddr([2, 1, 0, b, c, d]);
        let next_hop = Ipv4Addr::from([198, 51, 100, 1 + (n % 200) as u8]);
        let rd = bgp_wire::RouteDistinguisher::Ipv4 { addr: next_hop, number: 100 };
        let route = ReceivedRoute {
            // The key the speaker hands over for this route: its NLRI's.
            key: bgp_wire::EvpnRouteKey::MacIp(rd, 0, mac, None),
            kind: ReceivedKind::MacIp { mac, ip: None },
            vni: 10100,
            next_hop: next_hop.into(),
            originator_id: None,
            mobility: Some(Mobility { sequence: 0, sticky: false }),
        };
        core.process(2, Input::Route(route));
    }
    core
}

fn session_down(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_down");
    group.sample_size(10);
    for routes in [10_000, 100_000] {
        let core = core_with_received(routes);
        group.throughput(Throughput::Elements(u64::from(routes)));
        group.bench_function(format!("{routes}_received"), |b| {
            b.iter_batched(
                || core.clone(),
                |mut core| black_box(core.process(3, Input::Session { up: false })),
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, session_down);
criterion_main!(benches);
