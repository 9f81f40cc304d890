//! The snooper's kernel side. It runs either as a TC classifier on ingress
//! and egress, or as a socket filter on an `AF_PACKET` socket. Either way it
//! only observes: forwarding is never altered and nothing is dropped.
//!
//! For each frame: classify (the shared `arp_snoop_common::classify`), skip
//! VTEPs in the ignore map, suppress repeats of a binding within the dedup
//! window (a host's slot remembers the VTEP it was last passed up from, so
//! a host seen behind another VTEP always goes up; the host side clears
//! slots and changes the epoch when the agent must see a binding again),
//! and pass the binding up through the ring buffer. Every outcome
//! is counted in the per-CPU counters of the interface the frame was on (an
//! array slot by ifindex, zeroed by the loader when it attaches); the totals
//! are their sum, taken on the host. In TC mode the first 64 bytes, which
//! settle most frames that are not ours, are read in place.
//!
//! Built for `bpfel-unknown-none` by the loader's build script (aya-build,
//! on the pinned nightly). The `cfg_attr` gates let `cargo build --workspace`
//! on the host compile this crate as an empty binary.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
#![cfg_attr(
    target_arch = "bpf",
    allow(unsafe_code, reason = "aya's map and program macros expand to unsafe code; context reads are raw")
)]

#[cfg(target_arch = "bpf")]
mod program {
    use arp_snoop_common::{
        Counter, DEDUP_SLOTS, DedupKey, EVENTS_BYTES, FAST_PATH_BYTES, IGNORE_ENTRIES, INTERFACE_ENTRIES,
        INTERFACE_SLOTS, InterfaceCounters, LearnEvent, PacketBytes, Settings, WAKEUP_COALESCE_NS,
        classify_into, direction, surely_not_ours,
    };
    use aya_ebpf::{
        Global,
        bindings::{BPF_RB_NO_WAKEUP, TC_ACT_UNSPEC},
        helpers::bpf_ktime_get_ns,
        macros::{classifier, map, socket_filter},
        maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
        programs::{SkBuffContext, TcContext, sk_buff::SkBuff},
    };

    #[map(name = "IF_COUNTERS")]
    static IF_COUNTERS: PerCpuArray<InterfaceCounters> = PerCpuArray::with_max_entries(INTERFACE_SLOTS, 0);
    #[map(name = "IF_COUNTERS_HIGH")]
    static IF_COUNTERS_HIGH: PerCpuHashMap<u32, InterfaceCounters> =
        PerCpuHashMap::with_max_entries(INTERFACE_ENTRIES, 0);
    #[map(name = "EVENTS")]
    static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);
    /// One stamp per slot (`DedupKey::stamp`): the binding that last went
    /// up from that slot, and when. An LRU hash did this before; under a
    /// stream of new bindings its evictions and bucket walks took about a
    /// third of the receiving core (perf, `bench/run.sh snoop rps`), where
    /// a slot is one address computation and one 8-byte load and store.
    #[map(name = "DEDUP")]
    static DEDUP: Array<u64> = Array::with_max_entries(DEDUP_SLOTS, 0);
    /// The dedup epoch, mixed into every fingerprint: the host changes it
    /// to make every stamp stale at once (after a change of configuration
    /// that may accept what the agent refused before).
    #[map(name = "DEDUP_EPOCH")]
    static DEDUP_EPOCH: Array<u64> = Array::with_max_entries(1, 0);
    /// When an event last woke the reader (`bpf_ktime_get_ns`).
    #[map(name = "LAST_WAKEUP")]
    static LAST_WAKEUP: Array<u64> = Array::with_max_entries(1, 0);
    /// Where the classifier writes: the BPF stack (512 bytes) is too small.
    #[map(name = "SCRATCH")]
    static SCRATCH: PerCpuArray<LearnEvent> = PerCpuArray::with_max_entries(1, 0);
    #[map(name = "IGNORE_VTEPS")]
    static IGNORE_VTEPS: HashMap<[u8; 16], u8> = HashMap::with_max_entries(IGNORE_ENTRIES, 0);

    /// Overridden by the loader before the object is loaded.
    #[unsafe(no_mangle)]
    static SETTINGS: Global<Settings> = Global::new(Settings::DEFAULT);

    /// `sk_buff` bytes through `bpf_skb_load_bytes`, which works the same for
    /// TC and socket filters and needs no bounds proofs from the verifier.
    struct Frame<'a>(&'a SkBuff);

    impl PacketBytes for Frame<'_> {
        #[inline(always)]
        fn block<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
            self.0.load::<[u8; N]>(offset).ok()
        }
    }

    /// Where one frame's outcomes are counted.
    struct Tally(Option<*mut InterfaceCounters>);

    impl Tally {
        #[inline(always)]
        fn of(skb: &SkBuff) -> Self {
            // SAFETY: reading a field of the context the kernel passed in.
            let ifindex = unsafe { (*skb.skb).ifindex };
            // Interface indexes are small in practice: an array slot, with
            // the hash only for the rest (see INTERFACE_SLOTS).
            if ifindex < INTERFACE_SLOTS {
                Self(IF_COUNTERS.get_ptr_mut(ifindex))
            } else {
                Self(IF_COUNTERS_HIGH.get_ptr_mut(ifindex))
            }
        }

        #[inline(always)]
        fn bump(&self, counter: Counter) {
            if let Some(interface) = self.0 {
                // SAFETY: a per-CPU hash value from this run's lookup, so no
                // other CPU writes it; the loader only deletes it after
                // detaching from the interface.
                unsafe { (*interface).bump(counter) };
            }
        }
    }

    /// The frame's first bytes, read in place: TC programs may read the
    /// linear part of the `sk_buff` directly, without a helper call and a
    /// copy. `None` when the linear part is shorter (the caller then reads
    /// through `bpf_skb_load_bytes`, which also sees the paged part).
    #[inline(always)]
    fn head_in_place(ctx: &TcContext) -> Option<&[u8; FAST_PATH_BYTES]> {
        let start = ctx.data();
        if start + FAST_PATH_BYTES > ctx.data_end() {
            return None;
        }
        // SAFETY: [start, start + FAST_PATH_BYTES) lies within the packet
        // data, as just checked (and as the verifier checks again), and
        // stays valid while the program runs; a byte array needs no
        // alignment.
        Some(unsafe { &*(start as *const [u8; FAST_PATH_BYTES]) })
    }

    #[inline(always)]
    fn handle(skb: &SkBuff, direction: u8, head: Option<&[u8; FAST_PATH_BYTES]>) {
        let tally = Tally::of(skb);
        tally.bump(Counter::Seen);
        let settings = SETTINGS.load();
        // Most frames are not ours: one look at the common layout settles
        // them, before the scratch slot and the four reads of the classifier.
        match head {
            Some(head) if surely_not_ours(head, &settings) => return,
            Some(_) => {}
            None => {
                if let Ok(head) = skb.load::<[u8; FAST_PATH_BYTES]>(0)
                    && surely_not_ours(&head, &settings)
                {
                    return;
                }
            }
        }
        let Some(slot) = SCRATCH.get_ptr_mut(0) else { return };
        // SAFETY: a per-CPU array slot, valid for this run and used by this
        // CPU only; programs do not nest on one CPU for these hooks.
        let event = unsafe { &mut *slot };
        if let Err(reject) = classify_into(&Frame(skb), &settings, direction, event) {
            if reject.is_parse_error() {
                tally.bump(Counter::ParseErrors);
            }
            return;
        }
        tally.bump(Counter::Matched);
        // SAFETY: a lookup result is only compared against None.
        if unsafe { IGNORE_VTEPS.get(&event.outer_src) }.is_some() {
            tally.bump(Counter::Ignored);
            return;
        }
        let window = settings.dedup_window_ns;
        // SAFETY: kernel helper without arguments.
        let now = unsafe { bpf_ktime_get_ns() };
        // The binding's slot and the stamp it now leaves there, if dedup is on.
        let mut claimed: Option<(*mut u64, u64)> = None;
        if window > 0 {
            let key = DedupKey::of(event);
            let hash = key.binding_hash();
            // SAFETY: the one slot of an array map, read as one aligned u64.
            let epoch = DEDUP_EPOCH.get_ptr(0).map_or(0, |epoch| unsafe { core::ptr::read_volatile(epoch) });
            let fingerprint = key.fingerprint(hash, epoch);
            if let Some(slot) = DEDUP.get_ptr_mut(DedupKey::slot(hash)) {
                // SAFETY: an array slot of this map, valid for this run. It is
                // read and written as one aligned u64, so another CPU's
                // concurrent write is seen whole or not at all; two CPUs that
                // see a new binding at once may both pass it up, which the
                // proxy core takes as one.
                let stamp = unsafe { core::ptr::read_volatile(slot) };
                if DedupKey::fresh(stamp, fingerprint, now, window) {
                    tally.bump(Counter::Deduplicated);
                    return;
                }
                let mine = DedupKey::stamp(fingerprint, now);
                // SAFETY: as above.
                unsafe { core::ptr::write_volatile(slot, mine) };
                claimed = Some((slot, mine));
            }
        }
        if let Some(mut entry) = EVENTS.reserve::<LearnEvent>(0) {
            // A copy the compiler may treat as non-overlapping: inlined as
            // eight 8-byte moves. `entry.write(*event)` became a call to a
            // byte-loop memmove, since both are raw pointers into maps.
            unsafe { core::ptr::copy_nonoverlapping(core::ptr::from_ref(event), entry.as_mut_ptr(), 1) };
            // Wake the reader at most once per WAKEUP_COALESCE_NS; it reads
            // again on its own soon after any read that found events.
            let flags = match LAST_WAKEUP.get_ptr_mut(0) {
                // SAFETY: the one slot of an array map; a race between CPUs
                // costs at most one extra wakeup.
                Some(last) if now.wrapping_sub(unsafe { *last }) < WAKEUP_COALESCE_NS => {
                    u64::from(BPF_RB_NO_WAKEUP)
                }
                Some(last) => {
                    // SAFETY: as above.
                    unsafe { *last = now };
                    0
                }
                None => 0,
            };
            entry.submit(flags);
        } else {
            tally.bump(Counter::RingBufferFull);
            // A lost event must not be deduplicated away: let the next copy
            // through, unless another binding took the slot meanwhile.
            if let Some((slot, mine)) = claimed {
                // SAFETY: the slot pointer from this run's lookup, as above.
                unsafe {
                    if core::ptr::read_volatile(slot) == mine {
                        core::ptr::write_volatile(slot, 0);
                    }
                }
            }
        }
    }

    /// TC ingress. `TC_ACT_UNSPEC` (= `TCX_NEXT`) leaves the decision to the
    /// next program or the default: we never decide the frame's fate.
    #[classifier]
    fn arp_snoop_tc_ingress(ctx: TcContext) -> i32 {
        handle(&ctx.skb, direction::INGRESS, head_in_place(&ctx));
        TC_ACT_UNSPEC
    }

    /// TC egress; see ingress.
    #[classifier]
    fn arp_snoop_tc_egress(ctx: TcContext) -> i32 {
        handle(&ctx.skb, direction::EGRESS, head_in_place(&ctx));
        TC_ACT_UNSPEC
    }

    /// Socket filter on an `AF_PACKET` socket. Returning 0 queues nothing on
    /// the socket: the binding went up through the ring buffer.
    #[socket_filter]
    fn arp_snoop_socket(ctx: SkBuffContext) -> i64 {
        // SAFETY: reading a field of the context the kernel passed in.
        let pkt_type = unsafe { (*ctx.skb.skb).pkt_type };
        // PACKET_OUTGOING (4): a copy of a frame this host sends.
        let direction = if pkt_type == 4 { direction::EGRESS } else { direction::INGRESS };
        // Socket filters may not read packet data in place.
        handle(&ctx.skb, direction, None);
        0
    }

    #[cfg(not(test))]
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
        loop {}
    }
}

// The library target only exists for the loader's rebuild tracking.
use arp_snoop_ebpf as _;
// On the host this crate is an empty binary; these keep the dependency lint
// quiet there, since only the BPF build uses them.
#[cfg(not(target_arch = "bpf"))]
use {arp_snoop_common as _, aya_ebpf as _};

#[cfg(not(target_arch = "bpf"))]
fn main() {}

#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
