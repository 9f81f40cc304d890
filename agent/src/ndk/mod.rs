//! The SR Linux NDK side of the agent: commits assembled into the same
//! validated configuration the standalone YAML gives ([`commit`]).

pub mod commit;
