//! Host side of the ARP/ND-in-VXLAN snooper: loads the eBPF object that the
//! build script compiled, attaches it to interfaces inside a chosen network
//! namespace (TC classifier or socket filter), keeps those attachments alive
//! as interfaces come and go, fills the ignore map, reads the counters (in
//! total and per interface), and drains the ring buffer of [`LearnEvent`]s.
//!
//! Network namespaces belong to threads, not processes. Everything that
//! resolves or attaches an interface runs on a short-lived thread that
//! enters the target namespace; TC links and packet sockets keep working
//! after it is gone, and no other thread of the agent changes namespace.
#![deny(unsafe_code)]
#![cfg_attr(
    test,
    allow(unused_crate_dependencies, reason = "dev-dependencies serve the integration tests in tests/")
)]

mod packet;

use std::{
    collections::BTreeMap,
    fs::File,
    net::IpAddr,
    os::fd::OwnedFd,
    path::{Path, PathBuf},
    thread,
};

pub use arp_snoop_common::{Counter, InterfaceCounters, Kind, LearnEvent, Settings, direction};
use arp_snoop_common::{
    DEDUP_EPOCH_MAP, DEDUP_MAP, DedupKey, EVENTS_MAP, IGNORE_MAP, INTERFACE_COUNTERS_HIGH_MAP,
    INTERFACE_COUNTERS_MAP, INTERFACE_SLOTS, SETTINGS_GLOBAL, SOCKET_PROGRAM, TC_EGRESS_PROGRAM,
    TC_INGRESS_PROGRAM,
};
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, PerCpuArray, PerCpuHashMap, PerCpuValues, RingBuf},
    programs::{ProgramError, SchedClassifier, SocketFilter, TcAttachType, tc, tc::SchedClassifierLinkId},
};
use nix::sched::CloneFlags;

/// The eBPF object, built by `build.rs` with the pinned nightly.
#[must_use]
pub fn ebpf_object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/arp-snoop-ebpf"))
}

/// How the program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// TC classifier on ingress and egress: the cheaper one per packet.
    Tc,
    /// Socket filter on an `AF_PACKET` socket: nothing is left on the
    /// interface if the agent dies.
    Socket,
}

/// What to snoop.
#[derive(Clone, Debug)]
pub struct SnooperConfig {
    /// The namespace the interfaces live in (`/var/run/netns/srbase` on SR
    /// Linux); `None` is the agent's own.
    pub netns: Option<PathBuf>,
    /// The interfaces, as named inside that namespace.
    pub interfaces: Vec<String>,
    /// TC or socket filter.
    pub mode: AttachMode,
    /// Port, ND, dedup window.
    pub settings: Settings,
}

/// The state of one snooped interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceStatus {
    /// Snooped.
    Attached {
        /// Its index in the namespace.
        ifindex: u32,
    },
    /// It does not exist (yet, or any more): attached when it appears.
    Waiting,
    /// It exists but attaching failed; retried on the next refresh.
    Error(String),
}

/// What went wrong while loading the snooper. Each variant names the object
/// (interface, namespace, map) it concerns and what is missing.
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
    #[error(
        "cannot load the eBPF object: {0} (needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON or root, and a kernel >= 5.8)"
    )]
    Load(#[source] aya::EbpfError),
    /// The object lacks a program or map the loader expects: a build mismatch.
    #[error("the eBPF object has no {0}")]
    Missing(&'static str),
    /// The verifier rejected a program.
    #[error("the kernel rejected program {program}: {source}")]
    Program {
        /// The program name.
        program: &'static str,
        /// The underlying error.
        #[source]
        source: ProgramError,
    },
    /// Reading or writing a map failed.
    #[error("map {map}: {source}")]
    Map {
        /// The map name.
        map: &'static str,
        /// The underlying error.
        #[source]
        source: aya::maps::MapError,
    },
    /// A namespace thread panicked (a bug): reported, not propagated.
    #[error("the network namespace thread panicked")]
    ThreadPanicked,
}

/// One interface's attachment.
enum Attachment {
    Tc { ifindex: u32, links: [SchedClassifierLinkId; 2] },
    Socket { ifindex: u32, _socket: OwnedFd },
}

impl Attachment {
    fn ifindex(&self) -> u32 {
        match self {
            Self::Tc { ifindex, .. } | Self::Socket { ifindex, .. } => *ifindex,
        }
    }
}

/// A loaded snooper.
pub struct Snooper {
    ebpf: Ebpf,
    config: SnooperConfig,
    attached: BTreeMap<String, Attachment>,
    status: BTreeMap<String, InterfaceStatus>,
    events: Option<RingBuf<MapData>>,
    ignored: Vec<[u8; 16]>,
    /// Counts of earlier incarnations of an interface (deleted, then created
    /// again with a new ifindex), so an interface's counters never go back.
    carried: BTreeMap<String, InterfaceCounters>,
}

impl std::fmt::Debug for Snooper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snooper")
            .field("config", &self.config)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Snooper {
    /// Loads the object with `config.settings` and attaches to every
    /// interface that exists; the others wait (see [`Snooper::refresh`]).
    pub fn start(config: SnooperConfig) -> Result<Self, SnoopError> {
        if let Some(netns) = &config.netns {
            // Fail early and clearly if the namespace is not there.
            File::open(netns).map_err(|source| SnoopError::NetnsOpen { path: netns.clone(), source })?;
        }
        let mut ebpf = EbpfLoader::new()
            .override_global(SETTINGS_GLOBAL, &config.settings, true)
            .load(ebpf_object())
            .map_err(SnoopError::Load)?;
        match config.mode {
            AttachMode::Tc => {
                for name in [TC_INGRESS_PROGRAM, TC_EGRESS_PROGRAM] {
                    let program: &mut SchedClassifier = ebpf
                        .program_mut(name)
                        .ok_or(SnoopError::Missing("TC program"))?
                        .try_into()
                        .map_err(|source| SnoopError::Program { program: name, source })?;
                    program.load().map_err(|source| SnoopError::Program { program: name, source })?;
                }
            }
            AttachMode::Socket => {
                let program: &mut SocketFilter = ebpf
                    .program_mut(SOCKET_PROGRAM)
                    .ok_or(SnoopError::Missing("socket program"))?
                    .try_into()
                    .map_err(|source| SnoopError::Program { program: SOCKET_PROGRAM, source })?;
                program.load().map_err(|source| SnoopError::Program { program: SOCKET_PROGRAM, source })?;
            }
        }
        let events = ebpf.take_map(EVENTS_MAP).ok_or(SnoopError::Missing("event ring buffer"))?;
        let events =
            RingBuf::try_from(events).map_err(|source| SnoopError::Map { map: EVENTS_MAP, source })?;
        let mut snooper = Self {
            ebpf,
            config,
            attached: BTreeMap::new(),
            status: BTreeMap::new(),
            events: Some(events),
            ignored: Vec::new(),
            carried: BTreeMap::new(),
        };
        snooper.refresh()?;
        Ok(snooper)
    }

    /// Attaches to interfaces that appeared (or came back with a new index)
    /// and forgets those that are gone. Call it periodically; it returns the
    /// status of every configured interface.
    pub fn refresh(&mut self) -> Result<&BTreeMap<String, InterfaceStatus>, SnoopError> {
        let names = self.config.interfaces.clone();
        let netns = self.config.netns.clone();
        let mode = self.config.mode;
        let ebpf = &mut self.ebpf;
        let attached = &mut self.attached;
        let carried = &mut self.carried;
        let status = in_netns(netns.as_deref(), move || {
            let mut status = BTreeMap::new();
            for name in names {
                let current = nix::net::if_::if_nametoindex(name.as_str()).ok();
                let known = attached.get(&name).map(Attachment::ifindex);
                if current.is_some() && current == known {
                    status.insert(name, InterfaceStatus::Attached { ifindex: known.unwrap_or_default() });
                    continue;
                }
                // Gone, or replaced by a new interface of the same name.
                if let Some(old) = attached.remove(&name) {
                    let counts = detach(ebpf, old);
                    let total = carried.get(&name).copied().unwrap_or_default().plus(&counts);
                    carried.insert(name.clone(), total);
                }
                let Some(ifindex) = current else {
                    status.insert(name, InterfaceStatus::Waiting);
                    continue;
                };
                match attach(ebpf, mode, &name, ifindex) {
                    Ok(attachment) => {
                        attached.insert(name.clone(), attachment);
                        status.insert(name, InterfaceStatus::Attached { ifindex });
                    }
                    Err(error) => {
                        status.insert(name, InterfaceStatus::Error(error));
                    }
                }
            }
            status
        })?;
        self.status = status;
        Ok(&self.status)
    }

    /// The status of every configured interface, as of the last refresh.
    #[must_use]
    pub fn status(&self) -> &BTreeMap<String, InterfaceStatus> {
        &self.status
    }

    /// One counter, summed over all CPUs and interfaces.
    pub fn counter(&self, counter: Counter) -> Result<u64, SnoopError> {
        Ok(self.total()?.get(counter))
    }

    /// Every counter, by name, summed over all CPUs and interfaces.
    pub fn counters(&self) -> Result<BTreeMap<&'static str, u64>, SnoopError> {
        let total = self.total()?;
        Ok(Counter::ALL.iter().map(|c| (c.name(), total.get(*c))).collect())
    }

    /// The program only runs on the configured interfaces, and each frame is
    /// counted on its interface: the totals are the sum of those.
    fn total(&self) -> Result<InterfaceCounters, SnoopError> {
        Ok(self.interface_counters()?.values().fold(InterfaceCounters::default(), InterfaceCounters::plus))
    }

    /// The counters of every configured interface, summed over CPUs and over
    /// the interface's incarnations (an interface deleted and created again
    /// keeps counting from where it was). Interfaces never attached read 0.
    pub fn interface_counters(&self) -> Result<BTreeMap<String, InterfaceCounters>, SnoopError> {
        let mut all = BTreeMap::new();
        for name in &self.config.interfaces {
            let mut total = self.carried.get(name).copied().unwrap_or_default();
            if let Some(attachment) = self.attached.get(name) {
                total = total.plus(&read_interface_counters(&self.ebpf, attachment.ifindex())?);
            }
            all.insert(name.clone(), total);
        }
        Ok(all)
    }

    /// Makes the ignore map exactly `vteps` (the native EVPN VTEPs).
    pub fn set_ignored(&mut self, vteps: &[IpAddr]) -> Result<(), SnoopError> {
        let map_error = |source| SnoopError::Map { map: IGNORE_MAP, source };
        let wanted: Vec<[u8; 16]> = vteps.iter().map(|ip| mapped(*ip)).collect();
        let map = self.ebpf.map_mut(IGNORE_MAP).ok_or(SnoopError::Missing("ignore map"))?;
        let mut ignore: HashMap<_, [u8; 16], u8> = HashMap::try_from(map).map_err(map_error)?;
        for old in &self.ignored {
            if !wanted.contains(old) {
                ignore.remove(old).map_err(map_error)?;
            }
        }
        for new in &wanted {
            ignore.insert(new, 1, 0).map_err(map_error)?;
        }
        self.ignored = wanted;
        Ok(())
    }

    /// Lets the next frame of each host (VNI, MAC, IP) through the dedup
    /// window again, whatever VTEP it comes from: the agent calls this when
    /// it stops advertising a host behind the VTEP it last learned it on
    /// (a move, a route that beat ours), so that the host seen there again
    /// is not held back. `None` stands for a frame without a sender IP.
    /// Clearing a slot another host shares costs that host one extra event.
    pub fn forget(&mut self, hosts: &[(u32, [u8; 6], Option<IpAddr>)]) -> Result<(), SnoopError> {
        let map_error = |source| SnoopError::Map { map: DEDUP_MAP, source };
        let map = self.ebpf.map_mut(DEDUP_MAP).ok_or(SnoopError::Missing("dedup map"))?;
        let mut dedup: Array<_, u64> = Array::try_from(map).map_err(map_error)?;
        for &(vni, mac, ip) in hosts {
            let key = DedupKey { vtep: [0; 16], ip: ip.map_or([0; 16], mapped), vni, mac };
            dedup.set(DedupKey::slot(key.binding_hash()), 0, 0).map_err(map_error)?;
        }
        Ok(())
    }

    /// Makes every binding's stamp stale at once, by moving to the next
    /// dedup epoch: the next frame of every binding goes up. The agent calls
    /// this when a configuration change or freed room may accept bindings
    /// it refused before. One map write, whatever the number of bindings.
    pub fn forget_all(&mut self) -> Result<(), SnoopError> {
        let map_error = |source| SnoopError::Map { map: DEDUP_EPOCH_MAP, source };
        let map = self.ebpf.map_mut(DEDUP_EPOCH_MAP).ok_or(SnoopError::Missing("dedup epoch map"))?;
        let mut epoch: Array<_, u64> = Array::try_from(map).map_err(map_error)?;
        let next = epoch.get(&0, 0).map_err(map_error)?.wrapping_add(1);
        epoch.set(0, next, 0).map_err(map_error)
    }

    /// Takes the event ring buffer, to read it elsewhere (e.g. with
    /// [`EventReader`] on a thread of its own). `None` once taken.
    pub fn take_events(&mut self) -> Option<RingBuf<MapData>> {
        self.events.take()
    }

    /// Every event available right now (when the ring buffer was not taken).
    pub fn drain(&mut self) -> Vec<LearnEvent> {
        self.events.as_mut().map(drain_ring).unwrap_or_default()
    }
}

/// Reads every event available in a ring buffer.
pub fn drain_ring(ring: &mut RingBuf<MapData>) -> Vec<LearnEvent> {
    let mut events = Vec::new();
    while let Some(item) = ring.next() {
        if let Some(event) = decode(&item) {
            events.push(event);
        }
    }
    events
}

/// Reads a ring buffer of events on a thread of its own, blocking.
///
/// The kernel side wakes the reader at most once per `WAKEUP_COALESCE_NS`
/// and queues events without a wakeup right after one. So after a read that
/// found events, the reader sleeps `READER_REPOLL_NS` (longer than that
/// window) and reads again without waiting for a wakeup; once a read finds
/// nothing, it blocks in poll(2) until the next wakeup. Under a stream of
/// events that is one wakeup per window instead of one per event (each a
/// self-interrupt, and a VM exit under a hypervisor), and no event waits
/// longer than one re-read. A timer's resolution in tokio (1 ms) would be
/// too coarse for that re-read, hence a thread.
pub struct EventReader {
    ring: RingBuf<MapData>,
    /// The last read found events: read again soon even without a wakeup.
    recent: bool,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader").field("recent", &self.recent).finish_non_exhaustive()
    }
}

impl EventReader {
    /// A reader of this ring buffer.
    #[must_use]
    pub const fn new(ring: RingBuf<MapData>) -> Self {
        Self { ring, recent: false }
    }

    /// The events available after waiting for a wakeup at most `idle`
    /// (empty if none came), or after the short re-read delay when the last
    /// read found some.
    pub fn wait(&mut self, idle: std::time::Duration) -> std::io::Result<Vec<LearnEvent>> {
        use std::os::fd::AsFd as _;
        if self.recent {
            thread::sleep(std::time::Duration::from_nanos(arp_snoop_common::READER_REPOLL_NS));
        } else {
            let timeout = nix::poll::PollTimeout::try_from(idle).unwrap_or(nix::poll::PollTimeout::MAX);
            let mut fds = [nix::poll::PollFd::new(self.ring.as_fd(), nix::poll::PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let events = drain_ring(&mut self.ring);
        self.recent = !events.is_empty();
        Ok(events)
    }
}

/// An event from the ring buffer's bytes; `None` if the size is wrong.
/// The offsets come from the shared type, so a change of its layout
/// cannot leave this reading the old one.
fn decode(bytes: &[u8]) -> Option<LearnEvent> {
    use core::mem::offset_of;
    let bytes: &[u8; size_of::<LearnEvent>()] = bytes.get(..size_of::<LearnEvent>())?.try_into().ok()?;
    let take = |at: usize| -> [u8; 16] { bytes[at..at + 16].try_into().unwrap_or([0; 16]) };
    let vni = offset_of!(LearnEvent, vni);
    let mac = offset_of!(LearnEvent, mac);
    let vlan = offset_of!(LearnEvent, vlan);
    Some(LearnEvent {
        outer_src: take(offset_of!(LearnEvent, outer_src)),
        outer_dst: take(offset_of!(LearnEvent, outer_dst)),
        ip: take(offset_of!(LearnEvent, ip)),
        vni: u32::from_ne_bytes(bytes[vni..vni + 4].try_into().unwrap_or([0; 4])),
        mac: bytes[mac..mac + 6].try_into().unwrap_or([0; 6]),
        vlan: u16::from_ne_bytes([bytes[vlan], bytes[vlan + 1]]),
        outer_family: bytes[offset_of!(LearnEvent, outer_family)],
        ip_family: bytes[offset_of!(LearnEvent, ip_family)],
        kind: bytes[offset_of!(LearnEvent, kind)],
        direction: bytes[offset_of!(LearnEvent, direction)],
    })
}

/// An IP as the 16 bytes the kernel side uses (IPv4-mapped for IPv4).
#[must_use]
pub fn mapped(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The IP behind 16 kernel-side bytes.
#[must_use]
pub fn unmapped(bytes: [u8; 16]) -> IpAddr {
    let v6 = std::net::Ipv6Addr::from(bytes);
    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
}

fn attach(ebpf: &mut Ebpf, mode: AttachMode, name: &str, ifindex: u32) -> Result<Attachment, String> {
    // The entry exists before the first frame can arrive, so every frame on
    // this interface is counted; on failure it goes again.
    create_interface_counters(ebpf, ifindex)?;
    let attachment = attach_program(ebpf, mode, name, ifindex);
    if attachment.is_err() {
        let _ = take_interface_counters(ebpf, ifindex);
    }
    attachment
}

/// What the program counted on `ifindex`, summed over CPUs: from its array
/// slot, or from its hash entry for a large ifindex (absent: zero).
fn read_interface_counters(ebpf: &Ebpf, ifindex: u32) -> Result<InterfaceCounters, SnoopError> {
    let sum = |per_cpu: PerCpuValues<InterfaceCounters>| {
        per_cpu.iter().fold(InterfaceCounters::default(), InterfaceCounters::plus)
    };
    if ifindex < INTERFACE_SLOTS {
        let map_error = |source| SnoopError::Map { map: INTERFACE_COUNTERS_MAP, source };
        let map = ebpf.map(INTERFACE_COUNTERS_MAP).ok_or(SnoopError::Missing("interface counter array"))?;
        let slots: PerCpuArray<_, InterfaceCounters> = PerCpuArray::try_from(map).map_err(map_error)?;
        return slots.get(&ifindex, 0).map(sum).map_err(map_error);
    }
    let map_error = |source| SnoopError::Map { map: INTERFACE_COUNTERS_HIGH_MAP, source };
    let map = ebpf.map(INTERFACE_COUNTERS_HIGH_MAP).ok_or(SnoopError::Missing("interface counter hash"))?;
    let entries: PerCpuHashMap<_, u32, InterfaceCounters> =
        PerCpuHashMap::try_from(map).map_err(map_error)?;
    match entries.get(&ifindex, 0) {
        Ok(per_cpu) => Ok(sum(per_cpu)),
        Err(aya::maps::MapError::KeyNotFound) => Ok(InterfaceCounters::default()),
        Err(e) => Err(map_error(e)),
    }
}

/// Zeroed per-CPU counters for `ifindex`: its array slot (which an earlier
/// interface with the same ifindex may have left counts in), or a new hash
/// entry for a large ifindex.
fn create_interface_counters(ebpf: &mut Ebpf, ifindex: u32) -> Result<(), String> {
    let cpus = aya::util::nr_cpus().map_err(|(what, e)| format!("{what}: {e}"))?;
    let zeros = PerCpuValues::try_from(vec![InterfaceCounters::default(); cpus])
        .map_err(|e| format!("{INTERFACE_COUNTERS_MAP}: {e}"))?;
    if ifindex < INTERFACE_SLOTS {
        let map =
            ebpf.map_mut(INTERFACE_COUNTERS_MAP).ok_or("the eBPF object has no interface counter array")?;
        let mut slots: PerCpuArray<_, InterfaceCounters> =
            PerCpuArray::try_from(map).map_err(|e| format!("{INTERFACE_COUNTERS_MAP}: {e}"))?;
        return slots.set(ifindex, zeros, 0).map_err(|e| format!("{INTERFACE_COUNTERS_MAP}: {e}"));
    }
    let map =
        ebpf.map_mut(INTERFACE_COUNTERS_HIGH_MAP).ok_or("the eBPF object has no interface counter hash")?;
    let mut entries: PerCpuHashMap<_, u32, InterfaceCounters> =
        PerCpuHashMap::try_from(map).map_err(|e| format!("{INTERFACE_COUNTERS_HIGH_MAP}: {e}"))?;
    entries.insert(ifindex, zeros, 0).map_err(|e| format!("{INTERFACE_COUNTERS_HIGH_MAP}: {e}"))
}

/// Returns what `ifindex` counted, summed over CPUs, and clears it: the
/// slot is zeroed, the hash entry removed.
fn take_interface_counters(ebpf: &mut Ebpf, ifindex: u32) -> InterfaceCounters {
    let total = read_interface_counters(ebpf, ifindex).unwrap_or_default();
    if ifindex < INTERFACE_SLOTS {
        let _ = create_interface_counters(ebpf, ifindex);
    } else if let Some(map) = ebpf.map_mut(INTERFACE_COUNTERS_HIGH_MAP)
        && let Ok(mut entries) = PerCpuHashMap::<_, u32, InterfaceCounters>::try_from(map)
    {
        let _ = entries.remove(&ifindex);
    }
    total
}

fn attach_program(ebpf: &mut Ebpf, mode: AttachMode, name: &str, ifindex: u32) -> Result<Attachment, String> {
    match mode {
        AttachMode::Tc => {
            // Kernels >= 6.6 attach through TCX and need no qdisc; older ones
            // use netlink and need clsact. The result is ignored on purpose:
            // it fails with EEXIST when one is there, and real problems (no
            // permission) show in the attach below.
            let _ = tc::qdisc_add_clsact(name);
            let mut links = Vec::with_capacity(2);
            for (program, kind) in
                [(TC_INGRESS_PROGRAM, TcAttachType::Ingress), (TC_EGRESS_PROGRAM, TcAttachType::Egress)]
            {
                let classifier: &mut SchedClassifier = ebpf
                    .program_mut(program)
                    .ok_or_else(|| format!("no program {program}"))?
                    .try_into()
                    .map_err(|e: ProgramError| e.to_string())?;
                links.push(classifier.attach(name, kind).map_err(|e| format!("attach {program}: {e}"))?);
            }
            let links: [SchedClassifierLinkId; 2] =
                links.try_into().map_err(|_| "two links expected".to_owned())?;
            Ok(Attachment::Tc { ifindex, links })
        }
        AttachMode::Socket => {
            let socket =
                packet::socket().map_err(|e| format!("AF_PACKET socket (needs CAP_NET_RAW): {e}"))?;
            let filter: &mut SocketFilter = ebpf
                .program_mut(SOCKET_PROGRAM)
                .ok_or_else(|| format!("no program {SOCKET_PROGRAM}"))?
                .try_into()
                .map_err(|e: ProgramError| e.to_string())?;
            // Filter first, then bind: until bound the socket (protocol 0)
            // receives nothing, so no unfiltered frame is ever queued.
            filter.attach(&socket).map_err(|e| format!("attach socket filter: {e}"))?;
            packet::bind(&socket, ifindex).map_err(|e| format!("bind to {name}: {e}"))?;
            Ok(Attachment::Socket { ifindex, _socket: socket })
        }
    }
}

/// Detaches and returns what the attachment counted.
fn detach(ebpf: &mut Ebpf, attachment: Attachment) -> InterfaceCounters {
    let ifindex = attachment.ifindex();
    match attachment {
        Attachment::Tc { links, .. } => {
            for (program, link) in [TC_INGRESS_PROGRAM, TC_EGRESS_PROGRAM].into_iter().zip(links) {
                if let Some(classifier) =
                    ebpf.program_mut(program).and_then(|p| <&mut SchedClassifier>::try_from(p).ok())
                {
                    // The interface may be gone, and its link with it.
                    let _ = classifier.detach(link);
                }
            }
        }
        Attachment::Socket { _socket: socket, .. } => drop(socket),
    }
    // The counters are read once the program is off the interface (links
    // detached, socket closed), so nothing it counted is lost.
    take_interface_counters(ebpf, ifindex)
}

/// Runs `work` on a thread inside `netns` (or directly, for `None`).
fn in_netns<T: Send>(netns: Option<&Path>, work: impl FnOnce() -> T + Send) -> Result<T, SnoopError> {
    let Some(netns) = netns else { return Ok(work()) };
    let target =
        File::open(netns).map_err(|source| SnoopError::NetnsOpen { path: netns.to_owned(), source })?;
    thread::scope(|scope| {
        scope
            .spawn(|| {
                // The agent keeps CAP_SYS_ADMIN permitted but not effective:
                // it is raised on this thread for setns(2) alone and lowered
                // again before the work (which needs CAP_BPF/CAP_NET_ADMIN).
                // Where it is effective already (a root test), it stays so.
                let sys_admin = caps::Capability::CAP_SYS_ADMIN;
                let effective = caps::has_cap(None, caps::CapSet::Effective, sys_admin).unwrap_or(false);
                let raised = !effective && caps::raise(None, caps::CapSet::Effective, sys_admin).is_ok();
                let entered = nix::sched::setns(&target, CloneFlags::CLONE_NEWNET);
                if raised {
                    let _ = caps::drop(None, caps::CapSet::Effective, sys_admin);
                }
                entered.map_err(|source| SnoopError::NetnsEnter { path: netns.to_owned(), source })?;
                Ok(work())
            })
            .join()
            .map_err(|_| SnoopError::ThreadPanicked)?
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::{mapped, unmapped};

    #[test]
    fn addresses_map_both_ways() {
        for ip in ["192.0.2.1", "2001:db8::1"] {
            let ip: IpAddr = ip.parse().expect("address");
            assert_eq!(unmapped(mapped(ip)), ip);
        }
    }
}
