//! The SR Linux NDK side of the agent: commits assembled into the same
//! validated configuration the standalone YAML gives ([`commit`]), the
//! agent's state rendered as telemetry ([`telemetry`]), and the gRPC client
//! task that connects them to the NDK server ([`client`]).

pub mod client;
pub mod commit;
pub mod telemetry;
