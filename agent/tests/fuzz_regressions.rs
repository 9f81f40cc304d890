//! Every input the `ndk_config_commit` fuzz target ever failed on, replayed
//! through the same property, plus the seeds. Files in tests/regressions/
//! are named `ndk_config_commit-<id>`; add one by copying it there from
//! `fuzz/artifacts/ndk_config_commit/`.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::fs;

use static_vxlan_agent::ndk::commit::properties::commit_script;

#[test]
fn config_commit_crashers_and_seeds_keep_the_property() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut replayed = 0;
    for dir in [format!("{root}/tests/regressions"), format!("{root}/../fuzz/seeds/ndk_config_commit")] {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
            let path = entry.expect("readable entry").path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            commit_script(&fs::read(&path).expect("readable file"));
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no inputs found");
}
