//! ARP inside VXLAN, sent the way a static VTEP sends it: UDP datagrams
//! to port 4789 whose payload is the VXLAN header and the inner frame. The
//! kernel adds the outer Ethernet, IP and UDP headers, so a test needs no
//! raw socket, and the source address picks the VTEP.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

/// The VXLAN payload of a broadcast ARP request from `mac`/`ip` asking for
/// `target`, in `vni`.
#[must_use]
pub fn arp_request(vni: u32, mac: [u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let [_, v0, v1, v2] = vni.to_be_bytes();
    let mut payload = vec![0x08, 0, 0, 0, v0, v1, v2, 0];
    payload.extend_from_slice(&[0xff; 6]);
    payload.extend_from_slice(&mac);
    payload.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01]);
    payload.extend_from_slice(&mac);
    payload.extend_from_slice(&ip.octets());
    payload.extend_from_slice(&[0; 6]);
    payload.extend_from_slice(&target.octets());
    payload
}

/// A locally administered unicast MAC numbered `n` under `prefix`.
#[must_use]
pub fn numbered_mac(prefix: u8, number: u32) -> [u8; 6] {
    let mut mac = [0x02, prefix, 0, 0, 0, 0];
    mac[2..].copy_from_slice(&number.to_be_bytes());
    mac
}

/// Sends every payload from `from` to `to`, in the calling thread's
/// namespace (see `Netns::run`); returns how many were sent.
///
/// # Panics
///
/// When `from` cannot be bound.
#[must_use]
pub fn send_all(from: Ipv4Addr, to: SocketAddr, payloads: impl Iterator<Item = Vec<u8>>) -> u64 {
    let socket = UdpSocket::bind((from, 0)).unwrap_or_else(|e| panic!("bind {from}: {e}"));
    let mut sent = 0;
    for payload in payloads {
        // A full queue or an ICMP error from an earlier datagram is not
        // this datagram's failure; the count says what went out.
        if socket.send_to(&payload, to).is_ok() {
            sent += 1;
        }
    }
    sent
}
