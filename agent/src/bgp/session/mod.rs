//! The tokio driver of one BGP session: it owns the [`Fsm`], the RIBs and
//! the connection, and carries out what the FSM asks.
//!
//! ```text
//!   commands (bounded) ──► ┌──────────── session task ────────────┐ ──► events (bounded)
//!   Announce/Withdraw/     │ Fsm · AdjRibOut · AdjRibIn · timers   │     Established/Down/
//!   Replace/Shutdown       └──▲──────────────────────────┬────────┘     Route/Withdrawn/EndOfRib
//!                             │ messages, decode errors   │ priority queue (KEEPALIVE, NOTIFICATION)
//!                        reader task                 writer task ◄─ bulk queue (UPDATEs, credit-limited)
//!                             └──────── TCP connection ───┘
//! ```
//!
//! Only the session task mutates state. Reader and writer tasks belong to
//! one connection and end with it. The writer always drains the priority
//! queue first, so keepalives never wait behind a burst of UPDATEs; every
//! write is bounded by the send-hold time (RFC 9687). The bulk queue is
//! fed only while fewer than [`MAX_IN_FLIGHT`] UPDATEs are queued: a slow
//! peer makes changes coalesce in the Adj-RIB-Out instead of growing a queue.
//! One feeding encodes at most `KEYS_PER_SLOT` routes per free slot, and
//! those may take more UPDATEs than there were slots (small messages, many
//! attribute sets), so the queue is sized for the worst case: it never
//! refuses an UPDATE, and what it holds stays bounded by routes, not bytes.
//! The connection's two tasks are in `session/connection.rs`. What stays
//! here (a little over 600 lines) is the session task: one owner of the
//! session's state and the one `select!` loop that feeds it, which would
//! only be harder to follow cut in two.

mod connection;

use std::{
    io,
    net::{IpAddr, SocketAddr},
    time::{Duration, SystemTime},
};

use bgp_wire::{CeaseSubcode, EncodeCx, EvpnRoute, EvpnRouteKey, Message, Notification, Update};
use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{Notify, mpsc},
    task::JoinHandle,
    time::{Instant, sleep_until},
};
use tracing::{Instrument as _, debug, info, info_span, warn};

use self::connection::{Connection, FromConnection};
use crate::bgp::{
    fsm::{Collision, DownReason, Fsm, Input, Output, SessionConfig, State, Timer, resolve_collision},
    md5,
    rib::{AdjRibIn, AdjRibOut, InRoute, OutRoute, RibInChange},
};

/// UPDATEs queued to the writer at most; more changes wait in the RIB.
pub const MAX_IN_FLIGHT: usize = 64;
/// Routes taken from the Adj-RIB-Out per flush, per free queue slot.
const KEYS_PER_SLOT: usize = 128;
/// The bulk queue's capacity. A flush starts with at least one slot free
/// and adds at most one UPDATE per route it takes, so the queue never holds
/// more than this (the +1 is End-of-RIB). Dropping an UPDATE would lose its
/// routes for good: the Adj-RIB-Out already counts them as sent.
const BULK_QUEUE: usize = MAX_IN_FLIGHT * KEYS_PER_SLOT + 1;
/// How long a final NOTIFICATION may take to write before we give up.
const NOTIFICATION_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to reach the peer.
#[derive(Clone, Debug)]
pub struct SpeakerConfig {
    /// The session's BGP parameters.
    pub session: SessionConfig,
    /// The peer's address and port.
    pub peer: SocketAddr,
    /// The local address to connect from (the peer's neighbor config names it).
    pub source: Option<IpAddr>,
    /// Also accept the peer's connections on this address.
    pub listen: Option<SocketAddr>,
    /// Sign the session with TCP MD5 (RFC 2385) using this password.
    pub md5_password: Option<String>,
}

/// What the owner of the speaker can ask.
#[derive(Debug)]
pub enum Command {
    /// Advertise these routes (replacing any with the same key).
    Announce(Vec<OutRoute>),
    /// Withdraw the routes with these keys.
    Withdraw(Vec<EvpnRouteKey>),
    /// Advertise exactly these routes: withdraw everything else.
    Replace(Vec<OutRoute>),
    /// Send Cease with this subcode and stop.
    Shutdown(CeaseSubcode),
}

/// What the speaker reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The FSM changed state.
    State(State),
    /// The session is up.
    Established {
        /// The peer's BGP identifier.
        peer_id: std::net::Ipv4Addr,
        /// The negotiated hold time.
        hold_time: u16,
    },
    /// The session went down; every route from the peer is withdrawn
    /// (reported as [`Event::Withdrawn`] just before).
    Down {
        /// Why, for logs and state.
        reason: String,
    },
    /// The peer advertised or changed a route.
    Route(InRoute),
    /// The peer withdrew a route.
    Withdrawn(EvpnRoute),
    /// The peer sent one of our own routes back (our BGP identifier as
    /// `ORIGINATOR_ID`); it was ignored (RFC 4456 §8).
    OwnRouteIgnored(EvpnRoute),
    /// The peer finished sending its table.
    EndOfRib,
    /// An UPDATE had problems that did not reset the session (RFC 7606 §6
    /// asks for them to be logged).
    Malformed {
        /// The problem, with its byte offset and action.
        error: String,
    },
}

/// A running speaker. Dropping it aborts the session task.
#[derive(Debug)]
pub struct Speaker {
    /// Commands to the session task.
    pub commands: mpsc::Sender<Command>,
    /// Events from the session task.
    pub events: mpsc::Receiver<Event>,
    task: JoinHandle<()>,
}

impl Speaker {
    /// Waits for the session task to end (after [`Command::Shutdown`]).
    pub async fn join(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the speaker. It connects (and listens, if configured) right away
/// and keeps the session up until told to shut down.
pub async fn spawn(config: SpeakerConfig) -> io::Result<Speaker> {
    spawn_with_table(config, Vec::new()).await
}

/// As [`spawn`], with the Adj-RIB-Out holding `table` from the start. The
/// first End-of-RIB follows these routes, so a peer that kept our routes
/// over a graceful restart never sees an empty table first: use this when
/// the table is known before the session starts.
#[expect(
    clippy::unused_async,
    reason = "it must run inside a tokio runtime (it spawns and registers sockets); async says so in the signature"
)]
pub async fn spawn_with_table(
    config: SpeakerConfig,
    table: impl IntoIterator<Item = OutRoute>,
) -> io::Result<Speaker> {
    if let Some(password) = &config.md5_password {
        md5::check_password(password).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    if let Some(source) = config.source {
        // A source address that is not ours would only show up as connect
        // errors, one per retry; say it once, up front.
        std::net::UdpSocket::bind((source, 0)).map_err(|e| {
            io::Error::new(e.kind(), format!("source address {source} is not usable on this host: {e}"))
        })?;
    }
    let listener = match config.listen {
        Some(addr) => Some(listen(addr, config.peer.ip(), config.md5_password.as_deref())?),
        None => None,
    };
    let (command_tx, command_rx) = mpsc::channel(64);
    let (event_tx, event_rx) = mpsc::channel(1024);
    let span = info_span!("peer", addr = %config.peer);
    let mut driver = Driver::new(config, event_tx);
    driver.rib_out.replace(table);
    let task = tokio::spawn(driver.run(command_rx, listener).instrument(span));
    Ok(Speaker { commands: command_tx, events: event_rx, task })
}

/// Binds the passive listener; with MD5 the key must be on the socket
/// before it listens, or the peer's first SYN would be refused.
fn listen(addr: SocketAddr, peer: IpAddr, md5_password: Option<&str>) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    if let Some(password) = md5_password {
        md5::set_password(&socket, peer, password).map_err(io::Error::other)?;
    }
    socket.listen(16)
}

/// A tiny xorshift for timer jitter: no cryptographic needs, no dependency.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
            ^ u128::from(std::process::id());
        Self(u64::try_from(seed & u128::from(u64::MAX)).unwrap_or(1) | 1)
    }

    /// `duration` scaled by a factor in [0.75, 1.0) (RFC 4271 §10).
    fn apply(&mut self, duration: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let per_mille = 750 + u32::try_from(self.0 % 250).unwrap_or(0);
        duration * per_mille / 1000
    }
}

struct Driver {
    config: SpeakerConfig,
    fsm: Fsm,
    rib_out: AdjRibOut,
    rib_in: AdjRibIn,
    conn: Option<Connection>,
    /// A connection the peer opened while ours was past Active.
    colliding: Option<Connection>,
    connecting: Option<JoinHandle<io::Result<TcpStream>>>,
    timers: [Option<Instant>; 5],
    jitter: Jitter,
    events: mpsc::Sender<Event>,
    encode_cx: EncodeCx,
    /// End-of-RIB goes out once, after the first full table of a session.
    end_of_rib_sent: bool,
    stopping: bool,
}

fn timer_index(timer: Timer) -> usize {
    match timer {
        Timer::ConnectRetry => 0,
        Timer::Hold => 1,
        Timer::Keepalive => 2,
        Timer::Stable => 3,
        Timer::SendHold => 4,
    }
}

const TIMERS: [Timer; 5] =
    [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive, Timer::Stable, Timer::SendHold];

impl Driver {
    fn new(config: SpeakerConfig, events: mpsc::Sender<Event>) -> Self {
        let fsm = Fsm::new(config.session.clone());
        Self {
            config,
            fsm,
            rib_out: AdjRibOut::default(),
            rib_in: AdjRibIn::default(),
            conn: None,
            colliding: None,
            connecting: None,
            timers: [None; 5],
            jitter: Jitter::new(),
            events,
            encode_cx: EncodeCx::default(),
            end_of_rib_sent: false,
            stopping: false,
        }
    }

    /// RFC 9687: at least 8 minutes, or twice the hold time.
    fn send_hold(&self) -> Duration {
        let hold = self.fsm.negotiated().map_or(90, |n| n.hold_time);
        Duration::from_secs(u64::from(hold) * 2).max(Duration::from_mins(8))
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>, listener: Option<TcpListener>) {
        self.input(Input::Start).await;
        loop {
            if self.stopping && self.conn.is_none() {
                break;
            }
            let deadline = self.timers.iter().flatten().min().copied();
            let drained_signal = self.conn.as_ref().map(|c| c.drained.clone());
            tokio::select! {
                command = commands.recv(), if !self.stopping => {
                    if let Some(command) = command {
                        self.command(command).await;
                    } else {
                        // The owner is gone: stop as if told to.
                        self.stopping = true;
                        self.input(Input::Stop(CeaseSubcode::AdministrativeShutdown)).await;
                    }
                }
                Some(item) = recv_from(self.conn.as_mut()) => self.on_connection(item).await,
                Some(item) = recv_from(self.colliding.as_mut()) => self.on_colliding(item).await,
                result = join_connect(self.connecting.as_mut()) => {
                    self.connecting = None;
                    self.connected(result).await;
                }
                accepted = accept(listener.as_ref()) => self.accepted(accepted).await,
                () = sleep_until_opt(deadline) => self.fire_timers().await,
                () = drained(drained_signal.as_deref()) => {}
            }
            self.flush();
        }
        info!("session task ends");
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Announce(routes) => {
                for route in routes {
                    self.rib_out.set(route);
                }
            }
            Command::Withdraw(keys) => {
                for key in &keys {
                    self.rib_out.remove(key);
                }
            }
            Command::Replace(routes) => {
                self.rib_out.replace(routes);
            }
            Command::Shutdown(subcode) => {
                self.stopping = true;
                self.input(Input::Stop(subcode)).await;
            }
        }
    }

    async fn on_connection(&mut self, item: FromConnection) {
        let input = match item {
            FromConnection::Message(message) => Input::Received(message),
            FromConnection::Malformed(error) => {
                warn!(%error, "malformed message from the peer");
                Input::Malformed(error)
            }
            FromConnection::Closed => Input::ConnectionClosed,
            FromConnection::SendHoldExpired => Input::Expired(Timer::SendHold),
        };
        self.input(input).await;
    }

    /// The first message on a colliding connection decides (RFC 4271 §6.8).
    async fn on_colliding(&mut self, item: FromConnection) {
        let Some(colliding) = self.colliding.take() else { return };
        let FromConnection::Message(message) = item else { return };
        let Message::Open(open) = *message else { return };
        let cease = || {
            Message::Notification(Notification::cease(CeaseSubcode::ConnectionCollisionResolution))
                .to_bytes(EncodeCx::default())
        };
        match resolve_collision(self.fsm.state(), self.config.session.router_id, open.bgp_id) {
            Collision::KeepOurs => {
                info!("collision: keeping our connection");
                if let Ok(bytes) = cease() {
                    colliding.send_priority(bytes);
                }
            }
            Collision::KeepTheirs => {
                info!("collision: keeping the peer's connection");
                if let (Some(ours), Ok(bytes)) = (self.conn.take(), cease()) {
                    ours.send_priority(bytes);
                }
                self.conn = Some(colliding);
                self.input(Input::Replaced).await;
                self.input(Input::Connected).await;
                self.input(Input::Received(Box::new(Message::Open(open)))).await;
            }
        }
    }

    async fn connected(&mut self, result: Result<io::Result<TcpStream>, tokio::task::JoinError>) {
        match result {
            Ok(Ok(stream)) => {
                debug!("connected");
                self.adopt(stream);
                self.input(Input::Connected).await;
            }
            Ok(Err(error)) => {
                debug!(%error, "connect failed");
                self.input(Input::ConnectionClosed).await;
            }
            Err(_) => {}
        }
    }

    async fn accepted(&mut self, accepted: io::Result<(TcpStream, SocketAddr)>) {
        let Ok((stream, from)) = accepted else { return };
        if from.ip() != self.config.peer.ip() {
            // Only the configured peer may connect; anyone else is closed.
            warn!(%from, "refused a connection from an unknown address");
            return;
        }
        match self.fsm.state() {
            State::Idle if self.stopping => {}
            State::Idle | State::Connect | State::Active => {
                if let Some(attempt) = self.connecting.take() {
                    attempt.abort();
                }
                if self.fsm.state() == State::Idle {
                    self.input(Input::Start).await;
                }
                self.adopt(stream);
                self.input(Input::Connected).await;
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                // Read its OPEN before deciding which connection survives.
                self.colliding = Some(Connection::new(stream, self.send_hold()));
                if self.fsm.state() == State::Established {
                    // An Established session always wins: no need to wait.
                    let colliding = self.colliding.take();
                    if let (Some(c), Ok(bytes)) = (
                        colliding,
                        Message::Notification(Notification::cease(
                            CeaseSubcode::ConnectionCollisionResolution,
                        ))
                        .to_bytes(EncodeCx::default()),
                    ) {
                        c.send_priority(bytes);
                    }
                }
            }
        }
    }

    fn adopt(&mut self, stream: TcpStream) {
        self.conn = Some(Connection::new(stream, self.send_hold()));
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        for timer in TIMERS {
            let slot = &mut self.timers[timer_index(timer)];
            if slot.is_some_and(|deadline| deadline <= now) {
                *slot = None;
                self.input(Input::Expired(timer)).await;
            }
        }
    }

    /// Feeds the FSM and carries out its outputs.
    async fn input(&mut self, input: Input) {
        let outputs = self.fsm.process(input);
        for output in outputs {
            self.output(output).await;
        }
    }

    async fn output(&mut self, output: Output) {
        match output {
            Output::Connect => self.connect(),
            Output::Disconnect => {
                if let Some(attempt) = self.connecting.take() {
                    attempt.abort();
                }
                self.conn = None;
                self.colliding = None;
            }
            Output::Send(message) => self.send(&message),
            Output::Arm(timer, duration) => {
                let duration = match timer {
                    Timer::ConnectRetry | Timer::Keepalive => self.jitter.apply(duration),
                    _ => duration,
                };
                self.timers[timer_index(timer)] = Some(Instant::now() + duration);
            }
            Output::Disarm(timer) => self.timers[timer_index(timer)] = None,
            Output::StateChanged { from, to } => {
                debug!(?from, ?to, "state");
                let _ = self.events.send(Event::State(to)).await;
            }
            Output::Established(negotiated) => {
                info!(peer_id = %negotiated.peer_id, hold_time = negotiated.hold_time, "session established");
                self.encode_cx = EncodeCx {
                    four_octet_as: negotiated.four_octet_as,
                    extended_message: negotiated.extended_message,
                };
                self.fsm.clear_restarting();
                self.rib_out.send_all(true);
                self.end_of_rib_sent = false;
                let _ = self
                    .events
                    .send(Event::Established { peer_id: negotiated.peer_id, hold_time: negotiated.hold_time })
                    .await;
            }
            Output::Down(reason) => {
                let reason = describe(&reason);
                warn!(%reason, "session down");
                self.rib_out.session_down();
                for change in self.rib_in.clear() {
                    self.report(change).await;
                }
                let _ = self.events.send(Event::Down { reason }).await;
            }
            Output::Update(update) => self.received_update(&update).await,
            Output::RouteRefresh => {
                info!("route refresh: sending the table again");
                self.rib_out.send_all(false);
            }
        }
    }

    fn connect(&mut self) {
        if let Some(attempt) = self.connecting.take() {
            attempt.abort();
        }
        let peer = self.config.peer;
        let source = self.config.source;
        let md5_password = self.config.md5_password.clone();
        self.connecting = Some(tokio::spawn(async move {
            let socket = if peer.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
            if let Some(source) = source {
                socket.bind(SocketAddr::new(source, 0))?;
            }
            if let Some(password) = &md5_password {
                md5::set_password(&socket, peer.ip(), password).map_err(io::Error::other)?;
            }
            socket.connect(peer).await
        }));
    }

    fn send(&mut self, message: &Message) {
        let Some(conn) = &self.conn else { return };
        match message.to_bytes(self.encode_cx) {
            Ok(bytes) => conn.send_priority(bytes),
            Err(error) => warn!(%error, "cannot encode a message"),
        }
    }

    async fn received_update(&mut self, update: &Update) {
        for problem in &update.problems {
            warn!(%problem, "malformed UPDATE handled per RFC 7606");
            let _ = self.events.send(Event::Malformed { error: problem.to_string() }).await;
        }
        if update.is_evpn_end_of_rib() {
            let _ = self.events.send(Event::EndOfRib).await;
            return;
        }
        for change in self.rib_in.apply(update, self.config.session.router_id) {
            self.report(change).await;
        }
    }

    async fn report(&mut self, change: RibInChange) {
        let event = match change {
            RibInChange::Announced(route) => Event::Route(route),
            RibInChange::Withdrawn(route) => Event::Withdrawn(route),
            RibInChange::OwnIgnored(route) => Event::OwnRouteIgnored(route),
        };
        let _ = self.events.send(event).await;
    }

    /// Sends pending Adj-RIB-Out changes as far as the writer has room, then
    /// End-of-RIB once the first full table is out.
    fn flush(&mut self) {
        if self.fsm.state() != State::Established {
            return;
        }
        let Some(conn) = &self.conn else { return };
        let slots = conn.free_slots();
        if slots == 0 {
            return;
        }
        if self.rib_out.has_pending() {
            match self.rib_out.flush(slots * KEYS_PER_SLOT, self.encode_cx) {
                Ok(messages) => {
                    for message in messages {
                        conn.send_bulk(message);
                    }
                }
                Err(error) => warn!(%error, "cannot encode routes"),
            }
        }
        if !self.rib_out.has_pending() && !self.end_of_rib_sent {
            if let Ok(bytes) = Message::Update(Update::evpn_end_of_rib()).to_bytes(self.encode_cx) {
                conn.send_bulk(bytes);
            }
            self.end_of_rib_sent = true;
            info!(routes = self.rib_out.len(), "initial table sent, End-of-RIB");
        }
    }
}

fn describe(reason: &DownReason) -> String {
    match reason {
        DownReason::Stopped => "stopped".to_owned(),
        DownReason::PeerNotification(n) => format!("peer sent NOTIFICATION {n}"),
        DownReason::LocalNotification(n) => format!("sent NOTIFICATION {n}"),
        DownReason::ConnectionClosed => "connection closed".to_owned(),
        DownReason::SendHoldExpired => "peer stopped reading (send hold timer)".to_owned(),
    }
}

async fn recv_from(conn: Option<&mut Connection>) -> Option<FromConnection> {
    match conn {
        Some(conn) => conn.incoming.recv().await,
        None => std::future::pending().await,
    }
}

async fn join_connect(
    attempt: Option<&mut JoinHandle<io::Result<TcpStream>>>,
) -> Result<io::Result<TcpStream>, tokio::task::JoinError> {
    match attempt {
        Some(attempt) => attempt.await,
        None => std::future::pending().await,
    }
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn drained(signal: Option<&Notify>) {
    match signal {
        Some(signal) => signal.notified().await,
        None => std::future::pending().await,
    }
}
