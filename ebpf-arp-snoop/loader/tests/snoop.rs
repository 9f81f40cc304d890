//! Privileged: the real eBPF program in the running kernel, snooping real
//! Linux VXLAN traffic between two network namespaces this test creates.
//!
//! ```text
//!  ns "vtep" (static VTEP)                      ns "leaf" (the snooped node)
//!  vx0 10.10.0.1 / 2001:db8:10::1               vx0 10.10.0.2 / 2001:db8:10::2
//!  MAC 02:00:00:00:0a:01, VNI 10100             MAC 02:00:00:00:0a:02
//!  underlay 192.0.2.1 ═══════ veth ═══════════ 192.0.2.2  ◄── snooper (TC or socket)
//! ```
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{
    net::IpAddr,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use arp_snoop::{
    AttachMode, Counter, InterfaceStatus, Kind, LearnEvent, Settings, SnoopError, Snooper, SnooperConfig,
    direction, unmapped,
};
use static_vxlan_agent_tests::{Netns, privileged, unique_name, veth_pair_named};

const VTEP_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0a, 0x01];
const LEAF_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0a, 0x02];

struct Lab {
    vtep: Netns,
    leaf: Netns,
    uplink: String,
}

impl Lab {
    fn new() -> Self {
        let vtep = Netns::new("v");
        let leaf = Netns::new("l");
        let uplink = unique_name("up");
        let peer = unique_name("dn");
        Self::link(&vtep, &peer, &leaf, &uplink);
        for (ns, me, other, n, mac) in
            [(&vtep, "192.0.2.1", "192.0.2.2", 1, VTEP_MAC), (&leaf, "192.0.2.2", "192.0.2.1", 2, LEAF_MAC)]
        {
            ns.exec(
                "ip",
                &[
                    "link", "add", "vx0", "type", "vxlan", "id", "10100", "local", me, "remote", other,
                    "dstport", "4789",
                ],
            );
            let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
            // No automatic link-local address: its DAD would be ND noise.
            ns.exec("ip", &["link", "set", "vx0", "addrgenmode", "none"]);
            ns.exec("ip", &["link", "set", "vx0", "address", &mac, "up"]);
            ns.exec("ip", &["addr", "add", &format!("10.10.0.{n}/24"), "dev", "vx0"]);
            ns.exec("ip", &["-6", "addr", "add", &format!("2001:db8:10::{n}/64"), "dev", "vx0", "nodad"]);
        }
        Self { vtep, leaf, uplink }
    }

    /// (Re)creates the underlay veth with fixed names.
    fn link(vtep: &Netns, vtep_if: &str, leaf: &Netns, leaf_if: &str) {
        veth_pair_named((leaf, leaf_if, "192.0.2.2/24"), (vtep, vtep_if, "192.0.2.1/24"));
    }

    fn snooper(&self, mode: AttachMode, settings: Settings) -> Snooper {
        Snooper::start(SnooperConfig {
            netns: Some(self.leaf.path()),
            interfaces: vec![self.uplink.clone()],
            mode,
            settings,
        })
        .expect("the snooper starts")
    }

    /// Ping over the overlay from the static VTEP side (ARP or ND first).
    fn ping(&self, target: &str) {
        let args: &[&str] = if target.contains(':') {
            &["-6", "-c", "2", "-i", "0.2", "-W", "2"]
        } else {
            &["-c", "2", "-i", "0.2", "-W", "2"]
        };
        let mut full = args.to_vec();
        full.push(target);
        self.vtep.exec("ping", &full);
    }

    /// Pins both overlay neighbors, so pings need no ARP or ND at all.
    fn pin_neighbors(&self) {
        let mac = |m: [u8; 6]| m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        for (ns, ip, ip6, lladdr) in [
            (&self.vtep, "10.10.0.2", "2001:db8:10::2", mac(LEAF_MAC)),
            (&self.leaf, "10.10.0.1", "2001:db8:10::1", mac(VTEP_MAC)),
        ] {
            for address in [ip, ip6] {
                ns.exec(
                    "ip",
                    &["neigh", "replace", address, "lladdr", &lladdr, "dev", "vx0", "nud", "permanent"],
                );
            }
        }
    }

    /// Forgets learned neighbors so the next ping resolves again.
    fn flush_neighbors(&self) {
        for ns in [&self.vtep, &self.leaf] {
            ns.exec("ip", &["neigh", "flush", "dev", "vx0", "nud", "all"]);
        }
    }
}

/// Collects events until `done` says enough, or 3 s pass.
fn collect(snooper: &mut Snooper, done: impl Fn(&[LearnEvent]) -> bool) -> Vec<LearnEvent> {
    let start = Instant::now();
    let mut events = Vec::new();
    while start.elapsed() < Duration::from_secs(3) {
        events.extend(snooper.drain());
        if done(&events) {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    events
}

fn from(events: &[LearnEvent], mac: [u8; 6], kind: Kind) -> Option<LearnEvent> {
    events.iter().find(|e| e.mac == mac && Kind::from_u8(e.kind) == Some(kind)).copied()
}

fn arp_and_nd_in_vxlan_are_learned_and_nothing_else(mode: AttachMode, test: &str) {
    if !privileged(test) {
        return;
    }
    let lab = Lab::new();
    let mut snooper = lab.snooper(mode, Settings::DEFAULT);
    assert!(matches!(snooper.status()[&lab.uplink], InterfaceStatus::Attached { .. }));

    // IPv4: the VTEP's ARP request arrives (ingress), the leaf's reply leaves (egress).
    lab.ping("10.10.0.2");
    let events = collect(&mut snooper, |e| {
        from(e, VTEP_MAC, Kind::ArpRequest).is_some() && from(e, LEAF_MAC, Kind::ArpReply).is_some()
    });
    let request =
        from(&events, VTEP_MAC, Kind::ArpRequest).unwrap_or_else(|| panic!("no ARP request: {events:?}"));
    assert_eq!(request.vni, 10100);
    assert_eq!(request.direction, direction::INGRESS);
    assert_eq!(unmapped(request.outer_src), "192.0.2.1".parse::<IpAddr>().expect("ip"));
    assert_eq!(unmapped(request.ip), "10.10.0.1".parse::<IpAddr>().expect("ip"));
    let reply = from(&events, LEAF_MAC, Kind::ArpReply).unwrap_or_else(|| panic!("no ARP reply: {events:?}"));
    assert_eq!(reply.direction, direction::EGRESS);
    assert_eq!(unmapped(reply.outer_src), "192.0.2.2".parse::<IpAddr>().expect("ip"));

    // The pings themselves (ICMP in VXLAN) and the underlay ARP are seen, not
    // matched. Pinned neighbors keep the kernel from re-validating by ARP.
    lab.pin_neighbors();
    let matched = snooper.counter(Counter::Matched).expect("counter");
    let seen = snooper.counter(Counter::Seen).expect("counter");
    lab.ping("10.10.0.2");
    lab.vtep.exec("ping", &["-c", "2", "-i", "0.2", "192.0.2.2"]);
    assert_eq!(snooper.counter(Counter::Matched).expect("counter"), matched, "only ARP/ND may match");
    assert!(snooper.counter(Counter::Seen).expect("counter") >= seen + 4);

    // IPv6: neighbor solicitation in, advertisement out.
    lab.flush_neighbors();
    lab.ping("2001:db8:10::2");
    let events = collect(&mut snooper, |e| {
        from(e, VTEP_MAC, Kind::NdSolicitation).is_some()
            && from(e, LEAF_MAC, Kind::NdAdvertisement).is_some()
    });
    let ns = from(&events, VTEP_MAC, Kind::NdSolicitation).unwrap_or_else(|| panic!("no NS: {events:?}"));
    assert_eq!(unmapped(ns.ip), "2001:db8:10::1".parse::<IpAddr>().expect("ip"));
    let na = from(&events, LEAF_MAC, Kind::NdAdvertisement).unwrap_or_else(|| panic!("no NA: {events:?}"));
    assert_eq!(unmapped(na.ip), "2001:db8:10::2".parse::<IpAddr>().expect("ip"));
    assert_eq!(snooper.counter(Counter::ParseErrors).expect("counter"), 0);
}

#[test]
fn tc_mode_learns_arp_and_nd_in_vxlan_and_nothing_else() {
    arp_and_nd_in_vxlan_are_learned_and_nothing_else(AttachMode::Tc, "tc_mode_learns_arp_and_nd_in_vxlan");
}

#[test]
fn socket_mode_learns_arp_and_nd_in_vxlan_and_nothing_else() {
    arp_and_nd_in_vxlan_are_learned_and_nothing_else(
        AttachMode::Socket,
        "socket_mode_learns_arp_and_nd_in_vxlan",
    );
}

#[test]
fn repeats_are_deduplicated_in_the_kernel_and_ignored_vteps_are_skipped() {
    if !privileged("repeats_are_deduplicated_in_the_kernel") {
        return;
    }
    let lab = Lab::new();
    let mut snooper = lab.snooper(AttachMode::Tc, Settings::DEFAULT);
    // Three ARP requests from the same host: one passes, two are repeats.
    lab.vtep.exec("arping", &["-c", "3", "-I", "vx0", "10.10.0.2"]);
    let requests = |events: &[LearnEvent]| {
        events.iter().filter(|e| e.mac == VTEP_MAC && Kind::from_u8(e.kind) == Some(Kind::ArpRequest)).count()
    };
    let events = collect(&mut snooper, |_| false);
    assert_eq!(requests(&events), 1, "{events:?}");
    assert!(snooper.counter(Counter::Deduplicated).expect("counter") >= 2);

    // Without dedup, every copy passes.
    drop(snooper);
    let mut snooper = lab.snooper(AttachMode::Tc, Settings { dedup_window_ns: 0, ..Settings::DEFAULT });
    lab.vtep.exec("arping", &["-c", "3", "-I", "vx0", "10.10.0.2"]);
    let events = collect(&mut snooper, |_| false);
    assert_eq!(requests(&events), 3, "{events:?}");

    // An EVPN VTEP in the ignore map is not learned from.
    snooper.set_ignored(&["192.0.2.1".parse().expect("ip")]).expect("ignore map");
    lab.flush_neighbors();
    lab.ping("10.10.0.2");
    let events = collect(&mut snooper, |_| false);
    assert!(events.iter().all(|e| e.mac != VTEP_MAC), "{events:?}");
    assert!(snooper.counter(Counter::Ignored).expect("counter") >= 1);
    // Taken out again, it is.
    snooper.set_ignored(&[]).expect("ignore map");
    lab.flush_neighbors();
    lab.ping("10.10.0.2");
    let events = collect(&mut snooper, |e| e.iter().any(|e| e.mac == VTEP_MAC));
    assert!(events.iter().any(|e| e.mac == VTEP_MAC), "{events:?}");
}

#[test]
fn an_interface_that_disappears_is_reattached_when_it_comes_back() {
    if !privileged("an_interface_that_disappears_is_reattached") {
        return;
    }
    for mode in [AttachMode::Tc, AttachMode::Socket] {
        let lab = Lab::new();
        let mut snooper = lab.snooper(mode, Settings { dedup_window_ns: 0, ..Settings::DEFAULT });
        let InterfaceStatus::Attached { ifindex: before } = snooper.status()[&lab.uplink] else {
            panic!("not attached")
        };
        // Deleting one end of a veth deletes both.
        lab.leaf.exec("ip", &["link", "del", &lab.uplink]);
        assert_eq!(snooper.refresh().expect("refresh")[&lab.uplink], InterfaceStatus::Waiting);
        Lab::link(&lab.vtep, &unique_name("dn"), &lab.leaf, &lab.uplink);
        let InterfaceStatus::Attached { ifindex: after } = snooper.refresh().expect("refresh")[&lab.uplink]
        else {
            panic!("{mode:?}: not attached again: {:?}", snooper.status())
        };
        assert_ne!(before, after, "a new interface");
        lab.flush_neighbors();
        lab.ping("10.10.0.2");
        let events = collect(&mut snooper, |e| from(e, VTEP_MAC, Kind::ArpRequest).is_some());
        assert!(from(&events, VTEP_MAC, Kind::ArpRequest).is_some(), "{mode:?}: {events:?}");
    }
}

#[test]
fn counters_are_kept_per_interface_and_survive_a_recreated_interface() {
    if !privileged("counters_are_kept_per_interface") {
        return;
    }
    for mode in [AttachMode::Tc, AttachMode::Socket] {
        let lab = Lab::new();
        let mut snooper = Snooper::start(SnooperConfig {
            netns: Some(lab.leaf.path()),
            interfaces: vec![lab.uplink.clone(), "absent0".to_owned()],
            mode,
            settings: Settings { dedup_window_ns: 0, ..Settings::DEFAULT },
        })
        .expect("the snooper starts");
        lab.ping("10.10.0.2");
        let _ = collect(&mut snooper, |e| from(e, LEAF_MAC, Kind::ArpReply).is_some());
        let before = snooper.interface_counters().expect("interface counters");
        let uplink = before[&lab.uplink];
        // Request in, reply out, plus the pings: all on the one attached interface.
        assert!(uplink.get(Counter::Matched) >= 2, "{mode:?}: {uplink:?}");
        assert!(uplink.get(Counter::Seen) >= uplink.get(Counter::Matched) + 4, "{mode:?}: {uplink:?}");
        assert_eq!(before["absent0"], arp_snoop::InterfaceCounters::default(), "{mode:?}: never attached");

        // Deleted and created again: the counts carry over and keep growing.
        // The first incarnation had a small ifindex (an array slot in the
        // kernel); the second gets one above INTERFACE_SLOTS (a hash entry).
        lab.leaf.exec("ip", &["link", "del", &lab.uplink]);
        snooper.refresh().expect("refresh");
        let gone = snooper.interface_counters().expect("interface counters")[&lab.uplink];
        assert!(gone.get(Counter::Seen) >= uplink.get(Counter::Seen), "{mode:?}: {gone:?} < {uplink:?}");
        let high = (arp_snoop_common::INTERFACE_SLOTS + 7).to_string();
        let peer = unique_name("dn");
        lab.leaf.exec(
            "ip",
            &[
                "link",
                "add",
                &lab.uplink,
                "index",
                &high,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "netns",
                lab.vtep.name(),
            ],
        );
        for (ns, ifname, addr) in
            [(&lab.leaf, &lab.uplink, "192.0.2.2/24"), (&lab.vtep, &peer, "192.0.2.1/24")]
        {
            ns.exec("ip", &["addr", "add", addr, "dev", ifname]);
            ns.exec("ip", &["link", "set", ifname, "up"]);
        }
        snooper.refresh().expect("refresh");
        let status = snooper.status();
        assert!(
            matches!(status.get(&lab.uplink), Some(InterfaceStatus::Attached { ifindex }) if ifindex.to_string() == high),
            "{mode:?}: {status:?}"
        );
        lab.flush_neighbors();
        lab.ping("10.10.0.2");
        let _ = collect(&mut snooper, |e| from(e, VTEP_MAC, Kind::ArpRequest).is_some());
        let after = snooper.interface_counters().expect("interface counters")[&lab.uplink];
        assert!(after.get(Counter::Matched) > gone.get(Counter::Matched), "{mode:?}: {after:?} vs {gone:?}");
        assert!(after.get(Counter::Seen) > gone.get(Counter::Seen), "{mode:?}: {after:?} vs {gone:?}");
    }
}

#[test]
fn an_interface_that_does_not_exist_yet_waits() {
    if !privileged("an_interface_that_does_not_exist_yet_waits") {
        return;
    }
    let leaf = Netns::new("w");
    let snooper = Snooper::start(SnooperConfig {
        netns: Some(leaf.path()),
        interfaces: vec!["e1-1".to_owned()],
        mode: AttachMode::Tc,
        settings: Settings::DEFAULT,
    })
    .expect("starts without the interface");
    assert_eq!(snooper.status()["e1-1"], InterfaceStatus::Waiting);
}

#[test]
fn a_missing_namespace_is_an_error_naming_it() {
    // Needs no privilege: opening the namespace file fails first.
    let error = Snooper::start(SnooperConfig {
        netns: Some(Path::new("/var/run/netns/sva-does-not-exist").to_owned()),
        interfaces: vec!["e1-1".to_owned()],
        mode: AttachMode::Tc,
        settings: Settings::DEFAULT,
    })
    .expect_err("no such namespace");
    assert!(matches!(error, SnoopError::NetnsOpen { .. }), "{error}");
    assert!(error.to_string().contains("/var/run/netns/sva-does-not-exist"), "{error}");
}
