//! Any bytes as a BGP message: see `bgp_wire::properties::message_round_trip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| bgp_wire::properties::message_round_trip(input));
