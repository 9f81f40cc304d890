//! static-vxlan-agent makes static VXLAN VTEPs first-class BGP EVPN
//! citizens. This library holds the agent's subsystems; `main.rs` is the
//! command-line edge. ARCHITECTURE.md draws how they fit together.
//!
//! - [`bgp`]: the embedded iBGP speaker (session FSM, RIBs, tokio driver).
//! - [`config`]: the typed configuration.
//! - [`control`]: the requests the agent task answers.
//! - [`core`]: the proxy logic, a deterministic state machine.
//! - [`ndk`]: SR Linux commits, telemetry and the NDK client.
//! - [`packed_map`]: the ordered map behind the per-MAC tables.
//! - [`privileges`]: the capabilities kept, the rest dropped.
//! - [`state`]: the agent's state, typed, as `/state` and telemetry show it.
// Denied, not forbidden: the TCP MD5 socket option (bgp::md5) needs one
// setsockopt call that no safe wrapper offers; it carries its SAFETY note.
#![deny(unsafe_code)]
#![cfg_attr(
    test,
    allow(unused_crate_dependencies, reason = "dev-dependencies serve the integration tests in tests/")
)]

// The command-line edge's dependencies, not the library's.
use {clap as _, clap_complete as _, clap_mangen as _, tracing_subscriber as _};

pub mod app;
pub mod bgp;
pub mod config;
pub mod control;
pub mod core;
pub mod ndk;
pub mod packed_map;
pub mod privileges;
pub mod state;
pub mod state_file;
