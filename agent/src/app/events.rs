//! Speaker events as core inputs: a received route reduced to what the
//! core needs, and the session's state and counters kept for `/state`.

use bgp_wire::{EvpnRoute, ExtCommunity, PmsiTunnelId};
use tracing::warn;

use super::unix_secs_now;
use crate::{
    bgp::{fsm::State as SessionState, rib::InRoute, session::Event},
    core::msg::{Input, Mobility, ReceivedKind, ReceivedRoute},
};

/// A speaker event as a core input, keeping the session state for /state.
pub(super) fn speaker_input(event: &Event, bgp_state: &mut serde_json::Value) -> Option<Input> {
    let counter = match event {
        Event::Established { .. } => Some("established-transitions"),
        Event::Route(_) => Some("routes-received"),
        Event::Withdrawn(_) => Some("withdrawals-received"),
        Event::Malformed { .. } => Some("malformed-updates"),
        Event::OwnRouteIgnored(_) => Some("own-routes-ignored"),
        _ => None,
    };
    if let Some(name) = counter {
        bump(bgp_state, name, 1);
    }
    match event {
        // The speaker reports the move to Established, then the session's
        // details; "established" is shown with them, so that no snapshot
        // says the session is up without its peer and counters.
        Event::State(state) => {
            if *state != SessionState::Established {
                bgp_state["state"] = format!("{state:?}").to_lowercase().into();
            }
            None
        }
        Event::Established { peer_id, hold_time } => {
            bgp_state["state"] = "established".into();
            bgp_state["peer-id"] = peer_id.to_string().into();
            bgp_state["hold-time"] = (*hold_time).into();
            bgp_state["established-at-unix-secs"] = unix_secs_now().into();
            Some(Input::Session { up: true })
        }
        Event::Down { reason } => {
            bgp_state["last-down-reason"] = reason.clone().into();
            Some(Input::Session { up: false })
        }
        Event::Route(route) => received(route).map(Input::Route),
        Event::Withdrawn(route) => Some(Input::Withdrawn { key: route.key() }),
        Event::EndOfRib | Event::OwnRouteIgnored(_) => None,
        Event::Malformed { error } => {
            warn!(%error, "malformed UPDATE handled per RFC 7606");
            None
        }
    }
}

/// Adds `by` to the session counter `name` in the state JSON.
pub(super) fn bump(bgp_state: &mut serde_json::Value, name: &str, by: u64) {
    let counters = &mut bgp_state["counters"];
    counters[name] = (counters[name].as_u64().unwrap_or(0) + by).into();
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
    use serde_json::json;

    #[test]
    fn the_session_shows_established_only_with_its_peer_and_counter() {
        use crate::bgp::{fsm::State, session::Event};
        let mut bgp = json!({"state": "openconfirm"});
        assert!(super::speaker_input(&Event::State(State::Established), &mut bgp).is_none());
        assert_eq!(bgp["state"], "openconfirm", "not yet: the peer's details come next");
        let established = Event::Established { peer_id: "10.0.0.9".parse().expect("ip"), hold_time: 90 };
        assert!(super::speaker_input(&established, &mut bgp).is_some());
        assert_eq!(
            (&bgp["state"], &bgp["peer-id"], &bgp["hold-time"], &bgp["counters"]["established-transitions"]),
            (&json!("established"), &json!("10.0.0.9"), &json!(90), &json!(1))
        );
        assert!(super::speaker_input(&Event::State(State::Idle), &mut bgp).is_none());
        assert_eq!(bgp["state"], "idle");
    }
}
