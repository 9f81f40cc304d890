//! The running agent: one task owns the proxy core; child tasks and one
//! thread do the I/O and talk to it over bounded channels.
//!
//! ```text
//!   snooper thread ──Learned (bounded 4096)──┐          ┌──► speaker: Announce / Withdraw
//!   (owns the eBPF maps; refreshes           │          │
//!    attachments every 2 s) ◄──IgnoreVteps───┤  agent   │
//!   speaker events ──Route/Withdrawn/Up/Down─►│   task   ├──► snooper thread: ignore set
//!   tick (1 s), SIGHUP (YAML reload), SIGTERM►│ (owns    ├──► log: notices
//!   NDK client task ──Configure / State──────►│  Core)   └──► replies: verdicts, state
//!   HTTP /state, /metrics ──State────────────►│
//! ```
//!
//! The configuration comes from a YAML file (standalone) or from SR Linux
//! commits through the NDK client ([`crate::ndk::client`]); either way it
//! is one validated [`Config`] applied as one transaction by
//! [`Agent::configure`]. SIGTERM stops without withdrawing: the session
//! just closes, so a graceful-restart helper keeps our routes until we are
//! back.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc as std_mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use bgp_wire::{CeaseSubcode, EvpnRoute, ExtCommunity, MacAddr, PmsiTunnelId};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
    signal::unix::{SignalKind, signal},
    sync::{mpsc, oneshot, watch},
};
use tracing::{error, info, warn};

use crate::{
    bgp::{
        fsm::{SessionConfig, State as SessionState},
        rib::{InRoute, OutRoute},
        session::{self, Command, Event, Speaker, SpeakerConfig},
    },
    config::model::{AttachMode, Config},
    control::Request,
    core::{
        Core,
        msg::{Forget, Input, Learned, Mobility, Output, ReceivedKind, ReceivedRoute},
        saved::SavedTable,
    },
    ndk::{
        client::{self as ndk_client, NdkOptions},
        telemetry,
    },
    privileges,
    state_file::{self, Saver},
};

/// Where the configuration comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A YAML file, reloaded on SIGHUP (standalone mode).
    Yaml(PathBuf),
    /// SR Linux commits through the NDK (the agent starts unconfigured).
    Ndk(NdkOptions),
}

/// How the agent was started.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the configuration comes from.
    pub source: Source,
    /// Serve state as JSON (`/state`) and Prometheus text (`/metrics`).
    pub http: Option<SocketAddr>,
    /// The capabilities the process kept, for state.
    pub capabilities: privileges::Kept,
}

/// Loads and validates a YAML configuration file.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: Config = serde_norway::from_str(&text)
        .with_context(|| format!("{}: invalid configuration", path.display()))?;
    config.validate().with_context(|| format!("{}: invalid configuration", path.display()))?;
    Ok(config)
}

/// Runs the agent until SIGTERM or SIGINT.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let (learned_tx, mut learned_rx) = mpsc::channel::<Learned>(4096);
    let (snoop_tx, mut snoop_rx) = mpsc::channel::<serde_json::Value>(8);
    let mut agent = Agent::new(learned_tx, snoop_tx, options.capabilities.clone());
    let (request_tx, mut request_rx) = mpsc::channel::<Request>(16);
    if let Some(addr) = options.http {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        info!(%addr, "serving state over HTTP");
        tokio::spawn(serve_http(listener, request_tx.clone()));
    }
    let (stop_ndk, stop_rx) = watch::channel(false);
    let mut ndk_task = None;
    match &options.source {
        Source::Yaml(path) => {
            agent.config_source = path.display().to_string();
            agent.configure(Some(load_config(path)?)).await?;
            info!(path = %path.display(), "running");
        }
        Source::Ndk(ndk) => {
            agent.config_source = format!("ndk {}", ndk.address);
            agent.ndk_state = Some("connecting".into());
            info!(address = %ndk.address, agent_name = %ndk.agent_name, "running; configuration from SR Linux");
            ndk_task = Some(tokio::spawn(ndk_client::run(ndk.clone(), request_tx.clone(), stop_rx)));
        }
    }
    drop(request_tx);
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut fatal = None;
    loop {
        tokio::select! {
            Some(learned) = learned_rx.recv() => agent.input(Input::Learned(learned)).await,
            Some(event) = next_event(agent.speaker.as_mut()) => {
                if let Some(input) = speaker_input(&event, &mut agent.bgp_state) {
                    agent.input(input).await;
                }
            }
            Some(state) = snoop_rx.recv() => agent.snoop_state = state,
            _ = tick.tick() => {
                agent.input(Input::Tick).await;
                agent.save_learned();
            }
            Some(request) = request_rx.recv() => match request {
                Request::State(reply) => {
                    let _ = reply.send(agent.state());
                }
                Request::Yang(reply) => {
                    let _ = reply.send(agent.yang());
                }
                Request::Configure { config, reply } => {
                    let verdict = agent.configure(config.map(|c| *c)).await.map_err(|e| format!("{e:#}"));
                    let _ = reply.send(verdict);
                }
                Request::NdkStatus(text) => agent.ndk_state = Some(text.into()),
            },
            _ = hangup.recv() => match &options.source {
                Source::Yaml(path) => match load_config(path) {
                    Ok(new) => match agent.configure(Some(new)).await {
                        Ok(()) => info!("SIGHUP: configuration reloaded"),
                        Err(error) => error!("SIGHUP: {error:#}; keeping the running configuration"),
                    },
                    // The previous configuration stays in force.
                    Err(error) => error!("SIGHUP: {error:#}; keeping the running configuration"),
                },
                Source::Ndk(_) => info!("SIGHUP: the configuration comes from SR Linux commits; nothing to reload"),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
        // A session restart that failed twice (new and previous settings)
        // leaves a configured agent without a speaker: nothing it can do
        // alone. Exit, so that app_mgr or systemd starts it afresh.
        if agent.config.is_some() && agent.speaker.is_none() {
            fatal = Some(anyhow::anyhow!(
                "the BGP session could not be started again with the previous settings"
            ));
            break;
        }
    }
    info!("stopping; routes stay with the peer's graceful restart");
    if let Some(task) = ndk_task {
        let _ = stop_ndk.send(true);
        // The client may be waiting on us: answer what is queued while it
        // removes its state and unregisters.
        let mut task = task;
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut task => break,
                Some(request) = request_rx.recv() => match request {
                    Request::State(reply) => { let _ = reply.send(agent.state()); }
                    Request::Yang(reply) => { let _ = reply.send(agent.yang()); }
                    Request::Configure { reply, .. } => { let _ = reply.send(Err("the agent is stopping".into())); }
                    Request::NdkStatus(_) => {}
                },
                () = &mut deadline => {
                    warn!("the NDK client did not finish within 5 s");
                    break;
                }
            }
        }
    }
    if let Some(saver) = agent.saver.take() {
        saver.finish(agent.core.save(agent.now(), unix_ms_now()), Duration::from_secs(5));
    }
    drop(agent);
    fatal.map_or(Ok(()), Err)
}

/// The next speaker event, or never without a speaker.
async fn next_event(speaker: Option<&mut Speaker>) -> Option<Event> {
    match speaker {
        Some(speaker) => speaker.events.recv().await,
        None => std::future::pending().await,
    }
}

/// What the agent task owns.
struct Agent {
    started: Instant,
    started_unix_ms: u64,
    core: Core,
    config: Option<Config>,
    speaker: Option<Speaker>,
    snooper: SnooperThread,
    learned_tx: mpsc::Sender<Learned>,
    snoop_tx: mpsc::Sender<serde_json::Value>,
    config_source: String,
    bgp_state: serde_json::Value,
    snoop_state: serde_json::Value,
    ndk_state: Option<serde_json::Value>,
    capabilities: privileges::Kept,
    /// Writes the learned table (`state-file`); none when it is "".
    saver: Option<Saver>,
    /// The core generation last handed to the saver, and when.
    saved: Option<(u64, Instant)>,
    /// The learned table of the last run was looked for (once, at the
    /// first configuration).
    restore_tried: bool,
}

impl Agent {
    fn new(
        learned_tx: mpsc::Sender<Learned>,
        snoop_tx: mpsc::Sender<serde_json::Value>,
        capabilities: privileges::Kept,
    ) -> Self {
        Self {
            started: Instant::now(),
            started_unix_ms: unix_ms_now(),
            saver: None,
            saved: None,
            restore_tried: false,
            core: Core::new(),
            config: None,
            speaker: None,
            snooper: SnooperThread { commands: None },
            learned_tx,
            snoop_tx,
            config_source: String::new(),
            bgp_state: serde_json::json!({"state": "idle"}),
            capabilities,
            snoop_state: serde_json::json!({"status": SnooperStatus::Off.as_str()}),
            ndk_state: None,
        }
    }

    fn now(&self) -> u64 {
        CORE_CLOCK_LEAD_MS
            .saturating_add(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Writes the learned table if it changed (at most every 5 s) or every
    /// 60 s anyway; off the agent task, never waiting for the disk.
    fn save_learned(&mut self) {
        let Some(saver) = &self.saver else { return };
        let due = self.saved.is_none_or(|(generation, at)| {
            (generation != self.core.generation() && at.elapsed() >= SAVE_CHANGED_EVERY)
                || at.elapsed() >= SAVE_AT_LEAST_EVERY
        });
        if due && saver.offer(self.core.save(self.now(), unix_ms_now())) {
            self.saved = Some((self.core.generation(), Instant::now()));
        }
    }

    /// The learned table of the last run, if the configuration keeps one
    /// and it can be used; one log line says what happened.
    fn saved_table(config: &Config) -> Option<SavedTable> {
        if config.state_file.is_empty() {
            return None;
        }
        match state_file::read(Path::new(&config.state_file)) {
            Ok(Some(table)) => {
                info!(path = %config.state_file, macs = table.len(), "restoring the learned table of the last run");
                Some(table)
            }
            Ok(None) => None,
            Err(error) => {
                warn!(%error, "the learned table of the last run is not used: starting without it");
                None
            }
        }
    }

    /// Feeds the core and carries out its outputs.
    async fn input(&mut self, input: Input) {
        let now = self.now();
        let (announced, withdrawn) =
            apply(&mut self.core, now, input, self.speaker.as_ref(), &self.snooper).await;
        if announced > 0 {
            bump(&mut self.bgp_state, "routes-announced", announced);
        }
        if withdrawn > 0 {
            bump(&mut self.bgp_state, "routes-withdrawn", withdrawn);
        }
    }

    /// Applies a new configuration as one transaction. On error nothing
    /// changed: the running configuration and session stay. The first one
    /// also takes back the learned table of the last run, so that the first
    /// session's table, and so its first End-of-RIB, includes it.
    async fn configure(&mut self, new: Option<Config>) -> anyhow::Result<()> {
        let Some(new) = new else {
            self.unconfigure().await;
            return Ok(());
        };
        let restore = if self.config.is_none() && !self.restore_tried {
            self.restore_tried = true;
            Self::saved_table(&new)
        } else {
            None
        };
        let new_session = match (&self.speaker, &self.config) {
            (None, _) => true,
            (Some(_), Some(old)) => session_changed(old, &new),
            (Some(_), None) => false,
        };
        if new_session {
            // The new session starts with the whole table the new config calls
            // for, so its first End-of-RIB is complete. The config is applied
            // to a copy of the core, adopted only once the session started.
            let mut next = self.core.clone();
            let mut outputs = next.process(self.now(), Input::Config(Box::new(new.clone())));
            if let Some(table) = restore {
                let restore = Input::Restore { table: Box::new(table), unix_now_ms: unix_ms_now() };
                outputs.extend(next.process(self.now(), restore));
            }
            // The tables go to the speakers as iterators, not lists: at a
            // million MACs a list of routes is 160 MB, and the old table is
            // only read if the new session cannot start.
            let table = next.advertised();
            let count = next.advertised_count() as u64;
            match (self.speaker.take(), &self.config) {
                (Some(speaker), Some(old)) => {
                    info!("BGP session settings changed: restarting the session");
                    let old_table = self.core.advertised();
                    let (speaker, started) = restart_speaker(speaker, old, &new, table, old_table).await?;
                    self.speaker = Some(speaker);
                    started?;
                }
                _ => self.speaker = Some(start_speaker(&new, true, table).await?),
            }
            self.core = next;
            // The table went with the session; the rest (ignore set,
            // notices) is carried out as usual.
            let _ = carry_out(outputs, None, &self.snooper).await;
            if count > 0 {
                bump(&mut self.bgp_state, "routes-announced", count);
            }
        }
        if self.config.as_ref().is_none_or(|old| learning_changed(old, &new)) {
            if self.config.is_some() {
                info!("learning settings changed: restarting the snooper");
            }
            self.snooper = SnooperThread::start(&new, self.learned_tx.clone(), self.snoop_tx.clone());
        }
        if self.saver.as_ref().map(|s| s.path().to_owned()) != Some(PathBuf::from(&new.state_file)) {
            self.saver = (!new.state_file.is_empty()).then(|| Saver::start(PathBuf::from(&new.state_file)));
            self.saved = None;
        }
        self.config = Some(new.clone());
        if !new_session {
            self.input(Input::Config(Box::new(new))).await;
        }
        Ok(())
    }

    /// The agent's configuration was removed: withdraw everything, then
    /// close the session (with a NOTIFICATION, so that no graceful-restart
    /// helper keeps anything) and stop learning.
    async fn unconfigure(&mut self) {
        let Some(mut config) = self.config.take() else { return };
        info!("configuration removed: withdrawing every route and closing the session");
        config.enabled = false;
        self.input(Input::Config(Box::new(config))).await;
        if let Some(speaker) = self.speaker.take() {
            // Administrative shutdown, after the withdrawals queued above.
            let _ = speaker.commands.send(Command::Shutdown(CeaseSubcode::AdministrativeShutdown)).await;
            if tokio::time::timeout(Duration::from_secs(5), speaker.join()).await.is_err() {
                warn!("the BGP session did not stop within 5 s; it was aborted");
            }
        }
        self.core = Core::new();
        self.snooper = SnooperThread { commands: None };
        let counters = self.bgp_state["counters"].take();
        self.bgp_state = serde_json::json!({"state": "idle", "counters": counters});
        self.snoop_state = serde_json::json!({"status": SnooperStatus::Off.as_str()});
    }

    fn yang(&self) -> serde_json::Value {
        let nodes = self.config.as_ref().map(telemetry::nodes_from_config).unwrap_or_default();
        let entries = telemetry::render(&self.state(), &nodes, &telemetry::Liveness::new());
        entries
            .into_iter()
            .map(|(key, json)| (key, serde_json::from_str(&json).unwrap_or(serde_json::Value::Null)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    fn state(&self) -> serde_json::Value {
        let mut state = serde_json::json!({
            "config-source": self.config_source,
            "configured": self.config.is_some(),
            "uptime-secs": self.started.elapsed().as_secs(),
            "started-at-unix-ms": self.started_unix_ms,
            // Where the core's times (`*-ms` under proxy) count from.
            "core-clock-epoch-unix-ms": self.started_unix_ms.saturating_sub(CORE_CLOCK_LEAD_MS),
            "capabilities": self.capabilities.capabilities,
            "bgp": self.bgp_state,
            "snooper": self.snoop_state,
            "proxy": self.core.state(),
        });
        if let Some(ndk) = &self.ndk_state {
            state["ndk"] = ndk.clone();
        }
        state
    }
}

async fn start_speaker(
    config: &Config,
    restarting: bool,
    table: impl IntoIterator<Item = OutRoute>,
) -> anyhow::Result<Speaker> {
    let source = IpAddr::V4(config.source_address);
    let speaker_config = SpeakerConfig {
        session: SessionConfig {
            local_as: config.local_as,
            peer_as: config.peer_as.unwrap_or(config.local_as),
            router_id: config.source_address,
            hold_time: config.hold_time,
            connect: config.connect,
            graceful_restart: (config.graceful_restart_time > 0).then_some(config.graceful_restart_time),
            // On every start: the peer must not wait for our End-of-RIB
            // before sending its routes (RFC 4724 §3).
            restarting,
        },
        peer: SocketAddr::new(config.peer(), config.peer_port),
        source: Some(source),
        listen: config.listen_port.map(|port| SocketAddr::new(source, port)),
        md5_password: config.md5_password.clone(),
    };
    session::spawn_with_table(speaker_config, table).await.context("cannot start the BGP speaker")
}

/// Replaces the session with one for `new`. The old one is shut down and
/// waited for first, so that its listener has released the port the new
/// one binds. If the new one cannot start (address not local, port taken),
/// the session for `old` is started again and the error is returned beside
/// it: the previous configuration stays in force. Only if even that fails is
/// the agent without a speaker, which is fatal.
async fn restart_speaker(
    speaker: Speaker,
    old: &Config,
    new: &Config,
    new_table: impl IntoIterator<Item = OutRoute>,
    old_table: impl IntoIterator<Item = OutRoute>,
) -> anyhow::Result<(Speaker, anyhow::Result<()>)> {
    let _ = speaker.commands.send(Command::Shutdown(CeaseSubcode::OtherConfigurationChange)).await;
    if tokio::time::timeout(Duration::from_secs(5), speaker.join()).await.is_err() {
        warn!("the old BGP session did not stop within 5 s; it was aborted");
    }
    match start_speaker(new, false, new_table).await {
        Ok(speaker) => Ok((speaker, Ok(()))),
        Err(error) => Ok((start_speaker(old, false, old_table).await?, Err(error))),
    }
}

fn session_changed(old: &Config, new: &Config) -> bool {
    (old.source_address, old.local_as, old.peer(), old.peer_port, old.peer_as, old.listen_port, old.connect)
        != (
            new.source_address,
            new.local_as,
            new.peer(),
            new.peer_port,
            new.peer_as,
            new.listen_port,
            new.connect,
        )
        || (old.hold_time, &old.md5_password, old.graceful_restart_time)
            != (new.hold_time, &new.md5_password, new.graceful_restart_time)
}

fn learning_changed(old: &Config, new: &Config) -> bool {
    (
        &old.learning_interfaces,
        &old.learning_netns,
        old.attach_mode,
        old.vxlan_port,
        old.learn_nd,
        old.mac_aging_secs,
    ) != (
        &new.learning_interfaces,
        &new.learning_netns,
        new.attach_mode,
        new.vxlan_port,
        new.learn_nd,
        new.mac_aging_secs,
    )
}

/// Feeds the core and carries out its outputs; returns how many routes it
/// asked the speaker to announce and to withdraw.
async fn apply(
    core: &mut Core,
    now: u64,
    input: Input,
    speaker: Option<&Speaker>,
    snooper: &SnooperThread,
) -> (u64, u64) {
    carry_out(core.process(now, input), speaker, snooper).await
}

/// Carries out the core's outputs; returns how many routes it asked the
/// speaker to announce and to withdraw.
async fn carry_out(outputs: Vec<Output>, speaker: Option<&Speaker>, snooper: &SnooperThread) -> (u64, u64) {
    let mut announce = Vec::new();
    let mut withdraw = Vec::new();
    let mut forget_hosts = Vec::new();
    for output in outputs {
        match output {
            Output::Announce(route) => announce.push(route),
            Output::Withdraw(key) => withdraw.push(key),
            Output::IgnoreVteps(vteps) => snooper.send(SnooperCommand::Ignore(vteps)),
            Output::ForgetSeen(Forget::Everything) => snooper.send(SnooperCommand::ForgetAll),
            Output::ForgetSeen(Forget::Host { vni, mac, ips }) => {
                forget_hosts.push((vni, mac.0, None));
                forget_hosts.extend(ips.into_iter().map(|ip| (vni, mac.0, Some(ip))));
            }
            Output::Notice(notice) => {
                info!(notice = %serde_json::to_string(&notice).unwrap_or_default(), "proxy");
            }
        }
    }
    if !forget_hosts.is_empty() {
        snooper.send(SnooperCommand::Forget(forget_hosts));
    }
    // Without a speaker the agent is unconfigured: nothing to tell.
    let Some(speaker) = speaker else { return (0, 0) };
    let counts = (announce.len() as u64, withdraw.len() as u64);
    if !withdraw.is_empty() {
        let _ = speaker.commands.send(Command::Withdraw(withdraw)).await;
    }
    if !announce.is_empty() {
        let _ = speaker.commands.send(Command::Announce(announce)).await;
    }
    counts
}

/// A speaker event as a core input, keeping the session state for /state.
fn speaker_input(event: &Event, bgp_state: &mut serde_json::Value) -> Option<Input> {
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
        Event::Withdrawn(route) => Some(Input::Withdrawn { key: route.to_string() }),
        Event::EndOfRib | Event::OwnRouteIgnored(_) => None,
        Event::Malformed { error } => {
            warn!(%error, "malformed UPDATE handled per RFC 7606");
            None
        }
    }
}

/// Adds `by` to the session counter `name` in the state JSON.
fn bump(bgp_state: &mut serde_json::Value, name: &str, by: u64) {
    let counters = &mut bgp_state["counters"];
    counters[name] = (counters[name].as_u64().unwrap_or(0) + by).into();
}

fn unix_secs_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The core's clock starts this far ahead of zero (one day, the longest
/// `mac-aging-secs`), so that a MAC restored from before the start gets its
/// last-seen time on that clock, not a time clamped to the start.
const CORE_CLOCK_LEAD_MS: u64 = 86_400_000;

/// How often a changed learned table is written, and how often at least
/// (the last-seen times move on while nothing else changes).
const SAVE_CHANGED_EVERY: Duration = Duration::from_secs(5);
const SAVE_AT_LEAST_EVERY: Duration = Duration::from_mins(1);

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
        key: route.route.to_string(),
        kind,
        vni,
        next_hop: route.next_hop,
        originator_id: route.originator_id,
        mobility,
    })
}

/// The snooper on its own thread: it owns the eBPF maps, refreshes the
/// attachments every 2 s, applies ignore sets, and forwards events.
struct SnooperThread {
    commands: Option<std_mpsc::Sender<SnooperCommand>>,
}

/// The snooper's `status` in state: the values of the YANG enumeration
/// `snooper/status`, and only those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnooperStatus {
    /// Loaded and attached (or waiting for some of its interfaces).
    Running,
    /// No learning interfaces configured.
    Off,
    /// The learning namespace does not exist yet.
    Waiting,
    /// It could not start.
    Error,
}

impl SnooperStatus {
    /// Every value, for checking them against the model.
    pub const ALL: [Self; 4] = [Self::Running, Self::Off, Self::Waiting, Self::Error];

    /// The value as published.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Off => "off",
            Self::Waiting => "waiting",
            Self::Error => "error",
        }
    }
}

/// What the agent task asks of the snooper thread.
#[derive(Debug)]
enum SnooperCommand {
    /// The ignore map: exactly these VTEPs (the native EVPN ones).
    Ignore(Vec<IpAddr>),
    /// Let the next frame of each host (VNI, MAC, IP; `None`: no IP)
    /// through the dedup window again.
    Forget(Vec<(u32, [u8; 6], Option<IpAddr>)>),
    /// Let the next frame of every binding through again.
    ForgetAll,
}

impl SnooperThread {
    fn start(
        config: &Config,
        learned: mpsc::Sender<Learned>,
        state: mpsc::Sender<serde_json::Value>,
    ) -> Self {
        if config.learning_interfaces.is_empty() {
            // `off` in the YANG: nothing to snoop.
            let _ = state.try_send(serde_json::json!({"status": SnooperStatus::Off.as_str()}));
            return Self { commands: None };
        }
        let snoop_config = arp_snoop::SnooperConfig {
            netns: config.learning_netns.as_ref().map(|n| {
                if n.starts_with('/') { PathBuf::from(n) } else { Path::new("/var/run/netns").join(n) }
            }),
            interfaces: config.learning_interfaces.clone(),
            mode: match config.attach_mode {
                AttachMode::Tc => arp_snoop::AttachMode::Tc,
                AttachMode::Socket => arp_snoop::AttachMode::Socket,
            },
            settings: arp_snoop::Settings {
                vxlan_port: config.vxlan_port,
                nd: u8::from(config.learn_nd),
                // A third of the aging time: refreshes keep fresh MACs fresh.
                dedup_window_ns: config.mac_aging_secs.saturating_mul(1_000_000_000) / 3,
                ..arp_snoop::Settings::DEFAULT
            },
        };
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("snooper".into())
            .spawn(move || snooper_thread(&snoop_config, &rx, &learned, &state))
            .map_or_else(
                |e| {
                    error!(%e, "cannot start the snooper thread");
                    Self { commands: None }
                },
                |_| Self { commands: Some(tx) },
            )
    }

    fn send(&self, command: SnooperCommand) {
        if let Some(commands) = &self.commands {
            let _ = commands.send(command);
        }
    }
}

fn snooper_thread(
    config: &arp_snoop::SnooperConfig,
    commands: &std_mpsc::Receiver<SnooperCommand>,
    learned: &mpsc::Sender<Learned>,
    state: &mpsc::Sender<serde_json::Value>,
) {
    // Ignore sets that arrive before the snooper runs, applied once it does.
    let mut ignored = None;
    let mut waited = false;
    let mut snooper = loop {
        match arp_snoop::Snooper::start(config.clone()) {
            Ok(snooper) => break snooper,
            // The namespace may come later (SR Linux creates srbase at boot,
            // perhaps after us; an operator may add it): wait for it.
            Err(e @ arp_snoop::SnoopError::NetnsOpen { .. }) => {
                if !waited {
                    warn!(error = %e, "learning namespace missing: waiting for it");
                    waited = true;
                }
                let report =
                    serde_json::json!({"status": SnooperStatus::Waiting.as_str(), "error": e.to_string()});
                if state.blocking_send(report).is_err() {
                    return;
                }
                match commands.recv_timeout(Duration::from_secs(2)) {
                    Ok(SnooperCommand::Ignore(vteps)) => ignored = Some(vteps),
                    // Nothing is loaded yet, so nothing was seen to forget.
                    Ok(SnooperCommand::Forget(_) | SnooperCommand::ForgetAll)
                    | Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
            Err(e) => {
                // The agent keeps running without learning; state says why.
                error!(error = %e, "snooper not started: learning is off");
                let _ = state.blocking_send(
                    serde_json::json!({"status": SnooperStatus::Error.as_str(), "error": e.to_string()}),
                );
                return;
            }
        }
    };
    if waited {
        info!("learning namespace found: snooper started");
    }
    if let Some(vteps) = ignored
        && let Err(e) = snooper.set_ignored(&vteps)
    {
        warn!(error = %e, "cannot update the ignore map");
    }
    let Some(ring) = snooper.take_events() else { return };
    let forward = learned.clone();
    // The reader thread ends with this one (a reload that restarts the
    // snooper, or shutdown): it looks at the flag at least every 500 ms.
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let reader_stop = stop.0.clone();
    let reader = std::thread::Builder::new().name("snoop-events".into()).spawn(move || {
        let mut reader = arp_snoop::EventReader::new(ring);
        while !reader_stop.load(Ordering::Relaxed) {
            let events = match reader.wait(Duration::from_millis(500)) {
                Ok(events) => events,
                Err(e) => {
                    error!(error = %e, "cannot read the snooper's events: learning stopped");
                    return;
                }
            };
            for event in events {
                let ip = (event.ip_family != 0).then(|| arp_snoop::unmapped(event.ip));
                let learned = Learned {
                    vni: event.vni,
                    vtep: arp_snoop::unmapped(event.outer_src),
                    mac: MacAddr(event.mac),
                    ip,
                };
                if forward.blocking_send(learned).is_err() {
                    return;
                }
            }
        }
    });
    if let Err(e) = reader {
        error!(error = %e, "cannot start the snooper's event reader: learning is off");
        let _ = state.blocking_send(
            serde_json::json!({"status": SnooperStatus::Error.as_str(), "error": e.to_string()}),
        );
        return;
    }
    loop {
        let interfaces = match snooper.refresh().cloned() {
            Ok(status) => {
                // Counters of an interface that is not attached read as what it
                // counted before (or zero); a map error leaves them out.
                let counts = snooper.interface_counters().unwrap_or_default();
                status
                    .iter()
                    .map(|(name, s)| {
                        let text = match s {
                            arp_snoop::InterfaceStatus::Attached { ifindex } => {
                                format!("attached (ifindex {ifindex})")
                            }
                            arp_snoop::InterfaceStatus::Waiting => "waiting for the interface".to_owned(),
                            arp_snoop::InterfaceStatus::Error(e) => format!("error: {e}"),
                        };
                        let mut entry = serde_json::Map::from_iter([("status".to_owned(), text.into())]);
                        if let Some(count) = counts.get(name) {
                            for counter in arp_snoop::Counter::ALL {
                                entry.insert(counter.name().to_owned(), count.get(counter).into());
                            }
                        }
                        (name.clone(), serde_json::Value::Object(entry))
                    })
                    .collect::<serde_json::Map<_, _>>()
            }
            Err(e) => serde_json::Map::from_iter([("error".to_owned(), e.to_string().into())]),
        };
        let counters = snooper.counters().unwrap_or_default();
        let report = serde_json::json!({"status": SnooperStatus::Running.as_str(), "interfaces": interfaces, "counters": counters});
        if state.blocking_send(report).is_err() {
            return;
        }
        // Commands as they come; a refresh every 2 s.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match commands.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(SnooperCommand::Ignore(vteps)) => {
                    if let Err(e) = snooper.set_ignored(&vteps) {
                        warn!(error = %e, "cannot update the ignore map");
                    }
                }
                Ok(SnooperCommand::Forget(hosts)) => {
                    if let Err(e) = snooper.forget(&hosts) {
                        warn!(error = %e, "cannot clear dedup slots: those hosts wait out the window");
                    }
                }
                Ok(SnooperCommand::ForgetAll) => {
                    if let Err(e) = snooper.forget_all() {
                        warn!(error = %e, "cannot start a new dedup epoch: refused bindings wait out the window");
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => break,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// Raises a stop flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A minimal HTTP/1.1 responder: GET /state (JSON) and /metrics (Prometheus).
async fn serve_http(listener: TcpListener, state: mpsc::Sender<Request>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let state = state.clone();
        tokio::spawn(async move {
            let mut request = vec![0u8; 2048];
            let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut request)).await
            else {
                return;
            };
            let first = String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or_default().to_owned();
            let path = first.split_whitespace().nth(1).unwrap_or("/");
            let (tx, rx) = oneshot::channel();
            let request = if path == "/yang" { Request::Yang(tx) } else { Request::State(tx) };
            let snapshot = if state.send(request).await.is_ok() { rx.await.ok() } else { None };
            let (status, kind, body) = match (path, snapshot) {
                ("/state" | "/yang", Some(s)) => {
                    ("200 OK", "application/json", serde_json::to_string_pretty(&s).unwrap_or_default())
                }
                ("/metrics", Some(s)) => ("200 OK", "text/plain; version=0.0.4", metrics(&s)),
                (_, None) => ("503 Service Unavailable", "text/plain", "the agent is stopping\n".to_owned()),
                _ => ("404 Not Found", "text/plain", "try /state, /yang or /metrics\n".to_owned()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// Prometheus text exposition of the main figures.
fn metrics(state: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let number = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let _ = writeln!(out, "# TYPE sva_advertised_routes gauge");
    let _ = writeln!(out, "sva_advertised_routes {}", number(&state["proxy"]["advertised-routes"]));
    let _ = writeln!(out, "# TYPE sva_bgp_established gauge");
    let _ = writeln!(out, "sva_bgp_established {}", u8::from(state["bgp"]["state"] == "established"));
    for (name, value) in state["proxy"]["counters"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "sva_proxy_{} {}", name.replace('-', "_"), number(value));
    }
    for (name, value) in state["snooper"]["counters"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "sva_snooper_{}_total {}", name.replace('-', "_"), number(value));
    }
    for (interface, entry) in state["snooper"]["interfaces"].as_object().into_iter().flatten() {
        for (name, value) in entry.as_object().into_iter().flatten().filter(|(_, v)| v.is_u64()) {
            let metric = name.replace('-', "_");
            let _ = writeln!(
                out,
                "sva_snooper_interface_{metric}_total{{interface=\"{interface}\"}} {}",
                number(value)
            );
        }
    }
    for (name, vrf) in state["proxy"]["mac-vrfs"].as_object().into_iter().flatten() {
        let macs = vrf["macs"].as_object().map_or(0, serde_json::Map::len);
        let _ = writeln!(out, "sva_macs{{mac_vrf=\"{name}\"}} {macs}");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn metrics_carry_totals_per_interface_counters_and_macs() {
        let state = json!({
            "bgp": {"state": "established"},
            "proxy": {"advertised-routes": 3, "counters": {"learned": 2},
                      "mac-vrfs": {"blue": {"macs": {"02:00:00:00:00:01": {}}}}},
            "snooper": {
                "counters": {"seen": 10, "ring-buffer-full": 0},
                "interfaces": {"e1-1": {"status": "attached (ifindex 7)", "seen": 9, "parse-errors": 1}},
            },
        });
        let text = super::metrics(&state);
        for line in [
            "sva_advertised_routes 3",
            "sva_bgp_established 1",
            "sva_proxy_learned 2",
            "sva_snooper_seen_total 10",
            "sva_snooper_ring_buffer_full_total 0",
            "sva_snooper_interface_seen_total{interface=\"e1-1\"} 9",
            "sva_snooper_interface_parse_errors_total{interface=\"e1-1\"} 1",
            "sva_macs{mac_vrf=\"blue\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("status"), "only numbers are metrics:\n{text}");
    }

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
