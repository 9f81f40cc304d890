//! Any bytes as a frame for the ARP/ND-in-VXLAN classifier the eBPF program
//! runs (the same code, from arp-snoop-common): it must never panic, and
//! whatever it accepts must be learnable (a 24-bit VNI, a unicast non-zero
//! MAC, a known event kind and address family). The kernel side's one-read
//! fast path may only skip frames the classifier rejects without a parse
//! error.
#![no_main]

use arp_snoop_common::{FAST_PATH_BYTES, Kind, Settings, classify, surely_not_ours};

libfuzzer_sys::fuzz_target!(|frame: &[u8]| {
    for nd in [0, 1] {
        let settings = Settings { nd, ..Settings::DEFAULT };
        if let Some(head) = frame.get(..FAST_PATH_BYTES).and_then(|h| <&[u8; FAST_PATH_BYTES]>::try_from(h).ok())
            && surely_not_ours(head, &settings)
        {
            let verdict = classify(frame, &settings, 0);
            assert!(
                verdict.is_err_and(|reject| !reject.is_parse_error()),
                "the fast path skipped a frame the classifier gives {verdict:?}"
            );
        }
        if let Ok(event) = classify(frame, &settings, 0) {
            assert!(event.vni < 1 << 24, "VNI {} does not fit 24 bits", event.vni);
            assert!(event.mac[0] & 1 == 0 && event.mac != [0; 6], "learned a non-host MAC {:?}", event.mac);
            assert!(matches!(event.outer_family, 4 | 6), "outer family {}", event.outer_family);
            assert!(matches!(event.ip_family, 0 | 4 | 6), "ip family {}", event.ip_family);
            let kind = Kind::from_u8(event.kind).expect("a known event kind");
            let arp = matches!(kind, Kind::ArpRequest | Kind::ArpReply | Kind::ArpGratuitous | Kind::ArpProbe);
            assert!(nd == 1 || arp, "ND learned with ND off: {kind:?}");
        }
    }
});
