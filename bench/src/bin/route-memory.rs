//! Memory per learned MAC in the proxy core and in one session's
//! Adj-RIB-Out, measured apart and without the network in the way.
//!
//! `bench/learning.py memory` measures the whole agent (snooper, channels,
//! core, speaker) through real frames, which takes minutes at 1M MACs and
//! cannot say which structure the bytes sit in. This tool feeds the same
//! kind of learns (MAC `02:00:00:xx:xx:xx` with IP `10.x.x.x`, one static
//! VTEP, `include-ip` on: two RT-2 per MAC) straight into `Core::process`,
//! then fills an `AdjRibOut` with the same routes in learn order and
//! encodes them in slices, as the speaker does with a session up. It reads this
//! process's RSS (`VmRSS`) after each step: RSS, not live heap,
//! because the allocator's slack is part of the cost. Then the session
//! comes up again and the whole table goes out once more: the peak RSS on
//! top of the table (`VmHWM`, reset through `/proc/self/clear_refs`) is that
//! step's transient cost. Then a configuration commit that changes no
//! route: its peak on top is the cost of deriving every scope again. Last,
//! a commit that changes the BGP session settings, which the agent tries
//! on a copy of the core and hands a new session with the whole table.
//!
//! The MACs arrive in order (`sequential`, as `bench/learning.py` sends
//! them; B-tree nodes stayed about half full that way, which is why the
//! tables are packed maps now), or scattered (`random`), as real hosts'
//! MACs are.
//!
//! usage: route-memory [MACS] [sequential|random]   (default 1000000
//! sequential; prints one JSON line)
#![forbid(unsafe_code)]
#![allow(unused_crate_dependencies, reason = "the package's other targets use the rest")]

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, bail};
use bgp_wire::{EncodeCx, Esi, EvpnRoute, Label, MacAddr, MacIp, RouteDistinguisher};
use static_vxlan_agent::{
    bgp::rib::{AdjRibOut, OutRoute},
    config::model::Config,
    core::{
        Core,
        msg::{Input, Learned, Output},
    },
};
use static_vxlan_agent_bench::{RANDOM_ORDER_HOSTS, host_of};

const VTEP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Routes per slice when the Adj-RIB-Out is filled and sent.
const BATCH: u32 = 10_000;

/// A `/proc/self/status` memory field (`VmRSS`, `VmHWM`), in bytes.
fn status_bytes(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .with_context(|| format!("no {field} in /proc/self/status"))?;
    let kib: u64 =
        value.trim().trim_end_matches("kB").trim().parse().with_context(|| format!("{field} value"))?;
    Ok(kib * 1024)
}

fn rss_bytes() -> anyhow::Result<u64> {
    status_bytes("VmRSS")
}

/// Runs `step` and returns its result with its peak RSS on top of the RSS
/// before it (`VmHWM`, reset first through `/proc/self/clear_refs`).
fn peak_of<T>(step: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, u64)> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS")?;
    let before = rss_bytes()?;
    let result = step()?;
    Ok((result, status_bytes("VmHWM")?.saturating_sub(before)))
}

/// The `n`th learned host's MAC and IP.
fn host(n: u32, random: bool) -> (MacAddr, IpAddr) {
    let [_, b, c, d] = host_of(n, random).to_be_bytes();
    (MacAddr([0x02, 0, 0, b, c, d]), IpAddr::from([10, b, c, d]))
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
    const USAGE: &str =
        "usage: route-memory [MACS] [sequential|random]  (0 < MACS <= 2^24 in order, 2^22 at random)";
    let mut args = std::env::args().skip(1);
    let macs: u32 = match args.next() {
        Some(n) => n.parse().context(USAGE)?,
        None => 1_000_000,
    };
    let random = match args.next().as_deref() {
        None | Some("sequential") => false,
        Some("random") => true,
        Some(_) => bail!(USAGE),
    };
    if macs == 0 || macs > (if random { RANDOM_ORDER_HOSTS } else { 1 << 24 }) {
        bail!(USAGE);
    }
    let mut core = Core::new();
    drop(core.process(0, Input::Config(Box::new(config()?))));
    let start = rss_bytes()?;

    for n in 0..macs {
        let (mac, ip) = host(n, random);
        let learned = Learned { vni: 100, vtep: VTEP.into(), mac, ip: Some(ip) };
        drop(core.process(u64::from(n) + 1, Input::Learned(learned)));
    }
    let after_core = rss_bytes()?;
    let routes = core.advertised_count();
    // Two RT-2 per MAC and the VTEP's RT-3.
    let expected = 2 * macs as usize + 1;
    if routes != expected {
        bail!("the core advertises {routes} routes for {macs} MACs, expected {expected}");
    }

    // The speaker gets the routes in the order the MACs were learned (the
    // core's table iterates in key order, which would fill the table
    // differently): the same routes, built here, with the core's shared
    // attributes. As with a session up: set a slice, send it.
    let rt3: Vec<OutRoute> = core.advertised().filter(|r| !matches!(r.route, EvpnRoute::MacIp(_))).collect();
    let attributes = core
        .advertised()
        .find(|r| matches!(r.route, EvpnRoute::MacIp(_)))
        .map(|r| r.attributes)
        .context("no RT-2 in the core's table")?;
    let label = Label::new(100).context("label")?;
    let mut rib = AdjRibOut::default();
    rib.send_all(true);
    for route in rt3 {
        rib.set(route);
    }
    for n in 0..macs {
        let (mac, ip) = host(n, random);
        for ip in [None, Some(ip)] {
            let rd = RouteDistinguisher::Ipv4 { addr: VTEP, number: 100 };
            let esi = Esi::ZERO;
            let route =
                EvpnRoute::MacIp(MacIp { rd, esi, ethernet_tag: 0, mac, ip, label1: label, label2: None });
            rib.set(OutRoute { route, attributes: attributes.clone() });
        }
        if n % BATCH == BATCH - 1 {
            drop(rib.flush(BATCH as usize, EncodeCx::default()).context("encoding the table")?);
        }
    }
    while rib.has_pending() {
        drop(rib.flush(BATCH as usize, EncodeCx::default()).context("encoding the table")?);
    }
    let after_rib = rss_bytes()?;
    // Exactly the core's table: setting any of its routes changes nothing.
    if rib.len() != routes || core.advertised().any(|route| rib.set(route)) {
        bail!("the Adj-RIB-Out ({} routes) differs from the core's table ({routes})", rib.len());
    }

    // The session comes up again: the whole table goes out once more.
    let (updates, resend_peak) = peak_of(|| {
        rib.send_all(true);
        let mut updates = 0;
        while rib.has_pending() {
            updates += rib.flush(BATCH as usize, EncodeCx::default()).context("encoding the table")?.len();
        }
        Ok(updates)
    })?;

    // A configuration commit that changes no route (the aging time): the
    // core derives every scope again and finds nothing to send.
    let mut changed = config()?;
    changed.mac_aging_secs -= 1;
    let ((), commit_peak) = peak_of(|| {
        let outputs = core.process(u64::from(macs) + 1, Input::Config(Box::new(changed)));
        match outputs.iter().find(|o| matches!(o, Output::Announce(_) | Output::Withdraw(_))) {
            Some(output) => bail!("a new aging time changed a route: {output:?}"),
            None => Ok(()),
        }
    })?;

    // A commit that changes the BGP session settings, as the agent applies
    // it (app/agent.rs, `configure`): the new configuration is tried on a copy of
    // the core, and a new session starts with the copy's whole table while
    // the old session still holds its own.
    let mut new_session = config()?;
    new_session.peer_address = Some(IpAddr::from([192, 0, 2, 253]));
    let ((), session_peak) = peak_of(|| {
        let mut next = core.clone();
        drop(next.process(u64::from(macs) + 2, Input::Config(Box::new(new_session))));
        let mut next_rib = AdjRibOut::default();
        next_rib.replace(next.advertised());
        if next_rib.len() != routes {
            bail!("the new session's table has {} routes, the core {routes}", next_rib.len());
        }
        Ok(())
    })?;

    #[expect(clippy::cast_precision_loss, reason = "byte counts far below 2^52")]
    let per_mac = |bytes: u64| bytes as f64 / f64::from(macs);
    let core_bytes = after_core.saturating_sub(start);
    let rib_bytes = after_rib.saturating_sub(after_core);
    println!(
        "{}",
        serde_json::json!({
            "macs": macs,
            "order": if random { "random" } else { "sequential" },
            "routes": routes,
            "rss_start_bytes": start,
            "core_bytes_per_mac": per_mac(core_bytes),
            "adj_rib_out_bytes_per_mac": per_mac(rib_bytes),
            "total_bytes_per_mac": per_mac(core_bytes + rib_bytes),
            "resend_updates": updates,
            "resend_peak_extra_bytes": resend_peak,
            "config_commit_peak_extra_bytes": commit_peak,
            "session_commit_peak_extra_bytes": session_peak,
        })
    );
    Ok(())
}
