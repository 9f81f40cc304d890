//! The running agent: one task owns the proxy core; child tasks and
//! threads do the I/O and talk to it over bounded channels.
//!
//! ```text
//!   snooper thread ──Learned (bounded 4096)──┐          ┌──► speaker: Announce / Withdraw
//!   (owns the eBPF maps; refreshes           │          │
//!    attachments every 2 s) ◄──IgnoreVteps───┤  agent   │
//!   speaker events ──Route/Withdrawn/Up/Down─►│   task   ├──► snooper thread: ignore set
//!   tick (1 s), SIGHUP (YAML reload), SIGTERM►│ (owns    ├──► log: notices
//!   NDK client task ──Configure / State──────►│  Core)   ├──► prober thread: VTEPs to probe
//!   ICMP prober thread ──up/down, counters───►│          └──► replies: verdicts, state
//!   HTTP /state, /metrics ──State────────────►│
//! ```
//!
//! The configuration comes from a YAML file (standalone) or from SR Linux
//! commits through the NDK client ([`crate::ndk::client`]); either way it
//! is one validated [`Config`] applied as one transaction by
//! [`Agent::configure`]. SIGTERM stops without withdrawing: the session
//! just closes, so a graceful-restart helper keeps our routes until we are
//! back.

mod agent;
mod events;
mod http;
mod prober;
mod snooper;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use tokio::{
    net::TcpListener,
    signal::unix::{SignalKind, signal},
    sync::{mpsc, watch},
};
use tracing::{error, info, warn};

use self::{agent::Agent, events::speaker_input, http::serve_http};
/// The snooper's status, as state shows it (kept here for existing users).
pub use crate::state::SnooperStatus;
use crate::{
    bgp::session::{Event, Speaker},
    config::model::{Config, http_address},
    control::Request,
    core::msg::{Input, Learned},
    ndk::client::{self as ndk_client, NdkOptions},
    privileges,
    state::SnooperState,
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
    let (snoop_tx, mut snoop_rx) = mpsc::channel::<SnooperState>(8);
    let (probe_tx, mut probe_rx) = mpsc::channel::<prober::ProbeReport>(64);
    let mut agent = Agent::new(learned_tx, snoop_tx, probe_tx, options.capabilities.clone());
    let (request_tx, mut request_rx) = mpsc::channel::<Request>(16);
    // Standalone, the file may say where to serve state; --http wins.
    let first_config = match &options.source {
        Source::Yaml(path) => Some(load_config(path)?),
        Source::Ndk(_) => None,
    };
    let from_file = first_config.as_ref().and_then(|c| c.http.as_deref()).map(http_address).transpose();
    let http = options.http.or(from_file.map_err(|e| anyhow::anyhow!("http: {e}"))?);
    if let Some(addr) = http {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        info!(%addr, "serving state over HTTP");
        tokio::spawn(serve_http(listener, request_tx.clone()));
    }
    let (stop_ndk, stop_rx) = watch::channel(false);
    let mut ndk_task = None;
    match &options.source {
        Source::Yaml(path) => {
            agent.config_source = path.display().to_string();
            agent.configure(first_config).await?;
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
            Some(report) = probe_rx.recv() => agent.probe_report(report).await,
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
                Request::NdkStatus(text) => agent.ndk_state = Some(text),
                Request::LivenessReset => agent.bfd_reset().await,
                Request::Liveness { vtep, liveness } => agent.bfd_changed(vtep, liveness).await,
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
                    Request::NdkStatus(_) | Request::Liveness { .. } | Request::LivenessReset => {}
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

pub(super) fn unix_secs_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(super) fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The core's clock starts this far ahead of zero (one day, the longest
/// `mac-aging-secs`), so that a MAC restored from before the start gets its
/// last-seen time on that clock, not a time clamped to the start.
pub(super) const CORE_CLOCK_LEAD_MS: u64 = 86_400_000;

/// How often a changed learned table is written, and how often at least
/// (the last-seen times move on while nothing else changes).
pub(super) const SAVE_CHANGED_EVERY: Duration = Duration::from_secs(5);
pub(super) const SAVE_AT_LEAST_EVERY: Duration = Duration::from_mins(1);
