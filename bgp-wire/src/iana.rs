//! The IANA numbers BGP's messages carry, as types: message types (RFC 4271
//! §4.1, RFC 2918), NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313) and
//! the subcodes we send or name (RFC 4271 §6, RFC 4486, RFC 5492, RFC 6608,
//! RFC 8203, RFC 9384).
//!
//! A NOTIFICATION keeps its code and subcode as the bytes received
//! ([`crate::Notification`]), because a peer may send numbers registered
//! after this crate was written. What we send is built from these types, so
//! no bare number stands for an error in the session code.

use std::fmt;

/// Declares a `u8`-valued enum with its wire value, a lookup from the wire
/// value, and the registry's name for each value.
macro_rules! registry {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &[Self] = &[$(Self::$variant,)+];

            /// The value on the wire.
            #[must_use]
            pub const fn value(self) -> u8 {
                self as u8
            }

            /// The registered value for a wire byte, if there is one.
            #[must_use]
            pub const fn from_value(value: u8) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// The registry's name for the value.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> Self {
                value.value()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

registry! {
    /// The header's message type (RFC 4271 §4.1; ROUTE-REFRESH RFC 2918).
    MessageType {
        /// OPEN.
        Open = 1 => "OPEN",
        /// UPDATE.
        Update = 2 => "UPDATE",
        /// NOTIFICATION.
        Notification = 3 => "NOTIFICATION",
        /// KEEPALIVE.
        Keepalive = 4 => "KEEPALIVE",
        /// ROUTE-REFRESH.
        RouteRefresh = 5 => "ROUTE-REFRESH",
    }
}

registry! {
    /// A NOTIFICATION's error code (RFC 4271 §4.5; 7 from RFC 7313).
    ErrorCode {
        /// Message Header Error: subcodes are [`HeaderSubcode`].
        MessageHeader = 1 => "Message Header Error",
        /// OPEN Message Error: subcodes are [`OpenSubcode`].
        OpenMessage = 2 => "OPEN Message Error",
        /// UPDATE Message Error: subcodes are [`UpdateSubcode`].
        UpdateMessage = 3 => "UPDATE Message Error",
        /// Hold Timer Expired (subcode 0).
        HoldTimerExpired = 4 => "Hold Timer Expired",
        /// Finite State Machine Error: subcodes are [`FsmSubcode`].
        FiniteStateMachine = 5 => "Finite State Machine Error",
        /// Cease: subcodes are [`CeaseSubcode`].
        Cease = 6 => "Cease",
        /// ROUTE-REFRESH Message Error: subcodes are [`RouteRefreshSubcode`].
        RouteRefreshMessage = 7 => "ROUTE-REFRESH Message Error",
    }
}

registry! {
    /// Message Header Error subcodes (RFC 4271 §6.1).
    HeaderSubcode {
        /// The marker is not all ones.
        ConnectionNotSynchronized = 1 => "Connection Not Synchronized",
        /// The length is out of range for the type.
        BadMessageLength = 2 => "Bad Message Length",
        /// The type is not known.
        BadMessageType = 3 => "Bad Message Type",
    }
}

registry! {
    /// OPEN Message Error subcodes (RFC 4271 §6.2; 7 from RFC 5492).
    OpenSubcode {
        /// Version is not 4.
        UnsupportedVersionNumber = 1 => "Unsupported Version Number",
        /// The AS is not the configured one.
        BadPeerAs = 2 => "Bad Peer AS",
        /// The BGP identifier is 0 or ours.
        BadBgpIdentifier = 3 => "Bad BGP Identifier",
        /// An optional parameter other than capabilities.
        UnsupportedOptionalParameter = 4 => "Unsupported Optional Parameter",
        /// Hold time 1 or 2.
        UnacceptableHoldTime = 6 => "Unacceptable Hold Time",
        /// A required capability is missing.
        UnsupportedCapability = 7 => "Unsupported Capability",
    }
}

registry! {
    /// UPDATE Message Error subcodes (RFC 4271 §6.3).
    UpdateSubcode {
        /// Lengths that do not fit, or a repeated MP attribute.
        MalformedAttributeList = 1 => "Malformed Attribute List",
        /// A well-known attribute we do not know.
        UnrecognizedWellKnownAttribute = 2 => "Unrecognized Well-known Attribute",
        /// ORIGIN, AS_PATH, NEXT_HOP or LOCAL_PREF is missing.
        MissingWellKnownAttribute = 3 => "Missing Well-known Attribute",
        /// Flags that contradict the attribute's definition.
        AttributeFlagsError = 4 => "Attribute Flags Error",
        /// A length wrong for the attribute.
        AttributeLengthError = 5 => "Attribute Length Error",
        /// ORIGIN is not 0, 1 or 2.
        InvalidOriginAttribute = 6 => "Invalid ORIGIN Attribute",
        /// NEXT_HOP is malformed.
        InvalidNextHopAttribute = 8 => "Invalid NEXT_HOP Attribute",
        /// An optional attribute's content is malformed.
        OptionalAttributeError = 9 => "Optional Attribute Error",
        /// An NLRI cannot be parsed.
        InvalidNetworkField = 10 => "Invalid Network Field",
        /// AS_PATH is malformed.
        MalformedAsPath = 11 => "Malformed AS_PATH",
    }
}

registry! {
    /// Finite State Machine Error subcodes (RFC 6608): the state in which
    /// the unexpected message arrived.
    FsmSubcode {
        /// Unspecified.
        Unspecified = 0 => "Unspecified Error",
        /// In the `OpenSent` state.
        UnexpectedInOpenSent = 1 => "Receive Unexpected Message in OpenSent State",
        /// In the `OpenConfirm` state.
        UnexpectedInOpenConfirm = 2 => "Receive Unexpected Message in OpenConfirm State",
        /// In the `Established` state.
        UnexpectedInEstablished = 3 => "Receive Unexpected Message in Established State",
    }
}

registry! {
    /// Cease subcodes (RFC 4486; 9 from RFC 8538, 10 from RFC 9384).
    CeaseSubcode {
        /// Maximum number of prefixes reached.
        MaximumPrefixes = 1 => "Maximum Number of Prefixes Reached",
        /// Administrative shutdown: we stop, and mean it (no graceful-restart
        /// helper keeps our routes).
        AdministrativeShutdown = 2 => "Administrative Shutdown",
        /// The peer was removed from the configuration.
        PeerDeconfigured = 3 => "Peer De-configured",
        /// Administrative reset.
        AdministrativeReset = 4 => "Administrative Reset",
        /// Connection rejected.
        ConnectionRejected = 5 => "Connection Rejected",
        /// The session's settings changed.
        OtherConfigurationChange = 6 => "Other Configuration Change",
        /// The other of two connections won (RFC 4271 §6.8).
        ConnectionCollisionResolution = 7 => "Connection Collision Resolution",
        /// Out of resources.
        OutOfResources = 8 => "Out of Resources",
        /// Hard reset (RFC 8538).
        HardReset = 9 => "Hard Reset",
        /// BFD down (RFC 9384).
        BfdDown = 10 => "BFD Down",
    }
}

registry! {
    /// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
    RouteRefreshSubcode {
        /// A ROUTE-REFRESH whose length is not 23.
        InvalidMessageLength = 1 => "Invalid Message Length",
    }
}

/// The registry's name for a subcode of `code`, if it is one we know.
#[must_use]
pub const fn subcode_name(code: ErrorCode, subcode: u8) -> Option<&'static str> {
    macro_rules! lookup {
        ($registry:ident) => {
            match $registry::from_value(subcode) {
                Some(known) => Some(known.name()),
                None => None,
            }
        };
    }
    match code {
        ErrorCode::MessageHeader => lookup!(HeaderSubcode),
        ErrorCode::OpenMessage => lookup!(OpenSubcode),
        ErrorCode::UpdateMessage => lookup!(UpdateSubcode),
        ErrorCode::HoldTimerExpired => None,
        ErrorCode::FiniteStateMachine => lookup!(FsmSubcode),
        ErrorCode::Cease => lookup!(CeaseSubcode),
        ErrorCode::RouteRefreshMessage => lookup!(RouteRefreshSubcode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_wire_byte() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_value(code.value()), Some(*code));
        }
        for message_type in MessageType::ALL {
            assert_eq!(MessageType::from_value(u8::from(*message_type)), Some(*message_type));
        }
        for subcode in CeaseSubcode::ALL {
            assert_eq!(CeaseSubcode::from_value(subcode.value()), Some(*subcode));
        }
        assert_eq!(MessageType::from_value(0), None);
        assert_eq!(ErrorCode::from_value(8), None);
        assert_eq!(OpenSubcode::from_value(5), None, "5 (authentication failure) is deprecated");
    }

    #[test]
    fn the_numbers_are_the_registry_s() {
        // Spot checks against the IANA "BGP Error (Notification) Codes" and
        // "BGP Cease NOTIFICATION message subcodes" registries.
        assert_eq!(ErrorCode::Cease.value(), 6);
        assert_eq!(ErrorCode::RouteRefreshMessage.value(), 7);
        assert_eq!(CeaseSubcode::AdministrativeShutdown.value(), 2);
        assert_eq!(CeaseSubcode::OtherConfigurationChange.value(), 6);
        assert_eq!(CeaseSubcode::ConnectionCollisionResolution.value(), 7);
        assert_eq!(UpdateSubcode::InvalidNetworkField.value(), 10);
        assert_eq!(FsmSubcode::UnexpectedInEstablished.value(), 3);
        assert_eq!(MessageType::RouteRefresh.value(), 5);
        assert_eq!(subcode_name(ErrorCode::OpenMessage, 2), Some("Bad Peer AS"));
        assert_eq!(subcode_name(ErrorCode::HoldTimerExpired, 0), None);
    }
}
