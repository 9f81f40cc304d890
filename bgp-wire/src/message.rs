//! Messages (RFC 4271 §4): the header, framing, and the five message types.
//!
//! ```text
//! Marker (16 x 0xff) | Length (2) | Type (1) | body
//! Length counts the whole message: 19..=4096, or ..=65535 once extended
//! messages (RFC 8654) are negotiated, but never for OPEN and KEEPALIVE.
//! ```

use std::{fmt, net::Ipv4Addr};

use crate::{
    attr::{DecodeCx, EncodeCx, MpReach, MpUnreach, PathAttributes, code},
    error::{DecodeError, EncodeError, ErrorKind, Rfc7606Action},
    iana::{CeaseSubcode, ErrorCode, FsmSubcode, MessageType, subcode_name},
    open::Open,
    reader::Reader,
    types::{AFI_L2VPN, SAFI_EVPN},
};

/// The header's size.
pub const HEADER_LEN: usize = 19;
/// The largest message without extended messages.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The largest message with extended messages (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65_535;

/// A NOTIFICATION (RFC 4271 §4.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data.
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION with this code and subcode and no data.
    #[must_use]
    pub const fn new(code: ErrorCode, subcode: u8) -> Self {
        Self { code: code.value(), subcode, data: Vec::new() }
    }

    /// Cease (RFC 4486).
    #[must_use]
    pub const fn cease(subcode: CeaseSubcode) -> Self {
        Self::new(ErrorCode::Cease, subcode.value())
    }

    /// Hold Timer Expired.
    #[must_use]
    pub const fn hold_timer_expired() -> Self {
        Self::new(ErrorCode::HoldTimerExpired, 0)
    }

    /// Finite State Machine Error (RFC 6608).
    #[must_use]
    pub const fn fsm_error(subcode: FsmSubcode) -> Self {
        Self::new(ErrorCode::FiniteStateMachine, subcode.value())
    }

    /// The error code, if it is a registered one.
    #[must_use]
    pub const fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_value(self.code)
    }

    /// The RFC's name for the code and subcode.
    #[must_use]
    pub fn describe(&self) -> String {
        let code = self.error_code();
        let subcode = match code.and_then(|code| subcode_name(code, self.subcode)) {
            Some(name) => name,
            None if self.subcode == 0 => "unspecific",
            None => "unknown subcode",
        };
        let code = code.map_or("unknown error", ErrorCode::name);
        format!("{code} / {subcode} ({}/{})", self.code, self.subcode)
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A ROUTE-REFRESH (RFC 2918; the subtype is RFC 7313's: 0 normal,
/// 1 begin and 2 end of route refresh).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// AFI.
    pub afi: u16,
    /// Subtype (the former reserved byte).
    pub subtype: u8,
    /// SAFI.
    pub safi: u8,
}

/// An IPv4 prefix in the legacy withdrawn-routes and NLRI fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix {
    /// The address, with bits beyond `len` zero.
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub len: u8,
}

/// An UPDATE (RFC 4271 §4.3), and what RFC 7606 says about its problems.
///
/// ```text
/// Withdrawn Routes Length (2) | Withdrawn Routes | Total Path Attribute Length (2)
///   | Path Attributes | NLRI
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Legacy IPv4 unicast withdrawals (we never negotiate IPv4 unicast).
    pub withdrawn: Vec<Ipv4Prefix>,
    /// The path attributes, EVPN routes in `MP_REACH` / `MP_UNREACH`.
    pub attributes: PathAttributes,
    /// Legacy IPv4 unicast NLRI.
    pub nlri: Vec<Ipv4Prefix>,
    /// Problems that did not reset the session, each with its action:
    /// treat-as-withdraw or attribute-discard. Empty when well-formed.
    pub problems: Vec<DecodeError>,
}

impl Update {
    /// The strongest action among the problems, if any.
    #[must_use]
    pub fn action(&self) -> Option<Rfc7606Action> {
        self.problems.iter().map(|p| p.action).max()
    }

    /// True if the announced routes must be treated as withdrawn.
    #[must_use]
    pub fn treat_as_withdraw(&self) -> bool {
        self.action() == Some(Rfc7606Action::TreatAsWithdraw)
    }

    /// True for the L2VPN/EVPN End-of-RIB marker (RFC 4724 §2): an UPDATE
    /// whose only attribute is an empty `MP_UNREACH_NLRI`.
    #[must_use]
    pub fn is_evpn_end_of_rib(&self) -> bool {
        self.withdrawn.is_empty()
            && self.nlri.is_empty()
            && self.attributes
                == PathAttributes {
                    mp_unreach: Some(MpUnreach::Evpn { routes: Vec::new() }),
                    ..Default::default()
                }
    }

    /// The L2VPN/EVPN End-of-RIB marker.
    #[must_use]
    pub fn evpn_end_of_rib() -> Self {
        Self {
            attributes: PathAttributes {
                mp_unreach: Some(MpUnreach::Evpn { routes: Vec::new() }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn has_routes(&self) -> bool {
        !self.withdrawn.is_empty()
            || !self.nlri.is_empty()
            || self.attributes.announces()
            || match &self.attributes.mp_unreach {
                Some(MpUnreach::Evpn { routes }) => !routes.is_empty(),
                Some(MpUnreach::Other { nlri, .. }) => !nlri.is_empty(),
                None => false,
            }
    }

    fn decode(r: &mut Reader<'_>, cx: DecodeCx) -> Result<Self, DecodeError> {
        let list_error = |r: &Reader<'_>| r.error(ErrorKind::MalformedAttributeList);
        let withdrawn_len = usize::from(r.u16(ErrorKind::MalformedAttributeList)?);
        if withdrawn_len > r.remaining() {
            return Err(list_error(r));
        }
        let mut withdrawn_reader = r.sub(withdrawn_len, ErrorKind::MalformedAttributeList)?;
        let withdrawn = decode_prefixes(&mut withdrawn_reader)?;
        let attrs_len = usize::from(r.u16(ErrorKind::MalformedAttributeList)?);
        if attrs_len > r.remaining() {
            return Err(list_error(r));
        }
        let mut attrs_reader = r.sub(attrs_len, ErrorKind::MalformedAttributeList)?;
        let decoded = PathAttributes::decode(&mut attrs_reader, cx)?;
        let nlri = decode_prefixes(r)?;
        let mut update = Self { withdrawn, attributes: decoded.attributes, nlri, problems: decoded.problems };

        // RFC 7606 §3.d: missing mandatory attributes, when routes are announced.
        if update.attributes.announces() || !update.nlri.is_empty() {
            let attrs = &update.attributes;
            let mut missing = Vec::new();
            if attrs.origin.is_none() {
                missing.push(code::ORIGIN);
            }
            if attrs.as_path.is_none() {
                missing.push(code::AS_PATH);
            }
            if cx.ibgp && attrs.local_pref.is_none() {
                missing.push(code::LOCAL_PREF);
            }
            if !update.nlri.is_empty() && attrs.next_hop.is_none() {
                missing.push(code::NEXT_HOP);
            }
            for type_code in missing {
                update.problems.push(
                    DecodeError::new(r.offset(), ErrorKind::MissingWellKnown { type_code })
                        .with_data(vec![type_code]),
                );
            }
        }
        // RFC 7606 §5.2: with no routes to withdraw, an error that calls for
        // treat-as-withdraw can only be handled by a session reset.
        if update.treat_as_withdraw()
            && !update.has_routes()
            && let Some(problem) = update.problems.iter().find(|p| p.action == Rfc7606Action::TreatAsWithdraw)
        {
            return Err(problem.clone().with_action(Rfc7606Action::SessionReset));
        }
        Ok(update)
    }

    fn encode(&self, out: &mut Vec<u8>, cx: EncodeCx) -> Result<(), EncodeError> {
        let withdrawn = crate::reader::LengthPrefix::start(out, 2);
        encode_prefixes(&self.withdrawn, out);
        withdrawn.finish(out, "withdrawn routes")?;
        let attrs = crate::reader::LengthPrefix::start(out, 2);
        self.attributes.encode(out, cx)?;
        attrs.finish(out, "path attributes")?;
        encode_prefixes(&self.nlri, out);
        Ok(())
    }
}

fn decode_prefixes(r: &mut Reader<'_>) -> Result<Vec<Ipv4Prefix>, DecodeError> {
    let invalid = |reason| ErrorKind::InvalidNetworkField { reason };
    let mut prefixes = Vec::new();
    while !r.is_empty() {
        let at = r.offset();
        let len = r.u8(invalid("prefix runs past the end"))?;
        if len > 32 {
            return Err(DecodeError::new(at, invalid("IPv4 prefix longer than 32 bits")));
        }
        let bytes = r.take(usize::from(len).div_ceil(8), invalid("prefix runs past the end"))?;
        let mut octets = [0; 4];
        octets[..bytes.len()].copy_from_slice(bytes);
        prefixes.push(Ipv4Prefix { addr: Ipv4Addr::from(octets), len });
    }
    Ok(prefixes)
}

fn encode_prefixes(prefixes: &[Ipv4Prefix], out: &mut Vec<u8>) {
    for prefix in prefixes {
        let len = prefix.len.min(32);
        out.push(len);
        out.extend_from_slice(&prefix.addr.octets()[..usize::from(len).div_ceil(8)]);
    }
}

/// A BGP message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "messages are handled one at a time; boxing UPDATE would add an allocation to the hot path"
)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// Framing: given the start of a byte stream, the length of the first
    /// message once its header is complete (`Ok(None)` until then). Checks
    /// the marker and the length bounds, so a bad header is found before
    /// waiting for a body that may never come.
    pub fn frame_len(buf: &[u8], cx: DecodeCx) -> Result<Option<usize>, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let mut r = Reader::new(buf);
        let len = check_header(&mut r, cx)?.0;
        Ok(Some(len))
    }

    /// Decodes exactly one whole message. Offsets in errors count from its
    /// first byte.
    pub fn decode(buf: &[u8], cx: DecodeCx) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let (len, msg_type) = check_header(&mut r, cx)?;
        if buf.len() != len {
            return Err(DecodeError::new(
                16,
                ErrorKind::BadMessageLength { length: u16::try_from(buf.len()).unwrap_or(u16::MAX) },
            ));
        }
        let message = match msg_type {
            MessageType::Open => Self::Open(Open::decode(&mut r)?),
            MessageType::Update => Self::Update(Update::decode(&mut r, cx)?),
            MessageType::Notification => {
                let code = r.u8(ErrorKind::Truncated)?;
                let subcode = r.u8(ErrorKind::Truncated)?;
                Self::Notification(Notification { code, subcode, data: r.rest().to_vec() })
            }
            MessageType::Keepalive => Self::Keepalive,
            MessageType::RouteRefresh => {
                let afi = r.u16(ErrorKind::Truncated)?;
                let subtype = r.u8(ErrorKind::Truncated)?;
                let safi = r.u8(ErrorKind::Truncated)?;
                Self::RouteRefresh(RouteRefresh { afi, subtype, safi })
            }
        };
        Ok(message)
    }

    /// Appends the whole message, header included.
    pub fn encode(&self, out: &mut Vec<u8>, cx: EncodeCx) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&[0, 0]);
        let (msg_type, max) = match self {
            Self::Open(_) => (MessageType::Open, MAX_MESSAGE_LEN),
            Self::Update(_) => (MessageType::Update, cx.max_message_len()),
            Self::Notification(_) => (MessageType::Notification, cx.max_message_len()),
            Self::Keepalive => (MessageType::Keepalive, MAX_MESSAGE_LEN),
            Self::RouteRefresh(_) => (MessageType::RouteRefresh, cx.max_message_len()),
        };
        out.push(msg_type.value());
        match self {
            Self::Open(open) => open.encode(out)?,
            Self::Update(update) => update.encode(out, cx)?,
            Self::Notification(n) => {
                out.extend_from_slice(&[n.code, n.subcode]);
                out.extend_from_slice(&n.data);
            }
            Self::Keepalive => {}
            Self::RouteRefresh(rr) => {
                out.extend_from_slice(&rr.afi.to_be_bytes());
                out.extend_from_slice(&[rr.subtype, rr.safi]);
            }
        }
        let len = out.len() - start;
        if len > max {
            out.truncate(start);
            return Err(EncodeError::TooLong { what: "message", len });
        }
        let len = u16::try_from(len).map_err(|_| EncodeError::TooLong { what: "message", len })?;
        out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// The message, encoded into a new buffer.
    pub fn to_bytes(&self, cx: EncodeCx) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out, cx)?;
        Ok(out)
    }
}

/// A ROUTE-REFRESH for L2VPN/EVPN.
#[must_use]
pub const fn evpn_route_refresh() -> RouteRefresh {
    RouteRefresh { afi: AFI_L2VPN, subtype: 0, safi: SAFI_EVPN }
}

/// Checks marker, length and type; returns (length, type).
fn check_header(r: &mut Reader<'_>, cx: DecodeCx) -> Result<(usize, MessageType), DecodeError> {
    let marker = r.take(16, ErrorKind::Truncated)?;
    if marker.iter().any(|&b| b != 0xff) {
        return Err(DecodeError::new(0, ErrorKind::ConnectionNotSynchronized));
    }
    let length = r.u16(ErrorKind::Truncated)?;
    let type_at = r.offset();
    let msg_type = r.u8(ErrorKind::Truncated)?;
    let len = usize::from(length);
    let max_len = if cx.extended_message { MAX_EXTENDED_MESSAGE_LEN } else { MAX_MESSAGE_LEN };
    let Some(known) = MessageType::from_value(msg_type) else {
        return Err(
            DecodeError::new(type_at, ErrorKind::BadMessageType { msg_type }).with_data(vec![msg_type])
        );
    };
    let length_ok = match known {
        MessageType::Open => (29..=MAX_MESSAGE_LEN).contains(&len),
        MessageType::Update => (23..=max_len).contains(&len),
        MessageType::Notification => (21..=max_len).contains(&len),
        MessageType::Keepalive => len == HEADER_LEN,
        MessageType::RouteRefresh => {
            if len != 23 {
                // RFC 7313 §5: its own error code.
                return Err(DecodeError::new(16, ErrorKind::RouteRefreshLength { length })
                    .with_data(r.rest().to_vec()));
            }
            true
        }
    };
    if !length_ok {
        return Err(DecodeError::new(16, ErrorKind::BadMessageLength { length })
            .with_data(length.to_be_bytes().to_vec()));
    }
    Ok((len, known))
}

/// Announcements with the same attributes, packed into as few UPDATEs as
/// the message size allows. The routes share `attributes` (which must not
/// hold `MP_REACH` / `MP_UNREACH`) and `next_hop`.
pub fn pack_announcements(
    attributes: &PathAttributes,
    next_hop: std::net::IpAddr,
    routes: &[crate::EvpnRoute],
    cx: EncodeCx,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let template = Message::Update(Update {
        attributes: PathAttributes {
            mp_reach: Some(MpReach::Evpn { next_hop, link_local: None, routes: Vec::new() }),
            mp_unreach: None,
            ..attributes.clone()
        },
        ..Default::default()
    });
    pack(&template, routes, cx, |message, batch| {
        if let Message::Update(Update {
            attributes: PathAttributes { mp_reach: Some(MpReach::Evpn { routes, .. }), .. },
            ..
        }) = message
        {
            *routes = batch;
        }
    })
}

/// Withdrawals packed into as few UPDATEs as the message size allows; each
/// carries only `MP_UNREACH_NLRI`.
pub fn pack_withdrawals(routes: &[crate::EvpnRoute], cx: EncodeCx) -> Result<Vec<Vec<u8>>, EncodeError> {
    let template = Message::Update(Update {
        attributes: PathAttributes {
            mp_unreach: Some(MpUnreach::Evpn { routes: Vec::new() }),
            ..Default::default()
        },
        ..Default::default()
    });
    pack(&template, routes, cx, |message, batch| {
        if let Message::Update(Update {
            attributes: PathAttributes { mp_unreach: Some(MpUnreach::Evpn { routes }), .. },
            ..
        }) = message
        {
            *routes = batch;
        }
    })
}

/// Greedy packing: the template's size with no routes is the overhead; each
/// route adds exactly its encoded length, since the MP attribute always uses
/// a 2-byte length.
fn pack(
    template: &Message,
    routes: &[crate::EvpnRoute],
    cx: EncodeCx,
    fill: impl Fn(&mut Message, Vec<crate::EvpnRoute>),
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let overhead = template.to_bytes(cx)?.len();
    let max = cx.max_message_len();
    let mut messages = Vec::new();
    let mut batch = Vec::new();
    let mut size = overhead;
    let mut flush = |batch: Vec<crate::EvpnRoute>| -> Result<(), EncodeError> {
        let mut message = template.clone();
        fill(&mut message, batch);
        messages.push(message.to_bytes(cx)?);
        Ok(())
    };
    for route in routes {
        let len = route.encoded_len();
        if overhead + len > max {
            return Err(EncodeError::TooLong { what: "EVPN route with its attributes", len: overhead + len });
        }
        if size + len > max {
            flush(std::mem::take(&mut batch))?;
            size = overhead;
        }
        batch.push(route.clone());
        size += len;
    }
    if !batch.is_empty() {
        flush(batch)?;
    }
    Ok(messages)
}
