//! OPEN (RFC 4271 §4.2) and capabilities (RFC 5492).
//!
//! ```text
//! Version (1) | My AS (2) | Hold Time (2) | BGP Identifier (4) | Opt Parm Len (1) | Optional Parameters
//! Optional parameter: Type (1) = 2 (capabilities) | Length (1) | Capability...
//! Capability:         Code (1) | Length (1) | Value
//! RFC 9072: Opt Parm Len = 255, Type = 255, then a 2-byte length, and 2-byte
//! lengths for each parameter.
//! ```

use std::net::Ipv4Addr;

use crate::{
    error::{DecodeError, EncodeError, ErrorKind},
    reader::{LengthPrefix, Reader},
};

/// `AS_TRANS` (RFC 6793): My AS when the real AS needs 4 octets.
pub const AS_TRANS: u16 = 23_456;

/// Capability codes we know.
pub mod capability_code {
    /// Multiprotocol extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended messages (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// Graceful restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// 4-octet AS numbers (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// Enhanced route refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
}

/// One address family in a graceful-restart capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// AFI.
    pub afi: u16,
    /// SAFI.
    pub safi: u8,
    /// F bit: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// A capability (RFC 5492).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol extensions for one AFI/SAFI.
    Multiprotocol {
        /// AFI.
        afi: u16,
        /// SAFI.
        safi: u8,
    },
    /// Route refresh.
    RouteRefresh,
    /// Extended messages up to 65535 bytes.
    ExtendedMessage,
    /// Graceful restart (RFC 4724 §3).
    GracefulRestart {
        /// R bit: the sender has just restarted.
        restarting: bool,
        /// N bit: graceful notification (RFC 8538).
        notification: bool,
        /// Restart time in seconds (12 bits).
        restart_time: u16,
        /// The families whose forwarding state is kept.
        families: Vec<GracefulRestartFamily>,
    },
    /// 4-octet AS number support, with the sender's AS.
    FourOctetAs(u32),
    /// Enhanced route refresh.
    EnhancedRouteRefresh,
    /// Anything else (ADD-PATH, FQDN, LLGR, ...), ignored but kept.
    Unknown {
        /// The capability code.
        code: u8,
        /// Its value.
        value: Vec<u8>,
    },
}

impl Capability {
    fn decode(code: u8, v: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = v.offset();
        let malformed = || DecodeError::new(start, ErrorKind::MalformedOpen);
        let len = v.remaining();
        let capability = match code {
            capability_code::MULTIPROTOCOL if len == 4 => {
                let afi = v.u16(ErrorKind::MalformedOpen)?;
                v.u8(ErrorKind::MalformedOpen)?;
                Self::Multiprotocol { afi, safi: v.u8(ErrorKind::MalformedOpen)? }
            }
            capability_code::ROUTE_REFRESH if len == 0 => Self::RouteRefresh,
            capability_code::EXTENDED_MESSAGE if len == 0 => Self::ExtendedMessage,
            capability_code::ENHANCED_ROUTE_REFRESH if len == 0 => Self::EnhancedRouteRefresh,
            capability_code::FOUR_OCTET_AS if len == 4 => Self::FourOctetAs(v.u32(ErrorKind::MalformedOpen)?),
            capability_code::GRACEFUL_RESTART if len >= 2 && (len - 2).is_multiple_of(4) => {
                let head = v.u16(ErrorKind::MalformedOpen)?;
                let mut families = Vec::with_capacity((len - 2) / 4);
                while !v.is_empty() {
                    let afi = v.u16(ErrorKind::MalformedOpen)?;
                    let safi = v.u8(ErrorKind::MalformedOpen)?;
                    let flags = v.u8(ErrorKind::MalformedOpen)?;
                    families.push(GracefulRestartFamily {
                        afi,
                        safi,
                        forwarding_preserved: flags & 0x80 != 0,
                    });
                }
                Self::GracefulRestart {
                    restarting: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                }
            }
            capability_code::MULTIPROTOCOL
            | capability_code::ROUTE_REFRESH
            | capability_code::EXTENDED_MESSAGE
            | capability_code::ENHANCED_ROUTE_REFRESH
            | capability_code::FOUR_OCTET_AS
            | capability_code::GRACEFUL_RESTART => return Err(malformed()),
            _ => Self::Unknown { code, value: v.rest().to_vec() },
        };
        Ok(capability)
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let code = match self {
            Self::Multiprotocol { .. } => capability_code::MULTIPROTOCOL,
            Self::RouteRefresh => capability_code::ROUTE_REFRESH,
            Self::ExtendedMessage => capability_code::EXTENDED_MESSAGE,
            Self::GracefulRestart { .. } => capability_code::GRACEFUL_RESTART,
            Self::FourOctetAs(_) => capability_code::FOUR_OCTET_AS,
            Self::EnhancedRouteRefresh => capability_code::ENHANCED_ROUTE_REFRESH,
            Self::Unknown { code, .. } => *code,
        };
        out.push(code);
        let length = LengthPrefix::start(out, 1);
        match self {
            Self::Multiprotocol { afi, safi } => {
                out.extend_from_slice(&afi.to_be_bytes());
                out.extend_from_slice(&[0, *safi]);
            }
            Self::RouteRefresh | Self::ExtendedMessage | Self::EnhancedRouteRefresh => {}
            Self::GracefulRestart { restarting, notification, restart_time, families } => {
                let head = (u16::from(*restarting) << 15)
                    | (u16::from(*notification) << 14)
                    | (restart_time & 0x0fff);
                out.extend_from_slice(&head.to_be_bytes());
                for family in families {
                    out.extend_from_slice(&family.afi.to_be_bytes());
                    out.push(family.safi);
                    out.push(if family.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Self::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
            Self::Unknown { value, .. } => out.extend_from_slice(value),
        }
        length.finish(out, "capability")
    }
}

/// An OPEN message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Open {
    /// My AS as sent: [`AS_TRANS`] when the real AS needs 4 octets.
    pub my_as: u16,
    /// Proposed hold time in seconds: 0 or at least 3.
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in received order.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// An OPEN for `asn`, filling My AS and the 4-octet AS capability as
    /// RFC 6793 §4 asks. `capabilities` should not repeat `FourOctetAs`.
    #[must_use]
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, mut capabilities: Vec<Capability>) -> Self {
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS);
        capabilities.push(Capability::FourOctetAs(asn));
        Self { my_as, hold_time, bgp_id, capabilities }
    }

    /// The sender's real AS: from the 4-octet AS capability if present.
    #[must_use]
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| if let Capability::FourOctetAs(asn) = c { Some(*asn) } else { None })
            .unwrap_or(u32::from(self.my_as))
    }

    /// True if the sender offers multiprotocol for this AFI/SAFI.
    #[must_use]
    pub fn supports(&self, afi: u16, safi: u8) -> bool {
        self.capabilities.contains(&Capability::Multiprotocol { afi, safi })
    }

    /// True if the sender has the capability with this code.
    #[must_use]
    pub fn has(&self, code: u8) -> bool {
        self.capabilities.iter().any(|c| match c {
            Capability::Multiprotocol { .. } => code == capability_code::MULTIPROTOCOL,
            Capability::RouteRefresh => code == capability_code::ROUTE_REFRESH,
            Capability::ExtendedMessage => code == capability_code::EXTENDED_MESSAGE,
            Capability::GracefulRestart { .. } => code == capability_code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => code == capability_code::FOUR_OCTET_AS,
            Capability::EnhancedRouteRefresh => code == capability_code::ENHANCED_ROUTE_REFRESH,
            Capability::Unknown { code: c, .. } => *c == code,
        })
    }

    /// Decodes the OPEN body (after the header).
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version_at = r.offset();
        let version = r.u8(ErrorKind::MalformedOpen)?;
        if version != 4 {
            // RFC 4271 §6.2: the data is the highest version we support.
            return Err(
                DecodeError::new(version_at, ErrorKind::UnsupportedVersion { version }).with_data(vec![0, 4])
            );
        }
        let my_as = r.u16(ErrorKind::MalformedOpen)?;
        let hold_at = r.offset();
        let hold_time = r.u16(ErrorKind::MalformedOpen)?;
        if hold_time == 1 || hold_time == 2 {
            return Err(DecodeError::new(hold_at, ErrorKind::UnacceptableHoldTime { hold_time }));
        }
        let id_at = r.offset();
        let bgp_id = Ipv4Addr::from(r.array::<4>(ErrorKind::MalformedOpen)?);
        if bgp_id.is_unspecified() {
            return Err(DecodeError::new(id_at, ErrorKind::BadBgpIdentifier { id: bgp_id }));
        }
        let mut params_len = usize::from(r.u8(ErrorKind::MalformedOpen)?);
        let mut extended = false;
        // RFC 9072: a non-extended parameter of type 255 cannot exist, so
        // Opt Parm Len 255 followed by 255 marks the extended format.
        if params_len == 255 && r.clone().u8(ErrorKind::MalformedOpen).ok() == Some(255) {
            r.u8(ErrorKind::MalformedOpen)?;
            params_len = usize::from(r.u16(ErrorKind::MalformedOpen)?);
            extended = true;
        }
        let mut params = r.sub(params_len, ErrorKind::MalformedOpen)?;
        if !r.is_empty() {
            return Err(r.error(ErrorKind::MalformedOpen));
        }
        let mut capabilities = Vec::new();
        while !params.is_empty() {
            let param_at = params.offset();
            let param_type = params.u8(ErrorKind::MalformedOpen)?;
            let len = if extended {
                usize::from(params.u16(ErrorKind::MalformedOpen)?)
            } else {
                usize::from(params.u8(ErrorKind::MalformedOpen)?)
            };
            let mut param = params.sub(len, ErrorKind::MalformedOpen)?;
            if param_type != 2 {
                return Err(DecodeError::new(
                    param_at,
                    ErrorKind::UnsupportedOptionalParameter { param_type },
                ));
            }
            while !param.is_empty() {
                let code = param.u8(ErrorKind::MalformedOpen)?;
                let len = usize::from(param.u8(ErrorKind::MalformedOpen)?);
                let mut value = param.sub(len, ErrorKind::MalformedOpen)?;
                capabilities.push(Capability::decode(code, &mut value)?);
            }
        }
        Ok(Self { my_as, hold_time, bgp_id, capabilities })
    }

    /// Appends the OPEN body: all capabilities in one optional parameter.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(4);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let params = LengthPrefix::start(out, 1);
        if !self.capabilities.is_empty() {
            out.push(2);
            let capabilities = LengthPrefix::start(out, 1);
            for capability in &self.capabilities {
                capability.encode(out)?;
            }
            capabilities.finish(out, "capabilities parameter")?;
        }
        params.finish(out, "optional parameters")
    }
}
