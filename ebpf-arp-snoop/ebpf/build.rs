//! Rebuild the eBPF object when bpf-linker changes: it is a linker outside
//! cargo's view, so a new one (after a nightly bump) would otherwise be missed.

fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
