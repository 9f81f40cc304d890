//! BGP-4 and BGP EVPN on the wire: typed messages with `decode` and `encode`,
//! and nothing else. No sockets, no async, no allocation beyond the values
//! themselves, so the codec can be fuzzed, benchmarked and reused by tools
//! that read captures.
#![forbid(unsafe_code)]
