//! The PMSI Tunnel attribute (RFC 6514 §5; for EVPN, RFC 7432 §11.1 and
//! RFC 8365 §5.1.3: ingress replication, the VNI as label).

use std::net::IpAddr;

use super::{code, flag, put_header};
use crate::{
    error::{DecodeError, EncodeError, ErrorKind},
    evpn::encode_ip,
    reader::Reader,
    types::Label,
};

/// PMSI tunnel type for ingress replication (RFC 6514 §5).
pub const PMSI_INGRESS_REPLICATION: u8 = 6;

/// The PMSI Tunnel attribute (RFC 6514 §5, RFC 7432 §11.1).
///
/// ```text
/// Flags (1) | Tunnel Type (1) | MPLS Label (3) | Tunnel Identifier (variable)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PmsiTunnel {
    /// Flags; 0x01 is Leaf Information Required.
    pub flags: u8,
    /// The label: the VNI, for VXLAN.
    pub label: Label,
    /// The tunnel.
    pub tunnel: PmsiTunnelId,
}

/// The tunnel a PMSI attribute names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PmsiTunnelId {
    /// Type 6, ingress replication to this unicast endpoint (the VTEP).
    IngressReplication(IpAddr),
    /// Any other type, identifier kept as received.
    Other {
        /// The tunnel type.
        tunnel_type: u8,
        /// The tunnel identifier.
        id: Vec<u8>,
    },
}

impl PmsiTunnel {
    pub(super) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let (tunnel_type, id_len) = match &self.tunnel {
            PmsiTunnelId::IngressReplication(IpAddr::V4(_)) => (PMSI_INGRESS_REPLICATION, 4),
            PmsiTunnelId::IngressReplication(IpAddr::V6(_)) => (PMSI_INGRESS_REPLICATION, 16),
            PmsiTunnelId::Other { tunnel_type, id } => (*tunnel_type, id.len()),
        };
        if 5 + id_len > usize::from(u16::MAX) {
            return Err(EncodeError::TooLong { what: "PMSI_TUNNEL", len: 5 + id_len });
        }
        put_header(out, flag::OPTIONAL | flag::TRANSITIVE, code::PMSI_TUNNEL, 5 + id_len);
        out.push(self.flags);
        out.push(tunnel_type);
        self.label.encode(out);
        match &self.tunnel {
            PmsiTunnelId::IngressReplication(endpoint) => encode_ip(*endpoint, out),
            PmsiTunnelId::Other { id, .. } => out.extend_from_slice(id),
        }
        Ok(())
    }
}

pub(super) fn decode_pmsi(v: &mut Reader<'_>, start: usize) -> Result<PmsiTunnel, DecodeError> {
    let malformed = |reason| {
        DecodeError::new(start, ErrorKind::OptionalAttribute { type_code: code::PMSI_TUNNEL, reason })
    };
    if v.remaining() < 5 {
        return Err(malformed("shorter than 5 bytes"));
    }
    let flags = v.u8(ErrorKind::Truncated)?;
    let tunnel_type = v.u8(ErrorKind::Truncated)?;
    let label = Label::decode(v, ErrorKind::Truncated)?;
    let id = v.rest();
    let tunnel = if tunnel_type == PMSI_INGRESS_REPLICATION {
        match id.len() {
            4 => PmsiTunnelId::IngressReplication(IpAddr::from(
                <[u8; 4]>::try_from(id)
                    .map_err(|_| malformed("ingress replication endpoint is not 4 or 16 bytes"))?,
            )),
            16 => PmsiTunnelId::IngressReplication(IpAddr::from(
                <[u8; 16]>::try_from(id)
                    .map_err(|_| malformed("ingress replication endpoint is not 4 or 16 bytes"))?,
            )),
            _ => return Err(malformed("ingress replication endpoint is not 4 or 16 bytes")),
        }
    } else {
        PmsiTunnelId::Other { tunnel_type, id: id.to_vec() }
    };
    Ok(PmsiTunnel { flags, label, tunnel })
}
