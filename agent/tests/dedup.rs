//! The snooper's in-kernel dedup never hides a frame the agent must act on
//! (issue 27), on a real kernel: the agent snoops a veth in a namespace and
//! ARP-in-VXLAN frames arrive from static VTEPs in another one.
//!
//! - A host that moves from VTEP A to B and back to A within the dedup
//!   window (a third of `mac-aging-secs`) ends behind A with sequence 2.
//! - A binding the agent refused (an unknown VTEP; a MAC over a limit) is
//!   learned from the host's next ARP once a reload accepts it, not a
//!   window later.
//!
//! Each frame is sent once: a frame held back by the dedup window would
//! fail the test, where resending it would wait the window out.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

mod snoop_lab;

use std::net::Ipv4Addr;

use snoop_lab::{Lab, VTEP_A, VTEP_B, VTEP_C};
use static_vxlan_agent_tests::privileged;

fn behind(entry: &serde_json::Value, vtep: Ipv4Addr, sequence: u64) -> bool {
    entry["vtep"] == vtep.to_string()
        && entry["sequence"].as_u64() == Some(sequence)
        && entry["status"] == "active"
}

#[test]
fn a_host_moving_back_within_the_dedup_window_is_advertised_where_it_is() {
    if !privileged("a_host_moving_back_within_the_dedup_window_is_advertised_where_it_is") {
        return;
    }
    // The default aging (300 s) makes a 100 s dedup window: all of this
    // happens well inside it.
    let mut lab = Lab::start("ddm", "", &[VTEP_A, VTEP_B]);
    lab.arp(VTEP_A, 1);
    lab.wait_for_host("h1 learned behind A", 1, |e| behind(e, VTEP_A, 0));
    lab.arp(VTEP_B, 1);
    lab.wait_for_host("h1 moved to B, sequence 1", 1, |e| behind(e, VTEP_B, 1));
    lab.arp(VTEP_A, 1);
    lab.wait_for_host("h1 moved back to A, sequence 2", 1, |e| behind(e, VTEP_A, 2));
    // And once more, the other way.
    lab.arp(VTEP_B, 1);
    lab.wait_for_host("h1 moved to B again, sequence 3", 1, |e| behind(e, VTEP_B, 3));
    lab.agent.stop();
}

#[test]
fn an_arp_from_an_unknown_vtep_is_learned_at_the_next_arp_after_a_reload_adds_it() {
    if !privileged("an_arp_from_an_unknown_vtep_is_learned_at_the_next_arp_after_a_reload_adds_it") {
        return;
    }
    let mut lab = Lab::start("ddu", "", &[VTEP_A]);
    lab.arp(VTEP_C, 3);
    lab.wait_for_counter("unknown-vtep", 1);
    lab.reload("", &[VTEP_A, VTEP_C]);
    lab.arp(VTEP_C, 3);
    lab.wait_for_host("h3 learned behind C at its next ARP", 3, |e| behind(e, VTEP_C, 0));
    lab.agent.stop();
}

#[test]
fn a_mac_refused_over_a_limit_is_learned_at_the_next_arp_after_a_reload_raises_it() {
    if !privileged("a_mac_refused_over_a_limit_is_learned_at_the_next_arp_after_a_reload_raises_it") {
        return;
    }
    let mut lab = Lab::start("ddl", "max-macs-per-vtep: 1\n", &[VTEP_A]);
    lab.arp(VTEP_A, 1);
    lab.wait_for_host("h1 learned behind A", 1, |e| behind(e, VTEP_A, 0));
    lab.arp(VTEP_A, 2);
    lab.wait_for_counter("over-limit", 1);
    lab.reload("max-macs-per-vtep: 2\n", &[VTEP_A]);
    lab.arp(VTEP_A, 2);
    lab.wait_for_host("h2 learned behind A at its next ARP", 2, |e| behind(e, VTEP_A, 0));
    lab.agent.stop();
}
