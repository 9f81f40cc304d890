//! Speaker events as core inputs: a received route reduced to what the
//! core needs, and the session's state and counters kept for `/state`.

use bgp_wire::{EvpnRoute, ExtCommunity, PmsiTunnelId};
use tracing::warn;

use super::unix_secs_now;
use crate::{
    bgp::{rib::InRoute, session::Event},
    core::msg::{Input, Mobility, ReceivedKind, ReceivedRoute},
    state::{BgpState, SessionState},
};

/// A speaker event as a core input, keeping the session state for /state.
pub(super) fn speaker_input(event: &Event, bgp: &mut BgpState) -> Option<Input> {
    let counters = &mut bgp.counters;
    match event {
        // The speaker reports the move to Established, then the session's
        // details; "established" is shown with them, so that no snapshot
        // says the session is up without its peer and counters.
        Event::State(state) => {
            if *state != SessionState::Established {
                bgp.state = *state;
            }
            None
        }
        Event::Established { peer_id, hold_time } => {
            counters.established_transitions += 1;
            bgp.state = SessionState::Established;
            bgp.peer_id = Some(*peer_id);
            bgp.hold_time = Some(*hold_time);
            bgp.established_at_unix_secs = Some(unix_secs_now());
            Some(Input::Session { up: true })
        }
        Event::Down { reason } => {
            bgp.last_down_reason = Some(reason.clone());
            Some(Input::Session { up: false })
        }
        Event::Route(route) => {
            counters.routes_received += 1;
            received(route).map(Input::Route)
        }
        Event::Withdrawn(route) => {
            counters.withdrawals_received += 1;
            Some(Input::Withdrawn { key: route.key() })
        }
        Event::OwnRouteIgnored(_) => {
            counters.own_routes_ignored += 1;
            None
        }
        Event::EndOfRib => None,
        Event::Malformed { error } => {
            counters.malformed_updates += 1;
            warn!(%error, "malformed UPDATE handled per RFC 7606");
            None
        }
    }
}

/// A received route reduced to what the core needs; `None` for route types
/// the proxy does not use.
fn received(route: &InRoute) -> Option<ReceivedRoute> {
    let (kind, vni) = match &route.route {
        EvpnRoute::MacIp(mac_ip) => {
            (ReceivedKind::MacIp { mac: mac_ip.mac, ip: mac_ip.ip }, mac_ip.label1.value())
        }
        EvpnRoute::Imet(imet) => {
            let vni = route.pmsi_tunnel.as_ref().map(|p| p.label.value())?;
            if !matches!(
                route.pmsi_tunnel.as_ref().map(|p| &p.tunnel),
                Some(PmsiTunnelId::IngressReplication(_))
            ) {
                return None;
            }
            (ReceivedKind::Imet { originator: imet.originator }, vni)
        }
        _ => return None,
    };
    let mobility = route.ext_communities.iter().find_map(|c| match c {
        ExtCommunity::MacMobility { sticky, sequence } => {
            Some(Mobility { sequence: *sequence, sticky: *sticky })
        }
        _ => None,
    });
    Some(ReceivedRoute {
        key: route.route.key(),
        kind,
        vni,
        next_hop: route.next_hop,
        originator_id: route.originator_id,
        mobility,
    })
}

#[cfg(test)]
mod tests {
    use crate::{
        bgp::{fsm::State, session::Event},
        state::{BgpState, SessionState},
    };

    #[test]
    fn the_session_shows_established_only_with_its_peer_and_counter() {
        let mut bgp = BgpState { state: SessionState::OpenConfirm, ..BgpState::default() };
        assert!(super::speaker_input(&Event::State(State::Established), &mut bgp).is_none());
        assert_eq!(bgp.state, SessionState::OpenConfirm, "not yet: the peer's details come next");
        let established = Event::Established { peer_id: "10.0.0.9".parse().expect("ip"), hold_time: 90 };
        assert!(super::speaker_input(&established, &mut bgp).is_some());
        assert_eq!(
            (bgp.state, bgp.peer_id, bgp.hold_time, bgp.counters.established_transitions),
            (SessionState::Established, Some("10.0.0.9".parse().expect("ip")), Some(90), 1)
        );
        assert!(super::speaker_input(&Event::State(State::Idle), &mut bgp).is_none());
        assert_eq!(bgp.state, SessionState::Idle);
    }
}
