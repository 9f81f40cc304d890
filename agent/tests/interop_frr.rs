//! The speaker against a real FRR 8.4 bgpd (no zebra) on loopback: the
//! session comes up with graceful restart and End-of-RIB seen by FRR, our
//! routes show in `show bgp l2vpn evpn route detail` with exactly the
//! values we sent, a withdrawal removes one, and a bgpd restart brings the
//! session and every route back.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

mod common;

use std::time::Duration;

use common::{Routes, SPEAKER_ADDR, expect_event, speaker_config};
use serde_json::Value;
use static_vxlan_agent::bgp::session::{self, Command, Event};
use static_vxlan_agent_tests::{
    peers::{FRR_ADDR, FrrBgpd, wait_for},
    releases::Frr,
};

fn path<'a>(paths: &'a [Value], prefix: &str) -> Option<&'a Value> {
    paths.iter().find(|p| p["prefix"] == prefix)
}

#[test]
fn frr_receives_exactly_what_we_send() {
    if Frr::available("frr_receives_exactly_what_we_send").is_none() {
        return;
    }
    let mut frr = FrrBgpd::start(65000, SPEAKER_ADDR);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut config = speaker_config(frr.port, false);
    config.peer = std::net::SocketAddr::new(FRR_ADDR.parse().expect("address"), frr.port);
    let mut speaker = runtime.block_on(session::spawn(config)).expect("speaker starts");
    let routes = Routes::new();
    runtime.block_on(speaker.commands.send(Command::Announce(routes.all()))).expect("alive");
    expect_event(&runtime, &mut speaker, Duration::from_secs(15), |e| matches!(e, Event::Established { .. }));

    // 1. All five routes, each with the RD, communities, VNI and next hop sent.
    let paths = wait_for("5 EVPN routes in FRR", Duration::from_secs(10), || {
        let paths = frr.evpn_paths();
        if paths.len() == 5 { Ok(paths) } else { Err(format!("{} paths: {paths:?}", paths.len())) }
    });
    let expected = [
        (
            "[2]:[0]:[48]:[02:aa:bb:cc:dd:01]",
            "192.0.2.1:100",
            "RT:65000:100 ET:8 MM:0, sticky MAC",
            Some("10100"),
        ),
        (
            "[2]:[0]:[48]:[02:aa:bb:cc:dd:02]:[32]:[198.51.100.2]",
            "192.0.2.1:100",
            "RT:65000:100 ET:8 MM:5",
            Some("10100"),
        ),
        (
            "[2]:[0]:[48]:[02:aa:bb:cc:dd:03]:[128]:[2001:db8::3]",
            "192.0.2.1:100",
            "RT:65000:100 ET:8",
            Some("16000000"),
        ),
        ("[3]:[0]:[32]:[192.0.2.1]", "192.0.2.1:200", "RT:65000:200 ET:8", None),
        (
            "[5]:[0]:[24]:[203.0.113.0]",
            "192.0.2.1:300",
            "RT:65000:300 ET:8 Rmac:02:00:00:00:00:01",
            Some("20000"),
        ),
    ];
    for (prefix, rd, communities, vni) in expected {
        let found = path(&paths, prefix).unwrap_or_else(|| panic!("{prefix} missing from {paths:?}"));
        assert_eq!(found["rd"], rd, "{found}");
        assert_eq!(found["extendedCommunity"]["string"], communities, "{found}");
        assert_eq!(found["nexthops"][0]["ip"], "192.0.2.1", "{found}");
        assert_eq!(found["locPrf"], 100, "{found}");
        assert_eq!(found["valid"], true, "{found}");
        if let Some(vni) = vni {
            assert_eq!(found["vni"], vni, "{found}");
        }
    }
    let imet = path(&paths, "[3]:[0]:[32]:[192.0.2.1]").expect("RT-3");
    assert_eq!(imet["pmsi"]["tunnelType"], "Ingress Replication", "{imet}");
    assert_eq!(imet["pmsi"]["label"], 16_000_000, "VNI above 65535 in the PMSI label: {imet}");

    // FRR saw our graceful-restart capability and End-of-RIB.
    let neighbor = frr.json(&format!("show bgp neighbors {SPEAKER_ADDR} json"));
    let info = &neighbor[SPEAKER_ADDR]["gracefulRestartInfo"];
    assert_eq!(info["endOfRibRecv"]["l2VpnEvpn"], true, "{info}");
    assert_eq!(info["timers"]["receivedRestartTimer"], 120, "{info}");

    // 2. A withdrawal removes exactly that route.
    runtime
        .block_on(speaker.commands.send(Command::Withdraw(vec![routes.sticky.route.key()])))
        .expect("alive");
    wait_for("the sticky MAC withdrawn from FRR", Duration::from_secs(10), || {
        let paths = frr.evpn_paths();
        if paths.len() == 4 && path(&paths, expected[0].0).is_none() {
            Ok(())
        } else {
            Err(format!("{paths:?}"))
        }
    });

    // 3. A soft clear makes FRR send ROUTE-REFRESH: we send the table again
    // (four routes in four attribute groups, plus nothing else).
    let stats = |frr: &FrrBgpd| {
        let neighbor = frr.json(&format!("show bgp neighbors {SPEAKER_ADDR} json"));
        let stats = &neighbor[SPEAKER_ADDR]["messageStats"];
        (stats["updatesRecv"].as_u64().unwrap_or(0), stats["routeRefreshSent"].as_u64().unwrap_or(0))
    };
    let (updates_before, refreshes_before) = stats(&frr);
    let _ = frr.try_vtysh(&format!("clear bgp l2vpn evpn {SPEAKER_ADDR} soft in"));
    wait_for("the table sent again after ROUTE-REFRESH", Duration::from_secs(10), || {
        let (updates, refreshes) = stats(&frr);
        if refreshes > refreshes_before && updates >= updates_before + 4 {
            Ok(())
        } else {
            Err(format!("updates {updates_before} -> {updates}, refreshes {refreshes_before} -> {refreshes}"))
        }
    });
    assert_eq!(frr.evpn_paths().len(), 4);

    // 4. bgpd restarts: the session comes back and every route is resent.
    frr.restart();
    expect_event(&runtime, &mut speaker, Duration::from_secs(10), |e| matches!(e, Event::Down { .. }));
    expect_event(&runtime, &mut speaker, Duration::from_secs(30), |e| matches!(e, Event::Established { .. }));
    wait_for("4 routes back in FRR", Duration::from_secs(10), || {
        let count = frr.evpn_paths().len();
        if count == 4 { Ok(()) } else { Err(format!("{count} routes")) }
    });

    runtime
        .block_on(speaker.commands.send(Command::Shutdown(bgp_wire::CeaseSubcode::AdministrativeShutdown)))
        .expect("alive");
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), speaker.join()).await })
        .expect("stops");
}
