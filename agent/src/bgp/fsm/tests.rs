use std::net::Ipv4Addr;

use bgp_wire::{CeaseSubcode, DecodeCx, EncodeCx, Message, Notification, Open, Update};

use super::{
    BACKOFF_MAX, Collision, DownReason, Fsm, Input, OPEN_HOLD, Output, SessionConfig, State, Timer,
    resolve_collision,
};

const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn config() -> SessionConfig {
    SessionConfig {
        local_as: 65000,
        peer_as: 65000,
        router_id: US,
        hold_time: 90,
        connect: true,
        graceful_restart: Some(120),
        restarting: false,
    }
}

fn peer_open(hold: u16) -> Input {
    let open = Open::new(
        65000,
        hold,
        PEER,
        vec![bgp_wire::Capability::Multiprotocol { afi: 25, safi: 70 }, bgp_wire::Capability::RouteRefresh],
    );
    Input::Received(Box::new(Message::Open(open)))
}

fn sent(out: &[Output]) -> Vec<&Message> {
    out.iter().filter_map(|o| if let Output::Send(m) = o { Some(m) } else { None }).collect()
}

fn established() -> Fsm {
    let mut fsm = Fsm::new(config());
    fsm.process(Input::Start);
    fsm.process(Input::Connected);
    fsm.process(peer_open(180));
    let out = fsm.process(Input::Received(Box::new(Message::Keepalive)));
    assert!(out.iter().any(|o| matches!(o, Output::Established(_))));
    assert_eq!(fsm.state(), State::Established);
    fsm
}

#[test]
fn start_connects_and_arms_the_retry_timer() {
    let mut fsm = Fsm::new(config());
    let out = fsm.process(Input::Start);
    assert!(out.contains(&Output::Connect));
    assert!(out.iter().any(|o| matches!(o, Output::Arm(Timer::ConnectRetry, _))));
    assert_eq!(fsm.state(), State::Connect);
}

#[test]
fn passive_sessions_wait_in_active() {
    let mut fsm = Fsm::new(SessionConfig { connect: false, ..config() });
    let out = fsm.process(Input::Start);
    assert!(!out.contains(&Output::Connect));
    assert_eq!(fsm.state(), State::Active);
    let out = fsm.process(Input::Connected);
    assert!(matches!(sent(&out)[..], [Message::Open(_)]));
}

#[test]
fn a_connection_sends_open_with_evpn_and_graceful_restart_and_a_large_hold_timer() {
    let mut fsm = Fsm::new(config());
    fsm.process(Input::Start);
    let out = fsm.process(Input::Connected);
    let [Message::Open(open)] = sent(&out)[..] else { panic!("{out:?}") };
    assert!(open.supports(25, 70));
    assert!(open.capabilities.iter().any(|c| matches!(
        c,
        bgp_wire::Capability::GracefulRestart { restart_time: 120, restarting: false, families, .. }
            if families[0].forwarding_preserved
    )));
    assert!(out.contains(&Output::Arm(Timer::Hold, OPEN_HOLD)));
    assert_eq!(fsm.state(), State::OpenSent);
}

#[test]
fn the_negotiated_hold_time_is_the_smaller_and_keepalives_a_third_of_it() {
    let mut fsm = Fsm::new(config());
    fsm.process(Input::Start);
    fsm.process(Input::Connected);
    let out = fsm.process(peer_open(30));
    assert!(matches!(sent(&out)[..], [Message::Keepalive]));
    assert!(out.contains(&Output::Arm(Timer::Keepalive, std::time::Duration::from_secs(10))));
    assert!(out.contains(&Output::Arm(Timer::Hold, std::time::Duration::from_secs(30))));
    assert_eq!(fsm.negotiated().map(|n| n.hold_time), Some(30));
    assert_eq!(fsm.state(), State::OpenConfirm);
}

#[test]
fn hold_time_zero_means_no_keepalives_and_no_hold_timer() {
    let mut fsm = Fsm::new(config());
    fsm.process(Input::Start);
    fsm.process(Input::Connected);
    let out = fsm.process(peer_open(0));
    assert!(!out.iter().any(|o| matches!(o, Output::Arm(Timer::Keepalive | Timer::Hold, _))));
    assert!(out.contains(&Output::Disarm(Timer::Hold)));
}

#[test]
fn open_checks_answer_with_the_right_notification() {
    let cases = [
        (Open::new(65001, 90, PEER, vec![bgp_wire::Capability::Multiprotocol { afi: 25, safi: 70 }]), (2, 2)),
        (Open::new(65000, 90, US, vec![bgp_wire::Capability::Multiprotocol { afi: 25, safi: 70 }]), (2, 3)),
        (Open::new(65000, 90, PEER, vec![bgp_wire::Capability::Multiprotocol { afi: 1, safi: 1 }]), (2, 7)),
    ];
    for (open, (code, subcode)) in cases {
        let mut fsm = Fsm::new(config());
        fsm.process(Input::Start);
        fsm.process(Input::Connected);
        let out = fsm.process(Input::Received(Box::new(Message::Open(open))));
        let [Message::Notification(n)] = sent(&out)[..] else { panic!("{out:?}") };
        assert_eq!((n.code, n.subcode), (code, subcode));
        assert!(out.contains(&Output::Disconnect));
        assert_eq!(fsm.state(), State::Idle);
        // A configuration mismatch does not retry fast.
        assert!(out.contains(&Output::Arm(Timer::ConnectRetry, BACKOFF_MAX)), "{out:?}");
    }
}

#[test]
fn updates_and_keepalives_rearm_the_hold_timer_and_updates_reach_the_rib() {
    let mut fsm = established();
    let out = fsm.process(Input::Received(Box::new(Message::Update(Update::evpn_end_of_rib()))));
    assert!(out.iter().any(|o| matches!(o, Output::Update(u) if u.is_evpn_end_of_rib())));
    assert!(out.iter().any(|o| matches!(o, Output::Arm(Timer::Hold, _))));
    let out = fsm.process(Input::Received(Box::new(Message::Keepalive)));
    assert!(out.iter().any(|o| matches!(o, Output::Arm(Timer::Hold, _))));
}

#[test]
fn the_hold_timer_runs_out_in_every_waiting_state() {
    for steps in 0..3 {
        let mut fsm = Fsm::new(config());
        fsm.process(Input::Start);
        fsm.process(Input::Connected);
        if steps >= 1 {
            fsm.process(peer_open(90));
        }
        if steps >= 2 {
            fsm.process(Input::Received(Box::new(Message::Keepalive)));
        }
        let out = fsm.process(Input::Expired(Timer::Hold));
        let [Message::Notification(n)] = sent(&out)[..] else { panic!("{out:?}") };
        assert_eq!((n.code, n.subcode), (4, 0));
        assert_eq!(fsm.state(), State::Idle);
        assert_eq!(steps == 2, out.iter().any(|o| matches!(o, Output::Down(_))));
    }
}

#[test]
fn keepalive_timer_sends_and_rearms() {
    let mut fsm = established();
    let out = fsm.process(Input::Expired(Timer::Keepalive));
    assert!(matches!(sent(&out)[..], [Message::Keepalive]));
    assert!(out.contains(&Output::Arm(Timer::Keepalive, std::time::Duration::from_secs(30))));
}

#[test]
fn a_malformed_update_resets_with_its_own_notification() {
    let mut fsm = established();
    let error = Message::decode(
        &[0xff; 16].iter().copied().chain([0, 19, 9]).collect::<Vec<_>>(),
        DecodeCx::default(),
    )
    .expect_err("bad type");
    let out = fsm.process(Input::Malformed(error));
    let [Message::Notification(n)] = sent(&out)[..] else { panic!("{out:?}") };
    assert_eq!((n.code, n.subcode, n.data.as_slice()), (1, 3, &[9][..]));
    assert!(out.iter().any(|o| matches!(o, Output::Down(DownReason::LocalNotification(_)))));
}

#[test]
fn unexpected_messages_are_fsm_errors_naming_the_state() {
    let mut fsm = Fsm::new(config());
    fsm.process(Input::Start);
    fsm.process(Input::Connected);
    let out = fsm.process(Input::Received(Box::new(Message::Keepalive)));
    let [Message::Notification(n)] = sent(&out)[..] else { panic!("{out:?}") };
    assert_eq!((n.code, n.subcode), (5, 1));
    let mut fsm = established();
    let out = fsm.process(peer_open(90));
    let [Message::Notification(n)] = sent(&out)[..] else { panic!("{out:?}") };
    assert_eq!((n.code, n.subcode), (5, 3));
}

#[test]
fn peer_notification_takes_the_session_down_without_answering() {
    let mut fsm = established();
    let out = fsm.process(Input::Received(Box::new(Message::Notification(Notification::cease(
        CeaseSubcode::AdministrativeShutdown,
    )))));
    assert!(sent(&out).is_empty());
    assert!(out.contains(&Output::Down(DownReason::PeerNotification(Notification::cease(
        CeaseSubcode::AdministrativeShutdown
    )))));
    assert_eq!(fsm.state(), State::Idle);
    // A peer shutting down (restarting) is retried soon.
    assert!(out.contains(&Output::Arm(Timer::ConnectRetry, super::BACKOFF_MIN)), "{out:?}");
    // An OPEN error from the peer is not.
    let mut fsm = Fsm::new(config());
    fsm.process(Input::Start);
    fsm.process(Input::Connected);
    let bad_as = Notification { code: 2, subcode: 2, data: Vec::new() };
    let out = fsm.process(Input::Received(Box::new(Message::Notification(bad_as))));
    assert!(out.contains(&Output::Arm(Timer::ConnectRetry, BACKOFF_MAX)), "{out:?}");
}

#[test]
fn reconnects_back_off_exponentially_and_reset_once_stable() {
    let mut fsm = Fsm::new(config());
    fsm.process(Input::Start);
    let mut delays = Vec::new();
    for _ in 0..9 {
        let out = fsm.process(Input::ConnectionClosed);
        assert_eq!(fsm.state(), State::Active);
        assert!(!out.iter().any(|o| matches!(o, Output::Arm(Timer::ConnectRetry, _))));
        let out = fsm.process(Input::Expired(Timer::ConnectRetry));
        assert!(out.contains(&Output::Connect));
        delays.push(fsm.backoff().as_secs());
    }
    assert_eq!(delays, [2, 4, 8, 16, 32, 64, 120, 120, 120]);
    // Established for a while: past failures are forgotten.
    fsm.process(Input::Connected);
    fsm.process(peer_open(90));
    fsm.process(Input::Received(Box::new(Message::Keepalive)));
    fsm.process(Input::Expired(Timer::Stable));
    assert_eq!(fsm.backoff().as_secs(), 1);
}

#[test]
fn stop_sends_cease_and_does_not_reconnect() {
    let mut fsm = established();
    let out = fsm.process(Input::Stop(CeaseSubcode::AdministrativeShutdown));
    let [Message::Notification(n)] = sent(&out)[..] else { panic!("{out:?}") };
    assert_eq!(*n, Notification::cease(CeaseSubcode::AdministrativeShutdown));
    assert!(!out.iter().any(|o| matches!(o, Output::Arm(Timer::ConnectRetry, _))));
    assert!(out.contains(&Output::Disarm(Timer::ConnectRetry)));
    assert!(fsm.process(Input::Expired(Timer::ConnectRetry)).iter().all(|o| *o != Output::Connect));
}

#[test]
fn the_send_hold_timer_drops_a_peer_that_stopped_reading() {
    let mut fsm = established();
    let out = fsm.process(Input::Expired(Timer::SendHold));
    assert!(sent(&out).is_empty(), "the peer is not reading: no NOTIFICATION");
    assert!(out.contains(&Output::Down(DownReason::SendHoldExpired)));
}

#[test]
fn route_refresh_for_evpn_asks_for_a_resend() {
    let mut fsm = established();
    let out = fsm.process(Input::Received(Box::new(Message::RouteRefresh(bgp_wire::evpn_route_refresh()))));
    assert!(out.contains(&Output::RouteRefresh));
}

#[test]
fn a_replaced_connection_starts_over_on_the_surviving_one() {
    let mut fsm = Fsm::new(config());
    fsm.process(Input::Start);
    fsm.process(Input::Connected);
    fsm.process(peer_open(90));
    let out = fsm.process(Input::Replaced);
    assert!(out.contains(&Output::Disarm(Timer::Hold)));
    assert_eq!(fsm.state(), State::Active);
    let out = fsm.process(Input::Connected);
    assert!(matches!(sent(&out)[..], [Message::Open(_)]));
    fsm.process(peer_open(90));
    fsm.process(Input::Received(Box::new(Message::Keepalive)));
    assert_eq!(fsm.state(), State::Established);
    assert_eq!(fsm.backoff().as_secs(), 1, "a collision is not a failure");
}

#[test]
fn collisions_keep_the_established_or_the_higher_identifier() {
    let low = Ipv4Addr::new(10, 0, 0, 1);
    let high = Ipv4Addr::new(10, 0, 0, 2);
    assert_eq!(resolve_collision(State::OpenConfirm, high, low), Collision::KeepOurs);
    assert_eq!(resolve_collision(State::OpenConfirm, low, high), Collision::KeepTheirs);
    assert_eq!(resolve_collision(State::Established, low, high), Collision::KeepOurs);
}

#[test]
fn every_message_we_send_encodes() {
    let mut fsm = Fsm::new(SessionConfig { local_as: 4_200_000_000, peer_as: 4_200_000_000, ..config() });
    let mut outputs = fsm.process(Input::Start);
    outputs.extend(fsm.process(Input::Connected));
    for output in outputs {
        if let Output::Send(message) = output {
            message.to_bytes(EncodeCx::default()).expect("encodes");
        }
    }
}
