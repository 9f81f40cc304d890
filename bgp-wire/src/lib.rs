//! BGP-4 and BGP EVPN on the wire: typed messages with `decode` and `encode`,
//! and nothing else. No sockets, no async, so the codec can be fuzzed,
//! benchmarked and reused by tools that read captures.
//!
//! Scope: OPEN with capabilities, UPDATE, KEEPALIVE, NOTIFICATION and
//! ROUTE-REFRESH (RFC 4271, 2918, 5492, 6793, 4724, 8654, 9072); the path
//! attributes an EVPN speaker meets (RFC 4271, 4456, 4760, 4360, 6514); EVPN
//! NLRI types 1 to 5 (RFC 7432, 9136) with VXLAN's 24-bit VNI labels
//! (RFC 8365); the EVPN extended communities (RFC 7432, 9135, 9047, 9012).
//!
//! Errors: decoding stops at the first fatal problem and reports its byte
//! offset, the NOTIFICATION to send, and the RFC 7606 action; problems that
//! do not reset the session come back inside the decoded [`Update`].
//!
//! ```
//! use bgp_wire::{DecodeCx, EncodeCx, Message};
//!
//! let keepalive = Message::Keepalive.to_bytes(EncodeCx::default()).expect("fits");
//! assert_eq!(keepalive.len(), 19);
//! assert_eq!(Message::decode(&keepalive, DecodeCx::default()), Ok(Message::Keepalive));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(unused_crate_dependencies, reason = "dev-dependencies serve the integration tests in tests/")
)]

mod attr;
mod error;
mod evpn;
mod extcomm;
mod iana;
mod message;
mod open;
#[doc(hidden)]
pub mod properties;
mod reader;
mod types;

pub use attr::{
    AsSegment, AsSegmentType, DecodeCx, EncodeCx, MpReach, MpUnreach, Origin, PMSI_INGRESS_REPLICATION,
    PathAttributes, PmsiTunnel, PmsiTunnelId, RawAttribute, code as attr_code, flag as attr_flag,
};
pub use error::{DecodeError, EncodeError, ErrorKind, Rfc7606Action};
pub use evpn::{EthernetAd, EthernetSegment, EvpnRoute, EvpnRouteKey, Imet, IpPrefix, MacIp};
pub use extcomm::{ExtCommunity, RouteTarget, TUNNEL_VXLAN, arp_nd_flags};
pub use iana::{
    CeaseSubcode, ErrorCode, FsmSubcode, HeaderSubcode, MessageType, OpenSubcode, RouteRefreshSubcode,
    UpdateSubcode, subcode_name,
};
pub use message::{
    HEADER_LEN, Ipv4Prefix, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, Message, Notification, RouteRefresh,
    Update, evpn_route_refresh, pack_announcements, pack_withdrawals,
};
pub use open::{AS_TRANS, Capability, GracefulRestartFamily, Open, capability_code};
pub use types::{
    AFI_IPV4, AFI_L2VPN, Esi, Label, MacAddr, ParseMacError, RouteDistinguisher, SAFI_EVPN, SAFI_UNICAST,
};
