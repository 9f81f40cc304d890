//! What the agent task's clients ask of it: the NDK client task, the HTTP
//! edge. The agent task owns this vocabulary; its clients import it from
//! here, so neither side imports the other's module.

use std::net::IpAddr;

use tokio::sync::oneshot;

use crate::{
    config::model::Config,
    state::{AgentState, Liveness},
};

/// What other tasks ask of the agent task.
#[derive(Debug)]
pub enum Request {
    /// A snapshot of the state (what `/state` shows); the asker renders it.
    State(oneshot::Sender<Box<AgentState>>),
    /// Run with this configuration (`None`: unconfigured, advertise
    /// nothing). The reply is the verdict: `Err` says why it was refused,
    /// and then the running configuration stays.
    Configure {
        /// The new configuration.
        config: Option<Box<Config>>,
        /// The verdict.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The state with the configuration in force, for rendering the state
    /// as SR Linux shows it (`/yang`) without SR Linux.
    Yang(oneshot::Sender<(Box<AgentState>, Option<Box<Config>>)>),
    /// The NDK connection's status, for state.
    NdkStatus(String),
    /// SR Linux's BFD session to a static VTEP changed (`None`: the session
    /// is gone).
    Liveness {
        /// The VTEP, the session's destination.
        vtep: IpAddr,
        /// Its state.
        liveness: Option<Liveness>,
    },
    /// A new NDK session: the BFD sessions it reports replace all known.
    LivenessReset,
}
