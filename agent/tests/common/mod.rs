//! What the speaker interop tests share: the routes we originate and small
//! helpers around the speaker's event stream.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::{
    io::Read as _,
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream},
    sync::Arc,
    time::Duration,
};

use bgp_wire::{
    DecodeCx, Esi, EvpnRoute, ExtCommunity, Imet, IpPrefix, Label, MacAddr, MacIp, Message, Origin,
    PathAttributes, PmsiTunnel, PmsiTunnelId, RouteDistinguisher, RouteTarget, TUNNEL_VXLAN,
};
use static_vxlan_agent::bgp::{
    fsm::SessionConfig,
    rib::{OutRoute, RouteAttributes},
    session::{Event, Speaker, SpeakerConfig},
};

/// Reads one whole message from a raw connection to the speaker or agent,
/// which must only ever send well-formed ones.
pub(crate) fn read_message(stream: &mut TcpStream) -> Message {
    next_message(stream, DecodeCx::default()).expect("a whole message")
}

/// The next whole message decoded in `cx`, or `None` once the connection
/// ends (for peers that read until the agent goes away). A message that
/// does not decode is a test failure.
pub(crate) fn next_message(stream: &mut TcpStream, cx: DecodeCx) -> Option<Message> {
    let mut header = [0u8; 19];
    stream.read_exact(&mut header).ok()?;
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    let mut message = header.to_vec();
    message.resize(len, 0);
    stream.read_exact(&mut message[19..]).ok()?;
    Some(Message::decode(&message, cx).expect("the speaker sends well-formed messages"))
}

/// Our speaker's source address and router id.
pub(crate) const SPEAKER_ADDR: &str = "127.0.0.9";

pub(crate) fn speaker_config(peer_port: u16, listen: bool) -> SpeakerConfig {
    let source: IpAddr = SPEAKER_ADDR.parse().expect("address");
    SpeakerConfig {
        session: SessionConfig {
            local_as: 65000,
            peer_as: 65000,
            router_id: Ipv4Addr::new(127, 0, 0, 9),
            hold_time: 30,
            connect: true,
            graceful_restart: Some(120),
            restarting: false,
        },
        peer: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), peer_port),
        source: Some(source),
        listen: listen.then(|| SocketAddr::new(source, 0)),
        md5_password: None,
    }
}

fn vni(value: u32) -> Label {
    Label::new(value).expect("fits 24 bits")
}

const VTEP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn attributes(communities: Vec<ExtCommunity>, pmsi: Option<PmsiTunnel>) -> Arc<RouteAttributes> {
    Arc::new(RouteAttributes {
        next_hop: VTEP.into(),
        path: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(Vec::new()),
            local_pref: Some(100),
            ext_communities: Some(communities),
            pmsi_tunnel: pmsi,
            ..Default::default()
        },
    })
}

fn mac_ip(last: u8, ip: Option<IpAddr>, label: u32) -> EvpnRoute {
    EvpnRoute::MacIp(MacIp {
        rd: RouteDistinguisher::Ipv4 { addr: VTEP, number: 100 },
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, last]),
        ip,
        label1: vni(label),
        label2: None,
    })
}

/// `per_vtep` MAC-only routes behind each of `vteps` static VTEPs
/// (192.0.2.1, .2, ...), each VTEP with its own next hop and RD, as the
/// agent originates them: many routes, one attribute set per VTEP.
pub(crate) fn many_routes(vteps: u8, per_vtep: u16) -> Vec<OutRoute> {
    let mut all = Vec::new();
    for v in 1..=vteps {
        let vtep = Ipv4Addr::new(192, 0, 2, v);
        let attributes = Arc::new(RouteAttributes {
            next_hop: vtep.into(),
            path: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(Vec::new()),
                local_pref: Some(100),
                ext_communities: Some(vec![
                    ExtCommunity::RouteTarget(RouteTarget::As2 { asn: 65000, local: 100 }),
                    ExtCommunity::Encapsulation { tunnel_type: TUNNEL_VXLAN },
                ]),
                ..Default::default()
            },
        });
        for i in 0..per_vtep {
            let [hi, lo] = i.to_be_bytes();
            all.push(OutRoute {
                route: EvpnRoute::MacIp(MacIp {
                    rd: RouteDistinguisher::Ipv4 { addr: vtep, number: 100 },
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    mac: MacAddr([0x02, 0x77, v, 0, hi, lo]),
                    ip: None,
                    label1: vni(10_100),
                    label2: None,
                }),
                attributes: attributes.clone(),
            });
        }
    }
    all
}

/// The routes the interop tests originate: every shape the agent sends.
pub(crate) struct Routes {
    /// RT-2, MAC only, sticky (a static MAC).
    pub(crate) sticky: OutRoute,
    /// RT-2, MAC + IPv4, MAC mobility sequence 5 (moved five times).
    pub(crate) moved: OutRoute,
    /// RT-2, MAC + IPv6, VNI 16000000, first advertisement (no MAC mobility).
    pub(crate) v6: OutRoute,
    /// RT-3 with PMSI ingress replication, VNI 16000000.
    pub(crate) imet: OutRoute,
    /// RT-5, 203.0.113.0/24, label 20000.
    pub(crate) prefix: OutRoute,
}

impl Routes {
    pub(crate) fn new() -> Self {
        let rt = ExtCommunity::RouteTarget(RouteTarget::As2 { asn: 65000, local: 100 });
        let encap = ExtCommunity::Encapsulation { tunnel_type: TUNNEL_VXLAN };
        Self {
            sticky: OutRoute {
                route: mac_ip(1, None, 10100),
                attributes: attributes(
                    vec![rt, encap, ExtCommunity::MacMobility { sticky: true, sequence: 0 }],
                    None,
                ),
            },
            moved: OutRoute {
                route: mac_ip(2, Some(IpAddr::from([198, 51, 100, 2])), 10100),
                attributes: attributes(
                    vec![rt, encap, ExtCommunity::MacMobility { sticky: false, sequence: 5 }],
                    None,
                ),
            },
            v6: OutRoute {
                route: mac_ip(3, Some("2001:db8::3".parse().expect("address")), 16_000_000),
                attributes: attributes(vec![rt, encap], None),
            },
            imet: OutRoute {
                route: EvpnRoute::Imet(Imet {
                    rd: RouteDistinguisher::Ipv4 { addr: VTEP, number: 200 },
                    ethernet_tag: 0,
                    originator: VTEP.into(),
                }),
                attributes: attributes(
                    vec![ExtCommunity::RouteTarget(RouteTarget::As2 { asn: 65000, local: 200 }), encap],
                    Some(PmsiTunnel {
                        flags: 0,
                        label: vni(16_000_000),
                        tunnel: PmsiTunnelId::IngressReplication(VTEP.into()),
                    }),
                ),
            },
            prefix: OutRoute {
                route: EvpnRoute::IpPrefix(IpPrefix {
                    rd: RouteDistinguisher::Ipv4 { addr: VTEP, number: 300 },
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    prefix: IpAddr::from([203, 0, 113, 0]),
                    prefix_len: 24,
                    gateway: IpAddr::from([0, 0, 0, 0]),
                    label: vni(20000),
                }),
                attributes: attributes(
                    vec![
                        ExtCommunity::RouteTarget(RouteTarget::As2 { asn: 65000, local: 300 }),
                        encap,
                        ExtCommunity::RouterMac(MacAddr([2, 0, 0, 0, 0, 1])),
                    ],
                    None,
                ),
            },
        }
    }

    pub(crate) fn all(&self) -> Vec<OutRoute> {
        vec![self.sticky.clone(), self.moved.clone(), self.v6.clone(), self.imet.clone(), self.prefix.clone()]
    }
}

/// Waits for the first event that matches, skipping others; panics with
/// the events seen if none comes in time.
pub(crate) fn expect_event(
    runtime: &tokio::runtime::Runtime,
    speaker: &mut Speaker,
    limit: Duration,
    matches: impl Fn(&Event) -> bool,
) -> Event {
    let mut events = collect_until(runtime, speaker, limit, "a matching event", matches);
    events.pop().expect("collect_until ends with the matching event")
}

/// Every event until one that `done` accepts, that one included; panics
/// with the events seen if none comes in time.
pub(crate) fn collect_until(
    runtime: &tokio::runtime::Runtime,
    speaker: &mut Speaker,
    limit: Duration,
    what: &str,
    done: impl Fn(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    runtime.block_on(async {
        let found = tokio::time::timeout(limit, async {
            while let Some(event) = speaker.events.recv().await {
                let last = done(&event);
                seen.push(event);
                if last {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(found, Ok(true)), "{what}: none within {limit:?}; saw {seen:?}");
    });
    seen
}
