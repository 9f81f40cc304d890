//! Decode errors that say where and what, and what to do about them.
//!
//! Every [`ErrorKind`] maps to exactly one NOTIFICATION code and subcode
//! ([`DecodeError::notification`]). Every [`DecodeError`] carries the RFC 7606
//! action chosen where the problem was found ([`DecodeError::action`]): the
//! same kind can be harmless in one attribute and fatal in another, so the
//! decoder decides, and the session layer never inspects strings.

use std::fmt;

use crate::iana::{ErrorCode, HeaderSubcode as H, OpenSubcode as O, RouteRefreshSubcode, UpdateSubcode as U};

/// What RFC 7606 says to do with an UPDATE that has this problem, weakest
/// first: the derived order picks the strongest of several problems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rfc7606Action {
    /// Drop the malformed attribute and use the rest of the UPDATE.
    AttributeDiscard,
    /// Keep the session; treat every route the UPDATE announces as withdrawn.
    TreatAsWithdraw,
    /// Stop using the address family on this session (RFC 7606 §5.4 allows it
    /// where a session reset is called for; we reset, as EVPN is our only family).
    AfiSafiDisable,
    /// Send the NOTIFICATION and close the session.
    SessionReset,
}

/// The problem found, with the values needed to explain it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    // ===== Message header (code 1) =====
    /// The 16-byte marker is not all ones.
    #[error("marker is not all ones")]
    ConnectionNotSynchronized,
    /// The length field is out of range for the message type.
    #[error("bad message length {length}")]
    BadMessageLength {
        /// The length field's value.
        length: u16,
    },
    /// The type field is not one we know.
    #[error("bad message type {msg_type}")]
    BadMessageType {
        /// The type field's value.
        msg_type: u8,
    },

    // ===== OPEN (code 2) =====
    /// The OPEN is shorter than its own fields say.
    #[error("malformed OPEN")]
    MalformedOpen,
    /// Version is not 4.
    #[error("unsupported BGP version {version}")]
    UnsupportedVersion {
        /// The version the peer sent.
        version: u8,
    },
    /// The peer's AS is not the one configured.
    #[error("bad peer AS {asn}")]
    BadPeerAs {
        /// The AS the peer announced.
        asn: u32,
    },
    /// BGP identifier is 0 or equal to ours.
    #[error("bad BGP identifier {id}")]
    BadBgpIdentifier {
        /// The identifier the peer sent.
        id: std::net::Ipv4Addr,
    },
    /// An optional parameter other than capabilities.
    #[error("unsupported optional parameter type {param_type}")]
    UnsupportedOptionalParameter {
        /// The parameter type.
        param_type: u8,
    },
    /// Hold time 1 or 2 seconds.
    #[error("unacceptable hold time {hold_time}")]
    UnacceptableHoldTime {
        /// The hold time the peer offered.
        hold_time: u16,
    },
    /// A capability we require is missing (L2VPN/EVPN, 4-octet AS).
    #[error("required capability missing")]
    UnsupportedCapability,

    // ===== UPDATE (code 3) =====
    /// Withdrawn-routes or path-attribute lengths do not fit the message,
    /// or MP_REACH_NLRI / MP_UNREACH_NLRI appears twice.
    #[error("malformed attribute list")]
    MalformedAttributeList,
    /// An attribute repeated: the repeat is discarded (RFC 7606 §3.g).
    #[error("attribute {type_code} repeated")]
    DuplicateAttribute {
        /// The attribute type.
        type_code: u8,
    },
    /// A well-known attribute we do not recognize.
    #[error("unrecognized well-known attribute {type_code}")]
    UnrecognizedWellKnown {
        /// The attribute type.
        type_code: u8,
    },
    /// ORIGIN, AS_PATH or LOCAL_PREF is missing from an UPDATE with routes.
    #[error("missing well-known attribute {type_code}")]
    MissingWellKnown {
        /// The attribute type.
        type_code: u8,
    },
    /// The Optional or Transitive flag contradicts the attribute's definition.
    #[error("attribute {type_code} has wrong flags {flags:#04x}")]
    AttributeFlags {
        /// The attribute type.
        type_code: u8,
        /// The flags received.
        flags: u8,
    },
    /// The attribute's length is wrong for its type, or overruns the
    /// path-attribute section.
    #[error("attribute {type_code} has bad length {length}")]
    AttributeLength {
        /// The attribute type.
        type_code: u8,
        /// The length received.
        length: u16,
    },
    /// ORIGIN is not 0, 1 or 2.
    #[error("invalid ORIGIN {value}")]
    InvalidOrigin {
        /// The value received.
        value: u8,
    },
    /// NEXT_HOP is malformed.
    #[error("invalid NEXT_HOP")]
    InvalidNextHop,
    /// An optional attribute's content is malformed (MP_REACH next hop,
    /// extended communities, PMSI tunnel, ...).
    #[error("malformed optional attribute {type_code}: {reason}")]
    OptionalAttribute {
        /// The attribute type.
        type_code: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// An NLRI cannot be parsed (length past the end, prefix too long).
    #[error("invalid network field: {reason}")]
    InvalidNetworkField {
        /// What is wrong.
        reason: &'static str,
    },
    /// An EVPN route's length is not one its type allows.
    #[error("EVPN route type {route_type} with invalid length {length}")]
    EvpnRouteLength {
        /// The route type.
        route_type: u8,
        /// The length received.
        length: u8,
    },
    /// AS_PATH is malformed.
    #[error("malformed AS_PATH")]
    MalformedAsPath,

    // ===== ROUTE-REFRESH (code 7) =====
    /// ROUTE-REFRESH with a length other than 23.
    #[error("ROUTE-REFRESH with invalid length {length}")]
    RouteRefreshLength {
        /// The message length.
        length: u16,
    },

    // ===== Structure =====
    /// A fixed-size field runs past the end of its enclosing section.
    #[error("truncated")]
    Truncated,
}

impl ErrorKind {
    /// The NOTIFICATION error code and subcode for this problem (RFC 4271
    /// §4.5, RFC 5492, RFC 7313).
    #[must_use]
    pub const fn notification_code(&self) -> (ErrorCode, u8) {
        use ErrorCode as C;
        match self {
            Self::ConnectionNotSynchronized => (C::MessageHeader, H::ConnectionNotSynchronized.value()),
            Self::BadMessageLength { .. } | Self::Truncated => {
                (C::MessageHeader, H::BadMessageLength.value())
            }
            Self::BadMessageType { .. } => (C::MessageHeader, H::BadMessageType.value()),
            // RFC 4271 §6.2: a malformed OPEN that fits no subcode is unspecific.
            Self::MalformedOpen => (C::OpenMessage, 0),
            Self::UnsupportedVersion { .. } => (C::OpenMessage, O::UnsupportedVersionNumber.value()),
            Self::BadPeerAs { .. } => (C::OpenMessage, O::BadPeerAs.value()),
            Self::BadBgpIdentifier { .. } => (C::OpenMessage, O::BadBgpIdentifier.value()),
            Self::UnsupportedOptionalParameter { .. } => {
                (C::OpenMessage, O::UnsupportedOptionalParameter.value())
            }
            Self::UnacceptableHoldTime { .. } => (C::OpenMessage, O::UnacceptableHoldTime.value()),
            Self::UnsupportedCapability => (C::OpenMessage, O::UnsupportedCapability.value()),
            Self::MalformedAttributeList | Self::DuplicateAttribute { .. } => {
                (C::UpdateMessage, U::MalformedAttributeList.value())
            }
            Self::UnrecognizedWellKnown { .. } => {
                (C::UpdateMessage, U::UnrecognizedWellKnownAttribute.value())
            }
            Self::MissingWellKnown { .. } => (C::UpdateMessage, U::MissingWellKnownAttribute.value()),
            Self::AttributeFlags { .. } => (C::UpdateMessage, U::AttributeFlagsError.value()),
            Self::AttributeLength { .. } => (C::UpdateMessage, U::AttributeLengthError.value()),
            Self::InvalidOrigin { .. } => (C::UpdateMessage, U::InvalidOriginAttribute.value()),
            Self::InvalidNextHop => (C::UpdateMessage, U::InvalidNextHopAttribute.value()),
            Self::OptionalAttribute { .. } => (C::UpdateMessage, U::OptionalAttributeError.value()),
            Self::InvalidNetworkField { .. } | Self::EvpnRouteLength { .. } => {
                (C::UpdateMessage, U::InvalidNetworkField.value())
            }
            Self::MalformedAsPath => (C::UpdateMessage, U::MalformedAsPath.value()),
            Self::RouteRefreshLength { .. } => {
                (C::RouteRefreshMessage, RouteRefreshSubcode::InvalidMessageLength.value())
            }
        }
    }

    /// The action when the decoder does not choose another: what RFC 7606
    /// prescribes for this kind in the common case.
    #[must_use]
    pub const fn default_action(&self) -> Rfc7606Action {
        match self {
            Self::DuplicateAttribute { .. } => Rfc7606Action::AttributeDiscard,
            Self::MissingWellKnown { .. }
            | Self::AttributeFlags { .. }
            | Self::AttributeLength { .. }
            | Self::InvalidOrigin { .. }
            | Self::InvalidNextHop
            | Self::OptionalAttribute { .. }
            | Self::MalformedAsPath => Rfc7606Action::TreatAsWithdraw,
            _ => Rfc7606Action::SessionReset,
        }
    }
}

/// A problem found while decoding: where, what, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset from the first byte of the message (its marker).
    pub offset: usize,
    /// What is wrong.
    pub kind: ErrorKind,
    /// What RFC 7606 says to do about it here.
    pub action: Rfc7606Action,
    /// The NOTIFICATION data field (e.g. the offending attribute), possibly
    /// empty.
    pub data: Vec<u8>,
}

impl DecodeError {
    /// An error with its kind's default action and no NOTIFICATION data.
    #[must_use]
    pub fn new(offset: usize, kind: ErrorKind) -> Self {
        let action = kind.default_action();
        Self { offset, kind, action, data: Vec::new() }
    }

    /// The same error with another action.
    #[must_use]
    pub fn with_action(mut self, action: Rfc7606Action) -> Self {
        self.action = action;
        self
    }

    /// The same error with NOTIFICATION data.
    #[must_use]
    pub fn with_data(mut self, data: Vec<u8>) -> Self {
        self.data = data;
        self
    }

    /// The NOTIFICATION to send when this error resets the session.
    #[must_use]
    pub fn notification(&self) -> crate::Notification {
        let (code, subcode) = self.kind.notification_code();
        crate::Notification { data: self.data.clone(), ..crate::Notification::new(code, subcode) }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {} ({:?})", self.kind, self.offset, self.action)
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// Encoding can only fail when a value does not fit its wire field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A length-prefixed section or the whole message is too long.
    #[error("{what} is {len} bytes, more than its length field or the message size allows")]
    TooLong {
        /// The section.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}
