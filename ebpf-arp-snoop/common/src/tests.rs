//! Host tests of the classifier with crafted frames.

extern crate std;

use std::{vec, vec::Vec};

use super::{Kind, Reject, Settings, classify, direction};

const HOST_MAC: [u8; 6] = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01];
const VTEP_A: [u8; 4] = [192, 0, 2, 1];
const VTEP_B: [u8; 4] = [192, 0, 2, 2];

/// How to build one test frame.
#[derive(Clone)]
struct Frame {
    outer_v6: bool,
    outer_vlan: Option<u16>,
    ip_options: usize,
    fragment: bool,
    udp_port: u16,
    vxlan_flags: u8,
    vni: u32,
    inner_vlan: Option<u16>,
    inner: Vec<u8>,
    inner_type: u16,
    inner_src: [u8; 6],
}

impl Frame {
    fn new(inner_type: u16, inner: Vec<u8>) -> Self {
        Self {
            outer_v6: false,
            outer_vlan: None,
            ip_options: 0,
            fragment: false,
            udp_port: 4789,
            vxlan_flags: 0x08,
            vni: 10100,
            inner_vlan: None,
            inner,
            inner_type,
            inner_src: HOST_MAC,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut inner_eth = vec![0xff; 6];
        inner_eth.extend_from_slice(&self.inner_src);
        if let Some(vlan) = self.inner_vlan {
            inner_eth.extend_from_slice(&[0x81, 0x00]);
            inner_eth.extend_from_slice(&vlan.to_be_bytes());
        }
        inner_eth.extend_from_slice(&self.inner_type.to_be_bytes());
        inner_eth.extend_from_slice(&self.inner);

        let mut udp = vec![0x30, 0x39];
        udp.extend_from_slice(&self.udp_port.to_be_bytes());
        udp.extend_from_slice(&u16::try_from(16 + inner_eth.len()).expect("small").to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&[self.vxlan_flags, 0, 0, 0]);
        udp.extend_from_slice(&self.vni.to_be_bytes()[1..]);
        udp.push(0);
        udp.extend_from_slice(&inner_eth);

        let mut frame = vec![0x02, 0, 0, 0, 0, 0xfe, 0x02, 0, 0, 0, 0, 0xfd];
        if let Some(vlan) = self.outer_vlan {
            frame.extend_from_slice(&[0x81, 0x00]);
            frame.extend_from_slice(&vlan.to_be_bytes());
        }
        if self.outer_v6 {
            frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            frame.extend_from_slice(&u16::try_from(udp.len()).expect("small").to_be_bytes());
            frame.extend_from_slice(&[17, 64]);
            frame.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            frame.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            let ihl = 20 + self.ip_options;
            frame.extend_from_slice(&[0x08, 0x00, 0x40 | u8::try_from(ihl / 4).expect("small"), 0]);
            frame.extend_from_slice(&u16::try_from(ihl + udp.len()).expect("small").to_be_bytes());
            let flags: [u8; 2] = if self.fragment { [0x20, 0] } else { [0x40, 0] };
            frame.extend_from_slice(&[0, 1, flags[0], flags[1], 64, 17, 0, 0]);
            frame.extend_from_slice(&VTEP_A);
            frame.extend_from_slice(&VTEP_B);
            frame.extend(core::iter::repeat_n(1u8, self.ip_options));
        }
        frame.extend_from_slice(&udp);
        frame
    }
}

fn arp(oper: u16, sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Frame {
    let mut body = vec![0, 1, 0x08, 0x00, 6, 4];
    body.extend_from_slice(&oper.to_be_bytes());
    body.extend_from_slice(&sha);
    body.extend_from_slice(&spa);
    body.extend_from_slice(&[0; 6]);
    body.extend_from_slice(&tpa);
    Frame::new(0x0806, body)
}

/// An ND message: IPv6 header, `ICMPv6` NS (135) or NA (136), and
/// optionally a link-layer address option.
fn nd(solicitation: bool, src: [u8; 16], target: [u8; 16], option: Option<[u8; 6]>, hop_limit: u8) -> Frame {
    let mut icmp = vec![if solicitation { 135 } else { 136 }, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&target);
    if let Some(mac) = option {
        icmp.extend_from_slice(&[if solicitation { 1 } else { 2 }, 1]);
        icmp.extend_from_slice(&mac);
    }
    let mut body = vec![0x60, 0, 0, 0];
    body.extend_from_slice(&u16::try_from(icmp.len()).expect("small").to_be_bytes());
    body.extend_from_slice(&[58, hop_limit]);
    body.extend_from_slice(&src);
    body.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1]);
    body.extend_from_slice(&icmp);
    Frame::new(0x86dd, body)
}

const V6_HOST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_TARGET: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn run(frame: &Frame) -> Result<super::LearnEvent, Reject> {
    classify(frame.bytes().as_slice(), &Settings::DEFAULT, direction::INGRESS)
}

fn mapped(a: [u8; 4]) -> [u8; 16] {
    super::mapped_v4(a)
}

#[test]
fn arp_request_reply_gratuitous_and_probe() {
    let cases = [
        (arp(1, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]), Kind::ArpRequest, Some([10, 0, 0, 1])),
        (arp(2, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]), Kind::ArpReply, Some([10, 0, 0, 1])),
        (arp(1, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 1]), Kind::ArpGratuitous, Some([10, 0, 0, 1])),
        (arp(1, HOST_MAC, [0, 0, 0, 0], [10, 0, 0, 1]), Kind::ArpProbe, None),
    ];
    for (frame, kind, ip) in cases {
        let event = run(&frame).expect("classified");
        assert_eq!(Kind::from_u8(event.kind), Some(kind));
        assert_eq!(event.vni, 10100);
        assert_eq!(event.mac, HOST_MAC);
        assert_eq!(event.outer_src, mapped(VTEP_A));
        assert_eq!(event.outer_dst, mapped(VTEP_B));
        assert_eq!(event.outer_family, 4);
        assert_eq!(event.direction, direction::INGRESS);
        match ip {
            Some(ip) => assert_eq!((event.ip_family, event.ip), (4, mapped(ip))),
            None => assert_eq!(event.ip_family, 0, "a probe teaches the MAC only"),
        }
    }
}

#[test]
fn nd_solicitation_advertisement_and_dad() {
    let other_mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    let ns = run(&nd(true, V6_HOST, V6_TARGET, Some(other_mac), 255)).expect("NS");
    assert_eq!(Kind::from_u8(ns.kind), Some(Kind::NdSolicitation));
    assert_eq!((ns.ip_family, ns.ip, ns.mac), (6, V6_HOST, other_mac), "the SLLA option is the sender MAC");
    let na = run(&nd(false, V6_TARGET, V6_TARGET, Some(other_mac), 255)).expect("NA");
    assert_eq!(Kind::from_u8(na.kind), Some(Kind::NdAdvertisement));
    assert_eq!((na.ip, na.mac), (V6_TARGET, other_mac), "the target and its TLLA");
    let dad = run(&nd(true, [0; 16], V6_TARGET, None, 255)).expect("DAD");
    assert_eq!(Kind::from_u8(dad.kind), Some(Kind::NdDad));
    assert_eq!((dad.ip_family, dad.mac), (0, HOST_MAC), "DAD teaches the MAC only, from Ethernet");
    let bare = run(&nd(true, V6_HOST, V6_TARGET, None, 255)).expect("NS without options");
    assert_eq!(bare.mac, HOST_MAC);
}

#[test]
fn classify_into_overwrites_every_field_of_a_used_event() {
    // The kernel classifies frame after frame into one per-CPU scratch
    // event, so a success must leave nothing of the frame before: a probe
    // after a request must not keep its IP, DAD after an NS not its family.
    let used = super::LearnEvent {
        outer_src: [0xee; 16],
        outer_dst: [0xee; 16],
        ip: [0xee; 16],
        vni: u32::MAX,
        mac: [0xee; 6],
        vlan: 0x0eee,
        outer_family: 0xee,
        ip_family: 0xee,
        kind: 0xee,
        direction: 0xee,
    };
    let frames = [
        arp(1, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]),
        arp(1, HOST_MAC, [0, 0, 0, 0], [10, 0, 0, 1]),
        nd(true, V6_HOST, V6_TARGET, None, 255),
        nd(false, V6_TARGET, V6_TARGET, Some(HOST_MAC), 255),
        nd(true, [0; 16], V6_TARGET, None, 255),
    ];
    for frame in frames {
        let fresh = run(&frame).expect("classified");
        let mut reused = used;
        super::classify_into(frame.bytes().as_slice(), &Settings::DEFAULT, direction::INGRESS, &mut reused)
            .expect("classified");
        assert_eq!(reused, fresh, "kind {}", fresh.kind);
    }
}

#[test]
fn nd_with_a_wrong_hop_limit_is_malformed_and_nd_can_be_off() {
    assert_eq!(run(&nd(true, V6_HOST, V6_TARGET, None, 64)), Err(Reject::Malformed));
    let off = Settings { nd: 0, ..Settings::DEFAULT };
    let frame = nd(true, V6_HOST, V6_TARGET, None, 255).bytes();
    assert_eq!(classify(frame.as_slice(), &off, direction::INGRESS), Err(Reject::NotArpNd));
    // ICMPv6 echo inside VXLAN is not ND.
    let mut echo = nd(true, V6_HOST, V6_TARGET, None, 255);
    echo.inner[40] = 128;
    assert_eq!(run(&echo), Err(Reject::NotNd));
}

#[test]
fn tags_ipv6_outside_and_ip_options_are_handled() {
    let mut frame = arp(1, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]);
    frame.inner_vlan = Some(100);
    assert_eq!(run(&frame).map(|e| e.vlan), Ok(100));
    frame.outer_vlan = Some(20);
    assert_eq!(run(&frame).map(|e| e.vlan), Ok(100));
    frame.ip_options = 12;
    assert!(run(&frame).is_ok(), "IPv4 options shift the UDP header");
    let mut v6 = arp(2, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]);
    v6.outer_v6 = true;
    let event = run(&v6).expect("IPv6 outer");
    assert_eq!(event.outer_family, 6);
    assert_eq!(event.outer_src[15], 1);
    let mut big_vni = arp(2, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]);
    big_vni.vni = 16_000_000;
    assert_eq!(run(&big_vni).map(|e| e.vni), Ok(16_000_000));
}

#[test]
fn other_traffic_is_rejected_at_the_first_field_that_says_so() {
    let good = arp(1, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]);
    let mut port = good.clone();
    port.udp_port = 4790;
    assert_eq!(run(&port), Err(Reject::NotVxlanPort));
    let mut flags = good.clone();
    flags.vxlan_flags = 0;
    assert_eq!(run(&flags), Err(Reject::NotVxlan));
    let mut fragment = good.clone();
    fragment.fragment = true;
    assert_eq!(run(&fragment), Err(Reject::Fragment));
    // IPv4 (ICMP) inside VXLAN.
    let icmp = Frame::new(0x0800, vec![0x45; 40]);
    assert_eq!(run(&icmp), Err(Reject::NotArpNd));
    // Plain ARP on the underlay.
    let underlay = arp(1, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]).inner;
    let mut plain = vec![0xff; 6];
    plain.extend_from_slice(&HOST_MAC);
    plain.extend_from_slice(&[0x08, 0x06]);
    plain.extend_from_slice(&underlay);
    assert_eq!(classify(plain.as_slice(), &Settings::DEFAULT, direction::INGRESS), Err(Reject::NotIp));
    // UDP elsewhere: TCP outside is not UDP.
    let mut tcp = good.bytes();
    tcp[14 + 9] = 6;
    assert_eq!(classify(tcp.as_slice(), &Settings::DEFAULT, direction::INGRESS), Err(Reject::NotUdp));
}

#[test]
fn multicast_broadcast_and_zero_sender_macs_are_refused() {
    for mac in [[0xff; 6], [0x01, 0x00, 0x5e, 0, 0, 1], [0; 6]] {
        let result = run(&arp(1, mac, [10, 0, 0, 1], [10, 0, 0, 2]));
        assert_eq!(result, Err(Reject::BadMac));
        assert!(Reject::BadMac.is_parse_error());
    }
    let mut bad_htype = arp(1, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]);
    bad_htype.inner[1] = 6;
    assert_eq!(run(&bad_htype), Err(Reject::Malformed));
}

#[test]
fn every_truncation_is_an_error_and_garbage_never_panics() {
    let frames = [
        arp(1, HOST_MAC, [10, 0, 0, 1], [10, 0, 0, 2]),
        nd(true, V6_HOST, V6_TARGET, Some(HOST_MAC), 255),
        nd(false, V6_HOST, V6_TARGET, Some(HOST_MAC), 255),
    ];
    for frame in &frames {
        let bytes = frame.bytes();
        // ND reads its optional option block only if present, so a frame cut
        // inside that option is still a valid (option-less) NS/NA.
        let needed = if frame.inner_type == 0x86dd { bytes.len() - 8 } else { bytes.len() };
        for len in 0..needed {
            assert!(
                classify(&bytes[..len], &Settings::DEFAULT, direction::INGRESS).is_err(),
                "a {len}-byte prefix classified"
            );
        }
    }
    // A fixed-seed xorshift: the same garbage every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = usize::try_from(state % 200).expect("small");
        let mut bytes = frames[0].bytes();
        bytes.truncate(len.max(14));
        for (i, b) in bytes.iter_mut().enumerate().skip(12) {
            if (state >> (i % 64)).trailing_zeros() >= 2 {
                *b = u8::try_from((state >> (i % 56)) & 0xff).expect("byte");
            }
        }
        let _ = classify(bytes.as_slice(), &Settings::DEFAULT, direction::EGRESS);
    }
}

#[test]
fn counter_indices_are_dense_and_ordered() {
    for (position, counter) in super::Counter::ALL.iter().enumerate() {
        assert_eq!(usize::try_from(counter.index()).ok(), Some(position));
    }
}

#[test]
fn shared_types_have_no_padding() {
    assert_eq!(core::mem::size_of::<Settings>(), 2 + 1 + 1 + 4 + 8);
    assert_eq!(core::mem::size_of::<super::LearnEvent>(), 16 * 3 + 4 + 6 + 2 + 4);
    // The kernel side copies events in 8-byte words.
    assert_eq!(core::mem::align_of::<super::LearnEvent>(), 8);
    assert_eq!(core::mem::size_of::<super::InterfaceCounters>(), 8 * 6);
}

#[test]
fn interface_counters_bump_read_and_add_up() {
    use super::{Counter, InterfaceCounters};
    let mut cpu0 = InterfaceCounters::default();
    cpu0.bump(Counter::Seen);
    cpu0.bump(Counter::Seen);
    cpu0.bump(Counter::ParseErrors);
    let mut cpu1 = InterfaceCounters::default();
    cpu1.bump(Counter::Seen);
    cpu1.bump(Counter::Matched);
    let total = cpu0.plus(&cpu1);
    assert_eq!(total.get(Counter::Seen), 3);
    assert_eq!(total.get(Counter::Matched), 1);
    assert_eq!(total.get(Counter::ParseErrors), 1);
    assert_eq!(total.get(Counter::Ignored), 0);
}

#[test]
fn the_fast_path_only_skips_frames_the_classifier_rejects_cleanly() {
    use super::{FAST_PATH_BYTES, surely_not_ours};
    let settings = Settings::DEFAULT;
    let head =
        |bytes: &[u8]| -> Option<[u8; FAST_PATH_BYTES]> { bytes.get(..FAST_PATH_BYTES)?.try_into().ok() };
    // Ours: never skipped.
    let request = arp(1, [2, 0, 0, 0, 0, 1], [10, 0, 0, 1], [10, 0, 0, 2]).bytes();
    assert!(!surely_not_ours(&head(&request).expect("64 bytes"), &settings));
    // VXLAN with inner IPv4: skipped, and the classifier agrees.
    let mut other = request.clone();
    let inner_type = 14 + 20 + 16 + 12;
    other[inner_type..inner_type + 2].copy_from_slice(&[0x08, 0x00]);
    assert!(surely_not_ours(&head(&other).expect("64 bytes"), &settings));
    assert_eq!(classify(other.as_slice(), &settings, 0).map(|_| ()), Err(Reject::NotArpNd));
    // Another UDP port, and not UDP: skipped.
    let mut port = request.clone();
    port[36..38].copy_from_slice(&53u16.to_be_bytes());
    assert!(surely_not_ours(&head(&port).expect("64 bytes"), &settings));
    let mut tcp = request;
    tcp[23] = 6;
    assert!(surely_not_ours(&head(&tcp).expect("64 bytes"), &settings));
    // ND off: inner IPv6 is skipped; on, it is looked at.
    let mut v6 = other;
    v6[inner_type..inner_type + 2].copy_from_slice(&[0x86, 0xdd]);
    assert!(!surely_not_ours(&head(&v6).expect("64 bytes"), &settings));
    assert!(surely_not_ours(&head(&v6).expect("64 bytes"), &Settings { nd: 0, ..settings }));
}

fn binding(n: u8) -> super::DedupKey {
    super::DedupKey {
        vtep: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1],
        ip: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, n],
        vni: 100,
        mac: [0x02, 0, 0, 0, 0, n],
    }
}

/// A binding's slot and its fingerprint in `epoch`.
fn slot_and_fingerprint(key: &super::DedupKey, epoch: u64) -> (u32, u32) {
    let hash = key.binding_hash();
    (super::DedupKey::slot(hash), key.fingerprint(hash, epoch))
}

const SECOND: u64 = 1_000_000_000;

#[test]
fn a_binding_is_fresh_within_the_window_and_stale_after_it() {
    let (_, fingerprint) = slot_and_fingerprint(&binding(1), 0);
    let sent_at = 7_200 * SECOND;
    let stamp = super::DedupKey::stamp(fingerprint, sent_at);
    assert_ne!(stamp, 0, "a stamp is never an empty slot");
    assert!(super::DedupKey::fresh(stamp, fingerprint, sent_at, 30 * SECOND));
    assert!(super::DedupKey::fresh(stamp, fingerprint, sent_at + 29 * SECOND, 30 * SECOND));
    assert!(!super::DedupKey::fresh(stamp, fingerprint, sent_at + 31 * SECOND, 30 * SECOND));
    // An empty slot and a window under one time unit (2^20 ns) hold nothing back.
    assert!(!super::DedupKey::fresh(0, fingerprint, 0, 30 * SECOND));
    assert!(!super::DedupKey::fresh(stamp, fingerprint, sent_at, 1 << 19));
}

#[test]
fn freshness_survives_the_wrap_of_the_time_units() {
    let (_, fingerprint) = slot_and_fingerprint(&binding(2), 0);
    // The 32-bit time units wrap every 2^52 ns (about 52 days).
    let sent_at = (1_u64 << 52) - SECOND;
    let stamp = super::DedupKey::stamp(fingerprint, sent_at);
    assert!(super::DedupKey::fresh(stamp, fingerprint, sent_at + 10 * SECOND, 30 * SECOND));
    assert!(!super::DedupKey::fresh(stamp, fingerprint, sent_at + 40 * SECOND, 30 * SECOND));
}

#[test]
fn another_binding_in_the_slot_is_not_held_back() {
    let (_, first) = slot_and_fingerprint(&binding(3), 0);
    let (_, second) = slot_and_fingerprint(&binding(4), 0);
    let stamp = super::DedupKey::stamp(first, SECOND);
    assert!(!super::DedupKey::fresh(stamp, second, SECOND, 30 * SECOND));
}

#[test]
fn the_same_host_behind_another_vtep_shares_the_slot_but_not_the_fingerprint() {
    // A MAC moving A -> B -> A: each frame lands in the host's one slot and
    // finds the other VTEP's stamp there, so it goes up (issue 27).
    let at_a = binding(5);
    let mut at_b = at_a;
    at_b.vtep[15] = 2;
    let (slot_a, fingerprint_a) = slot_and_fingerprint(&at_a, 0);
    let (slot_b, fingerprint_b) = slot_and_fingerprint(&at_b, 0);
    assert_eq!(slot_a, slot_b);
    assert_ne!(fingerprint_a, fingerprint_b);
    let b_stamp = super::DedupKey::stamp(fingerprint_b, 5 * SECOND);
    assert!(!super::DedupKey::fresh(b_stamp, fingerprint_a, 6 * SECOND, 100 * SECOND));
    // The host side finds the slot without the VTEP.
    let mut anywhere = at_a;
    anywhere.vtep = [0; 16];
    assert_eq!(super::DedupKey::slot(anywhere.binding_hash()), slot_a);
}

#[test]
fn a_new_epoch_makes_every_stamp_stale() {
    let key = binding(6);
    let (_, before) = slot_and_fingerprint(&key, 0);
    let (_, after) = slot_and_fingerprint(&key, 1);
    let stamp = super::DedupKey::stamp(before, SECOND);
    assert!(super::DedupKey::fresh(stamp, before, 2 * SECOND, 30 * SECOND));
    assert!(!super::DedupKey::fresh(stamp, after, 2 * SECOND, 30 * SECOND));
}

#[test]
fn every_field_of_a_binding_changes_its_fingerprint_and_every_host_field_its_slot() {
    let base = binding(7);
    let mut ip = base;
    ip.ip[0] ^= 0x80;
    let mut vni = base;
    vni.vni ^= 1 << 23;
    let mut mac = base;
    mac.mac[0] ^= 2;
    let mut vtep = base;
    vtep.vtep[15] ^= 1;
    let hosts = [base, ip, vni, mac];
    let slots: Vec<u32> = hosts.iter().map(|k| slot_and_fingerprint(k, 0).0).collect();
    let mut fingerprints: Vec<u32> = hosts.iter().map(|k| slot_and_fingerprint(k, 0).1).collect();
    fingerprints.push(slot_and_fingerprint(&vtep, 0).1);
    fingerprints.push(slot_and_fingerprint(&base, 1).1);
    for i in 0..slots.len() {
        for j in i + 1..slots.len() {
            assert_ne!(slots[i], slots[j], "hosts {i} and {j}");
        }
    }
    for i in 0..fingerprints.len() {
        for j in i + 1..fingerprints.len() {
            assert_ne!(fingerprints[i], fingerprints[j], "variants {i} and {j}");
        }
    }
    assert!(slots.iter().all(|slot| *slot < super::DEDUP_SLOTS));
}

#[test]
fn bindings_spread_over_the_slots() {
    // 65,536 bindings numbered as the benchmarks number them land in at
    // least half of the 65,536 slots (a uniform hash fills about 63%).
    let mut used = vec![false; super::DEDUP_SLOTS as usize];
    for n in 0_u32..65_536 {
        let mut key = binding(0);
        key.ip[12..].copy_from_slice(&(0x0a40_0000 + n).to_be_bytes());
        key.mac[2..].copy_from_slice(&n.to_be_bytes());
        used[slot_and_fingerprint(&key, 0).0 as usize] = true;
    }
    let filled = used.iter().filter(|u| **u).count();
    assert!(filled > 32_768, "{filled} of 65536 slots used");
}
