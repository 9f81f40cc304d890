//! Configuration: the validated model the agent runs on ([`model`]).

pub mod model;
