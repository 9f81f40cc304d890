//! An ARP storm on a real kernel: 1M ARP-in-VXLAN frames carrying 200k
//! distinct spoofed MACs from a VTEP inside the allowed prefixes, and as
//! many from one outside them, arrive on the agent's learning interface.
//! The agent stays up; what it learns is capped by the configured maximums
//! and so is its memory; the outside VTEP is never learned; a legitimate
//! MAC from another VTEP is learned afterwards; and a raw BGP peer sees
//! every route announced once and none withdrawn (no flap).
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

mod common;

use std::{
    collections::HashMap,
    fs,
    io::Write as _,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    process::Command,
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use bgp_wire::{Capability, DecodeCx, EncodeCx, Message, MpReach, MpUnreach, Open};
use common::next_message;
use static_vxlan_agent_tests::{
    Netns,
    peers::{Daemon, ScratchDir, agent_state, wait_for},
    privileged, veth_pair,
    vxlan::{arp_request, numbered_mac, send_all},
};

const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");
const FRAMES_PER_SOURCE: u32 = 1_000_000;
const SPOOFED_MACS: u32 = 200_000;
const MAX_PER_VTEP: usize = 20_000;
const MAX_PER_MAC_VRF: usize = 25_000;
const ALLOWED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const LEGITIMATE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 9);
const LEAF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
const VNI: u32 = 100;

/// What the raw peer saw per route: 'A' announced, 'W' withdrawn, in order.
type RouteLog = Arc<Mutex<HashMap<String, String>>>;

/// A passive iBGP peer (hold time 0: no keepalives) that logs every route.
fn raw_peer(listener: &TcpListener, log: &RouteLog) {
    let cx = DecodeCx { extended_message: true, ..DecodeCx::default() };
    let Ok((mut stream, _)) = listener.accept() else { return };
    if !matches!(next_message(&mut stream, cx), Some(Message::Open(_))) {
        return;
    }
    let open = Open::new(
        65000,
        0,
        Ipv4Addr::LOCALHOST,
        vec![
            Capability::Multiprotocol { afi: 25, safi: 70 },
            Capability::FourOctetAs(65000),
            Capability::ExtendedMessage,
        ],
    );
    let mut out = Message::Open(open).to_bytes(EncodeCx::default()).expect("fits");
    Message::Keepalive.encode(&mut out, EncodeCx::default()).expect("fits");
    if stream.write_all(&out).is_err() {
        return;
    }
    while let Some(message) = next_message(&mut stream, cx) {
        let Message::Update(update) = message else { continue };
        let mut log = log.lock().expect("not poisoned");
        if let Some(MpReach::Evpn { routes, .. }) = &update.attributes.mp_reach {
            for route in routes {
                log.entry(route.to_string()).or_default().push('A');
            }
        }
        if let Some(MpUnreach::Evpn { routes }) = &update.attributes.mp_unreach {
            for route in routes {
                log.entry(route.to_string()).or_default().push('W');
            }
        }
    }
}

fn state(http: &str) -> Result<serde_json::Value, String> {
    agent_state(AGENT, http)
}

fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("the agent is running");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// MACs the agent holds in mac-vrf blue, by VTEP.
fn macs_by_vtep(state: &serde_json::Value) -> HashMap<String, usize> {
    let mut by_vtep = HashMap::new();
    if let Some(macs) = state["proxy"]["mac-vrfs"]["blue"]["macs"].as_object() {
        for mac in macs.values() {
            *by_vtep.entry(mac["vtep"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        }
    }
    by_vtep
}

#[test]
fn an_arp_storm_is_capped_never_learns_outside_vteps_and_never_flaps_a_route() {
    let test = "an_arp_storm_is_capped_never_learns_outside_vteps_and_never_flaps_a_route";
    if !privileged(test) {
        return;
    }
    let vteps = Netns::new("stv");
    let leaf = Netns::new("stl");
    let (vtep_if, leaf_if) = veth_pair(&vteps, &format!("{ALLOWED}/24"), &leaf, &format!("{LEAF}/24"));
    for extra in [format!("{LEGITIMATE}/24"), format!("{OUTSIDE}/32")] {
        vteps.exec("ip", &["addr", "add", &extra, "dev", &vtep_if]);
    }

    let dir = ScratchDir::new("storm");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the peer");
    let port = listener.local_addr().expect("address").port();
    let log = RouteLog::default();
    let peer = {
        let log = log.clone();
        thread::spawn(move || raw_peer(&listener, &log))
    };
    let http = format!("127.0.0.1:{}", static_vxlan_agent_tests::peers::free_port());
    let config = dir.path().join("agent.yaml");
    fs::write(
        &config,
        format!(
            "source-address: 127.0.0.41\npeer-address: 127.0.0.1\npeer-port: {port}\nlocal-as: 65000\nstate-file: ''\n\
             learning-interfaces: [{leaf_if}]\nlearning-netns: {}\n\
             auto-discover:\n  allowed-prefixes: [10.0.0.0/24]\n  max-vteps: 4\n\
             max-macs-per-vtep: {MAX_PER_VTEP}\nmax-macs-per-mac-vrf: {MAX_PER_MAC_VRF}\n\
             mac-vrfs:\n  blue:\n    evi: 100\n    vni: {VNI}\n",
            leaf.path().display()
        ),
    )
    .expect("write config");
    let mut agent = Daemon::spawn(
        "static-vxlan-agent",
        Command::new(AGENT).args(["run", "--config", config.to_str().expect("utf-8"), "--http", &http]),
        &dir.path().join("agent.log"),
    );
    let agent_log = || fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();
    wait_for("the agent attached and established", Duration::from_secs(20), || {
        let s = state(&http)?;
        let attached = s["snooper"]["interfaces"][&leaf_if]["status"]
            .as_str()
            .is_some_and(|status| status.starts_with("attached"));
        if attached && s["bgp"]["state"] == "established" {
            Ok(())
        } else {
            Err(format!("{s}\n{}", agent_log()))
        }
    });
    let pid = agent.pid().expect("running");

    // The storm: both sources at once, each cycling through its 200k MACs.
    // A second storm with 200k other MACs each shows that memory follows
    // the maximums, not the traffic: the agent holds nothing more after it.
    let to = SocketAddr::from((LEAF, 4789));
    let mut rss = vec![rss_kib(pid)];
    let mut settled = serde_json::Value::Null;
    for (allowed_prefix, outside_prefix) in [(0x5a, 0x5b), (0x5c, 0x5d)] {
        let sent: u64 = thread::scope(|scope| {
            let senders: Vec<_> = [(ALLOWED, allowed_prefix), (OUTSIDE, outside_prefix)]
                .into_iter()
                .map(|(from, prefix)| {
                    let vteps = &vteps;
                    scope.spawn(move || {
                        vteps.run(|| {
                            send_all(
                                from,
                                to,
                                (0..FRAMES_PER_SOURCE).map(|i| {
                                    let n = i % SPOOFED_MACS;
                                    let ip = Ipv4Addr::from(0x0a01_0000 | n);
                                    arp_request(VNI, numbered_mac(prefix, n), ip, LEAF)
                                }),
                            )
                        })
                    })
                })
                .collect();
            senders.into_iter().map(|s| s.join().expect("sender")).sum()
        });
        assert_eq!(sent, 2 * u64::from(FRAMES_PER_SOURCE), "every datagram left");
        // Settled: the count of learned MACs and of events stops changing.
        let mut last = String::new();
        settled = wait_for("the agent settles after the storm", Duration::from_mins(1), || {
            thread::sleep(Duration::from_secs(2));
            let s = state(&http)?;
            let now = format!("{:?} {}", macs_by_vtep(&s), s["proxy"]["counters"]["learned-events"]);
            if now == last {
                Ok(s)
            } else {
                last = now;
                Err(last.clone())
            }
        });
        assert!(agent.running(), "the agent died in the storm:\n{}", agent_log());
        rss.push(rss_kib(pid));
        println!(
            "storm of {sent} frames: learned {:?}; proxy counters {}; snooper counters {}; RSS {} KiB",
            macs_by_vtep(&settled),
            settled["proxy"]["counters"],
            settled["snooper"]["counters"],
            rss[rss.len() - 1]
        );
    }
    let by_vtep = macs_by_vtep(&settled);
    let counters = &settled["proxy"]["counters"];
    let snooper = &settled["snooper"]["counters"];
    assert!(by_vtep.get(&ALLOWED.to_string()).copied().unwrap_or(0) <= MAX_PER_VTEP, "{by_vtep:?}");
    assert!(by_vtep.values().sum::<usize>() <= MAX_PER_MAC_VRF, "{by_vtep:?}");
    assert!(!by_vtep.contains_key(&OUTSIDE.to_string()), "the outside VTEP was learned: {by_vtep:?}");
    assert!(counters["unknown-vtep"].as_u64() > Some(0), "{counters}");
    assert!(
        counters["over-limit"].as_u64() > Some(0),
        "the storms were more than the agent may hold: {counters} {snooper}"
    );
    // The second storm, all over the limit, left memory where the first did.
    // The allocator's noise between the storms measured 0 to 6.2 MiB over
    // ten runs, and more than 8 MiB in an eleventh; 16 MiB still catches a leak of
    // 40 bytes per refused learn event (storm 2 refuses over 700,000).
    assert!(rss[2] <= rss[1] + 16 * 1024, "RSS (KiB) before, after storm 1, after storm 2: {rss:?}");

    // A legitimate host behind another allowed VTEP is learned afterwards.
    let legit = numbered_mac(0x1e, 1);
    wait_for("the legitimate MAC is learned after the storm", Duration::from_secs(20), || {
        let _ = vteps.run(|| {
            send_all(
                LEGITIMATE,
                to,
                std::iter::once(arp_request(VNI, legit, Ipv4Addr::new(10, 0, 0, 77), LEAF)),
            )
        });
        let s = state(&http)?;
        let mac = &s["proxy"]["mac-vrfs"]["blue"]["macs"]["02:1e:00:00:00:01"];
        if mac["vtep"] == LEGITIMATE.to_string() { Ok(()) } else { Err(mac.to_string()) }
    });

    // The peer: every route announced once, nothing withdrawn, nothing from
    // the outside VTEP; and the legitimate MAC arrived.
    wait_for("the legitimate MAC's route at the peer", Duration::from_secs(10), || {
        let log = log.lock().expect("not poisoned");
        if log.keys().any(|k| k.contains("02:1e:00:00:00:01")) {
            Ok(())
        } else {
            Err(format!("{} routes", log.len()))
        }
    });
    agent.stop();
    peer.join().expect("the peer thread");
    let log = log.lock().expect("not poisoned");
    let flapping: Vec<_> = log.iter().filter(|(_, events)| events.as_str() != "A").take(5).collect();
    assert!(flapping.is_empty(), "routes not announced exactly once: {flapping:?}");
    assert!(
        !log.keys().any(|k| k.contains("10.9.9.9") || k.contains("02:5b:") || k.contains("02:5d:")),
        "outside VTEP routes reached the peer"
    );
    // One MAC-only RT-2 per MAC held (and a MAC+IP one for each IP seen).
    let allowed_mac = |k: &str| k.contains("02:5a:") || k.contains("02:5c:");
    let mac_only =
        log.keys().filter(|k| k.contains("[2]:") && allowed_mac(k) && !k.contains(":[32]:")).count();
    assert_eq!(mac_only, by_vtep.get(&ALLOWED.to_string()).copied().unwrap_or(0), "one RT-2 per MAC held");
}
