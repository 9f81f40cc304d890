//! EVPN NLRI (RFC 7432 §7, RFC 9136 §3): route types 1 to 5, with unknown
//! types kept as raw bytes so they can be skipped (RFC 7606 §5.4).
//!
//! Every NLRI is `Route Type (1) | Length (1) | value`. Each type has a fixed
//! set of valid lengths; any other length makes the NLRI unparseable, which
//! RFC 7606 §3.j, §5.3 answer with a session reset.
//!
//! For VXLAN, the label fields carry the VNI as the whole 24-bit value
//! (RFC 8365 §5.1.3); see [`Label`].

use std::{
    cmp::Ordering,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use crate::{
    error::{DecodeError, EncodeError, ErrorKind},
    reader::{LengthPrefix, Reader},
    types::{Esi, Label, MacAddr, RouteDistinguisher},
};

/// Route type 1, Ethernet Auto-Discovery (RFC 7432 §7.1).
///
/// ```text
/// RD (8) | ESI (10) | Ethernet Tag ID (4) | MPLS Label (3)      length 25
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EthernetAd {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet segment.
    pub esi: Esi,
    /// Ethernet tag.
    pub ethernet_tag: u32,
    /// Label (the VNI, for VXLAN).
    pub label: Label,
}

/// Route type 2, MAC/IP Advertisement (RFC 7432 §7.2).
///
/// ```text
/// RD (8) | ESI (10) | Ethernet Tag ID (4) | MAC Len (1) = 48 | MAC (6)
///        | IP Len (1) = 0|32|128 | IP (0|4|16) | Label1 (3) | [Label2 (3)]
/// lengths 33, 36 (no IP), 37, 40 (IPv4), 49, 52 (IPv6)
/// ```
/// The route key is RD, Ethernet tag, MAC and IP; ESI and labels are not.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MacIp {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet segment (zero when single-homed).
    pub esi: Esi,
    /// Ethernet tag (0 for VLAN-based service).
    pub ethernet_tag: u32,
    /// The MAC address.
    pub mac: MacAddr,
    /// The IP address, if the route carries one.
    pub ip: Option<IpAddr>,
    /// Label1: the L2 VNI, for VXLAN.
    pub label1: Label,
    /// Label2: the L3 VNI (symmetric IRB), if present.
    pub label2: Option<Label>,
}

/// Route type 3, Inclusive Multicast Ethernet Tag (RFC 7432 §7.3).
///
/// ```text
/// RD (8) | Ethernet Tag ID (4) | IP Len (1) = 32|128 | Originating Router's IP (4|16)
/// lengths 17, 29
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Imet {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet tag.
    pub ethernet_tag: u32,
    /// The originating router's IP.
    pub originator: IpAddr,
}

/// Route type 4, Ethernet Segment (RFC 7432 §7.4).
///
/// ```text
/// RD (8) | ESI (10) | IP Len (1) = 32|128 | Originating Router's IP (4|16)
/// lengths 23, 35
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EthernetSegment {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet segment.
    pub esi: Esi,
    /// The originating router's IP.
    pub originator: IpAddr,
}

/// Route type 5, IP Prefix (RFC 9136 §3.1).
///
/// ```text
/// RD (8) | ESI (10) | Ethernet Tag ID (4) | IP Prefix Len (1)
///        | IP Prefix (4|16) | GW IP (4|16) | Label (3)
/// lengths 34 (IPv4), 58 (IPv6): the family comes from the length
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet segment.
    pub esi: Esi,
    /// Ethernet tag.
    pub ethernet_tag: u32,
    /// The prefix (full width; bits beyond `prefix_len` are zero on send).
    pub prefix: IpAddr,
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// Gateway IP, of the same family as the prefix.
    pub gateway: IpAddr,
    /// Label (the L3 VNI, for VXLAN).
    pub label: Label,
}

/// One EVPN route.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EvpnRoute {
    /// Type 1.
    EthernetAd(EthernetAd),
    /// Type 2.
    MacIp(MacIp),
    /// Type 3.
    Imet(Imet),
    /// Type 4.
    EthernetSegment(EthernetSegment),
    /// Type 5.
    IpPrefix(IpPrefix),
    /// Any other type: skipped by length and kept raw (RFC 7606 §5.4).
    Unknown {
        /// The route type.
        route_type: u8,
        /// The value, after the length byte.
        value: Vec<u8>,
    },
}

/// The part of an EVPN route that identifies it: what a withdrawal must
/// match (RFC 7432 §7). Non-key fields (ESI of RT-2, labels) are left out.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EvpnRouteKey {
    /// Type 1.
    EthernetAd(RouteDistinguisher, Esi, u32),
    /// Type 2: RD, Ethernet tag, MAC, IP.
    MacIp(RouteDistinguisher, u32, MacAddr, Option<IpAddr>),
    /// Type 3: RD, Ethernet tag, originator.
    Imet(RouteDistinguisher, u32, IpAddr),
    /// Type 4: RD, ESI, originator.
    EthernetSegment(RouteDistinguisher, Esi, IpAddr),
    /// Type 5: RD, Ethernet tag, prefix, length.
    IpPrefix(RouteDistinguisher, u32, IpAddr, u8),
    /// Unknown types: the whole value.
    Unknown(u8, Vec<u8>),
}

impl EvpnRoute {
    /// The route type code.
    #[must_use]
    pub fn route_type(&self) -> u8 {
        match self {
            Self::EthernetAd(_) => 1,
            Self::MacIp(_) => 2,
            Self::Imet(_) => 3,
            Self::EthernetSegment(_) => 4,
            Self::IpPrefix(_) => 5,
            Self::Unknown { route_type, .. } => *route_type,
        }
    }

    /// The route's key.
    #[must_use]
    pub fn key(&self) -> EvpnRouteKey {
        match self {
            Self::EthernetAd(r) => EvpnRouteKey::EthernetAd(r.rd, r.esi, r.ethernet_tag),
            Self::MacIp(r) => EvpnRouteKey::MacIp(r.rd, r.ethernet_tag, r.mac, r.ip),
            Self::Imet(r) => EvpnRouteKey::Imet(r.rd, r.ethernet_tag, r.originator),
            Self::EthernetSegment(r) => EvpnRouteKey::EthernetSegment(r.rd, r.esi, r.originator),
            Self::IpPrefix(r) => EvpnRouteKey::IpPrefix(r.rd, r.ethernet_tag, r.prefix, r.prefix_len),
            Self::Unknown { route_type, value } => EvpnRouteKey::Unknown(*route_type, value.clone()),
        }
    }

    /// Orders routes exactly as their keys order, without building the keys
    /// (which copies, and for unknown types allocates). Routes with equal
    /// keys compare equal whatever their labels or RT-2 ESI: a set ordered
    /// this way holds one route per key, and needs no separate key.
    #[must_use]
    pub fn cmp_key(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::EthernetAd(a), Self::EthernetAd(b)) => {
                (a.rd, a.esi, a.ethernet_tag).cmp(&(b.rd, b.esi, b.ethernet_tag))
            }
            (Self::MacIp(a), Self::MacIp(b)) => {
                (a.rd, a.ethernet_tag, a.mac, a.ip).cmp(&(b.rd, b.ethernet_tag, b.mac, b.ip))
            }
            (Self::Imet(a), Self::Imet(b)) => {
                (a.rd, a.ethernet_tag, a.originator).cmp(&(b.rd, b.ethernet_tag, b.originator))
            }
            (Self::EthernetSegment(a), Self::EthernetSegment(b)) => {
                (a.rd, a.esi, a.originator).cmp(&(b.rd, b.esi, b.originator))
            }
            (Self::IpPrefix(a), Self::IpPrefix(b)) => (a.rd, a.ethernet_tag, a.prefix, a.prefix_len).cmp(&(
                b.rd,
                b.ethernet_tag,
                b.prefix,
                b.prefix_len,
            )),
            (
                Self::Unknown { route_type: a_type, value: a_value },
                Self::Unknown { route_type: b_type, value: b_value },
            ) => (a_type, a_value).cmp(&(b_type, b_value)),
            // Different kinds order as `EvpnRouteKey`'s variants do.
            _ => self.kind_rank().cmp(&other.kind_rank()),
        }
    }

    /// The position of this route's variant, the same in `EvpnRouteKey`.
    fn kind_rank(&self) -> u8 {
        match self {
            Self::EthernetAd(_) => 0,
            Self::MacIp(_) => 1,
            Self::Imet(_) => 2,
            Self::EthernetSegment(_) => 3,
            Self::IpPrefix(_) => 4,
            Self::Unknown { .. } => 5,
        }
    }

    /// A route with this key and zero in every other field (labels, RT-2
    /// ESI, RT-5 gateway): the probe that finds the route with `key` in a
    /// set ordered by [`EvpnRoute::cmp_key`].
    #[must_use]
    pub fn from_key(key: &EvpnRouteKey) -> Self {
        let zero_ip = |like: IpAddr| match like {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        match key {
            EvpnRouteKey::EthernetAd(rd, esi, ethernet_tag) => Self::EthernetAd(EthernetAd {
                rd: *rd,
                esi: *esi,
                ethernet_tag: *ethernet_tag,
                label: Label::default(),
            }),
            EvpnRouteKey::MacIp(rd, ethernet_tag, mac, ip) => Self::MacIp(MacIp {
                rd: *rd,
                esi: Esi::ZERO,
                ethernet_tag: *ethernet_tag,
                mac: *mac,
                ip: *ip,
                label1: Label::default(),
                label2: None,
            }),
            EvpnRouteKey::Imet(rd, ethernet_tag, originator) => {
                Self::Imet(Imet { rd: *rd, ethernet_tag: *ethernet_tag, originator: *originator })
            }
            EvpnRouteKey::EthernetSegment(rd, esi, originator) => {
                Self::EthernetSegment(EthernetSegment { rd: *rd, esi: *esi, originator: *originator })
            }
            EvpnRouteKey::IpPrefix(rd, ethernet_tag, prefix, prefix_len) => Self::IpPrefix(IpPrefix {
                rd: *rd,
                esi: Esi::ZERO,
                ethernet_tag: *ethernet_tag,
                prefix: *prefix,
                prefix_len: *prefix_len,
                gateway: zero_ip(*prefix),
                label: Label::default(),
            }),
            EvpnRouteKey::Unknown(route_type, value) => {
                Self::Unknown { route_type: *route_type, value: value.clone() }
            }
        }
    }

    /// The number of bytes this route takes on the wire, type and length
    /// bytes included.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        2 + match self {
            Self::EthernetAd(_) => 25,
            Self::MacIp(r) => 33 + ip_len(r.ip) + if r.label2.is_some() { 3 } else { 0 },
            Self::Imet(r) => 13 + ip_len(Some(r.originator)),
            Self::EthernetSegment(r) => 19 + ip_len(Some(r.originator)),
            Self::IpPrefix(r) => 26 + 2 * ip_len(Some(r.prefix)),
            Self::Unknown { value, .. } => value.len(),
        }
    }

    /// Decodes a sequence of EVPN NLRI, as found after the next hop of
    /// `MP_REACH_NLRI` or the SAFI of `MP_UNREACH_NLRI`. Offsets in errors
    /// count from the first byte of `nlri`.
    pub fn decode_nlri(nlri: &[u8]) -> Result<Vec<Self>, DecodeError> {
        Self::decode_all(&mut Reader::new(nlri))
    }

    /// Decodes a sequence of EVPN NLRI filling `r`.
    pub(crate) fn decode_all(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        let mut routes = Vec::new();
        while !r.is_empty() {
            routes.push(Self::decode(r)?);
        }
        Ok(routes)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let truncated = ErrorKind::InvalidNetworkField { reason: "EVPN NLRI runs past the end" };
        let route_type = r.u8(truncated.clone())?;
        let length = r.u8(truncated.clone())?;
        let mut v = r.sub(usize::from(length), truncated)?;
        let bad_length = || DecodeError::new(start, ErrorKind::EvpnRouteLength { route_type, length });
        // Inside a value whose length was checked, a short read cannot happen;
        // if it did, it is still reported as this route's bad length.
        let short = ErrorKind::EvpnRouteLength { route_type, length };
        let route = match route_type {
            1 => {
                if length != 25 {
                    return Err(bad_length());
                }
                Self::EthernetAd(EthernetAd {
                    rd: RouteDistinguisher::decode(&mut v, short.clone())?,
                    esi: Esi(v.array(short.clone())?),
                    ethernet_tag: v.u32(short.clone())?,
                    label: Label::decode(&mut v, short)?,
                })
            }
            2 => {
                if ![33, 36, 37, 40, 49, 52].contains(&length) {
                    return Err(bad_length());
                }
                let rd = RouteDistinguisher::decode(&mut v, short.clone())?;
                let esi = Esi(v.array(short.clone())?);
                let ethernet_tag = v.u32(short.clone())?;
                let mac_len_at = v.offset();
                if v.u8(short.clone())? != 48 {
                    return Err(DecodeError::new(
                        mac_len_at,
                        ErrorKind::InvalidNetworkField { reason: "MAC length is not 48" },
                    ));
                }
                let mac = MacAddr(v.array(short.clone())?);
                let ip_len_at = v.offset();
                let ip = decode_ip_bits(&mut v, true, short.clone(), ip_len_at)?;
                // The total length must agree with the IP length field.
                let fixed = 33 + ip_len(ip);
                let label2 = match usize::from(length) {
                    n if n == fixed => false,
                    n if n == fixed + 3 => true,
                    _ => {
                        return Err(DecodeError::new(
                            ip_len_at,
                            ErrorKind::InvalidNetworkField {
                                reason: "IP length disagrees with route length",
                            },
                        ));
                    }
                };
                let label1 = Label::decode(&mut v, short.clone())?;
                let label2 = if label2 { Some(Label::decode(&mut v, short)?) } else { None };
                Self::MacIp(MacIp { rd, esi, ethernet_tag, mac, ip, label1, label2 })
            }
            3 => {
                if length != 17 && length != 29 {
                    return Err(bad_length());
                }
                let rd = RouteDistinguisher::decode(&mut v, short.clone())?;
                let ethernet_tag = v.u32(short.clone())?;
                let at = v.offset();
                let originator = decode_ip_bits(&mut v, false, short, at)?.ok_or_else(|| {
                    DecodeError::new(at, ErrorKind::InvalidNetworkField { reason: "no IP" })
                })?;
                if usize::from(length) != 13 + ip_len(Some(originator)) {
                    return Err(bad_length());
                }
                Self::Imet(Imet { rd, ethernet_tag, originator })
            }
            4 => {
                if length != 23 && length != 35 {
                    return Err(bad_length());
                }
                let rd = RouteDistinguisher::decode(&mut v, short.clone())?;
                let esi = Esi(v.array(short.clone())?);
                let at = v.offset();
                let originator = decode_ip_bits(&mut v, false, short, at)?.ok_or_else(|| {
                    DecodeError::new(at, ErrorKind::InvalidNetworkField { reason: "no IP" })
                })?;
                if usize::from(length) != 19 + ip_len(Some(originator)) {
                    return Err(bad_length());
                }
                Self::EthernetSegment(EthernetSegment { rd, esi, originator })
            }
            5 => {
                let v6 = match length {
                    34 => false,
                    58 => true,
                    _ => return Err(bad_length()),
                };
                let rd = RouteDistinguisher::decode(&mut v, short.clone())?;
                let esi = Esi(v.array(short.clone())?);
                let ethernet_tag = v.u32(short.clone())?;
                let len_at = v.offset();
                let prefix_len = v.u8(short.clone())?;
                if prefix_len > if v6 { 128 } else { 32 } {
                    return Err(DecodeError::new(
                        len_at,
                        ErrorKind::InvalidNetworkField { reason: "prefix length exceeds the address width" },
                    ));
                }
                let (prefix, gateway) = if v6 {
                    (IpAddr::from(v.array::<16>(short.clone())?), IpAddr::from(v.array::<16>(short.clone())?))
                } else {
                    (IpAddr::from(v.array::<4>(short.clone())?), IpAddr::from(v.array::<4>(short.clone())?))
                };
                let label = Label::decode(&mut v, short)?;
                Self::IpPrefix(IpPrefix { rd, esi, ethernet_tag, prefix, prefix_len, gateway, label })
            }
            _ => Self::Unknown { route_type, value: v.rest().to_vec() },
        };
        Ok(route)
    }

    /// Appends the route, type and length bytes included.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.route_type());
        let length = LengthPrefix::start(out, 1);
        match self {
            Self::EthernetAd(r) => {
                r.rd.encode(out);
                out.extend_from_slice(&r.esi.0);
                out.extend_from_slice(&r.ethernet_tag.to_be_bytes());
                r.label.encode(out);
            }
            Self::MacIp(r) => {
                r.rd.encode(out);
                out.extend_from_slice(&r.esi.0);
                out.extend_from_slice(&r.ethernet_tag.to_be_bytes());
                out.push(48);
                out.extend_from_slice(&r.mac.0);
                encode_ip_bits(r.ip, out);
                r.label1.encode(out);
                if let Some(label2) = r.label2 {
                    label2.encode(out);
                }
            }
            Self::Imet(r) => {
                r.rd.encode(out);
                out.extend_from_slice(&r.ethernet_tag.to_be_bytes());
                encode_ip_bits(Some(r.originator), out);
            }
            Self::EthernetSegment(r) => {
                r.rd.encode(out);
                out.extend_from_slice(&r.esi.0);
                encode_ip_bits(Some(r.originator), out);
            }
            Self::IpPrefix(r) => {
                r.rd.encode(out);
                out.extend_from_slice(&r.esi.0);
                out.extend_from_slice(&r.ethernet_tag.to_be_bytes());
                out.push(r.prefix_len);
                encode_ip(r.prefix, out);
                // The gateway takes the prefix's family whatever it was built
                // with, so the length stays one of the two valid ones.
                match (r.prefix, r.gateway) {
                    (IpAddr::V4(_), IpAddr::V6(_)) => out.extend_from_slice(&[0; 4]),
                    (IpAddr::V6(_), IpAddr::V4(_)) => out.extend_from_slice(&[0; 16]),
                    (_, gateway) => encode_ip(gateway, out),
                }
                r.label.encode(out);
            }
            Self::Unknown { value, .. } => out.extend_from_slice(value),
        }
        length.finish(out, "EVPN route")
    }
}

fn ip_len(ip: Option<IpAddr>) -> usize {
    match ip {
        None => 0,
        Some(IpAddr::V4(_)) => 4,
        Some(IpAddr::V6(_)) => 16,
    }
}

/// Reads an `IP Len (bits) | IP` pair; `allow_none` accepts length 0.
fn decode_ip_bits(
    v: &mut Reader<'_>,
    allow_none: bool,
    short: ErrorKind,
    at: usize,
) -> Result<Option<IpAddr>, DecodeError> {
    match v.u8(short.clone())? {
        0 if allow_none => Ok(None),
        32 => Ok(Some(IpAddr::V4(Ipv4Addr::from(v.array::<4>(short)?)))),
        128 => Ok(Some(IpAddr::V6(Ipv6Addr::from(v.array::<16>(short)?)))),
        _ => Err(DecodeError::new(
            at,
            ErrorKind::InvalidNetworkField { reason: "IP length is not 0, 32 or 128" },
        )),
    }
}

fn encode_ip_bits(ip: Option<IpAddr>, out: &mut Vec<u8>) {
    match ip {
        None => out.push(0),
        Some(IpAddr::V4(ip)) => {
            out.push(32);
            out.extend_from_slice(&ip.octets());
        }
        Some(IpAddr::V6(ip)) => {
            out.push(128);
            out.extend_from_slice(&ip.octets());
        }
    }
}

pub(crate) fn encode_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
}

impl fmt::Display for EvpnRoute {
    /// The bracketed form FRR prints, prefixed by the RD.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EthernetAd(r) => write!(f, "{} [1]:[{:?}]:[{}]", r.rd, r.esi, r.ethernet_tag),
            Self::MacIp(r) => {
                write!(f, "{} [2]:[{}]:[48]:[{}]", r.rd, r.ethernet_tag, r.mac)?;
                match r.ip {
                    None => Ok(()),
                    Some(ip @ IpAddr::V4(_)) => write!(f, ":[32]:[{ip}]"),
                    Some(ip @ IpAddr::V6(_)) => write!(f, ":[128]:[{ip}]"),
                }
            }
            Self::Imet(r) => {
                let bits = if r.originator.is_ipv4() { 32 } else { 128 };
                write!(f, "{} [3]:[{}]:[{bits}]:[{}]", r.rd, r.ethernet_tag, r.originator)
            }
            Self::EthernetSegment(r) => write!(f, "{} [4]:[{:?}]:[{}]", r.rd, r.esi, r.originator),
            Self::IpPrefix(r) => {
                write!(f, "{} [5]:[{}]:[{}]:[{}]", r.rd, r.ethernet_tag, r.prefix_len, r.prefix)
            }
            Self::Unknown { route_type, value } => write!(f, "[{route_type}]:<{} bytes>", value.len()),
        }
    }
}
