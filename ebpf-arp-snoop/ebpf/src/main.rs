//! The snooper's kernel side: a TC classifier attached to the learning
//! interfaces. It never drops or alters a frame: it only observes.
//!
//! Built for `bpfel-unknown-none` by the loader's build script (aya-build, on
//! the pinned nightly). The `cfg_attr` gates let `cargo build --workspace` on
//! the host compile this crate as an empty binary instead of failing on the
//! duplicate panic handler.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
#![cfg_attr(
    target_arch = "bpf",
    allow(unsafe_code, reason = "aya's map and program macros expand to unsafe code")
)]

#[cfg(target_arch = "bpf")]
mod program {
    use arp_snoop_common::Counter;
    use aya_ebpf::{
        bindings::TC_ACT_PIPE,
        macros::{classifier, map},
        maps::PerCpuArray,
        programs::TcContext,
    };

    #[map(name = "COUNTERS")]
    static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

    #[inline(always)]
    fn bump(counter: Counter) {
        if let Some(slot) = COUNTERS.get_ptr_mut(counter.index()) {
            // SAFETY: the pointer comes from a per-CPU array lookup, so it is
            // valid for this program run and no other CPU writes this slot.
            unsafe {
                *slot += 1;
            }
        }
    }

    /// TC entry point. `TC_ACT_PIPE` hands the frame on to the next
    /// classifier unchanged, so forwarding is never affected.
    #[classifier]
    fn arp_snoop_tc(_ctx: TcContext) -> i32 {
        bump(Counter::Seen);
        #[expect(clippy::cast_possible_wrap, reason = "TC_ACT_PIPE is 3")]
        let verdict = TC_ACT_PIPE as i32;
        verdict
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
