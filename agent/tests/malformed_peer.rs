//! A raw test peer that speaks BGP byte by byte sends malformed UPDATEs to
//! the speaker: each gets its RFC 7606 action, the session stays up when it
//! should, the right NOTIFICATION goes out when it should not, and routes
//! the malformed UPDATE did not carry are untouched. No panic, ever.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

mod common;

use std::{
    io::Write as _,
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

use bgp_wire::{
    Capability, CeaseSubcode, EncodeCx, Esi, EvpnRoute, Label, MacAddr, MacIp, Message, MpReach,
    Notification, Open, Origin, PathAttributes, RouteDistinguisher, Update,
};
use common::{collect_until, expect_event, read_message};
use static_vxlan_agent::bgp::session::{self, Event};

const PEER_ID: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 21);

fn route(last: u8) -> EvpnRoute {
    EvpnRoute::MacIp(MacIp {
        rd: RouteDistinguisher::Ipv4 { addr: [192, 0, 2, 7].into(), number: 100 },
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddr([2, 0, 0, 0, 7, last]),
        ip: None,
        label1: Label::new(10100).expect("fits"),
        label2: None,
    })
}

fn announce(routes: Vec<EvpnRoute>) -> Vec<u8> {
    Message::Update(Update {
        attributes: PathAttributes {
            mp_reach: Some(MpReach::Evpn {
                next_hop: IpAddr::from([192, 0, 2, 7]),
                link_local: None,
                routes,
            }),
            origin: Some(Origin::Igp),
            as_path: Some(Vec::new()),
            local_pref: Some(100),
            ..Default::default()
        },
        ..Default::default()
    })
    .to_bytes(EncodeCx::default())
    .expect("fits")
}

/// Reads until a NOTIFICATION, skipping our End-of-RIB and keepalives.
fn read_notification(stream: &mut TcpStream) -> Notification {
    loop {
        match read_message(stream) {
            Message::Notification(notification) => return notification,
            Message::Keepalive | Message::Update(_) => {}
            other => panic!("expected a NOTIFICATION, got {other:?}"),
        }
    }
}

/// Accepts the speaker's connection and brings the session up by hand.
fn raw_session(listener: &TcpListener) -> TcpStream {
    let (mut stream, _) = listener.accept().expect("the speaker connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    assert!(matches!(read_message(&mut stream), Message::Open(_)));
    let open = Open::new(65000, 30, PEER_ID, vec![Capability::Multiprotocol { afi: 25, safi: 70 }]);
    stream.write_all(&Message::Open(open).to_bytes(EncodeCx::default()).expect("fits")).expect("send OPEN");
    stream
        .write_all(&Message::Keepalive.to_bytes(EncodeCx::default()).expect("fits"))
        .expect("send KEEPALIVE");
    assert_eq!(read_message(&mut stream), Message::Keepalive);
    stream
}

#[test]
fn malformed_updates_get_their_rfc7606_action_and_other_routes_are_untouched() {
    let listener = TcpListener::bind("127.0.0.21:0").expect("bind the raw peer");
    let port = listener.local_addr().expect("address").port();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut config = common::speaker_config(port, false);
    config.peer = SocketAddr::new(IpAddr::from(PEER_ID), port);
    let mut speaker = runtime.block_on(session::spawn(config)).expect("speaker starts");
    let mut stream = raw_session(&listener);
    expect_event(&runtime, &mut speaker, Duration::from_secs(5), |e| matches!(e, Event::Established { .. }));

    // Two good routes.
    stream.write_all(&announce(vec![route(1), route(2)])).expect("send");
    for _ in 0..2 {
        expect_event(&runtime, &mut speaker, Duration::from_secs(5), |e| matches!(e, Event::Route(_)));
    }

    // Route 1 again with ORIGIN 3: treat-as-withdraw. The session stays up,
    // route 1 is withdrawn, route 2 is not.
    let mut bad_origin = announce(vec![route(1)]);
    let origin_at = bad_origin.windows(4).position(|w| w == [0x40, 0x01, 0x01, 0x00]).expect("ORIGIN");
    bad_origin[origin_at + 3] = 3;
    stream.write_all(&bad_origin).expect("send");
    let malformed = expect_event(&runtime, &mut speaker, Duration::from_secs(5), |e| {
        matches!(e, Event::Malformed { .. })
    });
    assert!(format!("{malformed:?}").contains("invalid ORIGIN 3"), "{malformed:?}");
    let withdrawn =
        expect_event(&runtime, &mut speaker, Duration::from_secs(5), |e| matches!(e, Event::Withdrawn(_)));
    assert_eq!(withdrawn, Event::Withdrawn(route(1)));

    // A repeated LOCAL_PREF on route 3: attribute discard, route 3 accepted.
    let mut repeated = announce(vec![route(3)]);
    repeated.extend_from_slice(&[0x40, 0x05, 0x04, 0, 0, 0, 200]);
    let len = u16::try_from(repeated.len()).expect("small");
    repeated[16..18].copy_from_slice(&len.to_be_bytes());
    let attrs_len = u16::from_be_bytes([repeated[21], repeated[22]]) + 7;
    repeated[21..23].copy_from_slice(&attrs_len.to_be_bytes());
    stream.write_all(&repeated).expect("send");
    let accepted =
        expect_event(&runtime, &mut speaker, Duration::from_secs(5), |e| matches!(e, Event::Route(_)));
    let Event::Route(accepted) = accepted else { unreachable!() };
    assert_eq!(accepted.route, route(3));

    // An RT-2 with an impossible length: the NLRI cannot be parsed, so the
    // session is reset with NOTIFICATION 3/10, and only then are the
    // remaining routes (2 and 3) withdrawn.
    let mut bad_length = announce(vec![route(4)]);
    let nlri_at = bad_length.windows(2).position(|w| w == [0x02, 0x21]).expect("RT-2 header");
    bad_length[nlri_at + 1] = 0x22;
    stream.write_all(&bad_length).expect("send");
    let notification = read_notification(&mut stream);
    assert_eq!((notification.code, notification.subcode), (3, 10), "{notification}");
    let mut gone = Vec::new();
    for _ in 0..2 {
        let Event::Withdrawn(route) = expect_event(&runtime, &mut speaker, Duration::from_secs(5), |e| {
            matches!(e, Event::Withdrawn(_))
        }) else {
            unreachable!()
        };
        gone.push(route);
    }
    gone.sort_by_key(EvpnRoute::key);
    assert_eq!(gone, vec![route(2), route(3)]);
    let down =
        expect_event(&runtime, &mut speaker, Duration::from_secs(5), |e| matches!(e, Event::Down { .. }));
    assert!(format!("{down:?}").contains("3/10"), "{down:?}");

    // The speaker reconnects by itself; the peer closes it with a Cease.
    let mut again = raw_session(&listener);
    expect_event(&runtime, &mut speaker, Duration::from_secs(5), |e| matches!(e, Event::Established { .. }));
    again
        .write_all(
            &Message::Notification(Notification::cease(CeaseSubcode::AdministrativeShutdown))
                .to_bytes(EncodeCx::default())
                .expect("fits"),
        )
        .expect("send");
    expect_event(&runtime, &mut speaker, Duration::from_secs(5), |e| matches!(e, Event::Down { .. }));
}

#[test]
fn a_peer_with_the_wrong_as_is_told_so_and_not_retried_at_once() {
    let listener = TcpListener::bind("127.0.0.22:0").expect("bind the raw peer");
    let port = listener.local_addr().expect("address").port();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut config = common::speaker_config(port, false);
    config.peer = SocketAddr::new(IpAddr::from([127, 0, 0, 22]), port);
    let _speaker = runtime.block_on(session::spawn(config)).expect("speaker starts");
    let (mut stream, _) = listener.accept().expect("the speaker connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    assert!(matches!(read_message(&mut stream), Message::Open(_)));
    let open = Open::new(65001, 30, PEER_ID, vec![Capability::Multiprotocol { afi: 25, safi: 70 }]);
    stream.write_all(&Message::Open(open).to_bytes(EncodeCx::default()).expect("fits")).expect("send OPEN");
    let notification = read_notification(&mut stream);
    assert_eq!((notification.code, notification.subcode), (2, 2), "Bad Peer AS");
    // A configuration mismatch is not retried within the next seconds.
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::sleep(Duration::from_secs(3));
    assert!(listener.accept().is_err(), "the speaker reconnected at once");
}

/// One attribute, raw; the Extended Length form when the value needs it.
fn attribute(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(len) = u8::try_from(value.len()) {
        out.extend_from_slice(&[flags & !0x10, code, len]);
    } else {
        out.extend_from_slice(&[flags | 0x10, code]);
        out.extend_from_slice(&u16::try_from(value.len()).expect("small").to_be_bytes());
    }
    out.extend_from_slice(value);
    out
}

/// The attributes of an UPDATE (no withdrawn routes), raw, by type code.
fn raw_attributes(update: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut attributes = Vec::new();
    let mut at = 23;
    while at < update.len() {
        let (flags, code) = (update[at], update[at + 1]);
        let (header, len) = if flags & 0x10 != 0 {
            (4, usize::from(u16::from_be_bytes([update[at + 2], update[at + 3]])))
        } else {
            (3, usize::from(update[at + 2]))
        };
        attributes.push((code, update[at..at + header + len].to_vec()));
        at += header + len;
    }
    attributes
}

/// The value of a raw attribute.
fn value_of(raw: &[u8]) -> &[u8] {
    &raw[if raw[0] & 0x10 != 0 { 4 } else { 3 }..]
}

/// An UPDATE with no withdrawn routes and these raw attributes.
fn update_from(attributes: &[Vec<u8>]) -> Vec<u8> {
    let attrs: Vec<u8> = attributes.concat();
    let mut message = vec![0xff; 16];
    message.extend_from_slice(&[0, 0, 2, 0, 0]);
    message.extend_from_slice(&u16::try_from(attrs.len()).expect("small").to_be_bytes());
    message.extend_from_slice(&attrs);
    let total = u16::try_from(message.len()).expect("small");
    message[16..18].copy_from_slice(&total.to_be_bytes());
    message
}

/// A well-formed UPDATE for `route`, as raw attributes in the order
/// MP_REACH, ORIGIN, AS_PATH, LOCAL_PREF, ready to be broken.
fn good_attributes(route: EvpnRoute) -> Vec<Vec<u8>> {
    let raw = raw_attributes(&announce(vec![route]));
    [14, 1, 2, 5]
        .iter()
        .map(|code| raw.iter().find(|(c, _)| c == code).expect("the encoder sends it").1.clone())
        .collect()
}

/// What the speaker must do with one malformed UPDATE.
#[derive(Debug)]
enum Expected {
    /// Treat-as-withdraw: the route it carried (announced before) is
    /// withdrawn; the session stays up.
    Withdraw,
    /// Attribute discard, or an unknown route type skipped: the route it
    /// carried (new) is accepted; the session stays up.
    Accept,
    /// Session reset with this NOTIFICATION code and subcode.
    Reset(u8, u8),
}

#[test]
fn every_rfc7606_case_on_a_live_session_gets_its_action_and_other_routes_stay() {
    let target = route(1); // announced before, then carried by a treat-as-withdraw case
    let fresh = route(3); // carried by a case whose route is accepted
    let bystander = route(0xb0); // never in a malformed UPDATE
    let probe = route(0xc0); // after the case: the session still takes routes
    let with = |route: &EvpnRoute, change: &dyn Fn(&mut Vec<Vec<u8>>)| {
        let mut attributes = good_attributes(route.clone());
        change(&mut attributes);
        update_from(&attributes)
    };
    let mp_reach_value = value_of(&good_attributes(target.clone())[0]).to_vec();
    // The RT-2 NLRI inside MP_REACH: after AFI, SAFI, next hop length, next
    // hop (4) and the reserved byte.
    let rt2 = mp_reach_value[9..].to_vec();
    let cases: Vec<(&str, Vec<u8>, Expected)> = vec![
        ("ORIGIN 3", with(&target, &|a| a[1] = attribute(0x40, 1, &[3])), Expected::Withdraw),
        (
            "ORIGIN with the optional flag",
            with(&target, &|a| a[1] = attribute(0xc0, 1, &[0])),
            Expected::Withdraw,
        ),
        (
            "LOCAL_PREF of 3 bytes",
            with(&target, &|a| a[3] = attribute(0x40, 5, &[0, 0, 100])),
            Expected::Withdraw,
        ),
        ("LOCAL_PREF missing (iBGP)", with(&target, &|a| drop(a.remove(3))), Expected::Withdraw),
        (
            "AS_PATH with an unknown segment type",
            with(&target, &|a| a[2] = attribute(0x40, 2, &[5, 1, 0, 0, 0xfd, 0xe8])),
            Expected::Withdraw,
        ),
        (
            "extended communities of 12 bytes",
            with(&target, &|a| {
                a.push(attribute(0xc0, 16, &[0, 2, 0xfd, 0xe8, 0, 0, 0x27, 0x74, 3, 0x0c, 0, 0]));
            }),
            Expected::Withdraw,
        ),
        (
            "PMSI tunnel with a 5-byte endpoint",
            with(&target, &|a| a.push(attribute(0xc0, 22, &[0, 6, 0, 0x27, 0x74, 192, 0, 2, 1, 1]))),
            Expected::Withdraw,
        ),
        (
            "LOCAL_PREF twice",
            with(&fresh, &|a| a.push(attribute(0x40, 5, &[0, 0, 0, 200]))),
            Expected::Accept,
        ),
        (
            "an unknown EVPN route type next to an RT-2",
            with(&fresh, &|a| {
                let mut value = value_of(&a[0]).to_vec();
                value.splice(9..9, [9, 7, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
                a[0] = attribute(0x90, 14, &value);
            }),
            Expected::Accept,
        ),
        ("MP_REACH twice", with(&target, &|a| a.insert(1, a[0].clone())), Expected::Reset(3, 1)),
        (
            "MP_REACH whose length takes in ORIGIN, which is no EVPN route",
            with(&target, &|a| {
                let len = u16::from_be_bytes([a[0][2], a[0][3]]) + 4;
                a[0][2..4].copy_from_slice(&len.to_be_bytes());
            }),
            Expected::Reset(3, 10),
        ),
        (
            "MP_REACH whose length runs past the attributes",
            with(&target, &|a| {
                let len = u16::from_be_bytes([a[0][2], a[0][3]]) + 16;
                a[0][2..4].copy_from_slice(&len.to_be_bytes());
            }),
            Expected::Reset(3, 5),
        ),
        (
            "MP_REACH with a 5-byte next hop",
            with(&target, &|a| {
                let mut value = value_of(&a[0]).to_vec();
                value[3] = 5;
                value.insert(8, 1);
                a[0] = attribute(0x90, 14, &value);
            }),
            Expected::Reset(3, 9),
        ),
        (
            "an RT-2 with an impossible length",
            with(&target, &|a| {
                let mut value = value_of(&a[0]).to_vec();
                value[10] += 1;
                value.push(0);
                a[0] = attribute(0x90, 14, &value);
            }),
            Expected::Reset(3, 10),
        ),
        (
            "an RT-2 cut short inside MP_REACH",
            with(&target, &|a| {
                let value = value_of(&a[0]).to_vec();
                a[0] = attribute(0x90, 14, &value[..value.len() - 10]);
            }),
            Expected::Reset(3, 10),
        ),
        ("MP_UNREACH of 2 bytes", update_from(&[attribute(0x90, 15, &[0, 25])]), Expected::Reset(3, 9)),
        (
            "MP_UNREACH with an RT-2 cut short",
            update_from(&[attribute(0x90, 15, &[&[0, 25, 70][..], &rt2[..rt2.len() - 3]].concat())]),
            Expected::Reset(3, 10),
        ),
        (
            "an unrecognized well-known attribute",
            with(&target, &|a| a.push(attribute(0x40, 99, &[0xab, 0xcd]))),
            Expected::Reset(3, 2),
        ),
    ];

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    for (name, bad, expected) in cases {
        let listener = TcpListener::bind("127.0.0.23:0").expect("bind the raw peer");
        let port = listener.local_addr().expect("address").port();
        let mut config = common::speaker_config(port, false);
        config.peer = SocketAddr::new(IpAddr::from([127, 0, 0, 23]), port);
        let mut speaker = runtime.block_on(session::spawn(config)).expect("speaker starts");
        let mut stream = raw_session(&listener);
        let wait = Duration::from_secs(5);
        expect_event(&runtime, &mut speaker, wait, |e| matches!(e, Event::Established { .. }));
        stream.write_all(&announce(vec![bystander.clone(), target.clone()])).expect("send");
        for _ in 0..2 {
            expect_event(&runtime, &mut speaker, wait, |e| matches!(e, Event::Route(_)));
        }

        stream.write_all(&bad).expect("send the malformed UPDATE");
        match expected {
            Expected::Withdraw | Expected::Accept => {
                // Everything the speaker reports until the probe arrives.
                stream.write_all(&announce(vec![probe.clone()])).expect("send the probe");
                let events = collect_until(
                    &runtime,
                    &mut speaker,
                    wait,
                    name,
                    |e| matches!(e, Event::Route(r) if r.route == probe),
                );
                assert!(
                    events.iter().any(|e| matches!(e, Event::Malformed { .. }))
                        || matches!(expected, Expected::Accept),
                    "{name}: no Malformed event: {events:?}"
                );
                let withdrawn: Vec<&EvpnRoute> = events
                    .iter()
                    .filter_map(|e| if let Event::Withdrawn(r) = e { Some(r) } else { None })
                    .collect();
                let accepted = events.iter().any(|e| matches!(e, Event::Route(r) if r.route == fresh));
                if matches!(expected, Expected::Withdraw) {
                    assert_eq!(withdrawn, vec![&target], "{name}: {events:?}");
                } else {
                    assert!(withdrawn.is_empty() && accepted, "{name}: {events:?}");
                }
                assert!(
                    !events.iter().any(|e| matches!(e, Event::Down { .. })),
                    "{name}: the session went down: {events:?}"
                );
            }
            Expected::Reset(code, subcode) => {
                let notification = read_notification(&mut stream);
                assert_eq!(
                    (notification.code, notification.subcode),
                    (code, subcode),
                    "{name}: {notification}"
                );
                let events =
                    collect_until(&runtime, &mut speaker, wait, name, |e| matches!(e, Event::Down { .. }));
                let mut withdrawn: Vec<&EvpnRoute> = events
                    .iter()
                    .filter_map(|e| if let Event::Withdrawn(r) = e { Some(r) } else { None })
                    .collect();
                withdrawn.sort_by_key(|r| r.key());
                // RFC 4271: the peer's routes go with the session, no more.
                assert_eq!(withdrawn, vec![&target, &bystander], "{name}: {events:?}");
            }
        }
    }
}
