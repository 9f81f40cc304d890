//! An agent restart keeps what it learned (issue 29), on a real kernel with
//! GoBGP 3.10 as graceful-restart helper: the agent learns hosts from ARP
//! in VXLAN, is killed (SIGKILL) and started again, and GoBGP's RIB, watched every
//! 100 ms, never lacks one of their routes; after the restart a host that
//! moves continues from its restored sequence; and a restart with a static
//! VTEP removed from the configuration drops exactly that VTEP's hosts. A
//! corrupted state file, an unwritable one and a full disk (a small tmpfs)
//! each cost one log line, never learning.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

mod snoop_lab;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use snoop_lab::{Lab, VTEP_A, VTEP_B, mac_text};
use static_vxlan_agent_tests::{
    peers::{GoBgp, GoBgpOptions, wait_for},
    privileged,
    releases::GoBgpRelease,
};

/// The agent's source address (GoBGP's neighbor): not GoBGP's own
/// 127.0.0.1, which is also its router id.
const AGENT_ADDR: &str = "127.0.0.51";
/// Hosts 1..=30 behind A, 31..=40 behind B.
const HOSTS_A: std::ops::RangeInclusive<u8> = 1..=30;
const HOSTS_B: std::ops::RangeInclusive<u8> = 31..=40;

/// MAC -> (next hop, MAC mobility sequence, stale) of GoBGP's RT-2s (a
/// MAC's MAC-only and MAC+IP routes carry the same; stale if one is).
fn gobgp_macs(gobgp: &GoBgp) -> BTreeMap<String, (String, Option<u64>, bool)> {
    let mut macs = BTreeMap::new();
    for path in gobgp.evpn_paths() {
        let nlri = &path["nlri"]["value"];
        if path["nlri"]["type"] != 2 {
            continue;
        }
        let Some(mac) = nlri["mac"].as_str() else { continue };
        let attrs = path["attrs"].as_array().cloned().unwrap_or_default();
        let next_hop =
            attrs.iter().find(|a| a["type"] == 14).map(|a| a["nexthop"].to_string()).unwrap_or_default();
        let sequence = attrs
            .iter()
            .filter(|a| a["type"] == 16)
            .flat_map(|a| a["value"].as_array().cloned().unwrap_or_default())
            .find(|c| c["type"] == 6 && c["subtype"] == 0)
            .and_then(|c: Value| c["sequence"].as_u64());
        let stale = path["stale"] == true;
        let entry =
            macs.entry(mac.to_owned()).or_insert((next_hop.trim_matches('"').to_owned(), sequence, stale));
        entry.2 |= stale;
    }
    macs
}

fn settings(port: u16, state_file: &std::path::Path) -> String {
    format!(
        "source-address: {AGENT_ADDR}\npeer-address: 127.0.0.1\npeer-port: {port}\n\
         graceful-restart-time: 120\nstate-file: {}\n",
        state_file.display()
    )
}

/// Polls GoBGP every 100 ms until stopped and records every moment one of
/// `wanted` was missing.
struct Watcher {
    stop: Arc<AtomicBool>,
    gaps: Arc<Mutex<Vec<String>>>,
    polls: Arc<Mutex<u64>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(gobgp: Arc<GoBgp>, wanted: BTreeSet<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let gaps = Arc::new(Mutex::new(Vec::new()));
        let polls = Arc::new(Mutex::new(0));
        let thread = {
            let (stop, gaps, polls) = (stop.clone(), gaps.clone(), polls.clone());
            thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let now: BTreeSet<String> = gobgp_macs(&gobgp).into_keys().collect();
                    let missing: Vec<&String> = wanted.difference(&now).collect();
                    if !missing.is_empty() {
                        gaps.lock().expect("lock").push(format!("{:?}: {missing:?}", started.elapsed()));
                    }
                    *polls.lock().expect("lock") += 1;
                    thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Self { stop, gaps, polls, thread: Some(thread) }
    }

    fn finish(mut self) -> (Vec<String>, u64) {
        self.halt();
        let gaps = self.gaps.lock().expect("lock").clone();
        let polls = *self.polls.lock().expect("lock");
        (gaps, polls)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A test that fails midway still stops the thread, which releases its
/// share of GoBGP, so that gobgpd is stopped too (it was left running once).
impl Drop for Watcher {
    fn drop(&mut self) {
        self.halt();
    }
}

#[test]
fn a_killed_agent_comes_back_with_what_it_learned_and_the_helper_never_loses_a_route() {
    let name = "a_killed_agent_comes_back_with_what_it_learned_and_the_helper_never_loses_a_route";
    if !privileged(name) || GoBgpRelease::available(name).is_none() {
        return;
    }
    let gobgp = Arc::new(GoBgp::start_with(
        65000,
        AGENT_ADDR,
        &GoBgpOptions { graceful_restart: true, ..Default::default() },
    ));
    let scratch = static_vxlan_agent_tests::peers::ScratchDir::new("rsts");
    let state_file = scratch.path().join("learned-table.json");
    let settings = settings(gobgp.port, &state_file);
    let mut lab = Lab::start("rst", &settings, &[VTEP_A, VTEP_B]);

    for host in HOSTS_A {
        lab.arp(VTEP_A, host);
    }
    for host in HOSTS_B {
        lab.arp(VTEP_B, host);
    }
    // h2 moves to B: sequence 1.
    lab.wait_for_host("h2 learned", 2, |e| e["vtep"] == VTEP_A.to_string());
    lab.arp(VTEP_B, 2);
    let all: BTreeSet<String> = HOSTS_A.chain(HOSTS_B).map(mac_text).collect();
    wait_for("every host at GoBGP", Duration::from_secs(20), || {
        let macs = gobgp_macs(&gobgp);
        let ok = all.iter().all(|m| macs.contains_key(m)) && macs[&mac_text(2)].1 == Some(1);
        if ok { Ok(()) } else { Err(format!("{macs:?}\n{}", lab.log())) }
    });
    // Written within the 5 s of a change.
    wait_for("the state file holds every host", Duration::from_secs(15), || {
        let text = fs::read_to_string(&state_file).map_err(|e| e.to_string())?;
        let count = text.matches("\"mac\":").count();
        if count == all.len() { Ok(()) } else { Err(format!("{count} MACs")) }
    });

    // SIGKILL and start again, GoBGP watched throughout.
    let watcher = Watcher::start(gobgp.clone(), all.clone());
    thread::sleep(Duration::from_millis(500));
    lab.kill();
    wait_for("GoBGP to mark our routes stale", Duration::from_secs(10), || {
        let macs = gobgp_macs(&gobgp);
        if macs.values().all(|(_, _, stale)| *stale) { Ok(()) } else { Err(format!("{macs:?}")) }
    });
    let restarted = Instant::now();
    lab.start_agent();
    // After our End-of-RIB, GoBGP holds everything fresh again, nothing stale.
    wait_for("every route fresh at GoBGP", Duration::from_secs(30), || {
        let macs = gobgp_macs(&gobgp);
        let ok = all.iter().all(|m| macs.get(m).is_some_and(|(_, _, stale)| !stale));
        if ok { Ok(()) } else { Err(format!("{macs:?}\n{}", lab.log())) }
    });
    println!("routes fresh again {:?} after the restart", restarted.elapsed());
    thread::sleep(Duration::from_secs(2));
    let (gaps, polls) = watcher.finish();
    assert!(polls > 20, "the watcher polled {polls} times");
    assert!(gaps.is_empty(), "routes missing at GoBGP: {gaps:?}\n{}", lab.log());
    assert!(lab.log().contains("restoring the learned table"), "{}", lab.log());
    let state = lab.state().expect("state");
    assert_eq!(state["proxy"]["mac-vrfs"]["blue"]["macs"][&mac_text(2)]["sequence"], 1, "{state}");

    // h2 moves back to A after the restart: sequence 2, from the restored 1.
    lab.arp(VTEP_A, 2);
    wait_for("h2 back at A with sequence 2", Duration::from_secs(10), || {
        let macs = gobgp_macs(&gobgp);
        let h2 = macs.get(&mac_text(2)).cloned();
        if h2.as_ref().is_some_and(|(nh, seq, _)| nh == &VTEP_A.to_string() && *seq == Some(2)) {
            Ok(())
        } else {
            Err(format!("{h2:?}"))
        }
    });

    // A restart with B removed: B's hosts are not restored, and after the
    // End-of-RIB GoBGP drops them; A's stay.
    wait_for("the state file has h2 at A", Duration::from_secs(15), || {
        let text = fs::read_to_string(&state_file).map_err(|e| e.to_string())?;
        if text.contains("\"sequence\":2") { Ok(()) } else { Err(text) }
    });
    lab.kill();
    lab.rewrite(&settings, &[VTEP_A]);
    lab.start_agent();
    let on_a: BTreeSet<String> = HOSTS_A.map(mac_text).collect();
    wait_for("exactly A's hosts at GoBGP", Duration::from_secs(30), || {
        let macs = gobgp_macs(&gobgp);
        let ours: BTreeSet<String> =
            macs.iter().filter(|(_, (_, _, stale))| !stale).map(|(m, _)| m.clone()).collect();
        if ours == on_a && macs.len() == on_a.len() { Ok(()) } else { Err(format!("{macs:?}")) }
    });
    assert!(lab.log().contains("restored"), "{}", lab.log());
    lab.agent.stop();
}

#[test]
fn a_bad_or_unwritable_state_file_costs_one_log_line_and_never_learning() {
    let name = "a_bad_or_unwritable_state_file_costs_one_log_line_and_never_learning";
    if !privileged(name) {
        return;
    }
    let scratch = static_vxlan_agent_tests::peers::ScratchDir::new("rstb");
    // A corrupted table from the last run: not used, said once, clean start.
    let corrupted = scratch.path().join("learned-table.json");
    fs::write(
        &corrupted,
        "{\"format\": \"static-vxlan-agent learned table\", \"version\": 1, \"mac-vrfs\": {\"blue\": [",
    )
    .expect("write");
    let settings = |file: &std::path::Path| {
        format!(
            "source-address: 127.0.0.1\npeer-address: 127.0.0.1\npeer-port: {}\nstate-file: {}\n",
            static_vxlan_agent_tests::peers::free_port(),
            file.display()
        )
    };
    let mut lab = Lab::start("rstb", &settings(&corrupted), &[VTEP_A]);
    lab.arp(VTEP_A, 1);
    lab.wait_for_host("h1 learned after a corrupted table", 1, |e| e["source"] == "learned");
    let log = lab.log();
    assert_eq!(log.matches("is not used: starting without it").count(), 1, "{log}");
    assert!(log.contains("invalid JSON"), "{log}");
    // It is replaced by a good one within the 5 s of a change.
    wait_for("a good table replaces it", Duration::from_secs(15), || {
        let text = fs::read_to_string(&corrupted).map_err(|e| e.to_string())?;
        if text.contains(&mac_text(1)) { Ok(()) } else { Err(text) }
    });

    // A state file that cannot be written (its directory is a file): learning
    // goes on, and the error is said once however often the table changes.
    lab.kill();
    let blocker = scratch.path().join("not-a-directory");
    fs::write(&blocker, "").expect("write");
    lab.rewrite(&settings(&blocker.join("learned-table.json")), &[VTEP_A]);
    lab.start_agent();
    for (round, host) in (2..=4).enumerate() {
        lab.arp(VTEP_A, host);
        lab.wait_for_host("learned with an unwritable state file", host, |e| e["source"] == "learned");
        if round < 2 {
            thread::sleep(Duration::from_secs(6));
        }
    }
    let log = lab.log();
    assert_eq!(log.matches("cannot write the learned table").count(), 1, "{log}");

    // A full disk: a 16 KiB tmpfs, filled. Learning goes on, one line says why.
    lab.kill();
    let full = scratch.path().join("full");
    fs::create_dir_all(&full).expect("dir");
    let _mount = TmpfsMount::new(&full, "16k");
    let mut filler = fs::File::create(full.join("filler")).expect("filler");
    while std::io::Write::write_all(&mut filler, &[0; 4096]).is_ok() {}
    drop(filler);
    lab.rewrite(&settings(&full.join("learned-table.json")), &[VTEP_A]);
    lab.start_agent();
    for host in 5..=6 {
        lab.arp(VTEP_A, host);
        lab.wait_for_host("learned on a full disk", host, |e| e["source"] == "learned");
        thread::sleep(Duration::from_secs(6));
    }
    let log = lab.log();
    assert_eq!(log.matches("No space left on device").count(), 1, "{log}");
    lab.agent.stop();
}

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped.
struct TmpfsMount(std::path::PathBuf);

impl TmpfsMount {
    fn new(dir: &std::path::Path, size: &str) -> Self {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        Self(dir.to_owned())
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
