//! The embedded iBGP speaker: a sans-IO session state machine ([`fsm`]),
//! the EVPN Adj-RIB-In and Adj-RIB-Out ([`rib`]), and the tokio task that
//! drives them over TCP ([`session`]).

pub mod fsm;
pub mod rib;
pub mod session;
