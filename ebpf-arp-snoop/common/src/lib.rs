//! Definitions shared by the snooper's kernel program and its host-side
//! loader, and the one frame classifier both use.
//!
//! Everything here is `no_std` and free of pointers, so the same bytes mean
//! the same thing on both sides of a BPF map, and the classifier that runs
//! in the kernel is unit-tested on the host with crafted frames.
//!
//! The classifier is written for the verifier: it reads the frame in a few
//! fixed-size blocks through [`PacketBytes`], never loops over packet data,
//! never indexes in a way that can panic, and returns at the first field
//! that disqualifies the frame.
#![no_std]
#![allow(
    clippy::inline_always,
    reason = "this code runs in the kernel too: inlining keeps it within what the BPF verifier accepts"
)]
#![cfg_attr(
    feature = "user",
    allow(unsafe_code, reason = "aya::Pod is an unsafe marker trait; see its impls")
)]

/// Name of the per-CPU array of [`InterfaceCounters`], indexed by ifindex,
/// for interfaces whose ifindex is below [`INTERFACE_SLOTS`].
pub const INTERFACE_COUNTERS_MAP: &str = "IF_COUNTERS";
/// Name of the per-CPU hash of [`InterfaceCounters`], keyed by ifindex, for
/// the rare interface whose ifindex is [`INTERFACE_SLOTS`] or more.
pub const INTERFACE_COUNTERS_HIGH_MAP: &str = "IF_COUNTERS_HIGH";
/// Name of the ring buffer of [`LearnEvent`]s.
pub const EVENTS_MAP: &str = "EVENTS";
/// Name of the array of [`DedupKey::stamp`]s that suppresses repeats of a
/// binding.
pub const DEDUP_MAP: &str = "DEDUP";
/// Name of the one-slot array holding the dedup epoch: every fingerprint
/// mixes it in, so the host makes every stamp stale by changing it.
pub const DEDUP_EPOCH_MAP: &str = "DEDUP_EPOCH";
/// Name of the hash map of VTEPs to ignore (native EVPN VTEPs).
pub const IGNORE_MAP: &str = "IGNORE_VTEPS";
/// Name of the per-CPU scratch slot the kernel classifies into.
pub const SCRATCH_MAP: &str = "SCRATCH";
/// Name of the read-only global holding the [`Settings`].
pub const SETTINGS_GLOBAL: &str = "SETTINGS";
/// Name of the TC classifier program for ingress.
pub const TC_INGRESS_PROGRAM: &str = "arp_snoop_tc_ingress";
/// Name of the TC classifier program for egress.
pub const TC_EGRESS_PROGRAM: &str = "arp_snoop_tc_egress";
/// Name of the socket filter program.
pub const SOCKET_PROGRAM: &str = "arp_snoop_socket";

/// Slots in the dedup array (a power of two): one `u64` each, 512 KiB for
/// all CPUs together.
pub const DEDUP_SLOTS: u32 = 65_536;
/// Entries in the ignore map.
pub const IGNORE_ENTRIES: u32 = 4_096;
/// Slots in the per-interface counter array: interfaces with a smaller
/// ifindex are counted there. Finding a frame's counters in an array is an
/// address computation the verifier inlines; the hash lookup it replaced
/// took about 40 ns of a non-ARP frame's 120 ns in the program (measured
/// with `bench/run.sh snoop overhead`). 48 bytes per slot and CPU.
pub const INTERFACE_SLOTS: u32 = 1_024;
/// Entries in the per-interface counter hash, for larger ifindexes: more
/// learning interfaces than one leaf has ports.
pub const INTERFACE_ENTRIES: u32 = 1_024;
/// Size of the event ring buffer in bytes (a power of two, page multiple).
pub const EVENTS_BYTES: u32 = 1 << 20;
/// Name of the one-slot array holding when the kernel side last woke the
/// event reader.
pub const LAST_WAKEUP_MAP: &str = "LAST_WAKEUP";
/// Within this long after a wakeup, events are queued without waking the
/// reader again. A wakeup is a self-interrupt (a VM exit under a
/// hypervisor) and cost more than the rest of the program together when
/// every event woke the reader; a reader that got events must look again
/// within [`READER_REPOLL_NS`] instead.
pub const WAKEUP_COALESCE_NS: u64 = 100_000;
/// After a read that returned events, the reader reads again this soon even
/// without a wakeup, until a read finds nothing: longer than
/// [`WAKEUP_COALESCE_NS`], so no event waits for the next wakeup.
pub const READER_REPOLL_NS: u64 = 200_000;

/// One counter; the discriminant is its index in [`InterfaceCounters`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Every frame the program was called for.
    Seen = 0,
    /// ARP/ND inside VXLAN, classified.
    Matched = 1,
    /// Matched, but the same binding was passed up within the window.
    Deduplicated = 2,
    /// Matched, but from a VTEP in the ignore map.
    Ignored = 3,
    /// Matched, but the ring buffer was full: lost.
    RingBufferFull = 4,
    /// VXLAN with an inner ARP/ND that is malformed or truncated.
    ParseErrors = 5,
}

impl Counter {
    /// All counters, in index order.
    pub const ALL: [Self; 6] = [
        Self::Seen,
        Self::Matched,
        Self::Deduplicated,
        Self::Ignored,
        Self::RingBufferFull,
        Self::ParseErrors,
    ];

    /// The number of counters.
    #[expect(clippy::cast_possible_truncation, reason = "a handful of counters always fits in u32")]
    pub const COUNT: u32 = Self::ALL.len() as u32;

    /// The index of this counter in [`InterfaceCounters::values`].
    #[must_use]
    pub const fn index(self) -> u32 {
        self as u32
    }

    /// The name used in logs and state.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Seen => "seen",
            Self::Matched => "matched",
            Self::Deduplicated => "deduplicated",
            Self::Ignored => "ignored",
            Self::RingBufferFull => "ring-buffer-full",
            Self::ParseErrors => "parse-errors",
        }
    }
}

/// The counters of one interface, indexed like [`Counter`]. The loader
/// zeroes the interface's array slot, or creates its (zeroed, per-CPU) hash
/// entry, when it attaches, so the program only ever looks entries up:
/// frames never allocate map entries.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// One value per counter, at [`Counter::index`].
    pub values: [u64; Counter::COUNT as usize],
}

impl InterfaceCounters {
    /// Adds one to `counter`.
    #[inline(always)]
    pub fn bump(&mut self, counter: Counter) {
        if let Some(value) = self.values.get_mut(counter.index() as usize) {
            *value += 1;
        }
    }

    /// The value of `counter`.
    #[must_use]
    pub fn get(&self, counter: Counter) -> u64 {
        self.values.get(counter.index() as usize).copied().unwrap_or(0)
    }

    /// Element-wise sum, e.g. over CPUs.
    #[must_use]
    pub fn plus(mut self, other: &Self) -> Self {
        for (mine, theirs) in self.values.iter_mut().zip(other.values) {
            *mine = mine.wrapping_add(theirs);
        }
        self
    }
}

/// Settings the loader writes into the object before loading it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The VXLAN UDP destination port (4789).
    pub vxlan_port: u16,
    /// Also classify IPv6 ND (NS/NA), not only ARP.
    pub nd: u8,
    /// Padding; zero.
    pub reserved: u8,
    /// Padding made explicit (Pod types must have no hidden padding); zero.
    pub reserved2: u32,
    /// A binding passed up is not passed up again for this long; 0 turns
    /// dedup off. Keep it below the agent's refresh needs (aging / 3).
    pub dedup_window_ns: u64,
}

impl Settings {
    /// The usual settings: port 4789, ND on, a 30 s dedup window.
    pub const DEFAULT: Self =
        Self { vxlan_port: 4789, nd: 1, reserved: 0, reserved2: 0, dedup_window_ns: 30_000_000_000 };
}

/// What kind of frame taught the binding.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ARP request.
    ArpRequest = 1,
    /// ARP reply.
    ArpReply = 2,
    /// Gratuitous ARP (sender IP = target IP).
    ArpGratuitous = 3,
    /// ARP probe (sender IP 0.0.0.0): the MAC only.
    ArpProbe = 4,
    /// IPv6 neighbor solicitation.
    NdSolicitation = 5,
    /// IPv6 neighbor advertisement.
    NdAdvertisement = 6,
    /// Duplicate address detection (NS from `::`): the MAC only.
    NdDad = 7,
}

impl Kind {
    /// From the wire value, if valid.
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => Self::ArpRequest,
            2 => Self::ArpReply,
            3 => Self::ArpGratuitous,
            4 => Self::ArpProbe,
            5 => Self::NdSolicitation,
            6 => Self::NdAdvertisement,
            7 => Self::NdDad,
            _ => return None,
        })
    }
}

/// Direction of the frame on the snooped interface.
pub mod direction {
    /// Received on the interface.
    pub const INGRESS: u8 = 1;
    /// Sent out of the interface.
    pub const EGRESS: u8 = 2;
}

/// One binding seen: what the kernel program passes up.
///
/// The three addresses come first and the struct is 8-byte aligned, so the
/// kernel side writes and copies them in 8-byte words. With the VNI first,
/// they sat at offset 4 and the compiler moved them a byte at a time, by
/// calls to byte-loop `memset` and `memmove` functions: about half of the
/// program's time per new binding.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnEvent {
    /// Outer source IP: IPv4-mapped IPv6 for IPv4 (`::ffff:a.b.c.d`).
    pub outer_src: [u8; 16],
    /// Outer destination IP, same encoding.
    pub outer_dst: [u8; 16],
    /// The sender IP, same encoding; meaningful when `ip_family` is not 0.
    pub ip: [u8; 16],
    /// The VXLAN VNI.
    pub vni: u32,
    /// The sender MAC.
    pub mac: [u8; 6],
    /// The inner 802.1Q VLAN id, 0 if untagged.
    pub vlan: u16,
    /// 4 or 6 for the outer header.
    pub outer_family: u8,
    /// 0 (no IP: probe, DAD), 4 or 6.
    pub ip_family: u8,
    /// A [`Kind`] value.
    pub kind: u8,
    /// A [`direction`] value.
    pub direction: u8,
}

impl LearnEvent {
    /// All zeros, to be filled in.
    pub const EMPTY: Self = Self {
        outer_src: [0; 16],
        outer_dst: [0; 16],
        ip: [0; 16],
        vni: 0,
        mac: [0; 6],
        vlan: 0,
        outer_family: 0,
        ip_family: 0,
        kind: 0,
        direction: 0,
    };
}

/// One binding as the dedup array sees it.
///
/// A slot is chosen by what the binding is *about*, the (VNI, MAC, IP) of
/// a host, and remembers *where* it was last seen: the VTEP is part of the
/// fingerprint the slot keeps, not of the slot's index. So the same host
/// seen behind another VTEP lands in the same slot with another
/// fingerprint and goes up at once: a MAC that moves from VTEP A to B and
/// back to A is never held back by A's old stamp. The host side can also
/// find a binding's slot from (VNI, MAC, IP) alone, without knowing the
/// VTEP, and clear it ([`DedupKey::slot`]); and one epoch number, mixed
/// into every fingerprint, makes every stamp stale at once when it changes.
///
/// The inner VLAN is not part of it: the proxy core does not tell VLANs
/// apart, so two frames that differ only there are one binding to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupKey {
    /// Outer source (the VTEP).
    pub vtep: [u8; 16],
    /// Sender IP (zero if none).
    pub ip: [u8; 16],
    /// VNI.
    pub vni: u32,
    /// Sender MAC.
    pub mac: [u8; 6],
}

/// One multiply-and-mix round of the dedup hash.
#[inline(always)]
const fn mix(h: u64, word: u64) -> u64 {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
    let h = (h ^ word).wrapping_mul(MULTIPLIER);
    h ^ (h >> 29)
}

/// The final avalanche of the dedup hash, so that every input bit reaches
/// both the low (slot) and the high (fingerprint) bits.
#[inline(always)]
const fn finish(h: u64) -> u64 {
    let h = (h ^ (h >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// Bytes `i..i + 8` of a 16-byte address as one word.
#[inline(always)]
const fn half(b: &[u8; 16], i: usize) -> u64 {
    u64::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7]])
}

impl DedupKey {
    /// The key for an event.
    #[must_use]
    pub const fn of(event: &LearnEvent) -> Self {
        Self { vtep: event.outer_src, ip: event.ip, vni: event.vni, mac: event.mac }
    }

    /// A 64-bit hash of the host (VNI, MAC, IP), the VTEP left out: its
    /// low bits pick the slot ([`DedupKey::slot`]), and
    /// [`DedupKey::fingerprint`] goes on from it.
    #[inline(always)]
    #[must_use]
    pub const fn binding_hash(&self) -> u64 {
        let m = self.mac;
        let mut h: u64 = 0x2545_f491_4f6c_dd1d;
        h = mix(h, half(&self.ip, 0));
        h = mix(h, half(&self.ip, 8));
        h = mix(h, self.vni as u64);
        h = mix(h, u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0]));
        h
    }

    /// The dedup slot for a binding with this `binding_hash`.
    #[inline(always)]
    #[must_use]
    pub const fn slot(binding_hash: u64) -> u32 {
        #[expect(clippy::cast_possible_truncation, reason = "the low bits pick the slot")]
        let low = finish(binding_hash) as u32;
        low & (DEDUP_SLOTS - 1)
    }

    /// What the slot remembers of this binding seen behind its VTEP in
    /// dedup `epoch`: 32 bits, never zero (an empty slot matches nothing).
    #[inline(always)]
    #[must_use]
    pub const fn fingerprint(&self, binding_hash: u64, epoch: u64) -> u32 {
        let mut h = mix(binding_hash, half(&self.vtep, 0));
        h = mix(h, half(&self.vtep, 8));
        h = mix(h, epoch);
        // The shift leaves 32 bits: nothing is cut.
        let high = (finish(h) >> 32) as u32;
        high | 1
    }

    /// What a slot holds once the binding with this `fingerprint` went up at
    /// `now_ns`: the fingerprint and the time in units of 2^20 ns (about
    /// 1.05 ms; the 32 bits wrap after about 52 days). One `u64`, read and
    /// written whole: CPUs racing on a slot can see each other's stamps,
    /// never half of one binding and half of another, as they could with a
    /// key and a time stored apart.
    #[inline(always)]
    #[must_use]
    pub const fn stamp(fingerprint: u32, now_ns: u64) -> u64 {
        ((fingerprint as u64) << 32) | ((now_ns >> 20) & 0xffff_ffff)
    }

    /// Whether `stamp` (a slot's content) says the binding with this
    /// `fingerprint` went up less than `window_ns` before `now_ns`. Another
    /// binding in the same slot (the same host behind another VTEP, an
    /// older epoch, or another host whose hash collides) matches only if
    /// its fingerprint is equal too: one chance in 2^31, which at worst
    /// holds that binding's event back until its next frame after the
    /// window.
    #[inline(always)]
    #[must_use]
    pub const fn fresh(stamp: u64, fingerprint: u32, now_ns: u64, window_ns: u64) -> bool {
        if stamp >> 32 != fingerprint as u64 {
            return false;
        }
        let elapsed = ((now_ns >> 20) & 0xffff_ffff).wrapping_sub(stamp & 0xffff_ffff) & 0xffff_ffff;
        elapsed < window_ns >> 20
    }
}

/// Why a frame was not classified. Most reasons are ordinary traffic;
/// [`Reject::is_parse_error`] tells the ones that are broken ARP/ND.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Shorter than the headers it claims.
    Truncated,
    /// Not IPv4 or IPv6 outside.
    NotIp,
    /// An IPv4 fragment, or an IPv6 extension header: not inspected.
    Fragment,
    /// Not UDP outside.
    NotUdp,
    /// UDP, but not to the VXLAN port.
    NotVxlanPort,
    /// The VXLAN I flag is not set.
    NotVxlan,
    /// VXLAN, but not ARP or ND inside.
    NotArpNd,
    /// Inner IPv6 that is not an ND solicitation or advertisement.
    NotNd,
    /// ARP/ND that is malformed (hardware type, lengths, hop limit, ...).
    Malformed,
    /// A multicast, broadcast or zero sender MAC.
    BadMac,
}

impl Reject {
    /// True for broken ARP/ND inside VXLAN (counted as parse errors), as
    /// opposed to traffic that is simply not ours.
    #[must_use]
    pub const fn is_parse_error(self) -> bool {
        matches!(self, Self::Malformed | Self::BadMac)
    }
}

/// How many leading bytes [`surely_not_ours`] looks at.
pub const FAST_PATH_BYTES: usize = 64;

/// A one-read verdict for the common frame on an uplink: untagged outer
/// IPv4 without options that is not UDP, not to the VXLAN port, or VXLAN
/// whose inner frame is untagged and neither ARP nor IPv6 (or IPv6 with ND
/// off). `true` means [`classify_into`] would reject the frame without a
/// parse error, so the kernel side skips it after one bounded read instead
/// of four. `false` means "look closer", never "ours".
#[must_use]
#[inline(always)]
pub fn surely_not_ours(head: &[u8; FAST_PATH_BYTES], settings: &Settings) -> bool {
    if be16([head[12], head[13]]) != ETH_P_IPV4 || head[14] != 0x45 {
        return false;
    }
    if head[23] != IPPROTO_UDP {
        // A fragment would be rejected too, but for another reason: the
        // verdict is the same, nothing learned and no parse error.
        return true;
    }
    if be16([head[20], head[21]]) & 0x3fff != 0 {
        return false;
    }
    if be16([head[36], head[37]]) != settings.vxlan_port || head[42] & 0x08 == 0 {
        return true;
    }
    let inner = be16([head[62], head[63]]);
    !(inner == ETH_P_ARP || inner == ETH_P_8021Q || (inner == ETH_P_IPV6 && settings.nd != 0))
}

/// Reads fixed-size blocks of a frame.
pub trait PacketBytes {
    /// The `N` bytes at `offset`, or `None` past the end.
    fn block<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;
}

impl PacketBytes for [u8] {
    #[inline(always)]
    fn block<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let bytes = self.get(offset..offset.checked_add(N)?)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Some(out)
    }
}

const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_8021Q: u16 = 0x8100;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;

#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

#[inline(always)]
fn mapped_v4(a: [u8; 4]) -> [u8; 16] {
    // One 128-bit value, not an array literal: the BPF build turns the
    // literal's ten zero bytes into a call to a byte-loop memset.
    (0xffff_0000_0000_u128 | u128::from(u32::from_be_bytes(a))).to_be_bytes()
}

#[inline(always)]
fn bad_mac(mac: [u8; 6]) -> bool {
    mac[0] & 1 == 1 || (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0
}

/// Classifies one frame that starts with its (outer) Ethernet header.
///
/// Accepts an optional 802.1Q tag outside and inside, IPv4 (with options,
/// not fragmented) or IPv6 (no extension headers) outside, UDP to
/// `settings.vxlan_port`, VXLAN with the I flag, and inside ARP (request,
/// reply, gratuitous, probe) or, when enabled, ND (NS, NA, DAD).
#[inline(always)]
pub fn classify<P: PacketBytes + ?Sized>(
    p: &P,
    settings: &Settings,
    direction: u8,
) -> Result<LearnEvent, Reject> {
    let mut event = LearnEvent::EMPTY;
    classify_into(p, settings, direction, &mut event)?;
    Ok(event)
}

/// [`classify`], writing into `out` (the kernel passes per-CPU map memory:
/// the BPF stack is only 512 bytes). `out` is fully written on success.
#[inline(always)]
#[expect(
    clippy::too_many_lines,
    reason = "one straight-line parse reads best for the verifier and the reviewer"
)]
pub fn classify_into<P: PacketBytes + ?Sized>(
    p: &P,
    settings: &Settings,
    direction: u8,
    out: &mut LearnEvent,
) -> Result<(), Reject> {
    // ----- outer Ethernet, optional 802.1Q -----
    let mut ethertype = be16(p.block(12).ok_or(Reject::Truncated)?);
    let mut l3 = 14;
    if ethertype == ETH_P_8021Q {
        ethertype = be16(p.block(16).ok_or(Reject::Truncated)?);
        l3 = 18;
    }

    // ----- outer IP -----
    let l4 = if ethertype == ETH_P_IPV4 {
        let ip: [u8; 20] = p.block(l3).ok_or(Reject::Truncated)?;
        if ip[0] >> 4 != 4 {
            return Err(Reject::NotIp);
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ihl < 20 {
            return Err(Reject::Truncated);
        }
        // More-fragments set or a non-zero offset.
        if be16([ip[6], ip[7]]) & 0x3fff != 0 {
            return Err(Reject::Fragment);
        }
        if ip[9] != IPPROTO_UDP {
            return Err(Reject::NotUdp);
        }
        out.outer_family = 4;
        out.outer_src = mapped_v4([ip[12], ip[13], ip[14], ip[15]]);
        out.outer_dst = mapped_v4([ip[16], ip[17], ip[18], ip[19]]);
        l3 + ihl
    } else if ethertype == ETH_P_IPV6 {
        let head: [u8; 8] = p.block(l3).ok_or(Reject::Truncated)?;
        if head[0] >> 4 != 6 {
            return Err(Reject::NotIp);
        }
        if head[6] != IPPROTO_UDP {
            // Extension headers (or anything else) are not walked.
            return Err(if matches!(head[6], 0 | 43 | 44 | 60) { Reject::Fragment } else { Reject::NotUdp });
        }
        out.outer_family = 6;
        out.outer_src = p.block(l3 + 8).ok_or(Reject::Truncated)?;
        out.outer_dst = p.block(l3 + 24).ok_or(Reject::Truncated)?;
        l3 + 40
    } else {
        return Err(Reject::NotIp);
    };

    // ----- UDP and VXLAN (8 + 8 bytes) -----
    let udp_vxlan: [u8; 16] = p.block(l4).ok_or(Reject::Truncated)?;
    if be16([udp_vxlan[2], udp_vxlan[3]]) != settings.vxlan_port {
        return Err(Reject::NotVxlanPort);
    }
    if udp_vxlan[8] & 0x08 == 0 {
        return Err(Reject::NotVxlan);
    }
    out.vni = u32::from_be_bytes([0, udp_vxlan[12], udp_vxlan[13], udp_vxlan[14]]);

    // ----- inner Ethernet, optional 802.1Q -----
    let inner = l4 + 16;
    let ieth: [u8; 18] = p.block(inner).ok_or(Reject::Truncated)?;
    let eth_src = [ieth[6], ieth[7], ieth[8], ieth[9], ieth[10], ieth[11]];
    let mut inner_type = be16([ieth[12], ieth[13]]);
    out.vlan = 0;
    let mut payload = inner + 14;
    if inner_type == ETH_P_8021Q {
        out.vlan = be16([ieth[14], ieth[15]]) & 0x0fff;
        inner_type = be16([ieth[16], ieth[17]]);
        payload = inner + 18;
    }
    out.direction = direction;

    if inner_type == ETH_P_ARP {
        // htype 1, ptype IPv4, hlen 6, plen 4, oper, sha, spa, tha, tpa.
        let arp: [u8; 28] = p.block(payload).ok_or(Reject::Malformed)?;
        if be16([arp[0], arp[1]]) != 1 || be16([arp[2], arp[3]]) != ETH_P_IPV4 || arp[4] != 6 || arp[5] != 4 {
            return Err(Reject::Malformed);
        }
        let oper = be16([arp[6], arp[7]]);
        let sha = [arp[8], arp[9], arp[10], arp[11], arp[12], arp[13]];
        let spa = [arp[14], arp[15], arp[16], arp[17]];
        let tpa = [arp[24], arp[25], arp[26], arp[27]];
        if bad_mac(sha) {
            return Err(Reject::BadMac);
        }
        out.mac = sha;
        out.kind = if u32::from_be_bytes(spa) == 0 {
            Kind::ArpProbe as u8
        } else if spa == tpa {
            Kind::ArpGratuitous as u8
        } else if oper == 1 {
            Kind::ArpRequest as u8
        } else if oper == 2 {
            Kind::ArpReply as u8
        } else {
            return Err(Reject::Malformed);
        };
        // A probe has no IP: zero, and family 0. One store either way (see
        // mapped_v4).
        let probe = out.kind == Kind::ArpProbe as u8;
        out.ip = if probe { 0_u128.to_be_bytes() } else { mapped_v4(spa) };
        out.ip_family = if probe { 0 } else { 4 };
        return Ok(());
    }

    if inner_type != ETH_P_IPV6 || settings.nd == 0 {
        return Err(Reject::NotArpNd);
    }
    // IPv6 header (40) + ICMPv6 ND (24) + the first option (8).
    let head: [u8; 8] = p.block(payload).ok_or(Reject::NotNd)?;
    if head[6] != IPPROTO_ICMPV6 {
        return Err(Reject::NotNd);
    }
    let icmp: [u8; 4] = p.block(payload + 40).ok_or(Reject::NotNd)?;
    let solicitation = icmp[0] == 135;
    if !solicitation && icmp[0] != 136 {
        return Err(Reject::NotNd);
    }
    // RFC 4861 §7.1: hop limit 255, code 0, and the whole 24-byte message.
    if head[7] != 255 || icmp[1] != 0 || p.block::<4>(payload + 60).is_none() {
        return Err(Reject::Malformed);
    }
    // NS: the sender is the IPv6 source (:: for DAD); NA: the target.
    let address_at = if solicitation { payload + 8 } else { payload + 48 };
    out.ip = p.block(address_at).ok_or(Reject::Malformed)?;
    // The first option, if it is the link-layer address we expect:
    // source (1) in an NS, target (2) in an NA; else the Ethernet source.
    let want = if solicitation { 1 } else { 2 };
    let mac = match p.block::<8>(payload + 64) {
        Some(opt) if opt[0] == want && opt[1] == 1 => [opt[2], opt[3], opt[4], opt[5], opt[6], opt[7]],
        _ => eth_src,
    };
    if bad_mac(mac) {
        return Err(Reject::BadMac);
    }
    out.mac = mac;
    if solicitation && out.ip == [0; 16] {
        out.kind = Kind::NdDad as u8;
        out.ip_family = 0;
    } else {
        out.kind = if solicitation { Kind::NdSolicitation as u8 } else { Kind::NdAdvertisement as u8 };
        out.ip_family = 6;
    }
    Ok(())
}

// SAFETY (all three): plain `#[repr(C)]` structs (`LearnEvent` also 8-byte
// aligned) of integers and byte arrays whose field sizes add up to their
// size (16, 64 and 48 bytes, checked by the layout test), so they have no
// padding and every bit pattern is a valid value, which is what `Pod`
// requires.
#[cfg(feature = "user")]
unsafe impl aya::Pod for Settings {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for LearnEvent {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for InterfaceCounters {}

#[cfg(test)]
mod tests;
