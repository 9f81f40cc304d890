//! The eBPF crate's library target is empty on purpose: it lets the loader
//! list this crate as a build dependency, so that cargo re-runs the loader's
//! build script (which builds the real program, `src/main.rs`) whenever these
//! sources change.
#![no_std]

use {arp_snoop_common as _, aya_ebpf as _};
