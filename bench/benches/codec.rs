//! Encoding and decoding UPDATEs that carry 100k RT-2 routes, with 4096-byte
//! and with extended (65535-byte) messages. Throughput is reported in
//! routes per second (criterion's "elements").
#![allow(unused_crate_dependencies, reason = "a bench links every dependency of its crate")]

use std::{hint::black_box, net::IpAddr};

use bgp_wire::{DecodeCx, EncodeCx, Message, pack_announcements};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use static_vxlan_agent_bench::{VTEP, attributes, mac_ip_routes};

const ROUTES: u32 = 100_000;

fn codec(c: &mut Criterion) {
    let routes = mac_ip_routes(ROUTES);
    let attributes = attributes();
    let mut group = c.benchmark_group("rt2_100k");
    group.throughput(Throughput::Elements(u64::from(ROUTES)));
    group.sample_size(20);
    for (name, extended) in [("4096", false), ("65535", true)] {
        let encode_cx = EncodeCx { four_octet_as: true, extended_message: extended };
        let decode_cx = DecodeCx { extended_message: extended, ..DecodeCx::default() };
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| pack_announcements(&attributes, IpAddr::V4(VTEP), black_box(&routes), encode_cx));
        });
        let messages =
            pack_announcements(&attributes, IpAddr::V4(VTEP), &routes, encode_cx).unwrap_or_default();
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                for bytes in black_box(&messages) {
                    let _ = black_box(Message::decode(bytes, decode_cx));
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
