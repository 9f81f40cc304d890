//! The state publish the NDK client runs every 2 s, at 1M learned MACs
//! (one IP each, behind four static VTEPs): the snapshot the agent task
//! takes of the core (it is the one task that owns the state, so this
//! time is time nothing else is processed), the rendering into one
//! telemetry entry per YANG node, and the diff against what was published
//! last, when nothing changed.
#![allow(unused_crate_dependencies, reason = "a bench links every dependency of its crate")]

use std::{hint::black_box, net::IpAddr};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use static_vxlan_agent::{
    config::model::Config,
    core::{
        Core,
        msg::{Input, Learned},
    },
    ndk::telemetry::{self, Published},
    state::{AgentState, BgpState, SessionState},
};

const MACS: u32 = 1_000_000;
const CORE_NOW: u64 = 86_400_000;

fn config() -> Config {
    serde_json::from_value(serde_json::json!({
        "source-address": "192.0.2.254",
        "max-macs-per-mac-vrf": 2_000_000,
        "max-macs-per-vtep": 2_000_000,
        "mac-vrfs": {"blue": {"evi": 100, "vni": 10100, "static-vteps": {
            "192.0.2.1": {}, "192.0.2.2": {}, "192.0.2.3": {}, "192.0.2.4": {}
        }}}
    }))
    .expect("config")
}

fn learned_core(config: &Config) -> Core {
    let mut core = Core::new();
    core.process(CORE_NOW, Input::Config(Box::new(config.clone())));
    for n in 0..MACS {
        let [_, b, c, d] = n.to_be_bytes();
        let learned = Learned {
            vni: 10100,
            vtep: IpAddr::from([192, 0, 2, 1 + (n % 4) as u8]),
            mac: bgp_wire::MacAddr([2, 0, 0, b, c, d]),
            ip: Some(IpAddr::from([10, b, c, d])),
        };
        core.process(CORE_NOW, Input::Learned(learned));
    }
    core
}

/// The agent task's part: the state as the NDK client receives it.
fn snapshot(core: &Core) -> Box<AgentState> {
    Box::new(AgentState {
        core_clock_epoch_unix_ms: 1_800_000_000_000,
        bgp: BgpState {
            state: SessionState::Established,
            peer_id: Some("192.0.2.254".parse().expect("ip")),
            ..BgpState::default()
        },
        proxy: core.state(),
        ..AgentState::default()
    })
}

fn state_publish(c: &mut Criterion) {
    let config = config();
    let core = learned_core(&config);
    let nodes = telemetry::nodes_from_config(&config);
    let mut group = c.benchmark_group("state_publish");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(MACS)));
    group.bench_function("snapshot_on_the_agent_task/1M", |b| b.iter(|| black_box(snapshot(&core))));
    let state = snapshot(&core);
    group.bench_function("render/1M", |b| b.iter(|| black_box(telemetry::render(&state, &nodes))));
    let entries = telemetry::render(&state, &nodes);
    assert_eq!(entries.len(), MACS as usize + 4 + 2, "one entry per MAC, VTEP, mac-vrf and the agent");
    group.bench_function("diff_unchanged/1M", |b| {
        b.iter_batched(
            || {
                let mut published = Published::default();
                drop(published.diff(entries.clone()));
                (published, entries.clone())
            },
            |(mut published, desired)| black_box(published.diff(desired).is_empty()),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, state_publish);
criterion_main!(benches);
