//! Helpers shared by the codec's integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use bgp_wire::{DecodeCx, EncodeCx, Message};

/// Bytes from hex, ignoring whitespace and `|` separators.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex digit"))
        .collect()
}

/// Lowercase hex of bytes.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Asserts two byte strings are equal, showing both in hex and where they
/// first differ.
pub(crate) fn assert_eq_hex(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let at =
            actual.iter().zip(expected).position(|(a, e)| a != e).unwrap_or(actual.len().min(expected.len()));
        panic!(
            "{what}: bytes differ at offset {at}\n  actual:   {}\n  expected: {}",
            to_hex(actual),
            to_hex(expected)
        );
    }
}

/// Checks a vector in both directions: the bytes decode to the value, and
/// the value encodes to the bytes.
pub(crate) fn check_both_ways(bytes_hex: &str, expected: &Message, what: &str) {
    let bytes = hex(bytes_hex);
    let decoded = Message::decode(&bytes, DecodeCx::default())
        .unwrap_or_else(|error| panic!("{what}: decode failed: {error}"));
    assert_eq!(&decoded, expected, "{what}: decoded value");
    let encoded = expected.to_bytes(EncodeCx::default()).unwrap_or_else(|error| panic!("{what}: {error}"));
    assert_eq_hex(&encoded, &bytes, what);
}
