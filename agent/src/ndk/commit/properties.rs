//! What must hold for any sequence of config notifications, whatever they
//! carry: the property the `ndk_config_commit` fuzz target checks, public
//! so that `cargo test` replays its crashers through the same code.
//!
//! The input is text, one notification per line: `<kind><keys> <json>`.
//! `kind` is `A`/`a` (set/delete the agent container), `M`/`m` (a mac-vrf's
//! container), `V`/`v` (a static VTEP), `E` (`.commit.end`, the JSON is its
//! body) or anything else (a node that is not ours); `keys` are separated
//! by `,`. E.g. `Mblue,1 {"evi":100,"vni":5}`.

use super::{
    AGENT_PATH, COMMIT_END_PATH, CommitAssembler, MAC_VRF_PATH, Notification, Op, Outcome, STATIC_VTEP_PATH,
};
use crate::config::model::Config;

/// Feeds the script to one assembler and checks every commit's outcome:
/// no panic; an applied configuration is valid and is what the running tree
/// gives afterwards; a rejected commit names at least one error with a
/// YANG path, and leaves the running tree and configuration as they were.
///
/// # Panics
///
/// When the property does not hold (that is the point).
pub fn commit_script(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let mut assembler = CommitAssembler::new();
    // What an empty commit applies now: what the last good commit applied.
    let mut running: Option<Option<Config>> = None;
    for line in text.lines() {
        let (head, json) = line.split_once(' ').unwrap_or((line, ""));
        let mut chars = head.chars();
        let kind = chars.next().unwrap_or('?');
        let keys: Vec<String> =
            chars.as_str().split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect();
        let (op, js_path) = match kind {
            'A' => (Op::Set, AGENT_PATH),
            'a' => (Op::Delete, AGENT_PATH),
            'M' => (Op::Set, MAC_VRF_PATH),
            'm' => (Op::Delete, MAC_VRF_PATH),
            'V' => (Op::Set, STATIC_VTEP_PATH),
            'v' => (Op::Delete, STATIC_VTEP_PATH),
            'E' => (Op::Set, COMMIT_END_PATH),
            _ => (Op::Set, ".network_instance.protocols.ospf"),
        };
        let notification = Notification {
            op,
            js_path: js_path.to_owned(),
            js_path_with_keys: format!("{js_path}{keys:?}"),
            keys,
            json: json.to_owned(),
        };
        let before = assembler.running_nodes();
        let Some(outcome) = assembler.process(&notification) else {
            assert_ne!(kind, 'E', "a commit end without an outcome");
            continue;
        };
        assert_eq!(kind, 'E', "an outcome before the commit's end");
        match outcome {
            Outcome::Nothing => {}
            Outcome::Apply { config, .. } => {
                let config = config.map(|c| *c);
                if let Some(c) = &config {
                    assert_eq!(c.validate(), Ok(()), "an applied configuration that does not validate");
                }
                // The running tree now is what was applied.
                assert_eq!(
                    again(&mut assembler),
                    Ok(config.clone()),
                    "the running tree differs from the applied one"
                );
                running = Some(config);
            }
            Outcome::Reject { errors, .. } => {
                assert!(!errors.is_empty(), "a rejection without a reason");
                for error in &errors {
                    assert!(
                        error.text.starts_with("network-instance"),
                        "an error that does not start with a YANG path: {}",
                        error.text
                    );
                }
                assert_eq!(assembler.running_nodes(), before, "a rejected commit changed the running tree");
                if let Some(config) = &running {
                    assert_eq!(
                        again(&mut assembler),
                        Ok(config.clone()),
                        "a rejected commit changed the configuration"
                    );
                }
            }
        }
    }
}

/// An empty commit: what the running tree gives (`Err`: it was refused).
fn again(assembler: &mut CommitAssembler) -> Result<Option<Config>, Outcome> {
    let end = Notification {
        op: Op::Set,
        js_path: COMMIT_END_PATH.to_owned(),
        keys: Vec::new(),
        js_path_with_keys: COMMIT_END_PATH.to_owned(),
        json: r#"{"commit_seq":4294967295}"#.to_owned(),
    };
    match assembler.process(&end) {
        Some(Outcome::Apply { config, .. }) => Ok(config.map(|c| *c)),
        other => Err(other.unwrap_or(Outcome::Nothing)),
    }
}
