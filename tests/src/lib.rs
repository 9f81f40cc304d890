//! Test harness for the whole workspace: privileged tests use it to create
//! network namespaces and veth pairs that are removed again on drop (even when
//! the test panics), and to skip cleanly with `SKIP: reason` when not root.
//!
//! Everything a test creates gets a name unique to the test process, so runs
//! in parallel and leftovers from a killed run never collide.
#![forbid(unsafe_code)]

pub mod fake_ndk;
pub mod peers;
pub mod releases;
pub mod vxlan;

use std::{
    path::PathBuf,
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

/// Returns true when the test may use privileged kernel features. Otherwise
/// prints `SKIP: <test>: <reason>` and returns false; the caller returns.
#[must_use]
pub fn privileged(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        println!("SKIP: {test}: needs root (network namespaces, eBPF); CI runs it as root");
        false
    }
}

/// Runs a command, panicking with its output if it fails.
#[expect(clippy::must_use_candidate, reason = "callers often run a command only for its effect")]
pub fn run(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// A short name unique to this process and call, within the 15 characters an
/// interface name may have: `<tag><pid % 100000><n>`.
#[must_use]
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("{tag}{}{n}", std::process::id() % 100_000);
    assert!(name.len() <= 15, "name {name} is longer than an interface name may be");
    name
}

/// A network namespace that exists for the life of the value.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a fresh namespace whose name starts with `tag` (keep it short)
    /// and brings its loopback up.
    #[must_use]
    pub fn new(tag: &str) -> Self {
        let name = unique_name(&format!("sva{tag}"));
        run("ip", &["netns", "add", &name]);
        let netns = Self { name };
        netns.exec("ip", &["link", "set", "lo", "up"]);
        netns
    }

    /// Takes ownership of a namespace created by other means: it is deleted
    /// when the value is dropped.
    #[must_use]
    pub fn adopt(name: &str) -> Self {
        Self { name: name.to_owned() }
    }

    /// The namespace's name, as `ip netns` knows it.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace file, for setns(2).
    #[must_use]
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.name)
    }

    /// Runs a command inside the namespace; panics if it fails.
    #[expect(clippy::must_use_candidate, reason = "callers often run a command only for its effect")]
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs a command inside the namespace and returns its output whatever
    /// its exit status.
    #[must_use]
    pub fn try_exec(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run ip netns exec: {error}"))
    }
}

impl Netns {
    /// Runs `work` on a thread inside the namespace and returns its result.
    ///
    /// # Panics
    ///
    /// When the namespace cannot be entered, or `work` panics.
    pub fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        let file = std::fs::File::open(self.path()).expect("open the namespace");
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                        .expect("enter the namespace");
                    work()
                })
                .join()
                .expect("the work in the namespace panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace also deletes every interface inside it
        // (and so both ends of a veth pair).
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Joins two namespaces with a veth pair and gives each end an address.
/// The pair disappears with either namespace.
#[must_use]
pub fn veth_pair(a: &Netns, a_addr: &str, b: &Netns, b_addr: &str) -> (String, String) {
    let a_if = unique_name("va");
    let b_if = unique_name("vb");
    veth_pair_named((a, &a_if, a_addr), (b, &b_if, b_addr));
    (a_if, b_if)
}

/// [`veth_pair`] with the interface names given: (namespace, interface,
/// address) for each end, e.g. to create an interface again by its name.
pub fn veth_pair_named(a: (&Netns, &str, &str), b: (&Netns, &str, &str)) {
    run(
        "ip",
        &["link", "add", a.1, "netns", a.0.name(), "type", "veth", "peer", "name", b.1, "netns", b.0.name()],
    );
    for (ns, ifname, addr) in [a, b] {
        ns.exec("ip", &["addr", "add", addr, "dev", ifname]);
        ns.exec("ip", &["link", "set", ifname, "up"]);
    }
}
