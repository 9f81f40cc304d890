//! The embedded iBGP speaker: a sans-IO session state machine ([`fsm`]),
//! the EVPN Adj-RIB-In and Adj-RIB-Out ([`rib`]), and the tokio task that
//! drives them over TCP ([`session`]), optionally with TCP MD5 ([`md5`]).

pub mod fsm;
pub mod md5;
pub mod rib;
pub mod session;
