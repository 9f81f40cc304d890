//! The learned table across a restart at 100k learned MACs (one IP each):
//! taking it from the core (`Core::save`, on the agent task), writing it
//! (JSON, temporary file, sync, rename: the writer thread), reading and
//! parsing it, and restoring it into a fresh core before the first
//! session. Prints the file's size per MAC once.
#![allow(unused_crate_dependencies, reason = "a bench links every dependency of its crate")]

use std::{hint::black_box, net::IpAddr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use static_vxlan_agent::{
    config::model::Config,
    core::{
        Core,
        msg::{Input, Learned},
    },
    state_file,
};

const MACS: u32 = 100_000;
const UNIX_NOW: u64 = 1_800_000_000_000;
const CORE_NOW: u64 = 86_400_000;

fn config() -> Config {
    serde_json::from_value(serde_json::json!({
        "source-address": "192.0.2.254",
        "max-macs-per-mac-vrf": 200_000,
        "max-macs-per-vtep": 200_000,
        "mac-vrfs": {"blue": {"evi": 100, "vni": 10100, "static-vteps": {
            "192.0.2.1": {}, "192.0.2.2": {}, "192.0.2.3": {}, "192.0.2.4": {}
        }}}
    }))
    .expect("config")
}

fn learned_core() -> Core {
    let mut core = Core::new();
    core.process(CORE_NOW, Input::Config(Box::new(config())));
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

fn state_file(c: &mut Criterion) {
    let core = learned_core();
    let table = core.save(CORE_NOW, UNIX_NOW);
    assert_eq!(table.len(), MACS as usize);
    let dir = std::env::temp_dir().join(format!("sva-bench-state-{}", std::process::id()));
    let path = dir.join("learned-table.json");
    state_file::write(&path, &table).expect("write");
    let bytes = std::fs::metadata(&path).expect("written").len();
    println!("state file: {bytes} bytes for {MACS} MACs, {} bytes per MAC", bytes / u64::from(MACS));

    let mut group = c.benchmark_group("state_file_100k");
    group.throughput(Throughput::Elements(u64::from(MACS)));
    group.sample_size(10);
    group.bench_function("save (core to table)", |b| b.iter(|| black_box(core.save(CORE_NOW, UNIX_NOW))));
    group.bench_function("write (json, sync, rename)", |b| {
        b.iter(|| state_file::write(&path, black_box(&table)).expect("write"));
    });
    group.bench_function("read (parse)", |b| b.iter(|| black_box(state_file::read(&path).expect("read"))));
    group.bench_function("restore (into a fresh core)", |b| {
        b.iter_batched(
            || {
                let mut fresh = Core::new();
                fresh.process(CORE_NOW + 1000, Input::Config(Box::new(config())));
                (fresh, table.clone())
            },
            |(mut fresh, table)| {
                black_box(fresh.process(
                    CORE_NOW + 1000,
                    Input::Restore { table: Box::new(table), unix_now_ms: UNIX_NOW + 1000 },
                ))
            },
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, state_file);
criterion_main!(benches);
