//! Our own protobuf definitions of the SR Linux NDK subset the agent uses
//! (package `srlinux.sdk`), wire-compatible with NDK v0.5.0, and the Rust code
//! generated from them. Only `agent/src/ndk` talks to these types.
#![forbid(unsafe_code)]
