//! `MP_REACH_NLRI` and `MP_UNREACH_NLRI` (RFC 4760), for L2VPN/EVPN
//! (RFC 7432) and as raw bytes for anything else.

use std::net::{IpAddr, Ipv6Addr};

use super::{code, flag};
use crate::{
    error::{DecodeError, EncodeError, ErrorKind, Rfc7606Action},
    evpn::{EvpnRoute, encode_ip},
    reader::{LengthPrefix, Reader},
    types::{AFI_L2VPN, SAFI_EVPN},
};

/// `MP_REACH_NLRI` (RFC 4760 §3).
///
/// ```text
/// AFI (2) | SAFI (1) | Next Hop Len (1) | Next Hop | Reserved (1) | NLRI
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MpReach {
    /// L2VPN/EVPN.
    Evpn {
        /// The next hop: the VTEP (4 or 16 bytes on the wire).
        next_hop: IpAddr,
        /// With a 32-byte IPv6 next hop, the link-local half.
        link_local: Option<Ipv6Addr>,
        /// The routes.
        routes: Vec<EvpnRoute>,
    },
    /// A family we do not decode, kept as received.
    Other {
        /// AFI.
        afi: u16,
        /// SAFI.
        safi: u8,
        /// Next hop bytes.
        next_hop: Vec<u8>,
        /// NLRI bytes.
        nlri: Vec<u8>,
    },
}

/// `MP_UNREACH_NLRI` (RFC 4760 §4): `AFI (2) | SAFI (1) | Withdrawn NLRI`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MpUnreach {
    /// L2VPN/EVPN; no routes is the End-of-RIB marker.
    Evpn {
        /// The withdrawn routes.
        routes: Vec<EvpnRoute>,
    },
    /// A family we do not decode, kept as received.
    Other {
        /// AFI.
        afi: u16,
        /// SAFI.
        safi: u8,
        /// NLRI bytes.
        nlri: Vec<u8>,
    },
}

pub(super) fn decode_mp_reach(v: &mut Reader<'_>, start: usize) -> Result<MpReach, DecodeError> {
    // Without a consistent AFI/SAFI/next hop the NLRI cannot be located, so
    // every structural error here resets the session (RFC 7606 §7.11).
    let malformed = |reason| {
        DecodeError::new(start, ErrorKind::OptionalAttribute { type_code: code::MP_REACH_NLRI, reason })
            .with_action(Rfc7606Action::SessionReset)
    };
    let afi = v.u16(ErrorKind::Truncated).map_err(|_| malformed("shorter than its fixed fields"))?;
    let safi = v.u8(ErrorKind::Truncated).map_err(|_| malformed("shorter than its fixed fields"))?;
    let nh_len = v.u8(ErrorKind::Truncated).map_err(|_| malformed("shorter than its fixed fields"))?;
    let nh = v
        .take(usize::from(nh_len), ErrorKind::Truncated)
        .map_err(|_| malformed("next hop runs past the end"))?;
    // Reserved (formerly the SNPA count): ignored on receipt.
    v.u8(ErrorKind::Truncated).map_err(|_| malformed("no reserved byte"))?;
    if afi != AFI_L2VPN || safi != SAFI_EVPN {
        return Ok(MpReach::Other { afi, safi, next_hop: nh.to_vec(), nlri: v.rest().to_vec() });
    }
    let (next_hop, link_local) = match nh.len() {
        4 => (IpAddr::from(<[u8; 4]>::try_from(nh).map_err(|_| malformed("bad next hop"))?), None),
        16 => (IpAddr::from(<[u8; 16]>::try_from(nh).map_err(|_| malformed("bad next hop"))?), None),
        32 => {
            let global = <[u8; 16]>::try_from(&nh[..16]).map_err(|_| malformed("bad next hop"))?;
            let local = <[u8; 16]>::try_from(&nh[16..]).map_err(|_| malformed("bad next hop"))?;
            (IpAddr::from(global), Some(Ipv6Addr::from(local)))
        }
        _ => return Err(malformed("EVPN next hop length is not 4, 16 or 32")),
    };
    let routes = EvpnRoute::decode_all(v)?;
    Ok(MpReach::Evpn { next_hop, link_local, routes })
}

pub(super) fn decode_mp_unreach(v: &mut Reader<'_>, start: usize) -> Result<MpUnreach, DecodeError> {
    let malformed = || {
        DecodeError::new(
            start,
            ErrorKind::OptionalAttribute { type_code: code::MP_UNREACH_NLRI, reason: "shorter than 3 bytes" },
        )
        .with_action(Rfc7606Action::SessionReset)
    };
    let afi = v.u16(ErrorKind::Truncated).map_err(|_| malformed())?;
    let safi = v.u8(ErrorKind::Truncated).map_err(|_| malformed())?;
    if afi != AFI_L2VPN || safi != SAFI_EVPN {
        return Ok(MpUnreach::Other { afi, safi, nlri: v.rest().to_vec() });
    }
    Ok(MpUnreach::Evpn { routes: EvpnRoute::decode_all(v)? })
}

impl MpReach {
    /// Appends the attribute. It always uses the Extended Length form, which
    /// GoBGP and FRR accept even when short, so its size can grow freely.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&[flag::OPTIONAL | flag::EXTENDED_LENGTH, code::MP_REACH_NLRI]);
        let length = LengthPrefix::start(out, 2);
        match self {
            Self::Evpn { next_hop, link_local, routes } => {
                out.extend_from_slice(&AFI_L2VPN.to_be_bytes());
                out.push(SAFI_EVPN);
                let nh_len = match (next_hop, link_local) {
                    (IpAddr::V4(_), _) => 4,
                    (IpAddr::V6(_), None) => 16,
                    (IpAddr::V6(_), Some(_)) => 32,
                };
                out.push(nh_len);
                encode_ip(*next_hop, out);
                if let (IpAddr::V6(_), Some(local)) = (next_hop, link_local) {
                    out.extend_from_slice(&local.octets());
                }
                out.push(0);
                for route in routes {
                    route.encode(out)?;
                }
            }
            Self::Other { afi, safi, next_hop, nlri } => {
                out.extend_from_slice(&afi.to_be_bytes());
                out.push(*safi);
                let nh_len = u8::try_from(next_hop.len())
                    .map_err(|_| EncodeError::TooLong { what: "MP_REACH next hop", len: next_hop.len() })?;
                out.push(nh_len);
                out.extend_from_slice(next_hop);
                out.push(0);
                out.extend_from_slice(nlri);
            }
        }
        length.finish(out, "MP_REACH_NLRI")
    }
}

impl MpUnreach {
    /// Appends the attribute, in the Extended Length form.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&[flag::OPTIONAL | flag::EXTENDED_LENGTH, code::MP_UNREACH_NLRI]);
        let length = LengthPrefix::start(out, 2);
        match self {
            Self::Evpn { routes } => {
                out.extend_from_slice(&AFI_L2VPN.to_be_bytes());
                out.push(SAFI_EVPN);
                for route in routes {
                    route.encode(out)?;
                }
            }
            Self::Other { afi, safi, nlri } => {
                out.extend_from_slice(&afi.to_be_bytes());
                out.push(*safi);
                out.extend_from_slice(nlri);
            }
        }
        length.finish(out, "MP_UNREACH_NLRI")
    }
}
