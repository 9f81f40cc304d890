//! Any bytes as a frame for the ARP/ND-in-VXLAN classifier the eBPF program
//! runs (the same code, from arp-snoop-common): it must never panic, and
//! whatever it accepts must be learnable (a 24-bit VNI, a unicast non-zero
//! MAC, a known event kind and address family).
#![no_main]

use arp_snoop_common::{Kind, Settings, classify};

libfuzzer_sys::fuzz_target!(|frame: &[u8]| {
    for nd in [0, 1] {
        let settings = Settings { nd, ..Settings::DEFAULT };
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
