//! Builds the eBPF crate for the BPF target with the pinned nightly and puts
//! the object into `OUT_DIR`, where `src/lib.rs` embeds it.

use anyhow::{Context as _, anyhow};
// Linked only so that cargo re-runs this script when the eBPF sources change.
use arp_snoop_ebpf as _;

/// The nightly the eBPF crate is built with. `scripts/bootstrap.sh` installs
/// the same one, with rust-src, and builds bpf-linker against its LLVM.
const EBPF_TOOLCHAIN: &str = "nightly-2026-05-19";

fn main() -> anyhow::Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new().no_deps().exec().context("cargo metadata")?;
    let ebpf = metadata
        .packages
        .into_iter()
        .find(|package| package.name.as_str() == "arp-snoop-ebpf")
        .ok_or_else(|| anyhow!("the arp-snoop-ebpf package is not in the workspace"))?;
    let root_dir =
        ebpf.manifest_path.parent().ok_or_else(|| anyhow!("arp-snoop-ebpf has no manifest directory"))?;
    let package =
        aya_build::Package { name: ebpf.name.as_str(), root_dir: root_dir.as_str(), ..Default::default() };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(EBPF_TOOLCHAIN))
}
