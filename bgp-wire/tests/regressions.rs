//! Every input a fuzz target ever crashed on, replayed through the same
//! property. Files in tests/regressions/ are named `<target>-<id>`; add a
//! crasher by copying it there from fuzz/artifacts/<target>/.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::fs;

#[test]
fn fuzz_crashers_stay_fixed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/regressions");
    let mut replayed = 0;
    for entry in fs::read_dir(dir).expect("tests/regressions exists") {
        let path = entry.expect("readable entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 name").to_owned();
        let input = fs::read(&path).expect("readable file");
        match name.split_once('-').map(|(target, _)| target) {
            Some("message_decode") => bgp_wire::properties::message_round_trip(&input),
            Some("evpn_nlri_decode") => bgp_wire::properties::nlri_round_trip(&input),
            _ => panic!("{name}: not named <target>-<id>"),
        }
        replayed += 1;
    }
    assert!(replayed > 0, "no regression inputs found in {dir}");
}
