//! Any text as a sequence of NDK config notifications and commit ends: see
//! `static_vxlan_agent::ndk::commit::properties::commit_script`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    static_vxlan_agent::ndk::commit::properties::commit_script(input);
});
