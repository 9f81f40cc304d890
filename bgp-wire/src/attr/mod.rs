//! Path attributes (RFC 4271 §4.3, §5; RFC 4760; RFC 4456; RFC 4360;
//! RFC 6514 §5) and the RFC 7606 rules for malformed ones.
//!
//! ```text
//! Attribute: Flags (1) | Type (1) | Length (1, or 2 with Extended Length) | Value
//! Flags: 0x80 Optional, 0x40 Transitive, 0x20 Partial, 0x10 Extended Length
//! ```

mod as_path;
mod mp;
mod pmsi;

use std::net::Ipv4Addr;

pub use self::{
    as_path::{AsSegment, AsSegmentType},
    mp::{MpReach, MpUnreach},
    pmsi::{PMSI_INGRESS_REPLICATION, PmsiTunnel, PmsiTunnelId},
};
use self::{
    as_path::{decode_as_path, encode_as_path},
    mp::{decode_mp_reach, decode_mp_unreach},
    pmsi::decode_pmsi,
};

use crate::{
    error::{DecodeError, EncodeError, ErrorKind, Rfc7606Action},
    extcomm::ExtCommunity,
    reader::Reader,
};

/// Attribute type codes.
pub mod code {
    /// ORIGIN.
    pub const ORIGIN: u8 = 1;
    /// `AS_PATH`.
    pub const AS_PATH: u8 = 2;
    /// `NEXT_HOP`.
    pub const NEXT_HOP: u8 = 3;
    /// `MULTI_EXIT_DISC`.
    pub const MED: u8 = 4;
    /// `LOCAL_PREF`.
    pub const LOCAL_PREF: u8 = 5;
    /// `ATOMIC_AGGREGATE`.
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// `ORIGINATOR_ID` (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// `CLUSTER_LIST` (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// `MP_REACH_NLRI` (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// `MP_UNREACH_NLRI` (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// `EXTENDED_COMMUNITIES` (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// `PMSI_TUNNEL` (RFC 6514).
    pub const PMSI_TUNNEL: u8 = 22;
}

/// Attribute flag bits.
pub mod flag {
    /// Optional.
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial.
    pub const PARTIAL: u8 = 0x20;
    /// Extended Length: the length field is 2 bytes.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// ORIGIN values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// 0: learned by an interior protocol.
    Igp,
    /// 1: learned by EGP.
    Egp,
    /// 2: learned some other way.
    Incomplete,
}

/// An attribute kept as received: unknown optional transitive attributes,
/// and known ones we do not interpret (`ATOMIC_AGGREGATE`, `AGGREGATOR`,
/// COMMUNITIES, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Flags as received (the Extended Length bit is recomputed on send).
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// Value.
    pub value: Vec<u8>,
}

/// The path attributes of one UPDATE. `None` means absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    /// `MP_REACH_NLRI`: the routes announced.
    pub mp_reach: Option<MpReach>,
    /// `MP_UNREACH_NLRI`: the routes withdrawn.
    pub mp_unreach: Option<MpUnreach>,
    /// ORIGIN.
    pub origin: Option<Origin>,
    /// `AS_PATH` (empty for routes originated inside the AS).
    pub as_path: Option<Vec<AsSegment>>,
    /// `NEXT_HOP`, for IPv4 unicast NLRI only.
    pub next_hop: Option<Ipv4Addr>,
    /// `MULTI_EXIT_DISC`.
    pub med: Option<u32>,
    /// `LOCAL_PREF`.
    pub local_pref: Option<u32>,
    /// `ORIGINATOR_ID`: set by a route reflector.
    pub originator_id: Option<Ipv4Addr>,
    /// `CLUSTER_LIST`: set by route reflectors.
    pub cluster_list: Option<Vec<Ipv4Addr>>,
    /// `EXTENDED_COMMUNITIES`, in received order.
    pub ext_communities: Option<Vec<ExtCommunity>>,
    /// `PMSI_TUNNEL`.
    pub pmsi_tunnel: Option<PmsiTunnel>,
    /// Everything else we keep: decoded in ascending type order, and sent
    /// in ascending type order whatever order it is in.
    pub other: Vec<RawAttribute>,
}

/// What decoding needs to know about the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeCx {
    /// 4-octet AS numbers were negotiated (RFC 6793): `AS_PATH` uses 4 bytes.
    pub four_octet_as: bool,
    /// The session is iBGP: `LOCAL_PREF` is mandatory.
    pub ibgp: bool,
    /// Extended messages (RFC 8654) were negotiated: up to 65535 bytes.
    pub extended_message: bool,
}

impl Default for DecodeCx {
    fn default() -> Self {
        Self { four_octet_as: true, ibgp: true, extended_message: false }
    }
}

/// What encoding needs to know about the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeCx {
    /// 4-octet AS numbers were negotiated (RFC 6793).
    pub four_octet_as: bool,
    /// Extended messages (RFC 8654) were negotiated.
    pub extended_message: bool,
}

impl Default for EncodeCx {
    fn default() -> Self {
        Self { four_octet_as: true, extended_message: false }
    }
}

impl EncodeCx {
    /// The largest message we may send.
    #[must_use]
    pub const fn max_message_len(&self) -> usize {
        if self.extended_message { 65_535 } else { 4_096 }
    }
}

/// The (Optional, Transitive) flags an attribute must have, if we know it.
fn expected_flags(type_code: u8) -> Option<u8> {
    match type_code {
        code::ORIGIN | code::AS_PATH | code::NEXT_HOP | code::LOCAL_PREF | code::ATOMIC_AGGREGATE => {
            Some(flag::TRANSITIVE)
        }
        code::MED
        | code::ORIGINATOR_ID
        | code::CLUSTER_LIST
        | code::MP_REACH_NLRI
        | code::MP_UNREACH_NLRI => Some(flag::OPTIONAL),
        code::EXTENDED_COMMUNITIES | code::PMSI_TUNNEL => Some(flag::OPTIONAL | flag::TRANSITIVE),
        _ => None,
    }
}

/// The result of decoding the path-attribute section: the attributes, and
/// the non-fatal problems (treat-as-withdraw, attribute-discard) found.
pub(crate) struct DecodedAttributes {
    pub(crate) attributes: PathAttributes,
    pub(crate) problems: Vec<DecodeError>,
}

impl PathAttributes {
    /// Decodes the path-attribute section. Fatal problems are `Err`; the
    /// others come back with the attributes (see [`DecodedAttributes`]).
    pub(crate) fn decode(a: &mut Reader<'_>, cx: DecodeCx) -> Result<DecodedAttributes, DecodeError> {
        let mut attributes = Self::default();
        let mut problems = Vec::new();
        let mut seen = [false; 256];
        while !a.is_empty() {
            let start = a.offset();
            // A header or value that runs past the section means we cannot
            // find the attributes after it. If the MP attributes were already
            // found, their routes can be treated as withdrawn; otherwise they
            // may be among the lost ones, and only a reset is safe (RFC 7606 §4).
            let mp_found = attributes.mp_reach.is_some() || attributes.mp_unreach.is_some();
            let overrun_action =
                if mp_found { Rfc7606Action::TreatAsWithdraw } else { Rfc7606Action::SessionReset };
            if a.remaining() < 3 {
                let error =
                    DecodeError::new(start, ErrorKind::MalformedAttributeList).with_action(overrun_action);
                return finish_with_overrun(attributes, problems, error);
            }
            let flags = a.u8(ErrorKind::Truncated)?;
            let type_code = a.u8(ErrorKind::Truncated)?;
            let length = if flags & flag::EXTENDED_LENGTH != 0 {
                let Ok(length) = a.u16(ErrorKind::Truncated) else {
                    let error = DecodeError::new(start, ErrorKind::MalformedAttributeList)
                        .with_action(overrun_action);
                    return finish_with_overrun(attributes, problems, error);
                };
                length
            } else {
                u16::from(a.u8(ErrorKind::Truncated)?)
            };
            let header_len = a.offset() - start;
            if usize::from(length) > a.remaining() {
                let error = DecodeError::new(start, ErrorKind::AttributeLength { type_code, length })
                    .with_action(overrun_action);
                return finish_with_overrun(attributes, problems, error);
            }
            let mut v = a.sub(usize::from(length), ErrorKind::Truncated)?;
            let value_bytes = v.clone().rest();
            // NOTIFICATION data for attribute errors: the whole attribute.
            let whole = || {
                let mut data = Vec::with_capacity(header_len + usize::from(length));
                data.push(flags);
                data.push(type_code);
                if header_len == 4 {
                    data.extend_from_slice(&length.to_be_bytes());
                } else {
                    data.push(length.to_be_bytes()[1]);
                }
                data.extend_from_slice(value_bytes);
                data
            };

            if seen[usize::from(type_code)] {
                if type_code == code::MP_REACH_NLRI || type_code == code::MP_UNREACH_NLRI {
                    // RFC 7606 §3.g: a repeated MP attribute resets the session.
                    return Err(DecodeError::new(start, ErrorKind::MalformedAttributeList));
                }
                problems.push(DecodeError::new(start, ErrorKind::DuplicateAttribute { type_code }));
                continue;
            }
            seen[usize::from(type_code)] = true;

            if let Some(expected) = expected_flags(type_code)
                && flags & (flag::OPTIONAL | flag::TRANSITIVE) != expected
            {
                // RFC 7606 §3.c: treat-as-withdraw; keep decoding the value so
                // the routes it carries are known.
                problems.push(
                    DecodeError::new(start, ErrorKind::AttributeFlags { type_code, flags })
                        .with_data(whole()),
                );
            }

            let result = attributes.decode_one(flags, type_code, length, &mut v, cx, start);
            if let Err(error) = result {
                let error = if error.data.is_empty() { error.with_data(whole()) } else { error };
                if error.action == Rfc7606Action::SessionReset {
                    return Err(error);
                }
                problems.push(error);
            }
        }
        // Kept in type order, the order they are sent in, so that a decoded
        // value equals its re-encoding decoded again. Type codes are unique:
        // repeats were discarded above.
        attributes.other.sort_by_key(|attribute| attribute.type_code);
        Ok(DecodedAttributes { attributes, problems })
    }

    fn decode_one(
        &mut self,
        flags: u8,
        type_code: u8,
        length: u16,
        v: &mut Reader<'_>,
        cx: DecodeCx,
        start: usize,
    ) -> Result<(), DecodeError> {
        let bad_length = || DecodeError::new(start, ErrorKind::AttributeLength { type_code, length });
        let fixed = |n: u16| if length == n { Ok(()) } else { Err(bad_length()) };
        match type_code {
            code::ORIGIN => {
                fixed(1)?;
                let value = v.u8(ErrorKind::Truncated)?;
                self.origin = Some(match value {
                    0 => Origin::Igp,
                    1 => Origin::Egp,
                    2 => Origin::Incomplete,
                    _ => return Err(DecodeError::new(start, ErrorKind::InvalidOrigin { value })),
                });
            }
            code::AS_PATH => self.as_path = Some(decode_as_path(v, cx.four_octet_as, start)?),
            code::NEXT_HOP => {
                fixed(4)?;
                self.next_hop = Some(Ipv4Addr::from(v.array::<4>(ErrorKind::Truncated)?));
            }
            code::MED => {
                fixed(4)?;
                self.med = Some(v.u32(ErrorKind::Truncated)?);
            }
            code::LOCAL_PREF => {
                fixed(4)?;
                self.local_pref = Some(v.u32(ErrorKind::Truncated)?);
            }
            code::ORIGINATOR_ID => {
                fixed(4)?;
                self.originator_id = Some(Ipv4Addr::from(v.array::<4>(ErrorKind::Truncated)?));
            }
            code::CLUSTER_LIST => {
                if length == 0 || !length.is_multiple_of(4) {
                    return Err(bad_length());
                }
                let mut list = Vec::with_capacity(usize::from(length / 4));
                while !v.is_empty() {
                    list.push(Ipv4Addr::from(v.array::<4>(ErrorKind::Truncated)?));
                }
                self.cluster_list = Some(list);
            }
            code::EXTENDED_COMMUNITIES => {
                // RFC 7606 §7.14: not a non-zero multiple of 8 is treat-as-withdraw.
                if length == 0 || !length.is_multiple_of(8) {
                    return Err(DecodeError::new(
                        start,
                        ErrorKind::OptionalAttribute {
                            type_code,
                            reason: "length is not a non-zero multiple of 8",
                        },
                    ));
                }
                let mut list = Vec::with_capacity(usize::from(length / 8));
                while !v.is_empty() {
                    list.push(ExtCommunity::from_bytes(v.array(ErrorKind::Truncated)?));
                }
                self.ext_communities = Some(list);
            }
            code::PMSI_TUNNEL => self.pmsi_tunnel = Some(decode_pmsi(v, start)?),
            code::MP_REACH_NLRI => self.mp_reach = Some(decode_mp_reach(v, start)?),
            code::MP_UNREACH_NLRI => self.mp_unreach = Some(decode_mp_unreach(v, start)?),
            _ => {
                if flags & flag::OPTIONAL == 0 && type_code != code::ATOMIC_AGGREGATE {
                    // RFC 4271 §6.3: an unrecognized well-known attribute.
                    return Err(DecodeError::new(start, ErrorKind::UnrecognizedWellKnown { type_code }));
                }
                if type_code == code::ATOMIC_AGGREGATE && length != 0 {
                    // RFC 7606 §7.6: attribute discard.
                    return Err(bad_length().with_action(Rfc7606Action::AttributeDiscard));
                }
                // Unknown optional non-transitive attributes are dropped
                // quietly (RFC 4271 §5); everything else is kept.
                if flags & flag::OPTIONAL == 0 || flags & flag::TRANSITIVE != 0 {
                    self.other.push(RawAttribute {
                        flags: flags & !flag::EXTENDED_LENGTH,
                        type_code,
                        value: v.rest().to_vec(),
                    });
                }
            }
        }
        Ok(())
    }

    /// True if the attributes announce routes (`MP_REACH_NLRI` with routes).
    #[must_use]
    pub fn announces(&self) -> bool {
        match &self.mp_reach {
            Some(MpReach::Evpn { routes, .. }) => !routes.is_empty(),
            Some(MpReach::Other { nlri, .. }) => !nlri.is_empty(),
            None => false,
        }
    }

    /// Appends every attribute: the MP ones first (RFC 7606 §5.1), then the
    /// rest in ascending type order (RFC 4271 §5), raw ones merged in.
    pub fn encode(&self, out: &mut Vec<u8>, cx: EncodeCx) -> Result<(), EncodeError> {
        if let Some(mp) = &self.mp_reach {
            mp.encode(out)?;
        }
        if let Some(mp) = &self.mp_unreach {
            mp.encode(out)?;
        }
        let mut raw = self.other.iter().collect::<Vec<_>>();
        raw.sort_by_key(|attribute| attribute.type_code);
        let mut raw = raw.into_iter().peekable();
        for type_code in [
            code::ORIGIN,
            code::AS_PATH,
            code::NEXT_HOP,
            code::MED,
            code::LOCAL_PREF,
            code::ORIGINATOR_ID,
            code::CLUSTER_LIST,
            code::EXTENDED_COMMUNITIES,
            code::PMSI_TUNNEL,
        ] {
            while let Some(attribute) = raw.next_if(|attribute| attribute.type_code < type_code) {
                attribute.encode(out)?;
            }
            self.encode_typed(type_code, out, cx)?;
        }
        for attribute in raw {
            attribute.encode(out)?;
        }
        Ok(())
    }

    /// Appends the typed attribute `type_code`, if present.
    fn encode_typed(&self, type_code: u8, out: &mut Vec<u8>, cx: EncodeCx) -> Result<(), EncodeError> {
        match type_code {
            code::ORIGIN => {
                if let Some(origin) = self.origin {
                    put_header(out, flag::TRANSITIVE, code::ORIGIN, 1);
                    out.push(match origin {
                        Origin::Igp => 0,
                        Origin::Egp => 1,
                        Origin::Incomplete => 2,
                    });
                }
            }
            code::AS_PATH => {
                if let Some(segments) = &self.as_path {
                    let width = if cx.four_octet_as { 4 } else { 2 };
                    let len: usize = segments.iter().map(|s| 2 + width * s.asns.len()).sum();
                    if len > usize::from(u16::MAX) {
                        return Err(EncodeError::TooLong { what: "AS_PATH", len });
                    }
                    put_header(out, flag::TRANSITIVE, code::AS_PATH, len);
                    encode_as_path(segments, cx.four_octet_as, out)?;
                }
            }
            code::NEXT_HOP => {
                if let Some(next_hop) = self.next_hop {
                    put_header(out, flag::TRANSITIVE, code::NEXT_HOP, 4);
                    out.extend_from_slice(&next_hop.octets());
                }
            }
            code::MED => {
                if let Some(med) = self.med {
                    put_header(out, flag::OPTIONAL, code::MED, 4);
                    out.extend_from_slice(&med.to_be_bytes());
                }
            }
            code::LOCAL_PREF => {
                if let Some(local_pref) = self.local_pref {
                    put_header(out, flag::TRANSITIVE, code::LOCAL_PREF, 4);
                    out.extend_from_slice(&local_pref.to_be_bytes());
                }
            }
            code::ORIGINATOR_ID => {
                if let Some(originator_id) = self.originator_id {
                    put_header(out, flag::OPTIONAL, code::ORIGINATOR_ID, 4);
                    out.extend_from_slice(&originator_id.octets());
                }
            }
            code::CLUSTER_LIST => {
                if let Some(list) = &self.cluster_list {
                    let len = 4 * list.len();
                    if len > usize::from(u16::MAX) {
                        return Err(EncodeError::TooLong { what: "CLUSTER_LIST", len });
                    }
                    put_header(out, flag::OPTIONAL, code::CLUSTER_LIST, len);
                    for id in list {
                        out.extend_from_slice(&id.octets());
                    }
                }
            }
            code::EXTENDED_COMMUNITIES => {
                if let Some(list) = &self.ext_communities {
                    let len = 8 * list.len();
                    if len > usize::from(u16::MAX) {
                        return Err(EncodeError::TooLong { what: "EXTENDED_COMMUNITIES", len });
                    }
                    put_header(out, flag::OPTIONAL | flag::TRANSITIVE, code::EXTENDED_COMMUNITIES, len);
                    for community in list {
                        out.extend_from_slice(&community.to_bytes());
                    }
                }
            }
            code::PMSI_TUNNEL => {
                if let Some(pmsi) = &self.pmsi_tunnel {
                    pmsi.encode(out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// On an overrun, treat-as-withdraw keeps what was decoded before it;
/// session reset ends decoding.
fn finish_with_overrun(
    mut attributes: PathAttributes,
    mut problems: Vec<DecodeError>,
    error: DecodeError,
) -> Result<DecodedAttributes, DecodeError> {
    if error.action == Rfc7606Action::SessionReset {
        return Err(error);
    }
    attributes.other.sort_by_key(|attribute| attribute.type_code);
    problems.push(error);
    Ok(DecodedAttributes { attributes, problems })
}

/// Writes an attribute header, with the Extended Length flag only when the
/// value needs it. The MP attributes use [`LengthPrefix`] instead.
fn put_header(out: &mut Vec<u8>, flags: u8, type_code: u8, len: usize) {
    if let Ok(len) = u8::try_from(len) {
        out.extend_from_slice(&[flags, type_code, len]);
    } else {
        // Callers check `len` against u16 first.
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        out.extend_from_slice(&[flags | flag::EXTENDED_LENGTH, type_code]);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

impl RawAttribute {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.value.len() > usize::from(u16::MAX) {
            return Err(EncodeError::TooLong { what: "path attribute", len: self.value.len() });
        }
        put_header(out, self.flags & !flag::EXTENDED_LENGTH, self.type_code, self.value.len());
        out.extend_from_slice(&self.value);
        Ok(())
    }
}
