//! Any bytes as EVPN NLRI: see `bgp_wire::properties::nlri_round_trip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| bgp_wire::properties::nlri_round_trip(input));
