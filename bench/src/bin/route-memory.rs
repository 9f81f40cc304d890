//! Memory per learned MAC in the proxy core and in one session's
//! Adj-RIB-Out, measured apart and without the network in the way.
//!
//! `bench/learning.py memory` measures the whole agent (snooper, channels,
//! core, speaker) through real frames, which takes minutes at 1M MACs and
//! cannot say which structure the bytes sit in. This tool feeds the same
//! kind of learns (MAC `02:00:00:xx:xx:xx` with IP `10.x.x.x`, one static
//! VTEP, `include-ip` on: two RT-2 per MAC) straight into `Core::process`,
//! then copies the core's advertised table into an `AdjRibOut` and encodes
//! it in slices as the speaker does with a session up. It reads this
//! process's RSS (`/proc/self/statm`) after each step: RSS, not live heap,
//! because the allocator's slack is part of the cost. Last, the session
//! comes up again and the whole table goes out once more: the peak RSS on
//! top of the table (`VmHWM`, reset through `/proc/self/clear_refs`) is that
//! step's transient cost.
//!
//! usage: route-memory [MACS]   (default 1000000; prints one JSON line)
#![forbid(unsafe_code)]
#![allow(unused_crate_dependencies, reason = "the package's other targets use the rest")]

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, bail};
use bgp_wire::{EncodeCx, MacAddr};
use static_vxlan_agent::{
    bgp::rib::AdjRibOut,
    config::model::Config,
    core::{
        Core,
        msg::{Input, Learned},
    },
};

const VTEP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Learns per `process` call group before the outputs are dropped, so
/// that the outputs never pile up into a transient peak of their own.
const BATCH: u32 = 10_000;

fn rss_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").context("reading /proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("no RSS field in /proc/self/statm")?
        .parse()
        .context("RSS field of /proc/self/statm")?;
    // The page size of every Linux target we ship for.
    Ok(pages * 4096)
}

/// The peak RSS since the last reset (`VmHWM`).
fn peak_rss_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/self/status")?;
    let kib: u64 =
        line.split_whitespace().nth(1).context("VmHWM without a value")?.parse().context("VmHWM value")?;
    Ok(kib * 1024)
}

fn config() -> anyhow::Result<Config> {
    serde_json::from_value(serde_json::json!({
        "source-address": "192.0.2.254",
        "local-as": 65000,
        "mac-aging-secs": 86400,
        "max-macs-per-mac-vrf": 4_000_000,
        "max-macs-per-vtep": 4_000_000,
        "mac-vrfs": {"blue": {"evi": 100, "vni": 100, "static-vteps": {VTEP.to_string(): {}}}}
    }))
    .context("benchmark configuration")
}

fn main() -> anyhow::Result<()> {
    let macs: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse().context("MACS must be a number")?,
        None => 1_000_000,
    };
    if macs == 0 {
        bail!("usage: route-memory [MACS]  (MACS > 0)");
    }
    let mut core = Core::new();
    drop(core.process(0, Input::Config(Box::new(config()?))));
    let start = rss_bytes()?;

    let mut now = 0;
    for first in (0..macs).step_by(BATCH as usize) {
        for n in first..macs.min(first.saturating_add(BATCH)) {
            let [_, b, c, d] = n.to_be_bytes();
            let learned = Learned {
                vni: 100,
                vtep: VTEP.into(),
                mac: MacAddr([0x02, 0, 0, b, c, d]),
                ip: Some(IpAddr::from([10, b, c, d])),
            };
            now += 1;
            drop(core.process(now, Input::Learned(learned)));
        }
    }
    let after_core = rss_bytes()?;
    let routes = core.advertised_count();
    // Two RT-2 per MAC and the VTEP's RT-3.
    let expected = 2 * macs as usize + 1;
    if routes != expected {
        bail!("the core advertises {routes} routes for {macs} MACs, expected {expected}");
    }

    // As the speaker does with a session up: set a batch, send it.
    let mut rib = AdjRibOut::default();
    rib.send_all(true);
    let mut table = core.advertised().peekable();
    while table.peek().is_some() {
        for route in table.by_ref().take(BATCH as usize) {
            rib.set(route);
        }
        drop(rib.flush(BATCH as usize, EncodeCx::default()).context("encoding the table")?);
    }
    let after_rib = rss_bytes()?;
    if rib.len() != routes {
        bail!("the Adj-RIB-Out holds {} routes, the core {routes}", rib.len());
    }

    // The session comes up again: the whole table goes out once more.
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS")?;
    let before_resend = rss_bytes()?;
    rib.send_all(true);
    let mut updates = 0;
    while rib.has_pending() {
        updates += rib.flush(BATCH as usize, EncodeCx::default()).context("encoding the table")?.len();
    }
    let resend_peak = peak_rss_bytes()?.saturating_sub(before_resend);

    #[expect(clippy::cast_precision_loss, reason = "byte counts far below 2^52")]
    let per_mac = |bytes: u64| bytes as f64 / f64::from(macs);
    let core_bytes = after_core.saturating_sub(start);
    let rib_bytes = after_rib.saturating_sub(after_core);
    println!(
        "{}",
        serde_json::json!({
            "macs": macs,
            "routes": routes,
            "rss_start_bytes": start,
            "core_bytes_per_mac": per_mac(core_bytes),
            "adj_rib_out_bytes_per_mac": per_mac(rib_bytes),
            "total_bytes_per_mac": per_mac(core_bytes + rib_bytes),
            "resend_updates": updates,
            "resend_peak_extra_bytes": resend_peak,
        })
    );
    Ok(())
}
