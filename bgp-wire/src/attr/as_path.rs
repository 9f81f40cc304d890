//! `AS_PATH` (RFC 4271 §4.3, with 4-octet AS numbers per RFC 6793).

use crate::{
    error::{DecodeError, EncodeError, ErrorKind},
    reader::Reader,
};

/// `AS_PATH` segment types (RFC 4271, RFC 5065).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsSegmentType {
    /// 1.
    Set,
    /// 2.
    Sequence,
    /// 3.
    ConfedSequence,
    /// 4.
    ConfedSet,
}

/// One `AS_PATH` segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AsSegment {
    /// Set or sequence.
    pub kind: AsSegmentType,
    /// The AS numbers (4-octet; 2-octet ones are widened).
    pub asns: Vec<u32>,
}

pub(super) fn decode_as_path(
    v: &mut Reader<'_>,
    four_octet: bool,
    start: usize,
) -> Result<Vec<AsSegment>, DecodeError> {
    let malformed = || DecodeError::new(start, ErrorKind::MalformedAsPath);
    let mut segments = Vec::new();
    while !v.is_empty() {
        let kind = match v.u8(ErrorKind::MalformedAsPath)? {
            1 => AsSegmentType::Set,
            2 => AsSegmentType::Sequence,
            3 => AsSegmentType::ConfedSequence,
            4 => AsSegmentType::ConfedSet,
            _ => return Err(malformed()),
        };
        let count = v.u8(ErrorKind::MalformedAsPath)?;
        // RFC 7606 §7.2: a zero-length segment is malformed.
        if count == 0 {
            return Err(malformed());
        }
        let mut asns = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let asn = if four_octet {
                v.u32(ErrorKind::MalformedAsPath)
            } else {
                v.u16(ErrorKind::MalformedAsPath).map(u32::from)
            };
            asns.push(asn.map_err(|_| malformed())?);
        }
        segments.push(AsSegment { kind, asns });
    }
    Ok(segments)
}

pub(super) fn encode_as_path(
    segments: &[AsSegment],
    four_octet: bool,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    for segment in segments {
        out.push(match segment.kind {
            AsSegmentType::Set => 1,
            AsSegmentType::Sequence => 2,
            AsSegmentType::ConfedSequence => 3,
            AsSegmentType::ConfedSet => 4,
        });
        let count = u8::try_from(segment.asns.len())
            .map_err(|_| EncodeError::TooLong { what: "AS_PATH segment", len: segment.asns.len() })?;
        out.push(count);
        for &asn in &segment.asns {
            if four_octet {
                out.extend_from_slice(&asn.to_be_bytes());
            } else {
                // AS_TRANS (RFC 6793) stands in for ASNs that need 4 octets.
                out.extend_from_slice(&u16::try_from(asn).unwrap_or(23_456).to_be_bytes());
            }
        }
    }
    Ok(())
}
