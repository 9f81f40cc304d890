//! Small value types shared by NLRI and attributes.

use std::{fmt, net::Ipv4Addr, str::FromStr};

use crate::{
    error::{DecodeError, ErrorKind},
    reader::Reader,
};

/// Address family identifier for L2VPN (RFC 4761).
pub const AFI_L2VPN: u16 = 25;
/// Subsequent address family identifier for EVPN (RFC 7432).
pub const SAFI_EVPN: u8 = 70;
/// AFI for IPv4.
pub const AFI_IPV4: u16 = 1;
/// SAFI for unicast.
pub const SAFI_UNICAST: u8 = 1;

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// True for group (multicast and broadcast) addresses.
    #[must_use]
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// True for 00:00:00:00:00:00.
    #[must_use]
    pub fn is_zero(self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [b0, b1, b2, b3, b4, b5] = self.0;
        write!(f, "{b0:02x}:{b1:02x}:{b2:02x}:{b3:02x}:{b4:02x}:{b5:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A MAC address could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex pairs separated by ':' or '-'")]
pub struct ParseMacError(pub String);

impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseMacError(s.to_owned());
        let mut out = [0; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(error)?;
            if part.len() != 2 {
                return Err(error());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| error())?;
        }
        if parts.next().is_some() {
            return Err(error());
        }
        Ok(Self(out))
    }
}

/// A 3-byte label field. For VXLAN it carries the VNI as the whole 24-bit
/// value (RFC 8365 §5.1.3), not shifted as an MPLS label would be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Label(u32);

impl Label {
    /// The largest value a 3-byte field holds.
    pub const MAX: u32 = 0x00ff_ffff;

    /// A label with this 24-bit value, or `None` if it does not fit.
    #[must_use]
    pub const fn new(value: u32) -> Option<Self> {
        if value <= Self::MAX { Some(Self(value)) } else { None }
    }

    /// The 24-bit value (the VNI, for VXLAN).
    #[must_use]
    pub const fn value(self) -> u32 {
        self.0
    }

    pub(crate) fn decode(r: &mut Reader<'_>, short: ErrorKind) -> Result<Self, DecodeError> {
        r.u24(short).map(Self)
    }

    pub(crate) fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes()[1..]);
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An Ethernet Segment Identifier (RFC 7432 §5): all zero when single-homed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Esi(pub [u8; 10]);

impl Esi {
    /// The single-homed ESI.
    pub const ZERO: Self = Self([0; 10]);
}

impl fmt::Debug for Esi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ZERO {
            return f.write_str("single-homed");
        }
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// A route distinguisher (RFC 4364 §4.2).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteDistinguisher {
    /// Type 0: 2-byte AS and 4-byte number.
    As2 {
        /// The AS.
        asn: u16,
        /// The assigned number.
        number: u32,
    },
    /// Type 1: IPv4 address and 2-byte number; EVPN's usual `<VTEP IP>:<EVI>`.
    Ipv4 {
        /// The address.
        addr: Ipv4Addr,
        /// The assigned number.
        number: u16,
    },
    /// Type 2: 4-byte AS and 2-byte number.
    As4 {
        /// The AS.
        asn: u32,
        /// The assigned number.
        number: u16,
    },
    /// Any other type, kept as received.
    Other {
        /// The type field.
        kind: u16,
        /// The value field.
        value: [u8; 6],
    },
}

impl RouteDistinguisher {
    pub(crate) fn decode(r: &mut Reader<'_>, short: ErrorKind) -> Result<Self, DecodeError> {
        let kind = r.u16(short.clone())?;
        let value: [u8; 6] = r.array(short)?;
        let [v0, v1, v2, v3, v4, v5] = value;
        Ok(match kind {
            0 => {
                Self::As2 { asn: u16::from_be_bytes([v0, v1]), number: u32::from_be_bytes([v2, v3, v4, v5]) }
            }
            1 => Self::Ipv4 { addr: Ipv4Addr::new(v0, v1, v2, v3), number: u16::from_be_bytes([v4, v5]) },
            2 => {
                Self::As4 { asn: u32::from_be_bytes([v0, v1, v2, v3]), number: u16::from_be_bytes([v4, v5]) }
            }
            _ => Self::Other { kind, value },
        })
    }

    pub(crate) fn encode(self, out: &mut Vec<u8>) {
        match self {
            Self::As2 { asn, number } => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&asn.to_be_bytes());
                out.extend_from_slice(&number.to_be_bytes());
            }
            Self::Ipv4 { addr, number } => {
                out.extend_from_slice(&[0, 1]);
                out.extend_from_slice(&addr.octets());
                out.extend_from_slice(&number.to_be_bytes());
            }
            Self::As4 { asn, number } => {
                out.extend_from_slice(&[0, 2]);
                out.extend_from_slice(&asn.to_be_bytes());
                out.extend_from_slice(&number.to_be_bytes());
            }
            Self::Other { kind, value } => {
                out.extend_from_slice(&kind.to_be_bytes());
                out.extend_from_slice(&value);
            }
        }
    }
}

impl fmt::Display for RouteDistinguisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::As2 { asn, number } => write!(f, "{asn}:{number}"),
            Self::Ipv4 { addr, number } => write!(f, "{addr}:{number}"),
            Self::As4 { asn, number } => write!(f, "{asn}:{number}"),
            Self::Other { kind, value } => {
                write!(f, "type{kind}:")?;
                value.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
    }
}

impl fmt::Debug for RouteDistinguisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::{Label, MacAddr};

    #[test]
    fn mac_addresses_parse_and_print() {
        let mac: MacAddr = "02:AA:bb:cc:dd:01".parse().expect("valid");
        assert_eq!(mac.to_string(), "02:aa:bb:cc:dd:01");
        assert_eq!("02-aa-bb-cc-dd-01".parse::<MacAddr>(), Ok(mac));
        for bad in ["", "02:aa:bb:cc:dd", "02:aa:bb:cc:dd:01:02", "02:aa:bb:cc:dd:1", "02:aa:bb:cc:dd:zz"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad:?} parsed");
        }
        assert!("ff:ff:ff:ff:ff:ff".parse::<MacAddr>().expect("valid").is_multicast());
        assert!(!mac.is_multicast());
    }

    #[test]
    fn labels_hold_24_bits() {
        assert_eq!(Label::new(16_777_215).map(Label::value), Some(16_777_215));
        assert_eq!(Label::new(16_777_216), None);
    }
}
