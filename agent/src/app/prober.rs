//! The ICMP prober thread: liveness `icmp` (issue 22). Every interval it
//! sends one echo request to each static VTEP it is given, from the
//! agent's `source-address`, and reads the replies in between. A VTEP is
//! up at its first reply and down after `multiplier` intervals without one
//! (an unreachable VTEP at start is down once that time has passed, not an
//! error); until then it is unknown, and the core keeps its routes.
//!
//! A raw ICMP socket needs `CAP_NET_RAW`. Without it the prober says so in
//! state and reports nothing: every VTEP stays unknown, routes are kept.
//!
//! Its own thread, not a tokio task: a blocking socket with a read timeout
//! is the whole loop, and probe timing does not wait on the agent task.
//! The raw socket is used through `std::net::UdpSocket`, whose
//! `send_to`/`recv_from` are the plain system calls, so no byte buffer is
//! ever uninitialized.

use std::{
    collections::BTreeMap,
    io,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket},
    sync::mpsc as std_mpsc,
    time::{Duration, Instant},
};

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// What the agent task tells the prober.
#[derive(Debug)]
pub(super) enum ProberCommand {
    /// Probe from `source` every `interval`; `multiplier` missed replies
    /// declare a VTEP down.
    Settings { source: Ipv4Addr, interval: Duration, multiplier: u32 },
    /// Probe exactly these VTEPs.
    Targets(Vec<Ipv4Addr>),
}

/// What the prober tells the agent task.
#[derive(Debug)]
pub(super) enum ProbeReport {
    /// A VTEP was found up or down.
    Changed { vtep: Ipv4Addr, up: bool },
    /// The counters, about once a second when they moved.
    Stats(BTreeMap<Ipv4Addr, ProbeStats>),
    /// The prober cannot probe (`None`: it can again).
    Error(Option<String>),
}

/// One VTEP's probe counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) struct ProbeStats {
    /// Echo requests sent.
    pub(super) sent: u64,
    /// Echo replies received.
    pub(super) answered: u64,
    /// The last reply's round trip, in microseconds.
    pub(super) last_rtt_us: Option<u64>,
}

/// The handle the agent task keeps; dropping it stops the thread.
pub(super) struct Prober {
    commands: std_mpsc::Sender<ProberCommand>,
}

impl Prober {
    pub(super) fn start(reports: mpsc::Sender<ProbeReport>) -> Self {
        let (commands, command_rx) = std_mpsc::channel();
        let spawned = std::thread::Builder::new().name("icmp-prober".into()).spawn(move || {
            ProberLoop::new(reports).run(&command_rx);
        });
        if let Err(error) = spawned {
            warn!(%error, "cannot start the ICMP prober thread: icmp liveness shows unknown");
        }
        Self { commands }
    }

    pub(super) fn send(&self, command: ProberCommand) {
        // The thread only ends with this handle.
        let _ = self.commands.send(command);
    }
}

/// One VTEP being probed.
struct Target {
    up: Option<bool>,
    /// When the last answered probe was sent, or the first round that
    /// tried one; none before that round.
    heard_at: Option<Instant>,
    stats: ProbeStats,
}

struct ProberLoop {
    reports: mpsc::Sender<ProbeReport>,
    socket: Option<UdpSocket>,
    source: Option<Ipv4Addr>,
    interval: Duration,
    multiplier: u32,
    targets: BTreeMap<Ipv4Addr, Target>,
    /// Echo identifier: ours among every raw ICMP socket in the namespace.
    ident: u16,
    sequence: u16,
    /// Sent and not yet answered: sequence -> (VTEP, when).
    pending: BTreeMap<u16, (Ipv4Addr, Instant)>,
    error: Option<String>,
    stats_sent: BTreeMap<Ipv4Addr, ProbeStats>,
}

impl ProberLoop {
    fn new(reports: mpsc::Sender<ProbeReport>) -> Self {
        Self {
            reports,
            socket: None,
            source: None,
            interval: Duration::from_millis(300),
            multiplier: 3,
            targets: BTreeMap::new(),
            // The low 16 bits of the pid tell our replies from another
            // agent's in the same namespace (as ping(8) does).
            #[expect(clippy::cast_possible_truncation, reason = "the low 16 bits, on purpose")]
            ident: std::process::id() as u16,
            sequence: 0,
            pending: BTreeMap::new(),
            error: None,
            stats_sent: BTreeMap::new(),
        }
    }

    fn run(mut self, commands: &std_mpsc::Receiver<ProberCommand>) {
        let mut next_round = Instant::now();
        let mut next_stats = Instant::now();
        loop {
            // Commands first: they change what the round probes.
            loop {
                match commands.try_recv() {
                    Ok(command) => {
                        // New settings or targets: probe at once, not at
                        // the old interval's next round.
                        self.command(command);
                        next_round = Instant::now();
                    }
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            if now >= next_round {
                self.round(now);
                next_round = now + self.interval;
            }
            if now >= next_stats {
                self.report_stats();
                next_stats = now + Duration::from_secs(1);
            }
            let wait = next_round.min(next_stats).saturating_duration_since(Instant::now());
            if self.socket.is_some() && !self.targets.is_empty() {
                self.receive_until(Instant::now() + wait);
            } else {
                match commands.recv_timeout(wait.max(Duration::from_millis(10))) {
                    Ok(command) => {
                        self.command(command);
                        next_round = Instant::now();
                    }
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }

    fn command(&mut self, command: ProberCommand) {
        match command {
            ProberCommand::Settings { source, interval, multiplier } => {
                self.interval = interval;
                self.multiplier = multiplier.max(1);
                if self.source != Some(source) {
                    self.source = Some(source);
                    self.socket = None;
                }
            }
            ProberCommand::Targets(vteps) => {
                self.targets.retain(|vtep, _| vteps.contains(vtep));
                for vtep in vteps {
                    self.targets.entry(vtep).or_insert(Target {
                        up: None,
                        heard_at: None,
                        stats: ProbeStats::default(),
                    });
                }
                self.pending.retain(|_, (vtep, _)| self.targets.contains_key(vtep));
            }
        }
        self.sync_socket();
    }

    /// A raw ICMP socket sees every ICMP packet of the namespace: it is
    /// open only while there is a VTEP to probe (and so is its error, if it
    /// cannot be opened: an agent without icmp liveness has nothing to say).
    fn sync_socket(&mut self) {
        match (self.targets.is_empty(), self.source) {
            (false, Some(source)) if self.socket.is_none() => self.open(source),
            (true, _) => {
                self.socket = None;
                if self.error.take().is_some() {
                    let _ = self.reports.blocking_send(ProbeReport::Error(None));
                }
            }
            _ => {}
        }
    }

    fn open(&mut self, source: Ipv4Addr) {
        let opened = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).and_then(|socket| {
            socket.bind(&SocketAddr::V4(SocketAddrV4::new(source, 0)).into())?;
            Ok(UdpSocket::from(socket))
        });
        match opened {
            Ok(socket) => {
                self.socket = Some(socket);
                if self.error.take().is_some() {
                    let _ = self.reports.blocking_send(ProbeReport::Error(None));
                }
                info!(%source, "ICMP liveness probes ready");
            }
            Err(error) => {
                let text = if error.kind() == io::ErrorKind::PermissionDenied {
                    format!("cannot open a raw ICMP socket: {error} (icmp liveness needs CAP_NET_RAW)")
                } else {
                    format!("cannot probe from {source}: {error}")
                };
                warn!(error = %text, "icmp liveness off: static VTEPs stay unknown, their routes are kept");
                self.socket = None;
                self.error = Some(text.clone());
                let _ = self.reports.blocking_send(ProbeReport::Error(Some(text)));
            }
        }
    }

    /// One round: declare silent VTEPs down, send one request to each.
    fn round(&mut self, now: Instant) {
        let Some(socket) = &self.socket else { return };
        let detection = self.interval * self.multiplier;
        let mut changes = Vec::new();
        for (vtep, target) in &mut self.targets {
            // The detection time counts from the first round that tried a
            // probe, not from when the target was given or the socket
            // opened; a probe that cannot even leave (no route) counts as
            // unanswered.
            let heard_at = *target.heard_at.get_or_insert(now);
            if target.up != Some(false) && now.duration_since(heard_at) >= detection {
                target.up = Some(false);
                changes.push(*vtep);
            }
            self.sequence = self.sequence.wrapping_add(1);
            let packet = echo_request(self.ident, self.sequence);
            let to = SocketAddr::V4(SocketAddrV4::new(*vtep, 0));
            // A send error (no route, for one) is a lost probe like any other.
            if socket.send_to(&packet, to).is_ok() {
                target.stats.sent += 1;
                self.pending.insert(self.sequence, (*vtep, now));
            }
        }
        // Requests older than the detection time will not count any more.
        self.pending.retain(|_, (_, at)| now.duration_since(*at) < detection);
        for vtep in changes {
            info!(%vtep, "static VTEP down: no ICMP echo reply for {} ms", detection.as_millis());
            let _ = self.reports.blocking_send(ProbeReport::Changed { vtep, up: false });
        }
    }

    fn receive_until(&mut self, deadline: Instant) {
        let mut buffer = [0u8; 1500];
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                return;
            };
            let Some(socket) = &self.socket else { return };
            if socket.set_read_timeout(Some(left)).is_err() {
                return;
            }
            // A timeout ends the wait; so does any other error, until the next round.
            let Ok((length, from)) = socket.recv_from(&mut buffer) else { return };
            let SocketAddr::V4(from) = from else { continue };
            let from = *from.ip();
            let Some((ident, sequence)) = parse_echo_reply(&buffer[..length]) else { continue };
            if ident != self.ident {
                continue;
            }
            let Some((vtep, sent_at)) = self.pending.remove(&sequence) else { continue };
            if vtep != from {
                continue;
            }
            let now = Instant::now();
            let Some(target) = self.targets.get_mut(&vtep) else { continue };
            // Counted from when the answered probe left: down is then
            // exactly `multiplier` unanswered probes in a row.
            target.heard_at = Some(sent_at);
            target.stats.answered += 1;
            target.stats.last_rtt_us = u64::try_from(now.duration_since(sent_at).as_micros()).ok();
            if target.up != Some(true) {
                target.up = Some(true);
                info!(%vtep, "static VTEP up: ICMP echo reply");
                let _ = self.reports.blocking_send(ProbeReport::Changed { vtep, up: true });
            }
        }
    }

    fn report_stats(&mut self) {
        let stats: BTreeMap<Ipv4Addr, ProbeStats> =
            self.targets.iter().map(|(vtep, target)| (*vtep, target.stats)).collect();
        if stats != self.stats_sent {
            self.stats_sent.clone_from(&stats);
            // Counters only: a full channel loses nothing the next one lacks.
            let _ = self.reports.try_send(ProbeReport::Stats(stats));
        }
    }
}

/// An ICMP echo request (RFC 792) with 8 bytes of zero payload.
fn echo_request(ident: u16, sequence: u16) -> [u8; 16] {
    let mut packet = [0u8; 16];
    packet[0] = 8;
    packet[4..6].copy_from_slice(&ident.to_be_bytes());
    packet[6..8].copy_from_slice(&sequence.to_be_bytes());
    let checksum = internet_checksum(&packet);
    packet[2..4].copy_from_slice(&checksum.to_be_bytes());
    packet
}

/// The identifier and sequence of an echo reply, from a raw socket's
/// packet (IPv4 header first).
fn parse_echo_reply(packet: &[u8]) -> Option<(u16, u16)> {
    let header = usize::from(packet.first()? & 0x0f) * 4;
    let icmp = packet.get(header..)?;
    if icmp.len() < 8 || icmp[0] != 0 || icmp[1] != 0 {
        return None;
    }
    Some((u16::from_be_bytes([icmp[4], icmp[5]]), u16::from_be_bytes([icmp[6], icmp[7]])))
}

/// The RFC 1071 checksum.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    #[expect(clippy::cast_possible_truncation, reason = "folded to 16 bits above")]
    let folded = sum as u16;
    !folded
}

#[cfg(test)]
mod tests {
    use super::{echo_request, internet_checksum, parse_echo_reply};

    #[test]
    fn echo_requests_are_well_formed_and_replies_parse() {
        let request = echo_request(0x1234, 7);
        assert_eq!(&request[..8], &[8, 0, request[2], request[3], 0x12, 0x34, 0, 7]);
        // A packet with a correct checksum sums to zero.
        assert_eq!(internet_checksum(&request), 0);
        // The reply as a raw socket hands it over: IPv4 header, then ICMP.
        let mut reply = vec![0x45u8; 1];
        reply.extend([0u8; 19]);
        reply.extend([0, 0, 0, 0, 0x12, 0x34, 0, 7]);
        assert_eq!(parse_echo_reply(&reply), Some((0x1234, 7)));
        // Our own request seen on the socket is not a reply.
        let mut looped = vec![0x45u8];
        looped.extend([0u8; 19]);
        looped.extend(request);
        assert_eq!(parse_echo_reply(&looped), None);
        assert_eq!(parse_echo_reply(&[0x4f, 0]), None);
        assert_eq!(parse_echo_reply(&[]), None);
    }
}
