//! Conformance scenarios for the proxy core, replayed deterministically.
//!
//! Each directory under tests/conformance/ holds:
//! - `description.txt`: what is tested, with an ASCII topology;
//! - `config.json`: the configuration committed at time 0;
//! - `events.jsonl`: one event per line, `{"at-ms": N, "input": {...}}`, or
//!   `{"at-ms": N, "restart": true}` to replay the current config into a
//!   fresh core (an agent restart), with `"restore": true` also handing it
//!   the learned table the old core saved (the agent's state file), and
//!   `"config": {...}` to restart with another configuration;
//! - `output.jsonl` and `state.json`: the golden outputs and final state.
//!
//! `BLESS=1 cargo test -p static-vxlan-agent --test conformance` rewrites
//! the goldens; review the diff before committing it.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{collections::BTreeMap, fs, path::Path};

use serde_json::Value;
use static_vxlan_agent::{
    config::model::Config,
    core::{
        Core,
        msg::{Input, Output},
    },
};

fn run_scenario(dir: &Path) -> (String, String) {
    let read = |name: &str| {
        fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
    };
    assert!(!read("description.txt").trim().is_empty(), "{}: empty description", dir.display());
    let mut config: Config = serde_json::from_str(&read("config.json")).expect("config.json");
    let mut core = Core::new();
    let mut lines = Vec::new();
    let mut record = |event: usize, at: u64, outputs: &[Output]| {
        for output in outputs {
            lines.push(
                serde_json::json!({"event": event, "at-ms": at, "output": output.record()}).to_string(),
            );
        }
    };
    let out = core.process(0, Input::Config(Box::new(config.clone())));
    record(0, 0, &out);
    for (index, line) in read("events.jsonl").lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("events.jsonl:{}: {e}", index + 1));
        let at = event["at-ms"].as_u64().unwrap_or_else(|| panic!("events.jsonl:{}: no at-ms", index + 1));
        if event["restart"] == true {
            // With "restore": the learned table the old core saved goes to
            // the new one, as the agent's state file carries it (the wall
            // clock is the scenario's clock here).
            let saved = (event["restore"] == true).then(|| core.save(at, at));
            // A restart may come with an edited configuration.
            if !event["config"].is_null() {
                config = serde_json::from_value(event["config"].clone())
                    .unwrap_or_else(|e| panic!("events.jsonl:{}: config: {e}", index + 1));
            }
            core = Core::new();
            let mut out = core.process(at, Input::Config(Box::new(config.clone())));
            if let Some(table) = saved {
                out.extend(core.process(at, Input::Restore { table: Box::new(table), unix_now_ms: at }));
            }
            record(index + 1, at, &out);
            continue;
        }
        let input: Input = serde_json::from_value(event["input"].clone())
            .unwrap_or_else(|e| panic!("events.jsonl:{}: {e}", index + 1));
        if let Input::Config(new) = &input {
            config = (**new).clone();
        }
        let out = core.process(at, input);
        record(index + 1, at, &out);
        // The advertised set always equals what the state calls for.
        let advertised: BTreeMap<_, _> = core.advertised().map(|r| (r.route.key(), r)).collect();
        assert_eq!(advertised, core.desired_routes(), "{}: event {}", dir.display(), index + 1);
        assert_eq!(core.advertised_count(), advertised.len(), "{}: event {}", dir.display(), index + 1);
    }
    // Through a JSON value, whose objects keep their keys sorted: the golden
    // text does not depend on the order of struct fields or map keys.
    let state = serde_json::to_value(core.state()).expect("state serializes");
    let state = serde_json::to_string_pretty(&state).expect("state serializes");
    (lines.join("\n") + "\n", state + "\n")
}

#[test]
fn conformance_scenarios_match_their_goldens() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let bless = std::env::var_os("BLESS").is_some();
    let mut scenarios: Vec<_> =
        fs::read_dir(&root).expect("tests/conformance").flatten().map(|e| e.path()).collect();
    scenarios.sort();
    let mut failures = Vec::new();
    for dir in scenarios.iter().filter(|p| p.is_dir()) {
        let (output, state) = run_scenario(dir);
        for (name, actual) in [("output.jsonl", &output), ("state.json", &state)] {
            let path = dir.join(name);
            if bless {
                fs::write(&path, actual).expect("write golden");
                continue;
            }
            let expected = fs::read_to_string(&path).unwrap_or_default();
            if &expected != actual {
                failures.push(format!(
                    "{}/{name} differs (BLESS=1 regenerates it):\n--- expected\n{expected}\n--- actual\n{actual}",
                    dir.display()
                ));
            }
        }
    }
    assert!(scenarios.len() >= 13, "expected at least 13 scenarios, found {}", scenarios.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
