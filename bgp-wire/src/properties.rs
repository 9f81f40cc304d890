//! The properties the fuzz targets check, here so that the fuzz targets and
//! the regression test that replays their crashers run the same code.
//! Each function panics when its property does not hold.

use crate::{DecodeCx, EncodeCx, EncodeError, EvpnRoute, Message};

/// Any bytes: decoding never panics. What decodes cleanly re-encodes, and
/// the re-encoding decodes to the same message. The first byte of `input`
/// picks the negotiated context.
pub fn message_round_trip(input: &[u8]) {
    let Some((&knobs, bytes)) = input.split_first() else { return };
    let decode_cx =
        DecodeCx { four_octet_as: knobs & 1 == 0, ibgp: knobs & 2 == 0, extended_message: knobs & 4 != 0 };
    let encode_cx = EncodeCx { four_octet_as: decode_cx.four_octet_as, extended_message: true };
    let Ok(message) = Message::decode(bytes, decode_cx) else { return };
    if let Message::Update(update) = &message
        && !update.problems.is_empty()
    {
        // A malformed UPDATE is not re-encoded as received: its flags and
        // attributes are normalized, so there is nothing to compare.
        return;
    }
    let again = match message.to_bytes(encode_cx) {
        Ok(again) => again,
        // Re-encoding normalizes (one capabilities parameter instead of
        // RFC 9072's extended ones, Extended Length MP attributes), which can
        // grow a message past its limit. Size is the only acceptable failure.
        Err(EncodeError::TooLong { .. }) => return,
    };
    let redecoded = Message::decode(&again, DecodeCx { extended_message: true, ..decode_cx })
        .unwrap_or_else(|error| panic!("our own encoding does not decode: {error}"));
    assert_eq!(redecoded, message, "decode(encode(decode(input))) differs from decode(input)");
}

/// Any bytes as EVPN NLRI: decoding never panics, and whatever decodes
/// re-encodes to exactly the input bytes.
pub fn nlri_round_trip(nlri: &[u8]) {
    let Ok(routes) = EvpnRoute::decode_nlri(nlri) else { return };
    let mut out = Vec::with_capacity(nlri.len());
    for route in &routes {
        route.encode(&mut out).unwrap_or_else(|error| panic!("a decoded route does not re-encode: {error}"));
    }
    assert_eq!(out, nlri, "decoded NLRI re-encode to other bytes");
}
