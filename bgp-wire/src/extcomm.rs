//! Extended communities (RFC 4360), with the EVPN ones typed and every other
//! one kept as its 8 raw bytes.

use std::{fmt, net::Ipv4Addr};

use crate::types::MacAddr;

/// A route target (RFC 4360 §3, RFC 5668).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteTarget {
    /// 2-octet AS specific: `target:<asn>:<local>`.
    As2 {
        /// Global administrator.
        asn: u16,
        /// Local administrator.
        local: u32,
    },
    /// IPv4 address specific.
    Ipv4 {
        /// Global administrator.
        addr: Ipv4Addr,
        /// Local administrator.
        local: u16,
    },
    /// 4-octet AS specific.
    As4 {
        /// Global administrator.
        asn: u32,
        /// Local administrator.
        local: u16,
    },
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::As2 { asn, local } => write!(f, "target:{asn}:{local}"),
            Self::Ipv4 { addr, local } => write!(f, "target:{addr}:{local}"),
            Self::As4 { asn, local } => write!(f, "target:{asn}:{local}"),
        }
    }
}

/// Tunnel type of the BGP Encapsulation extended community (RFC 9012).
pub const TUNNEL_VXLAN: u16 = 8;

/// Flags of the ARP/ND extended community (RFC 9047 §2).
pub mod arp_nd_flags {
    /// R: the advertised IP belongs to a router (IPv6 ND).
    pub const ROUTER: u8 = 0x01;
    /// O: the ND override flag.
    pub const OVERRIDE: u8 = 0x02;
    /// I: the MAC/IP binding is immutable.
    pub const IMMUTABLE: u8 = 0x08;
}

/// One extended community.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtCommunity {
    /// Route target.
    RouteTarget(RouteTarget),
    /// BGP Encapsulation (0x03/0x0c), e.g. [`TUNNEL_VXLAN`].
    Encapsulation {
        /// The tunnel type.
        tunnel_type: u16,
    },
    /// MAC Mobility (0x06/0x00, RFC 7432 §7.7).
    MacMobility {
        /// Sticky (static) MAC.
        sticky: bool,
        /// Sequence number.
        sequence: u32,
    },
    /// Default Gateway (0x03/0x0d, RFC 7432 §7.8).
    DefaultGateway,
    /// EVPN Router's MAC (0x06/0x03, RFC 9135 §8.1).
    RouterMac(MacAddr),
    /// ARP/ND (0x06/0x08, RFC 9047); see [`arp_nd_flags`].
    ArpNd {
        /// The flags octet.
        flags: u8,
    },
    /// Anything else, as received.
    Other([u8; 8]),
}

impl ExtCommunity {
    /// Decodes one community from its 8 bytes. Never fails: what we do not
    /// know is kept raw.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        let [kind, sub, v0, v1, v2, v3, v4, v5] = bytes;
        match (kind, sub) {
            (0x00, 0x02) => Self::RouteTarget(RouteTarget::As2 {
                asn: u16::from_be_bytes([v0, v1]),
                local: u32::from_be_bytes([v2, v3, v4, v5]),
            }),
            (0x01, 0x02) => Self::RouteTarget(RouteTarget::Ipv4 {
                addr: Ipv4Addr::new(v0, v1, v2, v3),
                local: u16::from_be_bytes([v4, v5]),
            }),
            (0x02, 0x02) => Self::RouteTarget(RouteTarget::As4 {
                asn: u32::from_be_bytes([v0, v1, v2, v3]),
                local: u16::from_be_bytes([v4, v5]),
            }),
            (0x03, 0x0c) if [v0, v1, v2, v3] == [0; 4] => {
                Self::Encapsulation { tunnel_type: u16::from_be_bytes([v4, v5]) }
            }
            (0x03, 0x0d) if [v0, v1, v2, v3, v4, v5] == [0; 6] => Self::DefaultGateway,
            (0x06, 0x00) if v0 & !1 == 0 && v1 == 0 => {
                Self::MacMobility { sticky: v0 & 1 == 1, sequence: u32::from_be_bytes([v2, v3, v4, v5]) }
            }
            (0x06, 0x03) => Self::RouterMac(MacAddr([v0, v1, v2, v3, v4, v5])),
            (0x06, 0x08) if [v1, v2, v3, v4, v5] == [0; 5] => Self::ArpNd { flags: v0 },
            _ => Self::Other(bytes),
        }
    }

    /// The 8 wire bytes.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 8] {
        let mut out = [0; 8];
        match self {
            Self::RouteTarget(RouteTarget::As2 { asn, local }) => {
                out[1] = 0x02;
                out[2..4].copy_from_slice(&asn.to_be_bytes());
                out[4..].copy_from_slice(&local.to_be_bytes());
            }
            Self::RouteTarget(RouteTarget::Ipv4 { addr, local }) => {
                out[..2].copy_from_slice(&[0x01, 0x02]);
                out[2..6].copy_from_slice(&addr.octets());
                out[6..].copy_from_slice(&local.to_be_bytes());
            }
            Self::RouteTarget(RouteTarget::As4 { asn, local }) => {
                out[..2].copy_from_slice(&[0x02, 0x02]);
                out[2..6].copy_from_slice(&asn.to_be_bytes());
                out[6..].copy_from_slice(&local.to_be_bytes());
            }
            Self::Encapsulation { tunnel_type } => {
                out[..2].copy_from_slice(&[0x03, 0x0c]);
                out[6..].copy_from_slice(&tunnel_type.to_be_bytes());
            }
            Self::DefaultGateway => out[..2].copy_from_slice(&[0x03, 0x0d]),
            Self::MacMobility { sticky, sequence } => {
                out[..3].copy_from_slice(&[0x06, 0x00, u8::from(sticky)]);
                out[4..].copy_from_slice(&sequence.to_be_bytes());
            }
            Self::RouterMac(mac) => {
                out[..2].copy_from_slice(&[0x06, 0x03]);
                out[2..].copy_from_slice(&mac.0);
            }
            Self::ArpNd { flags } => out[..3].copy_from_slice(&[0x06, 0x08, flags]),
            Self::Other(bytes) => out = bytes,
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{ExtCommunity, RouteTarget, TUNNEL_VXLAN};
    use crate::types::MacAddr;

    fn hex(s: &str) -> [u8; 8] {
        let bytes: Vec<u8> =
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect();
        bytes.try_into().expect("8 bytes")
    }

    #[test]
    fn known_communities_decode_and_encode_both_ways() {
        let cases = [
            ("0002fde800002774", ExtCommunity::RouteTarget(RouteTarget::As2 { asn: 65000, local: 10100 })),
            (
                "0202fa56ea000064",
                ExtCommunity::RouteTarget(RouteTarget::As4 { asn: 4_200_000_000, local: 100 }),
            ),
            (
                "0102c00002010064",
                ExtCommunity::RouteTarget(RouteTarget::Ipv4 { addr: [192, 0, 2, 1].into(), local: 100 }),
            ),
            ("030c000000000008", ExtCommunity::Encapsulation { tunnel_type: TUNNEL_VXLAN }),
            ("0600010000000000", ExtCommunity::MacMobility { sticky: true, sequence: 0 }),
            ("0600000000000005", ExtCommunity::MacMobility { sticky: false, sequence: 5 }),
            ("030d000000000000", ExtCommunity::DefaultGateway),
            ("0603020000000001", ExtCommunity::RouterMac(MacAddr([2, 0, 0, 0, 0, 1]))),
            ("0608090000000000", ExtCommunity::ArpNd { flags: 0x09 }),
        ];
        for (bytes, value) in cases {
            assert_eq!(ExtCommunity::from_bytes(hex(bytes)), value, "decode {bytes}");
            assert_eq!(value.to_bytes(), hex(bytes), "encode {value:?}");
        }
    }

    #[test]
    fn unknown_and_nonconforming_communities_are_kept_raw() {
        for bytes in [
            "8006000000000000", // flowspec traffic-rate
            "0600020000000001", // MAC mobility with undefined flag bits
            "030c000100000008", // encapsulation with non-zero reserved bytes
        ] {
            let raw = hex(bytes);
            assert_eq!(ExtCommunity::from_bytes(raw), ExtCommunity::Other(raw), "{bytes}");
            assert_eq!(ExtCommunity::Other(raw).to_bytes(), raw);
        }
    }
}
