//! Static-VTEP liveness (issue 22). Whatever checks a VTEP (ICMP probes,
//! SR Linux BFD) reports `up` or `down` as an input; the rules are here.
//!
//! - A VTEP reported down is *withdrawn*: its RT-3 and the RT-2 of every
//!   MAC behind it go at once, in every mac-vrf. Its learned MACs stay in
//!   the table (and keep aging as usual: a dead VTEP refreshes nothing), so
//!   they come back with their sequences when it does; a MAC seen behind
//!   another VTEP meanwhile moves as usual, with a higher sequence.
//! - A withdrawn VTEP reported up must stay up for `hold-down-secs` before
//!   its routes are advertised again; a down report in between restarts
//!   the wait. A flapping VTEP therefore costs one withdrawal and one
//!   advertisement per hold-down at most.
//! - A VTEP nobody reported on is up: without an answer (no capability to
//!   probe, no BFD session) the routes stay, as they did before liveness.
//! - Liveness is each agent's own view: when two agents speak for a VTEP
//!   and only one sees it down, the other's routes keep it in the fabric.

use std::{collections::BTreeMap, net::Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::{
    Core,
    msg::{Millis, Notice},
    origination::Scope,
};
use crate::config::model::LivenessMethod;

/// A VTEP whose routes are withdrawn because it was reported down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Withdrawn {
    /// When it was reported down (core clock).
    pub down_since_ms: Millis,
    /// When it was last reported up again, if it is up now: its routes
    /// return once it has been up for the hold-down.
    pub up_since_ms: Option<Millis>,
}

impl Core {
    pub(super) fn on_vtep_liveness(&mut self, vtep: Ipv4Addr, up: bool) {
        let now = self.now;
        match (self.withdrawn_vteps.get_mut(&vtep), up) {
            (None, true) => {}
            (None, false) => {
                if !self.has_liveness(vtep) {
                    return;
                }
                self.withdrawn_vteps.insert(vtep, Withdrawn { down_since_ms: now, up_since_ms: None });
                self.notices.push(Notice::VtepDown { vtep });
                self.vtep_routes_dirty(vtep);
            }
            (Some(withdrawn), true) => {
                if withdrawn.up_since_ms.is_none() {
                    withdrawn.up_since_ms = Some(now);
                }
                self.restore_held();
            }
            (Some(withdrawn), false) => withdrawn.up_since_ms = None,
        }
    }

    /// Advertises again the VTEPs that have been up for the hold-down.
    pub(super) fn restore_held(&mut self) {
        let hold_ms = self.config.as_ref().map_or(0, |c| u64::from(c.liveness.hold_down_secs) * 1000);
        let now = self.now;
        let back: Vec<(Ipv4Addr, Withdrawn)> = self
            .withdrawn_vteps
            .iter()
            .filter(|(_, w)| w.up_since_ms.is_some_and(|up| now.saturating_sub(up) >= hold_ms))
            .map(|(vtep, w)| (*vtep, *w))
            .collect();
        for (vtep, withdrawn) in back {
            self.withdrawn_vteps.remove(&vtep);
            let down_ms = now.saturating_sub(withdrawn.down_since_ms);
            self.notices.push(Notice::VtepRestored { vtep, down_ms });
            self.vtep_routes_dirty(vtep);
        }
    }

    /// A new configuration: a VTEP no longer checked (method `none`, or no
    /// longer ours) is not held withdrawn.
    pub(super) fn liveness_reconfigured(&mut self) {
        let unchecked: Vec<Ipv4Addr> =
            self.withdrawn_vteps.keys().copied().filter(|vtep| !self.has_liveness(*vtep)).collect();
        for vtep in unchecked {
            self.withdrawn_vteps.remove(&vtep);
            self.vtep_routes_dirty(vtep);
        }
        self.restore_held();
    }

    /// True if `vtep` is a static VTEP of ours with a liveness method and
    /// not a native EVPN VTEP (whose routes are its own, not ours).
    fn has_liveness(&self, vtep: Ipv4Addr) -> bool {
        let Some(config) = &self.config else { return false };
        let known = config.mac_vrfs.values().any(|m| m.static_vteps.contains_key(&vtep))
            || self.vrfs.values().any(|v| v.discovered.contains_key(&vtep));
        known
            && config.liveness_method(vtep) != LivenessMethod::None
            && !self.evpn_vteps.contains_key(&vtep.into())
    }

    /// The VTEPs to probe with ICMP: every static VTEP (configured or
    /// discovered) whose method is `icmp`, but not native EVPN VTEPs, for
    /// which we do not speak.
    #[must_use]
    pub fn probe_targets(&self) -> Vec<Ipv4Addr> {
        let Some(config) = self.config.as_ref().filter(|c| c.enabled) else { return Vec::new() };
        let configured = config.mac_vrfs.values().flat_map(|m| m.static_vteps.keys());
        let discovered = self.vrfs.values().flat_map(|v| v.discovered.keys());
        let mut vteps: Vec<Ipv4Addr> = configured
            .chain(discovered)
            .copied()
            .filter(|vtep| config.liveness_method(*vtep) == LivenessMethod::Icmp)
            .filter(|vtep| !self.evpn_vteps.contains_key(&(*vtep).into()))
            .collect();
        vteps.sort_unstable();
        vteps.dedup();
        vteps
    }

    /// Every route of `vtep`, its RT-3 and its MACs in every mac-vrf, is
    /// derived again at the next flush.
    pub(super) fn vtep_routes_dirty(&mut self, vtep: Ipv4Addr) {
        for vrf in self.vrfs.values() {
            self.dirty.insert(Scope::Rt3(vrf.name.clone(), vtep));
            for (mac, entry) in vrf.macs.iter() {
                if entry.vtep == vtep {
                    self.dirty.insert(Scope::Mac(vrf.name.clone(), *mac));
                }
            }
        }
    }

    /// The withdrawn VTEPs, for state.
    #[must_use]
    pub fn withdrawn_vteps(&self) -> &BTreeMap<Ipv4Addr, Withdrawn> {
        &self.withdrawn_vteps
    }
}
