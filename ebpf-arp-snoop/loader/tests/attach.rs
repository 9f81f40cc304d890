//! Privileged: loads the real eBPF object into the running kernel and
//! attaches it inside network namespaces this test creates.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::path::Path;

use arp_snoop::{SnoopError, TcSnooper};
use arp_snoop_common::Counter;
use static_vxlan_agent_tests::{Netns, privileged, veth_pair};

#[test]
fn tc_program_attaches_in_a_namespace_and_counts_ingress_frames() {
    if !privileged("tc_program_attaches_in_a_namespace_and_counts_ingress_frames") {
        return;
    }
    let leaf = Netns::new("l");
    let host = Netns::new("h");
    let (leaf_if, _host_if) = veth_pair(&leaf, "192.0.2.1/24", &host, "192.0.2.2/24");

    let snooper = TcSnooper::attach(Some(&leaf.path()), &leaf_if).expect("attach");
    assert_eq!(snooper.interface(), leaf_if);
    let before = snooper.counter(Counter::Seen).expect("read counter");

    host.exec("ping", &["-c", "3", "-i", "0.2", "-W", "2", "192.0.2.1"]);

    // ARP plus three echo requests reached the leaf's ingress; the pings
    // succeeding also shows the program passed every frame on.
    let after = snooper.counter(Counter::Seen).expect("read counter");
    assert!(after >= before + 3, "seen went from {before} to {after}");
}

#[test]
fn a_missing_interface_is_an_attach_error_naming_it() {
    if !privileged("a_missing_interface_is_an_attach_error_naming_it") {
        return;
    }
    let leaf = Netns::new("m");
    let error = TcSnooper::attach(Some(&leaf.path()), "e1-1").expect_err("no such interface");
    assert!(matches!(&error, SnoopError::Attach { interface, .. } if interface == "e1-1"), "{error}");
}

#[test]
fn a_missing_namespace_is_an_error_naming_it() {
    // Needs no privilege: opening the namespace file fails first.
    let error = TcSnooper::attach(Some(Path::new("/var/run/netns/sva-does-not-exist")), "e1-1")
        .expect_err("no such namespace");
    assert!(matches!(error, SnoopError::NetnsOpen { .. }), "{error}");
    assert!(error.to_string().contains("/var/run/netns/sva-does-not-exist"), "{error}");
}
