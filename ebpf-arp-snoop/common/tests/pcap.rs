//! The classifier over real captures (tests/fixtures, see its README):
//! every binding in them is found, nothing else matches, nothing is a parse
//! error, and no truncation of any captured frame makes it panic.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{fs, net::IpAddr, path::Path};

use arp_snoop_common::{Kind, LearnEvent, Reject, Settings, classify, direction};

/// The frames of a classic pcap file (Ethernet link type).
fn frames(name: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let u32_at = |at: usize, swap: bool| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
        if swap { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
    };
    let magic = u32_at(0, false);
    let swap = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => false,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
        other => panic!("{name}: not a pcap file (magic {other:#x})"),
    };
    assert_eq!(u32_at(20, swap), 1, "{name}: link type must be Ethernet");
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = usize::try_from(u32_at(at + 8, swap)).expect("length");
        frames.push(bytes[at + 16..at + 16 + len].to_vec());
        at += 16 + len;
    }
    frames
}

fn results(name: &str) -> Vec<Result<LearnEvent, Reject>> {
    frames(name).iter().map(|f| classify(f.as_slice(), &Settings::DEFAULT, direction::INGRESS)).collect()
}

fn matches(name: &str) -> Vec<LearnEvent> {
    results(name).into_iter().filter_map(Result::ok).collect()
}

fn mac(last: [u8; 2]) -> [u8; 6] {
    [0x02, 0, 0, 0, last[0], last[1]]
}

fn ip(event: &LearnEvent) -> Option<IpAddr> {
    let v6 = std::net::Ipv6Addr::from(event.ip);
    match event.ip_family {
        4 => v6.to_ipv4_mapped().map(IpAddr::V4),
        6 => Some(IpAddr::V6(v6)),
        _ => None,
    }
}

/// Asserts a capture holds exactly these bindings: (kind, MAC, IP, VNI).
fn expect(name: &str, wanted: &[(Kind, [u8; 6], Option<&str>, u32)]) {
    let found: Vec<_> =
        matches(name).iter().map(|e| (Kind::from_u8(e.kind).expect("kind"), e.mac, ip(e), e.vni)).collect();
    let wanted: Vec<_> =
        wanted.iter().map(|(k, m, i, v)| (*k, *m, i.map(|i| i.parse::<IpAddr>().expect("ip")), *v)).collect();
    assert_eq!(found, wanted, "{name}");
}

const FIXTURES: [&str; 7] = [
    "arp-request-reply.pcap",
    "arp-gratuitous.pcap",
    "arp-probe.pcap",
    "nd-ns-na.pcap",
    "nd-dad.pcap",
    "ipv6-underlay-arp.pcap",
    "icmp-only.pcap",
];

#[test]
fn arp_in_captures() {
    expect(
        "arp-request-reply.pcap",
        &[
            (Kind::ArpRequest, mac([0x0a, 1]), Some("10.10.0.1"), 10100),
            (Kind::ArpReply, mac([0x0a, 2]), Some("10.10.0.2"), 10100),
        ],
    );
    expect("arp-gratuitous.pcap", &[(Kind::ArpGratuitous, mac([0x0a, 1]), Some("10.10.0.1"), 10100)]);
    // The owner of 10.10.0.2 answers the probe: that is how ARP DAD works.
    expect(
        "arp-probe.pcap",
        &[
            (Kind::ArpProbe, mac([0x0a, 1]), None, 10100),
            (Kind::ArpReply, mac([0x0a, 2]), Some("10.10.0.2"), 10100),
        ],
    );
    let v6_underlay = matches("ipv6-underlay-arp.pcap");
    assert!(
        v6_underlay.iter().any(|e| e.outer_family == 6
            && e.vni == 20200
            && e.mac == mac([0x14, 1])
            && Kind::from_u8(e.kind) == Some(Kind::ArpRequest)),
        "{v6_underlay:?}"
    );
}

#[test]
fn nd_in_captures() {
    expect(
        "nd-ns-na.pcap",
        &[
            (Kind::NdSolicitation, mac([0x0a, 1]), Some("2001:db8:10::1"), 10100),
            (Kind::NdAdvertisement, mac([0x0a, 2]), Some("2001:db8:10::2"), 10100),
        ],
    );
    let dad = matches("nd-dad.pcap");
    assert!(
        dad.iter().any(|e| Kind::from_u8(e.kind) == Some(Kind::NdDad) && e.mac == mac([0x0a, 1])),
        "{dad:?}"
    );
    assert!(dad.iter().all(|e| e.ip_family == 0 || Kind::from_u8(e.kind) != Some(Kind::NdDad)));
}

#[test]
fn icmp_and_underlay_traffic_never_match() {
    let results = results("icmp-only.pcap");
    assert!(results.iter().all(Result::is_err), "{results:?}");
    assert!(results.contains(&Err(Reject::NotArpNd)), "ICMP inside VXLAN is in the capture");
    assert!(results.contains(&Err(Reject::NotIp)), "underlay ARP is in the capture");
}

#[test]
fn real_traffic_has_no_parse_errors_and_no_truncation_panics() {
    for name in FIXTURES {
        for frame in frames(name) {
            let whole = classify(frame.as_slice(), &Settings::DEFAULT, direction::INGRESS);
            assert!(!whole.is_err_and(Reject::is_parse_error), "{name}: {whole:?}");
            for len in 0..frame.len() {
                let _ = classify(&frame[..len], &Settings::DEFAULT, direction::INGRESS);
            }
        }
    }
}
