//! The speaker against a real GoBGP 3.10 on loopback: the session comes up,
//! every route type we originate lands in GoBGP's RIB with exactly the
//! values we sent, withdrawals remove them, routes injected at GoBGP reach
//! us decoded, and a GoBGP restart brings the session and every route back.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

mod common;

use std::time::Duration;

use common::{Routes, SPEAKER_ADDR, expect_event, many_routes, speaker_config};
use serde_json::Value;
use static_vxlan_agent::bgp::session::{self, Command, Event};
use static_vxlan_agent_tests::{
    peers::{GoBgp, GoBgpOptions, free_port_on, wait_for},
    releases::GoBgpRelease,
};

/// The EVPN paths GoBGP holds whose NLRI `type` is `route_type`.
fn paths_of_type(gobgp: &GoBgp, route_type: u64) -> Vec<Value> {
    gobgp.evpn_paths().into_iter().filter(|p| p["nlri"]["type"] == route_type).collect()
}

/// The attribute of `type_code` in a GoBGP path.
fn attribute(path: &Value, type_code: u64) -> Value {
    path["attrs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == type_code)
        .cloned()
        .unwrap_or(Value::Null)
}

fn find_mac(paths: &[Value], mac: &str) -> Option<Value> {
    paths.iter().find(|p| p["nlri"]["value"]["mac"] == mac).cloned()
}

#[test]
fn gobgp_receives_exactly_what_we_send_and_we_receive_what_it_sends() {
    if GoBgpRelease::available("gobgp_receives_exactly_what_we_send").is_none() {
        return;
    }
    let mut gobgp = GoBgp::start(65000, SPEAKER_ADDR);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut speaker =
        runtime.block_on(session::spawn(speaker_config(gobgp.port, false))).expect("speaker starts");
    let routes = Routes::new();
    runtime.block_on(speaker.commands.send(Command::Announce(routes.all()))).expect("speaker alive");
    expect_event(&runtime, &mut speaker, Duration::from_secs(15), |e| matches!(e, Event::Established { .. }));

    // 1. Every route arrives with the values we sent.
    let macadv = wait_for("5 RT-2 in GoBGP", Duration::from_secs(10), || {
        let paths = paths_of_type(&gobgp, 2);
        if paths.len() == 3 { Ok(paths) } else { Err(format!("{paths:?}")) }
    });
    let sticky = find_mac(&macadv, "02:aa:bb:cc:dd:01").expect("MAC-only sticky route");
    assert_eq!(
        sticky["nlri"]["value"]["rd"],
        serde_json::json!({"type": 1, "admin": "192.0.2.1", "assigned": 100})
    );
    assert_eq!(sticky["nlri"]["value"]["labels"], serde_json::json!([10100]));
    assert_eq!(attribute(&sticky, 14)["nexthop"], "192.0.2.1");
    let communities = attribute(&sticky, 16)["value"].clone();
    assert!(
        communities.as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["type"] == 6 && c["subtype"] == 0 && c["is_sticky"] == true && c["sequence"] == 0)),
        "sticky MAC mobility missing: {communities}"
    );
    assert!(communities.to_string().contains("65000:100"), "route target missing: {communities}");
    assert!(communities.as_array().is_some_and(|c| c.iter().any(|c| c["tunnel_type"] == 8)), "{communities}");

    let moved = find_mac(&macadv, "02:aa:bb:cc:dd:02").expect("MAC+IPv4 route");
    assert_eq!(moved["nlri"]["value"]["ip"], "198.51.100.2");
    assert!(
        attribute(&moved, 16)["value"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["type"] == 6 && c["sequence"] == 5 && c["is_sticky"] != true)),
        "MAC mobility 5 missing: {moved}"
    );
    let v6 = find_mac(&macadv, "02:aa:bb:cc:dd:03").expect("MAC+IPv6 route");
    assert_eq!(v6["nlri"]["value"]["ip"], "2001:db8::3");
    assert_eq!(v6["nlri"]["value"]["labels"], serde_json::json!([16_000_000]), "VNI above 65535 in Label1");

    let imet = wait_for("RT-3 in GoBGP", Duration::from_secs(5), || {
        paths_of_type(&gobgp, 3).pop().ok_or_else(|| "none".to_owned())
    });
    let pmsi = attribute(&imet, 22);
    assert_eq!(pmsi["tunnel-type"], 6, "{imet}");
    assert_eq!(pmsi["label"], 16_000_000, "VNI above 65535 in the PMSI label: {imet}");
    assert_eq!(pmsi["tunnel-id"], "192.0.2.1");
    assert_eq!(imet["nlri"]["value"]["ip"], "192.0.2.1");

    let prefix = wait_for("RT-5 in GoBGP", Duration::from_secs(5), || {
        paths_of_type(&gobgp, 5).pop().ok_or_else(|| "none".to_owned())
    });
    assert_eq!(prefix["nlri"]["value"]["prefix"], "203.0.113.0/24", "{prefix}");
    assert_eq!(prefix["nlri"]["value"]["label"], 20000, "{prefix}");

    // 2. A withdrawal removes exactly that route.
    runtime
        .block_on(speaker.commands.send(Command::Withdraw(vec![routes.sticky.route.key()])))
        .expect("alive");
    wait_for("the sticky MAC withdrawn", Duration::from_secs(10), || {
        let paths = paths_of_type(&gobgp, 2);
        if find_mac(&paths, "02:aa:bb:cc:dd:01").is_none() && paths.len() == 2 {
            Ok(())
        } else {
            Err(format!("{paths:?}"))
        }
    });

    // 3. A route injected at GoBGP reaches us decoded.
    let _ = gobgp.cli(&[
        "global",
        "rib",
        "add",
        "-a",
        "evpn",
        "macadv",
        "02:00:00:bb:00:09",
        "198.51.100.9",
        "etag",
        "0",
        "label",
        "10100",
        "rd",
        "192.0.2.9:100",
        "rt",
        "65000:100",
        "encap",
        "vxlan",
        "nexthop",
        "192.0.2.9",
        "origin",
        "igp",
    ]);
    let received =
        expect_event(&runtime, &mut speaker, Duration::from_secs(10), |e| matches!(e, Event::Route(_)));
    let Event::Route(route) = received else { unreachable!() };
    assert_eq!(route.next_hop, std::net::IpAddr::from([192, 0, 2, 9]));
    let bgp_wire::EvpnRoute::MacIp(mac_ip) = &route.route else { panic!("not an RT-2: {route:?}") };
    assert_eq!(mac_ip.mac.to_string(), "02:00:00:bb:00:09");
    assert_eq!(mac_ip.ip, Some(std::net::IpAddr::from([198, 51, 100, 9])));
    assert_eq!(mac_ip.label1.value(), 10100);

    // 4. GoBGP restarts: the session comes back and every route is sent again.
    gobgp.restart();
    expect_event(&runtime, &mut speaker, Duration::from_secs(10), |e| matches!(e, Event::Down { .. }));
    expect_event(&runtime, &mut speaker, Duration::from_secs(30), |e| matches!(e, Event::Established { .. }));
    wait_for("4 routes back after the restart", Duration::from_secs(10), || {
        let count =
            paths_of_type(&gobgp, 2).len() + paths_of_type(&gobgp, 3).len() + paths_of_type(&gobgp, 5).len();
        if count == 4 { Ok(()) } else { Err(format!("{count} routes")) }
    });

    runtime
        .block_on(speaker.commands.send(Command::Shutdown(bgp_wire::CeaseSubcode::AdministrativeShutdown)))
        .expect("alive");
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), speaker.join()).await })
        .expect("stops");
}

#[test]
fn a_large_table_reaches_gobgp_whole_in_4096_byte_updates() {
    if GoBgpRelease::available("a_large_table_reaches_gobgp_whole").is_none() {
        return;
    }
    // GoBGP does not offer extended messages, so 10,000 routes behind 10
    // VTEPs take about a hundred 4096-byte UPDATEs: more than the writer's
    // queue holds at once. Every one of them must arrive.
    let gobgp = GoBgp::start(65000, SPEAKER_ADDR);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut speaker =
        runtime.block_on(session::spawn(speaker_config(gobgp.port, false))).expect("speaker starts");
    runtime.block_on(speaker.commands.send(Command::Announce(many_routes(10, 1000)))).expect("alive");
    expect_event(&runtime, &mut speaker, Duration::from_secs(15), |e| matches!(e, Event::Established { .. }));
    let summary = || gobgp.cli(&["global", "rib", "summary", "-a", "evpn"]);
    wait_for("10,000 routes in GoBGP", Duration::from_secs(30), || {
        let text = summary();
        if text.contains("Destination: 10000, Path: 10000") { Ok(()) } else { Err(text) }
    });
    // And they stay that many: nothing else was queued behind.
    std::thread::sleep(Duration::from_millis(500));
    assert!(summary().contains("Destination: 10000, Path: 10000"), "{}", summary());
    runtime
        .block_on(speaker.commands.send(Command::Shutdown(bgp_wire::CeaseSubcode::AdministrativeShutdown)))
        .expect("alive");
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), speaker.join()).await })
        .expect("stops");
}

#[test]
fn after_an_agent_restart_gobgp_keeps_our_routes_until_end_of_rib() {
    if GoBgpRelease::available("after_an_agent_restart_gobgp_keeps_our_routes_until_end_of_rib").is_none() {
        return;
    }
    let gobgp = GoBgp::start_with(
        65000,
        SPEAKER_ADDR,
        &GoBgpOptions { graceful_restart: true, ..Default::default() },
    );
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let routes = Routes::new();
    let count =
        || paths_of_type(&gobgp, 2).len() + paths_of_type(&gobgp, 3).len() + paths_of_type(&gobgp, 5).len();
    let mut first =
        runtime.block_on(session::spawn(speaker_config(gobgp.port, false))).expect("speaker starts");
    runtime.block_on(first.commands.send(Command::Announce(routes.all()))).expect("alive");
    expect_event(&runtime, &mut first, Duration::from_secs(15), |e| matches!(e, Event::Established { .. }));
    wait_for("5 routes in GoBGP", Duration::from_secs(10), || {
        if count() == 5 { Ok(()) } else { Err(count().to_string()) }
    });

    // The agent dies: no NOTIFICATION, the connection just closes. As
    // graceful-restart helper, GoBGP keeps the routes, marked stale.
    drop(first);
    wait_for("GoBGP to mark our routes stale", Duration::from_secs(10), || {
        let paths = gobgp.evpn_paths();
        if paths.len() == 5 && paths.iter().all(|p| p["stale"] == true) {
            Ok(())
        } else {
            Err(format!("{paths:?}"))
        }
    });

    // The agent comes back (restarting bit set) with one route fewer: after
    // our End-of-RIB, GoBGP drops exactly the route we did not send again.
    let mut config = speaker_config(gobgp.port, false);
    config.session.restarting = true;
    let mut second = runtime.block_on(session::spawn(config)).expect("speaker starts");
    let mut fewer = routes.all();
    fewer.retain(|r| r.route != routes.v6.route);
    runtime.block_on(second.commands.send(Command::Announce(fewer))).expect("alive");
    expect_event(&runtime, &mut second, Duration::from_secs(30), |e| matches!(e, Event::Established { .. }));
    wait_for("4 fresh routes in GoBGP", Duration::from_secs(10), || {
        let paths = gobgp.evpn_paths();
        if paths.len() == 4 && paths.iter().all(|p| p["stale"] != true) {
            Ok(())
        } else {
            Err(format!("{paths:?}"))
        }
    });
    runtime
        .block_on(second.commands.send(Command::Shutdown(bgp_wire::CeaseSubcode::AdministrativeShutdown)))
        .expect("alive");
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), second.join()).await })
        .expect("stops");
}

#[test]
fn a_passive_speaker_accepts_gobgp_dialing_in() {
    if GoBgpRelease::available("a_passive_speaker_accepts_gobgp_dialing_in").is_none() {
        return;
    }
    // We only listen; GoBGP dials us on our port.
    let listen_port = free_port_on(SPEAKER_ADDR);
    let gobgp = GoBgp::start_with(
        65000,
        SPEAKER_ADDR,
        &GoBgpOptions { dial_port: Some(listen_port), ..Default::default() },
    );
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut config = speaker_config(gobgp.port, true);
    config.session.connect = false;
    config.listen = Some(std::net::SocketAddr::new(SPEAKER_ADDR.parse().expect("address"), listen_port));
    let mut speaker = runtime.block_on(session::spawn(config)).expect("speaker listens");
    let routes = Routes::new();
    runtime.block_on(speaker.commands.send(Command::Announce(routes.all()))).expect("alive");
    expect_event(&runtime, &mut speaker, Duration::from_secs(20), |e| matches!(e, Event::Established { .. }));
    let count =
        || paths_of_type(&gobgp, 2).len() + paths_of_type(&gobgp, 3).len() + paths_of_type(&gobgp, 5).len();
    wait_for("5 routes in GoBGP", Duration::from_secs(10), || {
        if count() == 5 { Ok(()) } else { Err(count().to_string()) }
    });
}

#[test]
fn tcp_md5_with_the_right_password_comes_up_and_with_a_wrong_one_does_not() {
    if GoBgpRelease::available("tcp_md5_with_the_right_password").is_none() {
        return;
    }
    let options = GoBgpOptions { md5_password: Some("s3cret-pw".to_owned()), ..Default::default() };
    let gobgp = GoBgp::start_with(65000, SPEAKER_ADDR, &options);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");

    // A wrong password: the kernel drops the unsigned-as-expected SYNs, so
    // the session never comes up.
    let mut wrong = speaker_config(gobgp.port, false);
    wrong.md5_password = Some("not-the-password".to_owned());
    let mut speaker = runtime.block_on(session::spawn(wrong)).expect("speaker starts");
    let established = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(4), async {
            while let Some(event) = speaker.events.recv().await {
                if matches!(event, Event::Established { .. }) {
                    return true;
                }
            }
            false
        })
        .await
    });
    assert!(!matches!(established, Ok(true)), "established with the wrong MD5 password");
    drop(speaker);

    // No password at all: also refused.
    let mut speaker =
        runtime.block_on(session::spawn(speaker_config(gobgp.port, false))).expect("speaker starts");
    let established = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(3), async {
            while let Some(event) = speaker.events.recv().await {
                if matches!(event, Event::Established { .. }) {
                    return true;
                }
            }
            false
        })
        .await
    });
    assert!(!matches!(established, Ok(true)), "established without MD5");
    drop(speaker);

    // The right password: up, and routes flow.
    let mut right = speaker_config(gobgp.port, false);
    right.md5_password = Some("s3cret-pw".to_owned());
    let mut speaker = runtime.block_on(session::spawn(right)).expect("speaker starts");
    runtime.block_on(speaker.commands.send(Command::Announce(Routes::new().all()))).expect("alive");
    expect_event(&runtime, &mut speaker, Duration::from_secs(30), |e| matches!(e, Event::Established { .. }));
    wait_for("routes over the signed session", Duration::from_secs(10), || {
        let n = paths_of_type(&gobgp, 2).len();
        if n == 3 { Ok(()) } else { Err(n.to_string()) }
    });
}

#[test]
fn when_both_sides_dial_the_collision_resolves_to_one_stable_session() {
    if GoBgpRelease::available("when_both_sides_dial").is_none() {
        return;
    }
    let listen_port = free_port_on(SPEAKER_ADDR);
    let gobgp = GoBgp::start_with(
        65000,
        SPEAKER_ADDR,
        &GoBgpOptions { dial_port: Some(listen_port), ..Default::default() },
    );
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    // We dial GoBGP's port and listen on ours; GoBGP dials ours and listens on its own.
    let mut config = speaker_config(gobgp.port, true);
    config.listen = Some(std::net::SocketAddr::new(SPEAKER_ADDR.parse().expect("address"), listen_port));
    let mut speaker = runtime.block_on(session::spawn(config)).expect("speaker starts");
    runtime.block_on(speaker.commands.send(Command::Announce(Routes::new().all()))).expect("alive");
    expect_event(&runtime, &mut speaker, Duration::from_secs(30), |e| matches!(e, Event::Established { .. }));

    // One session, and it stays up: no Down for the next 5 seconds.
    let flapped = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(event) = speaker.events.recv().await {
                if matches!(event, Event::Down { .. }) {
                    return Some(event);
                }
            }
            None
        })
        .await
    });
    assert!(!matches!(flapped, Ok(Some(_))), "the session flapped: {flapped:?}");
    let count =
        || paths_of_type(&gobgp, 2).len() + paths_of_type(&gobgp, 3).len() + paths_of_type(&gobgp, 5).len();
    wait_for("5 routes in GoBGP", Duration::from_secs(10), || {
        if count() == 5 { Ok(()) } else { Err(count().to_string()) }
    });
}
