//! Host side of the ARP/ND-in-VXLAN snooper: loads the eBPF object that the
//! build script compiled, attaches it to an interface inside a chosen network
//! namespace, and reads its counters.
//!
//! Network namespaces belong to threads, not processes. Attaching therefore
//! happens on a short-lived dedicated thread that enters the target namespace,
//! resolves the interface and attaches there; the TC link keeps working after
//! the thread is gone, and no other thread of the agent ever changes namespace.
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(unused_crate_dependencies, reason = "dev-dependencies serve the integration tests in tests/")
)]

use std::{
    fs::File,
    path::{Path, PathBuf},
    thread,
};

use arp_snoop_common::{COUNTERS_MAP, Counter, TC_PROGRAM};
use aya::{
    Ebpf,
    maps::PerCpuArray,
    programs::{ProgramError, SchedClassifier, TcAttachType, tc},
};
use nix::sched::CloneFlags;

/// The eBPF object, built by `build.rs` with the pinned nightly.
#[must_use]
pub fn ebpf_object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/arp-snoop-ebpf"))
}

/// What went wrong while loading or attaching the snooper. Each variant names
/// the object (interface, namespace, map) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum SnoopError {
    /// The namespace file could not be opened.
    #[error("cannot open network namespace {path}: {source}")]
    NetnsOpen {
        /// The namespace file, e.g. `/var/run/netns/srbase`.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// setns(2) failed, typically for lack of `CAP_SYS_ADMIN`.
    #[error("cannot enter network namespace {path}: {source} (entering a namespace needs CAP_SYS_ADMIN)")]
    NetnsEnter {
        /// The namespace file.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// Parsing the object or creating its maps failed.
    #[error("cannot load the eBPF object (needs CAP_BPF and a kernel >= 5.8): {0}")]
    Load(#[source] aya::EbpfError),
    /// The object lacks a program or map the loader expects: a build mismatch.
    #[error("the eBPF object has no {0}")]
    Missing(&'static str),
    /// The verifier rejected the program, or attaching it failed.
    #[error("cannot attach to interface {interface}: {source}")]
    Attach {
        /// The interface, as named inside the namespace.
        interface: String,
        /// The underlying error.
        #[source]
        source: ProgramError,
    },
    /// Reading a map failed.
    #[error("cannot read map {map}: {source}")]
    Map {
        /// The map name.
        map: &'static str,
        /// The underlying error.
        #[source]
        source: aya::maps::MapError,
    },
    /// The attach thread panicked (a bug): reported, not propagated.
    #[error("the attach thread for {interface} panicked")]
    AttachThreadPanicked {
        /// The interface being attached.
        interface: String,
    },
}

/// A loaded snooper attached to one interface's ingress. Dropping it detaches.
pub struct TcSnooper {
    ebpf: Ebpf,
    interface: String,
}

impl std::fmt::Debug for TcSnooper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcSnooper").field("interface", &self.interface).finish_non_exhaustive()
    }
}

impl TcSnooper {
    /// Loads the object and attaches the TC classifier to `interface`'s
    /// ingress inside the namespace at `netns` (`None`: the caller's own).
    pub fn attach(netns: Option<&Path>, interface: &str) -> Result<Self, SnoopError> {
        let Some(netns) = netns else {
            return Self::attach_here(interface);
        };
        let target =
            File::open(netns).map_err(|source| SnoopError::NetnsOpen { path: netns.to_owned(), source })?;
        let netns = netns.to_owned();
        let name = interface.to_owned();
        // The thread enters the namespace and never leaves it; it ends right
        // after attaching, so the namespace switch cannot leak to other work.
        let worker = thread::Builder::new()
            .name("snoop-attach".into())
            .spawn(move || {
                nix::sched::setns(&target, CloneFlags::CLONE_NEWNET)
                    .map_err(|source| SnoopError::NetnsEnter { path: netns, source })?;
                Self::attach_here(&name)
            })
            .map_err(|_| SnoopError::AttachThreadPanicked { interface: interface.to_owned() })?;
        worker.join().map_err(|_| SnoopError::AttachThreadPanicked { interface: interface.to_owned() })?
    }

    fn attach_here(interface: &str) -> Result<Self, SnoopError> {
        let mut ebpf = Ebpf::load(ebpf_object()).map_err(SnoopError::Load)?;
        let attach_error = |source| SnoopError::Attach { interface: interface.to_owned(), source };
        let program: &mut SchedClassifier = ebpf
            .program_mut(TC_PROGRAM)
            .ok_or(SnoopError::Missing("TC program"))?
            .try_into()
            .map_err(attach_error)?;
        program.load().map_err(attach_error)?;
        // Kernels >= 6.6 attach through TCX and need no qdisc; older ones use
        // netlink and need clsact. The result is ignored on purpose: it fails
        // with EEXIST when a clsact is already there, and any real problem
        // (no such interface, no permission) is reported by the attach below.
        let _ = tc::qdisc_add_clsact(interface);
        program.attach(interface, TcAttachType::Ingress).map_err(attach_error)?;
        Ok(Self { ebpf, interface: interface.to_owned() })
    }

    /// The interface this snooper is attached to.
    #[must_use]
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Reads one counter, summed over all CPUs.
    pub fn counter(&self, counter: Counter) -> Result<u64, SnoopError> {
        let map_error = |source| SnoopError::Map { map: COUNTERS_MAP, source };
        let map = self.ebpf.map(COUNTERS_MAP).ok_or(SnoopError::Missing("counter map"))?;
        let counters: PerCpuArray<_, u64> = PerCpuArray::try_from(map).map_err(map_error)?;
        let per_cpu = counters.get(&counter.index(), 0).map_err(map_error)?;
        Ok(per_cpu.iter().sum())
    }
}
