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
    Capability, EncodeCx, Esi, EvpnRoute, Label, MacAddr, MacIp, Message, MpReach, Notification, Open,
    Origin, PathAttributes, RouteDistinguisher, Update,
};
use common::{expect_event, read_message};
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
            &Message::Notification(Notification::cease(2)).to_bytes(EncodeCx::default()).expect("fits"),
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
