//! The snooper thread: it owns the eBPF program and maps (through
//! `arp_snoop`), waits for a learning namespace that is not there yet,
//! refreshes the attachments every 2 s, carries out the agent task's ignore
//! and forget commands, and starts the `snoop-events` thread that turns
//! ring-buffer events into [`Learned`] inputs.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc as std_mpsc,
    },
    time::{Duration, Instant},
};

use bgp_wire::MacAddr;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::{
    config::model::{AttachMode, Config},
    core::msg::Learned,
    state::{SnoopedInterface, SnooperState, SnooperStatus},
};

/// The snooper on its own thread: it owns the eBPF maps, refreshes the
/// attachments every 2 s, applies ignore sets, and forwards events.
pub(super) struct SnooperThread {
    pub(super) commands: Option<std_mpsc::Sender<SnooperCommand>>,
}

/// What the agent task asks of the snooper thread.
#[derive(Debug)]
pub(super) enum SnooperCommand {
    /// The ignore map: exactly these VTEPs (the native EVPN ones).
    Ignore(Vec<IpAddr>),
    /// Let the next frame of each host (VNI, MAC, IP; `None`: no IP)
    /// through the dedup window again.
    Forget(Vec<(u32, [u8; 6], Option<IpAddr>)>),
    /// Let the next frame of every binding through again.
    ForgetAll,
}

impl SnooperThread {
    pub(super) fn start(
        config: &Config,
        learned: mpsc::Sender<Learned>,
        state: mpsc::Sender<SnooperState>,
    ) -> Self {
        if config.learning_interfaces.is_empty() {
            // `off` in the YANG: nothing to snoop.
            let _ = state.try_send(SnooperState::only(SnooperStatus::Off));
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

    pub(super) fn send(&self, command: SnooperCommand) {
        if let Some(commands) = &self.commands {
            let _ = commands.send(command);
        }
    }
}

fn snooper_thread(
    config: &arp_snoop::SnooperConfig,
    commands: &std_mpsc::Receiver<SnooperCommand>,
    learned: &mpsc::Sender<Learned>,
    state: &mpsc::Sender<SnooperState>,
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
                let report = SnooperState::failed(SnooperStatus::Waiting, e.to_string());
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
                let _ = state.blocking_send(SnooperState::failed(SnooperStatus::Error, e.to_string()));
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
        let _ = state.blocking_send(SnooperState::failed(SnooperStatus::Error, e.to_string()));
        return;
    }
    loop {
        let mut report = SnooperState::only(SnooperStatus::Running);
        match snooper.refresh().cloned() {
            Ok(status) => {
                // Counters of an interface that is not attached read as what it
                // counted before (or zero); a map error leaves them out.
                let counts = snooper.interface_counters().unwrap_or_default();
                report.interfaces = status
                    .iter()
                    .map(|(name, s)| {
                        let status = match s {
                            arp_snoop::InterfaceStatus::Attached { ifindex } => {
                                format!("attached (ifindex {ifindex})")
                            }
                            arp_snoop::InterfaceStatus::Waiting => "waiting for the interface".to_owned(),
                            arp_snoop::InterfaceStatus::Error(e) => format!("error: {e}"),
                        };
                        let counters = counts
                            .get(name)
                            .map(|count| {
                                arp_snoop::Counter::ALL
                                    .iter()
                                    .map(|counter| (counter.name().to_owned(), count.get(*counter)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (name.clone(), SnoopedInterface { status, counters })
                    })
                    .collect();
            }
            Err(e) => report.error = Some(e.to_string()),
        }
        report.counters = snooper
            .counters()
            .unwrap_or_default()
            .into_iter()
            .map(|(name, count)| (name.to_owned(), count))
            .collect();
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
