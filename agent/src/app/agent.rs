//! The agent task's state and the one transaction that changes its
//! configuration ([`Agent::configure`]): what to restart (speaker,
//! snooper, state-file writer) for a new configuration, in which order, and
//! how the core's outputs are carried out.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use bgp_wire::CeaseSubcode;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{
    CORE_CLOCK_LEAD_MS, SAVE_AT_LEAST_EVERY, SAVE_CHANGED_EVERY,
    prober::{ProbeReport, ProbeStats, Prober, ProberCommand},
    snooper::{SnooperCommand, SnooperThread},
    unix_ms_now,
};
use crate::{
    bgp::{
        fsm::SessionConfig,
        rib::OutRoute,
        session::{self, Command, Speaker, SpeakerConfig},
    },
    config::model::{Config, LivenessMethod},
    core::{
        Core,
        msg::{Forget, Input, Learned, Output},
        saved::SavedTable,
    },
    privileges,
    state::{AgentState, BgpState, Liveness, SnooperState, SnooperStatus, VtepLiveness},
    state_file::{self, Saver},
};

/// What the agent task owns.
pub(super) struct Agent {
    pub(super) started: Instant,
    pub(super) started_unix_ms: u64,
    pub(super) core: Core,
    pub(super) config: Option<Config>,
    pub(super) speaker: Option<Speaker>,
    pub(super) snooper: SnooperThread,
    pub(super) learned_tx: mpsc::Sender<Learned>,
    pub(super) snoop_tx: mpsc::Sender<SnooperState>,
    pub(super) config_source: String,
    pub(super) bgp_state: BgpState,
    pub(super) snoop_state: SnooperState,
    pub(super) ndk_state: Option<String>,
    /// SR Linux's BFD sessions to static VTEPs, as the NDK reports them,
    /// with when each state began (Unix ms).
    pub(super) bfd: BTreeMap<IpAddr, (Liveness, u64)>,
    /// The ICMP prober and what it found: per VTEP probed, its state and
    /// since when, its counters, and why it cannot probe.
    pub(super) prober: Prober,
    pub(super) icmp: BTreeMap<Ipv4Addr, (Liveness, u64)>,
    pub(super) probe_stats: BTreeMap<Ipv4Addr, ProbeStats>,
    pub(super) probe_error: Option<String>,
    pub(super) capabilities: privileges::Kept,
    /// Writes the learned table (`state-file`); none when it is "".
    pub(super) saver: Option<Saver>,
    /// The core generation last handed to the saver, and when.
    pub(super) saved: Option<(u64, Instant)>,
    /// The learned table of the last run was looked for (once, at the
    /// first configuration).
    pub(super) restore_tried: bool,
}

impl Agent {
    pub(super) fn new(
        learned_tx: mpsc::Sender<Learned>,
        snoop_tx: mpsc::Sender<SnooperState>,
        probe_tx: mpsc::Sender<ProbeReport>,
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
            bgp_state: BgpState::default(),
            capabilities,
            snoop_state: SnooperState::only(SnooperStatus::Off),
            ndk_state: None,
            bfd: BTreeMap::new(),
            prober: Prober::start(probe_tx),
            icmp: BTreeMap::new(),
            probe_stats: BTreeMap::new(),
            probe_error: None,
        }
    }

    pub(super) fn now(&self) -> u64 {
        CORE_CLOCK_LEAD_MS
            .saturating_add(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Writes the learned table if it changed (at most every 5 s) or every
    /// 60 s anyway; off the agent task, never waiting for the disk.
    pub(super) fn save_learned(&mut self) {
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
    pub(super) async fn input(&mut self, input: Input) {
        let outputs = self.core.process(self.now(), input);
        self.carry_out(outputs, true).await;
    }

    /// Carries out the core's outputs; routes go to the speaker only with
    /// `to_speaker` (a new session took the whole table already).
    async fn carry_out(&mut self, outputs: Vec<Output>, to_speaker: bool) {
        let mut announce = Vec::new();
        let mut withdraw = Vec::new();
        let mut forget_hosts = Vec::new();
        for output in outputs {
            match output {
                Output::Announce(route) => announce.push(route),
                Output::Withdraw(key) => withdraw.push(key),
                Output::IgnoreVteps(vteps) => self.snooper.send(SnooperCommand::Ignore(vteps)),
                Output::Probe(vteps) => {
                    // A VTEP probed again starts unknown, as the prober does.
                    self.icmp.retain(|vtep, _| vteps.contains(vtep));
                    self.probe_stats.retain(|vtep, _| vteps.contains(vtep));
                    self.prober.send(ProberCommand::Targets(vteps));
                }
                Output::ForgetSeen(Forget::Everything) => self.snooper.send(SnooperCommand::ForgetAll),
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
            self.snooper.send(SnooperCommand::Forget(forget_hosts));
        }
        // Without a speaker the agent is unconfigured: nothing to tell.
        let Some(speaker) = self.speaker.as_ref().filter(|_| to_speaker) else { return };
        self.bgp_state.counters.routes_announced += announce.len() as u64;
        self.bgp_state.counters.routes_withdrawn += withdraw.len() as u64;
        if !withdraw.is_empty() {
            let _ = speaker.commands.send(Command::Withdraw(withdraw)).await;
        }
        if !announce.is_empty() {
            let _ = speaker.commands.send(Command::Announce(announce)).await;
        }
    }

    /// SR Linux reported a BFD session to `vtep` (`None`: it is gone). For
    /// a VTEP whose method is `bfd`, Down declares it down; Up, admin-down
    /// (BFD switched off is not a failure, RFC 5880 §6.8.16) and no session
    /// declare it up; Init changes nothing.
    pub(super) async fn bfd_changed(&mut self, vtep: IpAddr, liveness: Option<Liveness>) {
        match liveness {
            Some(liveness) => {
                if self.bfd.get(&vtep).is_none_or(|(old, _)| *old != liveness) {
                    self.bfd.insert(vtep, (liveness, unix_ms_now()));
                }
            }
            None => {
                self.bfd.remove(&vtep);
            }
        }
        let IpAddr::V4(v4) = vtep else { return };
        if self.config.as_ref().is_some_and(|c| c.liveness_method(v4) == LivenessMethod::Bfd)
            && let Some(up) = bfd_verdict(liveness)
        {
            self.input(Input::VtepLiveness { vtep: v4, up }).await;
        }
    }

    /// A new NDK session: its BFD reports replace every one known.
    pub(super) async fn bfd_reset(&mut self) {
        let known: Vec<IpAddr> = self.bfd.keys().copied().collect();
        for vtep in known {
            self.bfd_changed(vtep, None).await;
        }
    }

    /// What the prober found.
    pub(super) async fn probe_report(&mut self, report: ProbeReport) {
        match report {
            ProbeReport::Changed { vtep, up } => {
                let state = if up { Liveness::Up } else { Liveness::Down };
                self.icmp.insert(vtep, (state, unix_ms_now()));
                // A report racing a configuration change is for a method
                // no longer in force.
                if self.config.as_ref().is_some_and(|c| c.liveness_method(vtep) == LivenessMethod::Icmp) {
                    self.input(Input::VtepLiveness { vtep, up }).await;
                }
            }
            ProbeReport::Stats(stats) => self.probe_stats = stats,
            ProbeReport::Error(error) => self.probe_error = error,
        }
    }

    /// Per static VTEP with a method, and per BFD session SR Linux
    /// reports, what state shows.
    fn liveness_state(&self) -> BTreeMap<Ipv4Addr, VtepLiveness> {
        let mut all = BTreeMap::new();
        let Some(config) = &self.config else { return all };
        let proxy_vteps = self.core.state_vteps();
        let bfd_vteps = self.bfd.keys().filter_map(|ip| match ip {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        });
        for vtep in proxy_vteps.into_iter().chain(bfd_vteps) {
            let method = config.liveness_method(vtep);
            let mut view = VtepLiveness { method, ..VtepLiveness::default() };
            match method {
                LivenessMethod::Icmp => {
                    if let Some((state, since)) = self.icmp.get(&vtep) {
                        view.state = *state;
                        view.since_unix_ms = Some(*since);
                    }
                    let stats = self.probe_stats.get(&vtep).copied().unwrap_or_default();
                    view.probes_sent = stats.sent;
                    view.probes_answered = stats.answered;
                    view.last_rtt_us = stats.last_rtt_us;
                    view.error.clone_from(&self.probe_error);
                }
                // Without a method the BFD session (if any) is only shown.
                LivenessMethod::Bfd | LivenessMethod::None => {
                    if let Some((state, since)) = self.bfd.get(&IpAddr::V4(vtep)) {
                        view.state = *state;
                        view.since_unix_ms = Some(*since);
                    } else if method == LivenessMethod::None {
                        continue;
                    }
                }
            }
            all.insert(vtep, view);
        }
        all
    }

    /// Applies a new configuration as one transaction. On error nothing
    /// changed: the running configuration and session stay. The first one
    /// also takes back the learned table of the last run, so that the first
    /// session's table, and so its first End-of-RIB, includes it.
    pub(super) async fn configure(&mut self, new: Option<Config>) -> anyhow::Result<()> {
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
            self.carry_out(outputs, false).await;
            self.bgp_state.counters.routes_announced += count;
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
        self.prober.send(ProberCommand::Settings {
            source: new.source_address,
            interval: Duration::from_millis(u64::from(new.liveness.interval_ms)),
            multiplier: new.liveness.multiplier,
        });
        self.config = Some(new.clone());
        if !new_session {
            self.input(Input::Config(Box::new(new))).await;
        }
        // VTEPs whose method became bfd take the session state known now.
        let bfd: Vec<(IpAddr, Liveness)> =
            self.bfd.iter().map(|(vtep, (state, _))| (*vtep, *state)).collect();
        for (vtep, state) in bfd {
            self.bfd_changed(vtep, Some(state)).await;
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
        // The session is gone; what it counted stays.
        self.bgp_state = BgpState { counters: self.bgp_state.counters, ..BgpState::default() };
        self.snoop_state = SnooperState::only(SnooperStatus::Off);
    }

    /// A snapshot of the state: records copied, nothing rendered (the
    /// asker does that, off this task).
    pub(super) fn state(&self) -> Box<AgentState> {
        Box::new(AgentState {
            config_source: self.config_source.clone(),
            configured: self.config.is_some(),
            uptime_secs: self.started.elapsed().as_secs(),
            started_at_unix_ms: self.started_unix_ms,
            core_clock_epoch_unix_ms: self.started_unix_ms.saturating_sub(CORE_CLOCK_LEAD_MS),
            capabilities: self.capabilities.capabilities.clone(),
            bgp: self.bgp_state.clone(),
            snooper: self.snoop_state.clone(),
            proxy: self.core.state(),
            ndk: self.ndk_state.clone(),
            liveness: self.liveness_state(),
        })
    }

    /// The state and the configuration in force, for `/yang`.
    pub(super) fn yang(&self) -> (Box<AgentState>, Option<Box<Config>>) {
        (self.state(), self.config.clone().map(Box::new))
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

/// What a BFD session state says of its VTEP (see [`Agent::bfd_changed`]).
const fn bfd_verdict(liveness: Option<Liveness>) -> Option<bool> {
    match liveness {
        Some(Liveness::Down) => Some(false),
        Some(Liveness::Init) => None,
        Some(Liveness::Up | Liveness::AdminDown | Liveness::Unknown) | None => Some(true),
    }
}
