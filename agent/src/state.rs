//! The agent's state, typed: what the agent task knows about its session,
//! its snooper, its NDK connection and its core, as one [`AgentState`]
//! snapshot. `/state` is this struct serialized; NDK telemetry and `/yang`
//! are one rendering of it (`ndk::telemetry::render`); `/metrics` and
//! `show` read its fields. The agent task only copies records into it; the
//! JSON is made by whoever asked, off the agent task.

use std::{collections::BTreeMap, net::Ipv4Addr};

use serde::{Deserialize, Serialize};

/// The session's FSM state; serialized, the YANG enumeration `bgp/state`.
pub use crate::bgp::fsm::State as SessionState;
use crate::{config::model::LivenessMethod, core::ProxyState};

/// Everything `/state` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct AgentState {
    /// Where the configuration comes from (a file, or the NDK's address).
    pub config_source: String,
    /// Whether a configuration is in force.
    pub configured: bool,
    /// Seconds since the agent started.
    pub uptime_secs: u64,
    /// When it started, Unix milliseconds.
    pub started_at_unix_ms: u64,
    /// Where the core's times (`*-ms` under `proxy`) count from, Unix
    /// milliseconds.
    pub core_clock_epoch_unix_ms: u64,
    /// The capabilities the process kept.
    pub capabilities: Vec<String>,
    /// The BGP session.
    pub bgp: BgpState,
    /// The snooper.
    pub snooper: SnooperState,
    /// The proxy core.
    pub proxy: ProxyState,
    /// The NDK connection, when the configuration comes from SR Linux.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ndk: Option<String>,
    /// Static-VTEP liveness by VTEP address: every static VTEP with a
    /// liveness method, and any other for which SR Linux reports a BFD
    /// session.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub liveness: BTreeMap<Ipv4Addr, VtepLiveness>,
}

/// One static VTEP's liveness as the agent sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct VtepLiveness {
    /// How it is checked.
    pub method: LivenessMethod,
    /// What the check says: up, down or unknown (BFD also init and
    /// admin-down). Whether its routes are withdrawn is the core's
    /// `withdrawn-down` (a VTEP back up waits for the hold-down).
    pub state: Liveness,
    /// When the state last changed, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_unix_ms: Option<u64>,
    /// ICMP echo requests sent.
    pub probes_sent: u64,
    /// ICMP echo replies received.
    pub probes_answered: u64,
    /// The last reply's round trip, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rtt_us: Option<u64>,
    /// Why the check cannot run (no `CAP_NET_RAW`, the source address
    /// missing): the VTEP stays unknown and its routes are kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The BGP session as the agent task follows it from speaker events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct BgpState {
    /// The FSM state.
    pub state: SessionState,
    /// The peer's BGP identifier, once a session came up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<Ipv4Addr>,
    /// The negotiated hold time, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<u16>,
    /// When the session last came up, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub established_at_unix_secs: Option<u64>,
    /// Why it last went down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_down_reason: Option<String>,
    /// What the session counted, since the agent started.
    pub counters: BgpCounters,
}

/// Session counters; the names are the YANG leaves under `bgp`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct BgpCounters {
    /// Moves to Established.
    pub established_transitions: u64,
    /// EVPN routes received (announcements, including replacements).
    pub routes_received: u64,
    /// EVPN routes withdrawn by the peer (or gone with the session).
    pub withdrawals_received: u64,
    /// UPDATEs handled per RFC 7606 without a reset.
    pub malformed_updates: u64,
    /// Routes we told the speaker to announce.
    pub routes_announced: u64,
    /// Routes we told the speaker to withdraw.
    pub routes_withdrawn: u64,
    /// Our own routes reflected back to us (`ORIGINATOR_ID` ours), ignored.
    pub own_routes_ignored: u64,
}

impl BgpCounters {
    /// Every counter with its YANG leaf name.
    #[must_use]
    pub const fn named(&self) -> [(&'static str, u64); 7] {
        [
            ("established-transitions", self.established_transitions),
            ("routes-received", self.routes_received),
            ("withdrawals-received", self.withdrawals_received),
            ("malformed-updates", self.malformed_updates),
            ("routes-announced", self.routes_announced),
            ("routes-withdrawn", self.routes_withdrawn),
            ("own-routes-ignored", self.own_routes_ignored),
        ]
    }
}

/// The snooper's `status`: the values of the YANG enumeration
/// `snooper/status`, and only those.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnooperStatus {
    /// Loaded and attached (or waiting for some of its interfaces).
    Running,
    /// No learning interfaces configured.
    #[default]
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

/// What the snooper thread reports every 2 s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SnooperState {
    /// Running, off, waiting or error.
    pub status: SnooperStatus,
    /// Why it waits or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per learning interface; a map error shows as the one entry
    /// `error`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interfaces: BTreeMap<String, SnoopedInterface>,
    /// The program's counters, summed over interfaces, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u64>,
}

impl SnooperState {
    /// A snooper in `status`, with nothing else to say.
    #[must_use]
    pub fn only(status: SnooperStatus) -> Self {
        Self { status, ..Self::default() }
    }

    /// A snooper that waits or failed, and why.
    #[must_use]
    pub fn failed(status: SnooperStatus, error: String) -> Self {
        Self { status, error: Some(error), ..Self::default() }
    }
}

/// One learning interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SnoopedInterface {
    /// Attached (with its ifindex), waiting, or the error.
    pub status: String,
    /// What the program counted on it, by counter name (none while it
    /// was never attached).
    #[serde(flatten)]
    pub counters: BTreeMap<String, u64>,
}

/// A static VTEP's liveness: the values of the YANG enumeration
/// `vtep/liveness` (init and admin-down only from SR Linux's BFD).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Liveness {
    /// The session is up.
    Up,
    /// The session is down.
    Down,
    /// The session is coming up.
    Init,
    /// Shut down by configuration.
    AdminDown,
    /// Not known yet, or not checked (no BFD session, no probe answer or
    /// timeout yet, probing impossible).
    #[default]
    Unknown,
}

impl Liveness {
    /// Every value, for checking them against the model.
    pub const ALL: [Self; 5] = [Self::Up, Self::Down, Self::Init, Self::AdminDown, Self::Unknown];

    /// The value as published.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Init => "init",
            Self::AdminDown => "admin-down",
            Self::Unknown => "unknown",
        }
    }
}
