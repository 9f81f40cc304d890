//! `static-vxlan-agent`: makes static VXLAN VTEPs first-class BGP EVPN
//! citizens. It runs as an SR Linux NDK agent or standalone next to FRR or
//! GoBGP, snoops ARP/ND inside VXLAN with eBPF, and advertises EVPN routes on
//! behalf of the static VTEPs through its own iBGP speaker.
//!
//! This is the command-line edge: argument parsing and error reporting. The
//! subsystems live in their own modules and crates (see ARCHITECTURE.md).
#![forbid(unsafe_code)]
#![allow(
    unused_crate_dependencies,
    reason = "the binary shares the package's dependency list with the library, which uses them"
)]

use clap::Parser;
// The library holds the subsystems the subcommands will use.
use static_vxlan_agent as _;

/// Command-line interface.
#[derive(Debug, Parser)]
#[command(
    name = "static-vxlan-agent",
    version,
    about = "Advertises static VXLAN VTEPs and the MACs behind them into BGP EVPN",
    long_about = "Advertises static VXLAN VTEPs and the MACs behind them into BGP EVPN.\n\n\
                  It snoops ARP and ND inside VXLAN on the uplinks with eBPF and originates \
                  EVPN route types 3 and 2 on behalf of each static VTEP towards the local \
                  BGP route reflector."
)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
