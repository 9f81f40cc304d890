//! Compiles proto/ndk/*.proto with protox (pure Rust, no protoc) and
//! generates the prost messages and tonic clients and servers from the
//! result. The descriptor set is also kept, so the wire-compatibility test
//! compares exactly what was compiled.
use std::path::PathBuf;

use prost::Message;

const FILES: &[&str] = &[
    "ndk/sdk_common.proto",
    "ndk/config_service.proto",
    "ndk/telemetry_service.proto",
    "ndk/bfd_service.proto",
    "ndk/sdk_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(FILES, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("ndk_descriptor_set.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
