//! What the agent task's clients ask of it: the NDK client task, the HTTP
//! edge. The agent task owns this vocabulary; its clients import it from
//! here, so neither side imports the other's module.

use tokio::sync::oneshot;

use crate::config::model::Config;

/// What other tasks ask of the agent task.
#[derive(Debug)]
pub enum Request {
    /// A snapshot of the state (the `/state` JSON).
    State(oneshot::Sender<serde_json::Value>),
    /// Run with this configuration (`None`: unconfigured, advertise
    /// nothing). The reply is the verdict: `Err` says why it was refused,
    /// and then the running configuration stays.
    Configure {
        /// The new configuration.
        config: Option<Box<Config>>,
        /// The verdict.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The state as SR Linux shows it: one JSON object per YANG node, by
    /// telemetry key (what the NDK client publishes).
    Yang(oneshot::Sender<serde_json::Value>),
    /// The NDK connection's status, for state.
    NdkStatus(String),
}
