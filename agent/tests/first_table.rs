//! The agent's first End-of-RIB comes after its whole table, however long
//! the table takes to build. A peer that kept our routes over a graceful
//! restart drops every stale route at End-of-RIB, so an End-of-RIB before
//! the table would withdraw everything and announce it again a moment
//! later. A raw peer on loopback counts what arrives before the marker.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

mod common;

use std::{
    fmt::Write as _,
    fs,
    io::Write as _,
    net::{Ipv4Addr, TcpListener},
    process::Command,
    time::Duration,
};

use bgp_wire::{Capability, EncodeCx, EvpnRoute, Message, MpReach, Open};
use common::read_message;
use static_vxlan_agent_tests::peers::{Daemon, ScratchDir};

const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");
const VTEPS: u32 = 5;
const MACS_PER_VTEP: u32 = 10_000;

#[test]
fn end_of_rib_follows_the_whole_first_table() {
    let dir = ScratchDir::new("eor");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut config = format!(
        "source-address: 127.0.0.31\npeer-address: 127.0.0.1\npeer-port: {port}\nlocal-as: 65000\nstate-file: ''\n\
         max-macs-per-mac-vrf: 100000\nmax-macs-per-vtep: 100000\n\
         mac-vrfs:\n  blue:\n    evi: 100\n    vni: 10100\n    static-vteps:\n"
    );
    for v in 1..=VTEPS {
        let _ = writeln!(config, "      192.0.2.{v}:\n        static-macs:");
        for i in 0..MACS_PER_VTEP {
            let [_, _, hi, lo] = i.to_be_bytes();
            let _ = writeln!(config, "          - \"02:31:00:{v:02x}:{hi:02x}:{lo:02x}\"");
        }
    }
    let path = dir.path().join("agent.yaml");
    fs::write(&path, config).expect("write config");
    let mut agent = Daemon::spawn(
        "static-vxlan-agent",
        Command::new(AGENT).args(["run", "--config", &path.display().to_string()]),
        &dir.path().join("agent.log"),
    );

    let (mut stream, _) = listener.accept().expect("the agent connects");
    stream.set_read_timeout(Some(Duration::from_mins(1))).expect("timeout");
    assert!(matches!(read_message(&mut stream), Message::Open(_)));
    let open = Open::new(
        65000,
        240,
        Ipv4Addr::LOCALHOST,
        vec![Capability::Multiprotocol { afi: 25, safi: 70 }, Capability::FourOctetAs(65000)],
    );
    let mut out = Message::Open(open).to_bytes(EncodeCx::default()).expect("fits");
    Message::Keepalive.encode(&mut out, EncodeCx::default()).expect("fits");
    stream.write_all(&out).expect("send OPEN and KEEPALIVE");

    let (mut mac_routes, mut imet_routes) = (0, 0);
    loop {
        match read_message(&mut stream) {
            Message::Update(update) if update.is_evpn_end_of_rib() => break,
            Message::Update(update) => {
                if let Some(MpReach::Evpn { routes, .. }) = &update.attributes.mp_reach {
                    mac_routes += routes.iter().filter(|r| matches!(r, EvpnRoute::MacIp(_))).count();
                    imet_routes += routes.iter().filter(|r| matches!(r, EvpnRoute::Imet(_))).count();
                }
            }
            Message::Keepalive => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(mac_routes, (VTEPS * MACS_PER_VTEP) as usize, "RT-2 before End-of-RIB");
    assert_eq!(imet_routes, VTEPS as usize, "RT-3 before End-of-RIB");
    assert_eq!(agent.terminate(Duration::from_secs(10)), Some(0));
}
