//! Least privilege: the agent keeps the capabilities it uses and gives up
//! every other one, once, before it starts any thread.
//!
//! Capabilities are per thread and inherited by the threads a thread
//! creates, so dropping them first thing in `main` covers the tokio workers
//! and the snooper thread alike. What is kept is kept for the process's
//! life: a reload can restart the snooper (new program, new namespace, new
//! interfaces) or move the BGP listener, and needs the same rights then.
//! `CAP_SYS_ADMIN` is the exception in how it is kept: permitted, not
//! effective, raised on one thread around each setns(2).

use std::fmt;

use caps::{CapSet, Capability, CapsHashSet};

/// What the agent needs, and why.
pub const NEEDED: [(Capability, &str); 6] = [
    (Capability::CAP_BPF, "load the snooper's eBPF program and use its maps"),
    (Capability::CAP_PERFMON, "the verifier wants it for the snooper's pointer arithmetic (kernel >= 5.8)"),
    (Capability::CAP_NET_ADMIN, "attach the snooper to interfaces with tc (clsact qdisc, filters)"),
    (Capability::CAP_NET_RAW, "attach-mode socket: the snooper's AF_PACKET sockets; icmp liveness probes"),
    (Capability::CAP_SYS_ADMIN, "setns(2) into the learning namespace (srbase on SR Linux)"),
    (Capability::CAP_NET_BIND_SERVICE, "a BGP listen-port or HTTP port below 1024, e.g. 179"),
];

/// What [`keep_only_needed`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The capabilities the process still has (permitted; all but
    /// `CAP_SYS_ADMIN` effective).
    pub capabilities: Vec<String>,
    /// Whether the bounding set was cut down to [`NEEDED`] too (needs
    /// `CAP_SETPCAP`; without it nothing can be regained anyway).
    pub bounding_set_dropped: bool,
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.capabilities.is_empty() {
            f.write_str("no capabilities")
        } else {
            f.write_str(&self.capabilities.join(","))
        }
    }
}

/// Capabilities could not be dropped.
#[derive(Debug, thiserror::Error)]
#[error("cannot drop capabilities ({step}): {source}")]
pub struct PrivilegeError {
    step: &'static str,
    #[source]
    source: caps::errors::CapsError,
}

/// Drops every capability but [`NEEDED`] from this thread's bounding,
/// inheritable, ambient, permitted and effective sets, and sets
/// no-new-privileges. Call it before any thread starts. A process that has
/// fewer capabilities keeps what it has of [`NEEDED`] and nothing else.
///
/// # Errors
///
/// When the kernel refuses a step; the process then still has its
/// capabilities and should not go on as if it had dropped them.
pub fn keep_only_needed() -> Result<Kept, PrivilegeError> {
    let fail = |step| move |source| PrivilegeError { step, source };
    let needed: CapsHashSet = NEEDED.iter().map(|(cap, _)| *cap).collect();
    let permitted = caps::read(None, CapSet::Permitted).map_err(fail("read permitted"))?;
    let keep: CapsHashSet = permitted.intersection(&needed).copied().collect();

    // The bounding set first: dropping from it needs CAP_SETPCAP, which the
    // next steps take away.
    let bounding_set_dropped =
        caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).map_err(fail("read effective"))?;
    if bounding_set_dropped {
        let bounding = caps::read(None, CapSet::Bounding).map_err(fail("read bounding"))?;
        for cap in bounding.difference(&needed) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(fail("drop from the bounding set"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(fail("clear ambient"))?;
    caps::clear(None, CapSet::Inheritable).map_err(fail("clear inheritable"))?;
    // Effective must stay within permitted, so it shrinks first. CAP_SYS_ADMIN
    // is kept permitted only: it would also grant what CAP_BPF, CAP_PERFMON
    // and CAP_NET_ADMIN grant, so the snooper raises it on the one thread
    // that calls setns(2), for that call (arp_snoop's `in_netns`).
    let mut effective = keep.clone();
    effective.remove(&Capability::CAP_SYS_ADMIN);
    caps::set(None, CapSet::Effective, &effective).map_err(fail("set effective"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(fail("set permitted"))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| PrivilegeError {
        step: "set no-new-privileges",
        source: caps::errors::CapsError::from(e.to_string()),
    })?;

    let mut capabilities: Vec<String> = keep.iter().map(ToString::to_string).collect();
    capabilities.sort();
    Ok(Kept { capabilities, bounding_set_dropped })
}
