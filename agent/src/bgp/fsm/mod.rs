//! The BGP session state machine (RFC 4271 §8), sans-IO: no sockets, no
//! clocks, no async. [`Fsm::process`] takes one [`Input`] and returns the
//! [`Output`]s the driver must carry out: connect, send, (re)arm or stop a
//! timer, report the session up or down, hand over a received UPDATE.
//!
//! One `Fsm` runs one TCP connection at a time for one peer; a collision
//! between two connections is resolved by [`resolve_collision`].
//!
//! Choices beyond the RFC, each for robustness:
//! - The hold timer runs in every state that waits for the peer: 240 s in
//!   `OpenSent` (RFC 4271 §8.2.2), the negotiated value after that.
//! - Reconnects back off exponentially (1 s doubling to 120 s); the driver
//!   adds jitter. The backoff resets after 60 s Established. After an OPEN
//!   error (sent or received), which retrying fast cannot fix, it starts at
//!   the maximum.
//! - A send-hold timer (RFC 9687) ends a session whose peer stopped reading.

use std::{net::Ipv4Addr, time::Duration};

use serde::{Deserialize, Serialize};

use bgp_wire::{
    AFI_L2VPN, Capability, CeaseSubcode, DecodeError, ErrorCode, ErrorKind, FsmSubcode,
    GracefulRestartFamily, Message, Notification, Open, SAFI_EVPN, Update, capability_code,
};

/// Session states (RFC 4271 §8.2.2). Their serialized names are the
/// values of the YANG enumeration `bgp/state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not trying; waits for the start or the reconnect timer.
    #[default]
    Idle,
    /// Connecting out.
    Connect,
    /// Waiting for the reconnect timer or an incoming connection.
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for the first KEEPALIVE.
    OpenConfirm,
    /// Up.
    Established,
}

impl State {
    /// The state as state shows it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connect => "connect",
            Self::Active => "active",
            Self::OpenSent => "opensent",
            Self::OpenConfirm => "openconfirm",
            Self::Established => "established",
        }
    }
}

/// Timers the FSM asks the driver to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// `ConnectRetryTimer`: time to (re)connect.
    ConnectRetry,
    /// `HoldTimer`: the peer has been silent too long.
    Hold,
    /// `KeepaliveTimer`: time to send a KEEPALIVE.
    Keepalive,
    /// Established long enough to forget past failures.
    Stable,
    /// RFC 9687 `SendHoldTimer`: nothing could be written for too long.
    SendHold,
}

/// Inputs, named after the RFC 4271 §8.1 events they cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// `ManualStart` (and `ManualStart_with_PassiveTcpEstablishment` when
    /// the session does not connect out).
    Start,
    /// `ManualStop`: Cease with this subcode (administrative shutdown,
    /// peer de-configured, other configuration change).
    Stop(CeaseSubcode),
    /// `Tcp_CR_Acked` / `TcpConnectionConfirmed`: a connection is up.
    Connected,
    /// `TcpConnectionFails`: the connection failed or closed.
    ConnectionClosed,
    /// A message was read (`BGPOpen`, `KeepAliveMsg`, `UpdateMsg`, `NotifMsg`, ...).
    Received(Box<Message>),
    /// A message could not be decoded (`BGPHeaderErr`, `BGPOpenMsgErr`,
    /// `UpdateMsgErr`): the error knows the NOTIFICATION to send.
    Malformed(DecodeError),
    /// A timer fired (`ConnectRetryTimer_Expires`, `HoldTimer_Expires`, ...).
    Expired(Timer),
    /// A collision was resolved in favour of the peer's connection
    /// (`OpenCollisionDump` on ours): forget this connection without counting
    /// a failure; `Connected` for the surviving one follows.
    Replaced,
}

/// What the session agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's BGP identifier.
    pub peer_id: Ipv4Addr,
    /// Hold time in seconds; 0 means no keepalives and no hold timer.
    pub hold_time: u16,
    /// Both sides support 4-octet AS numbers.
    pub four_octet_as: bool,
    /// Both sides support extended messages (RFC 8654).
    pub extended_message: bool,
    /// The peer understands ROUTE-REFRESH.
    pub route_refresh: bool,
    /// The peer's graceful-restart capability, if it sent one.
    pub peer_graceful_restart: Option<PeerGracefulRestart>,
}

/// The peer's graceful-restart capability (RFC 4724 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerGracefulRestart {
    /// The peer has just restarted.
    pub restarting: bool,
    /// How long it keeps our routes after we go away, in seconds.
    pub restart_time: u16,
    /// It keeps forwarding state for L2VPN/EVPN.
    pub evpn_preserved: bool,
}

/// Why a session went down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// We were told to stop.
    Stopped,
    /// The peer sent a NOTIFICATION.
    PeerNotification(Notification),
    /// We sent a NOTIFICATION (malformed input, timers, OPEN checks).
    LocalNotification(Notification),
    /// The connection closed or failed.
    ConnectionClosed,
    /// The peer stopped reading (RFC 9687).
    SendHoldExpired,
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(clippy::large_enum_variant, reason = "outputs are short-lived; Send carries a message by value")]
pub enum Output {
    /// Open a TCP connection to the peer (dropping any attempt in progress).
    Connect,
    /// Close the connection (after sending what is queued).
    Disconnect,
    /// Send a message.
    Send(Message),
    /// Arm or re-arm a timer. The driver adds jitter to `ConnectRetry`.
    Arm(Timer, Duration),
    /// Stop a timer.
    Disarm(Timer),
    /// The session is up.
    Established(Negotiated),
    /// The session went down (it was Established).
    Down(DownReason),
    /// The state changed.
    StateChanged {
        /// Before.
        from: State,
        /// After.
        to: State,
    },
    /// A received UPDATE for the RIB (its RFC 7606 problems included).
    Update(Box<Update>),
    /// The peer asked for our routes again.
    RouteRefresh,
}

/// The session's fixed parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS (iBGP: the peer's too).
    pub local_as: u32,
    /// The AS the peer must announce.
    pub peer_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// The hold time we propose, in seconds (0, or at least 3).
    pub hold_time: u16,
    /// Connect out (otherwise only accept).
    pub connect: bool,
    /// Advertise graceful restart with this restart time (seconds).
    pub graceful_restart: Option<u16>,
    /// Set the restarting bit: we restarted and will resend our routes.
    pub restarting: bool,
}

/// The smallest and largest reconnect delay.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// See [`BACKOFF_MIN`].
pub const BACKOFF_MAX: Duration = Duration::from_mins(2);
/// Hold time while waiting for the peer's OPEN (RFC 4271 §8.2.2: "large").
pub const OPEN_HOLD: Duration = Duration::from_mins(4);
/// Established for this long resets the reconnect backoff.
pub const STABLE_AFTER: Duration = Duration::from_mins(1);

/// One peer's session state machine.
#[derive(Debug)]
pub struct Fsm {
    config: SessionConfig,
    state: State,
    /// Consecutive failed attempts, for the reconnect backoff.
    failures: u32,
    negotiated: Option<Negotiated>,
    /// Stopped by the operator: nothing reconnects until the next Start,
    /// even a timer that fired before its disarm was seen.
    stopped: bool,
}

impl Fsm {
    #[must_use]
    pub fn new(config: SessionConfig) -> Self {
        Self { config, state: State::Idle, failures: 0, negotiated: None, stopped: true }
    }

    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    #[must_use]
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Once the session is up, later sessions no longer set the
    /// graceful-restart restarting bit.
    pub fn clear_restarting(&mut self) {
        self.config.restarting = false;
    }

    /// The delay before the next reconnect: 1 s, doubling per failure, at
    /// most 120 s.
    #[must_use]
    pub fn backoff(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(16)).unwrap_or(u32::MAX);
        BACKOFF_MIN.saturating_mul(factor).min(BACKOFF_MAX)
    }

    /// Feeds one input; returns what to do, in order.
    #[expect(
        clippy::match_same_arms,
        reason = "each ignored (state, input) pair is its own case of RFC 4271 §8 and reads better in place"
    )]
    pub fn process(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match (self.state, input) {
            (_, Input::Stop(subcode)) => self.on_stop(subcode, &mut out),
            (State::OpenSent | State::OpenConfirm, Input::Replaced) => {
                for timer in [Timer::Hold, Timer::Keepalive] {
                    out.push(Output::Disarm(timer));
                }
                self.negotiated = None;
                self.set_state(State::Active, &mut out);
            }
            (_, Input::Replaced) => {}
            (State::Idle, Input::Start) => {
                self.stopped = false;
                self.start_attempt(&mut out);
            }
            (_, Input::Start) => {}
            (State::Idle, Input::Expired(Timer::ConnectRetry)) if !self.stopped => {
                self.start_attempt(&mut out);
            }
            (State::Idle, _) => {}
            (State::Connect | State::Active, Input::Expired(Timer::ConnectRetry)) => {
                // In Connect the attempt timed out, a failure; in Active the
                // wait after a failure is over.
                if self.state == State::Connect {
                    self.failures = self.failures.saturating_add(1);
                }
                self.start_attempt(&mut out);
            }
            (State::Connect | State::Active, Input::Connected) => {
                out.push(Output::Disarm(Timer::ConnectRetry));
                out.push(Output::Send(Message::Open(self.open())));
                out.push(Output::Arm(Timer::Hold, OPEN_HOLD));
                self.set_state(State::OpenSent, &mut out);
            }
            (State::Connect | State::Active, Input::ConnectionClosed) => {
                // Keep the ConnectRetry timer running; it starts the next attempt.
                self.failures = self.failures.saturating_add(1);
                out.push(Output::Disconnect);
                self.set_state(State::Active, &mut out);
            }
            (State::Connect | State::Active, _) => {}
            // A second connection while this one is past Active is a
            // collision: the driver resolves it with resolve_collision.
            (_, Input::Connected) => {}
            (_, Input::ConnectionClosed) => self.down(DownReason::ConnectionClosed, None, &mut out),
            (_, Input::Expired(Timer::Hold)) => {
                self.down(DownReason::LocalNotification(Notification::hold_timer_expired()), None, &mut out);
            }
            (_, Input::Expired(Timer::SendHold)) => self.down(DownReason::SendHoldExpired, None, &mut out),
            (_, Input::Malformed(error)) => {
                let notification = error.notification();
                self.down(DownReason::LocalNotification(notification), None, &mut out);
            }
            (_, Input::Received(message)) => self.on_message(*message, &mut out),
            (_, Input::Expired(Timer::Keepalive)) => {
                if let Some(interval) = self.keepalive_interval() {
                    out.push(Output::Send(Message::Keepalive));
                    out.push(Output::Arm(Timer::Keepalive, interval));
                }
            }
            (State::Established, Input::Expired(Timer::Stable)) => self.failures = 0,
            (_, Input::Expired(Timer::ConnectRetry | Timer::Stable)) => {}
        }
        out
    }

    fn on_message(&mut self, message: Message, out: &mut Vec<Output>) {
        if let Message::Notification(notification) = message {
            // An OPEN error means the configurations disagree: reconnecting
            // quickly only repeats it. A Cease (the peer restarting, or
            // reset by its operator) is worth retrying soon.
            if notification.error_code() == Some(ErrorCode::OpenMessage) {
                self.failures = self.failures.max(16);
            }
            self.down(DownReason::PeerNotification(notification), None, out);
            return;
        }
        match (self.state, message) {
            (State::OpenSent, Message::Open(open)) => self.on_open(&open, out),
            (State::OpenConfirm, Message::Keepalive) => {
                self.rearm_hold(out);
                out.push(Output::Arm(Timer::Stable, STABLE_AFTER));
                self.set_state(State::Established, out);
                if let Some(negotiated) = &self.negotiated {
                    out.push(Output::Established(negotiated.clone()));
                }
            }
            (State::Established, Message::Keepalive) => self.rearm_hold(out),
            (State::Established, Message::Update(update)) => {
                self.rearm_hold(out);
                out.push(Output::Update(Box::new(update)));
            }
            (State::Established, Message::RouteRefresh(refresh)) => {
                self.rearm_hold(out);
                if (refresh.afi, refresh.safi) == (AFI_L2VPN, SAFI_EVPN) && refresh.subtype == 0 {
                    out.push(Output::RouteRefresh);
                }
            }
            (state, _) => {
                // RFC 6608: the subcode names the state the message was unexpected in.
                let subcode = match state {
                    State::OpenSent => FsmSubcode::UnexpectedInOpenSent,
                    State::OpenConfirm => FsmSubcode::UnexpectedInOpenConfirm,
                    _ => FsmSubcode::UnexpectedInEstablished,
                };
                let notification = Notification::fsm_error(subcode);
                self.down(DownReason::LocalNotification(notification), None, out);
            }
        }
    }

    fn on_open(&mut self, open: &Open, out: &mut Vec<Output>) {
        let reject =
            |kind: ErrorKind, data: Vec<u8>| DecodeError::new(0, kind).with_data(data).notification();
        let problem = if open.asn() != self.config.peer_as {
            Some(reject(ErrorKind::BadPeerAs { asn: open.asn() }, Vec::new()))
        } else if open.bgp_id == self.config.router_id {
            // RFC 4271 §6.2: an identifier equal to ours is an error on iBGP.
            Some(reject(ErrorKind::BadBgpIdentifier { id: open.bgp_id }, Vec::new()))
        } else if !open.supports(AFI_L2VPN, SAFI_EVPN) {
            // RFC 5492: name the capability we need.
            Some(reject(ErrorKind::UnsupportedCapability, vec![1, 4, 0, 25, 0, 70]))
        } else {
            None
        };
        if let Some(notification) = problem {
            self.failures = self.failures.max(16);
            self.down(DownReason::LocalNotification(notification.clone()), Some(notification), out);
            return;
        }
        let hold_time = self.config.hold_time.min(open.hold_time);
        let peer_graceful_restart = open.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart { restarting, restart_time, families, .. } => {
                Some(PeerGracefulRestart {
                    restarting: *restarting,
                    restart_time: *restart_time,
                    evpn_preserved: families
                        .iter()
                        .any(|f| (f.afi, f.safi, f.forwarding_preserved) == (AFI_L2VPN, SAFI_EVPN, true)),
                })
            }
            _ => None,
        });
        self.negotiated = Some(Negotiated {
            peer_id: open.bgp_id,
            hold_time,
            four_octet_as: open.has(capability_code::FOUR_OCTET_AS),
            extended_message: open.has(capability_code::EXTENDED_MESSAGE),
            route_refresh: open.has(capability_code::ROUTE_REFRESH),
            peer_graceful_restart,
        });
        out.push(Output::Send(Message::Keepalive));
        if let Some(interval) = self.keepalive_interval() {
            out.push(Output::Arm(Timer::Keepalive, interval));
        }
        self.rearm_hold(out);
        self.set_state(State::OpenConfirm, out);
    }

    fn on_stop(&mut self, subcode: CeaseSubcode, out: &mut Vec<Output>) {
        let talking = matches!(self.state, State::OpenSent | State::OpenConfirm | State::Established);
        let notification = talking.then(|| Notification::cease(subcode));
        self.down(DownReason::Stopped, notification, out);
        // Stopped means stopped: no reconnect until the next Start.
        out.retain(|o| !matches!(o, Output::Arm(Timer::ConnectRetry, _)));
        out.push(Output::Disarm(Timer::ConnectRetry));
        self.failures = 0;
        self.stopped = true;
    }

    /// Ends the connection: optionally sends a NOTIFICATION, stops every
    /// timer, reports Down if the session was up, and schedules the next
    /// attempt.
    fn down(&mut self, reason: DownReason, notify: Option<Notification>, out: &mut Vec<Output>) {
        let was_established = self.state == State::Established;
        let notify = notify.or_else(|| match &reason {
            DownReason::LocalNotification(n) => Some(n.clone()),
            _ => None,
        });
        if let Some(notification) = notify
            && matches!(self.state, State::OpenSent | State::OpenConfirm | State::Established)
        {
            out.push(Output::Send(Message::Notification(notification)));
        }
        out.push(Output::Disconnect);
        for timer in [Timer::Hold, Timer::Keepalive, Timer::Stable, Timer::SendHold] {
            out.push(Output::Disarm(timer));
        }
        if was_established {
            out.push(Output::Down(reason));
        } else {
            self.failures = self.failures.saturating_add(1);
        }
        self.negotiated = None;
        self.set_state(State::Idle, out);
        out.push(Output::Arm(Timer::ConnectRetry, self.backoff()));
    }

    fn start_attempt(&mut self, out: &mut Vec<Output>) {
        out.push(Output::Arm(Timer::ConnectRetry, self.backoff().max(Duration::from_secs(5))));
        if self.config.connect {
            out.push(Output::Connect);
            self.set_state(State::Connect, out);
        } else {
            self.set_state(State::Active, out);
        }
    }

    fn open(&self) -> Open {
        let mut capabilities = vec![
            Capability::Multiprotocol { afi: AFI_L2VPN, safi: SAFI_EVPN },
            Capability::RouteRefresh,
            // Large tables go out in fewer, larger UPDATEs when the peer agrees.
            Capability::ExtendedMessage,
        ];
        if let Some(restart_time) = self.config.graceful_restart {
            capabilities.push(Capability::GracefulRestart {
                restarting: self.config.restarting,
                notification: false,
                restart_time: restart_time.min(4095),
                // Static VTEPs keep forwarding while we restart (the F bit).
                families: vec![GracefulRestartFamily {
                    afi: AFI_L2VPN,
                    safi: SAFI_EVPN,
                    forwarding_preserved: true,
                }],
            });
        }
        Open::new(self.config.local_as, self.config.hold_time, self.config.router_id, capabilities)
    }

    fn keepalive_interval(&self) -> Option<Duration> {
        let hold = self.negotiated.as_ref()?.hold_time;
        // RFC 4271 §10: a third of the hold time; none when it is 0.
        (hold > 0).then(|| Duration::from_secs(u64::from(hold / 3).max(1)))
    }

    fn rearm_hold(&self, out: &mut Vec<Output>) {
        match self.negotiated.as_ref().map(|n| n.hold_time) {
            Some(0) => out.push(Output::Disarm(Timer::Hold)),
            Some(hold) => out.push(Output::Arm(Timer::Hold, Duration::from_secs(u64::from(hold)))),
            None => {}
        }
    }

    fn set_state(&mut self, to: State, out: &mut Vec<Output>) {
        if self.state != to {
            out.push(Output::StateChanged { from: self.state, to });
            self.state = to;
        }
    }
}

/// Which connection survives a collision (RFC 4271 §6.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collision {
    /// Keep the connection we opened; close the peer's with Cease/7.
    KeepOurs,
    /// Keep the peer's connection; close ours with Cease/7.
    KeepTheirs,
}

/// Decides a collision between the connection we opened and one the peer
/// opened. An Established connection always wins (what BIRD and FRR do);
/// otherwise the connection opened by the side with the higher BGP
/// identifier survives.
#[must_use]
pub fn resolve_collision(ours: State, local_id: Ipv4Addr, remote_id: Ipv4Addr) -> Collision {
    if ours == State::Established || u32::from(local_id) > u32::from(remote_id) {
        Collision::KeepOurs
    } else {
        Collision::KeepTheirs
    }
}

#[cfg(test)]
mod tests;
