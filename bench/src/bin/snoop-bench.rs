//! Drives the ARP/ND snooper with VXLAN frames over a veth pair, for the
//! snooper benchmarks in `bench/snoop.py`, which creates the namespaces and
//! the veth pair and tears them down.
//!
//! The sender runs in the transmit namespace, pinned to CPU 0, and sends
//! VXLAN payloads over UDP (`sendmmsg`, 32 per call) at a paced rate; the
//! kernel adds the outer headers and the veth hands each frame to the
//! receiving namespace. Without RPS, the receive path (and so the snooper's
//! TC or socket program) runs on the sender's CPU inside the send call.
//!
//! - `throughput`: distinct ARP bindings, so that every frame must become
//!   one event, at each of a list of rates. The receiver is the snooper
//!   (events read from its ring buffer by a thread pinned to CPU 1) or the
//!   baseline: a plain `AF_PACKET` socket with a classic BPF filter for ARP
//!   inside VXLAN, read by a thread pinned to CPU 1. One JSON line per rate.
//! - `overhead`: VXLAN frames that are not ARP (inner IPv4/UDP) at a fixed
//!   rate, with the receive path moved to CPU 1 by RPS (set by the caller).
//!   CPU 1's busy time per frame comes from its cpuidle residency; with a
//!   snooper attached, the program's own run time per frame comes from the
//!   kernel's BPF statistics (`kernel.bpf_stats_enabled`, set by the caller).
//! - `send`: a paced stream of distinct ARP bindings (for the agent
//!   benchmarks), optionally writing each frame's send time.
//! - `frame`: writes the whole Ethernet frame `overhead` sends, outer
//!   headers included, for `bpftool prog run` (the kernel's test runner).
//!
//! usage: see `usage()`.
#![forbid(unsafe_code)]
#![allow(unused_crate_dependencies, reason = "the package's other targets use the rest")]

use std::{
    fs::File,
    io::{IoSlice, Write as _},
    net::{Ipv4Addr, SocketAddrV4, UdpSocket},
    os::fd::AsRawFd,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use arp_snoop::{AttachMode, Counter, Settings, Snooper, SnooperConfig};
use nix::{
    sched::{CloneFlags, CpuSet, sched_setaffinity, setns},
    sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, sendmmsg},
    unistd::Pid,
};
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use static_vxlan_agent_bench::{RANDOM_ORDER_HOSTS, host_of};
use static_vxlan_agent_tests::vxlan::{arp_request, numbered_mac};

const VNI: u32 = 100;
const BATCH: usize = 32;
const VXLAN_PORT: u16 = 4789;
/// Every protocol, for a packet socket (`ETH_P_ALL`).
const ETH_P_ALL: u16 = 0x0003;

fn usage() -> &'static str {
    "usage:\n  snoop-bench throughput --tx-ns NS --rx-ns NS --rx-if IF --src IP --dst IP \
     --receiver tc|socket|afpacket --frames N --rates R,R,... (0: as fast as possible) [--reader-cpu C] \
     [--kernel-source XDP_SOURCE_PY [--other-host]]\n  \
     snoop-bench overhead --tx-ns NS --rx-ns NS --rx-if IF --src IP --dst IP \
     --receiver none|tc|socket (--rate R --seconds S | --kernel-source XDP_SOURCE_PY --frames N [--other-host]) \
     [--no-sink]\n  \
     snoop-bench send --tx-ns NS --src IP --dst IP --frames N --rate R [--first K] [--vni V] [--stamps FILE] \
     [--order sequential|random]\n  \
     snoop-bench frame --src IP --dst IP --out FILE [--arp] [--first K]"
}

/// Whom the kernel source's frames are addressed to (outer MAC).
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Destination {
    /// The receiving interface: the stack takes each frame up to UDP.
    #[default]
    ThisHost,
    /// Another host (the frame's own MAC is kept): the stack drops each
    /// frame at IP, right after the hooks.
    OtherHost,
}

impl Destination {
    const fn source_name(self) -> &'static str {
        match self {
            Self::ThisHost => "kernel",
            Self::OtherHost => "kernel-other-host",
        }
    }
}

#[derive(Default)]
struct Args {
    command: String,
    tx_ns: String,
    rx_ns: String,
    rx_if: String,
    src: Option<Ipv4Addr>,
    dst: Option<Ipv4Addr>,
    receiver: String,
    frames: u64,
    rates: Vec<u64>,
    seconds: f64,
    first: u32,
    vni: u32,
    stamps: Option<PathBuf>,
    /// Where `frame` writes.
    out: Option<PathBuf>,
    /// Scatter the bindings' MACs (see [`host_of`]).
    random_order: bool,
    /// The CPU the event or frame reader runs on (1 unless told).
    reader_cpu: usize,
    /// `frame`: an ARP request in VXLAN instead of the non-ARP payload.
    arp: bool,
    /// `throughput`, `overhead`: frames from this `bench/xdp_source.py`
    /// instead of the UDP sender.
    kernel_source: Option<PathBuf>,
    /// With `kernel_source`: whom the frames are addressed to.
    destination: Destination,
    /// `overhead`: no UDP sink on port 4789: the receive namespace has a
    /// VXLAN device of its own that terminates the frames.
    no_sink: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut args =
        Args { command: it.next().unwrap_or_default(), vni: VNI, reader_cpu: 1, ..Args::default() };
    while let Some(flag) = it.next() {
        if matches!(flag.as_str(), "--arp" | "--other-host" | "--no-sink") {
            args.arp |= flag == "--arp";
            if flag == "--other-host" {
                args.destination = Destination::OtherHost;
            }
            args.no_sink |= flag == "--no-sink";
            continue;
        }
        let value = it.next().with_context(|| format!("{flag} needs a value\n{}", usage()))?;
        match flag.as_str() {
            "--tx-ns" => args.tx_ns = value,
            "--rx-ns" => args.rx_ns = value,
            "--rx-if" => args.rx_if = value,
            "--src" => args.src = Some(value.parse().context("--src")?),
            "--dst" => args.dst = Some(value.parse().context("--dst")?),
            "--receiver" => args.receiver = value,
            "--frames" => args.frames = value.parse().context("--frames")?,
            "--rate" => args.rates = vec![value.parse().context("--rate")?],
            "--rates" => {
                args.rates = value.split(',').map(str::parse).collect::<Result<_, _>>().context("--rates")?;
            }
            "--seconds" => args.seconds = value.parse().context("--seconds")?,
            "--first" => args.first = value.parse().context("--first")?,
            "--vni" => args.vni = value.parse().context("--vni")?,
            "--stamps" => args.stamps = Some(value.into()),
            "--out" => args.out = Some(value.into()),
            "--reader-cpu" => args.reader_cpu = value.parse().context("--reader-cpu")?,
            "--kernel-source" => args.kernel_source = Some(value.into()),
            "--order" => {
                args.random_order = match value.as_str() {
                    "sequential" => false,
                    "random" => true,
                    _ => bail!("--order is sequential or random\n{}", usage()),
                };
            }
            _ => bail!("unknown argument {flag}\n{}", usage()),
        }
    }
    if (args.tx_ns.is_empty() && args.command != "frame") || args.src.is_none() || args.dst.is_none() {
        bail!("{}", usage());
    }
    Ok(args)
}

fn netns_path(name: &str) -> PathBuf {
    PathBuf::from("/var/run/netns").join(name)
}

/// Moves the calling thread into a namespace and onto one CPU.
fn enter(netns: Option<&str>, cpu: usize) -> anyhow::Result<()> {
    if let Some(name) = netns {
        let file = File::open(netns_path(name)).with_context(|| format!("namespace {name}"))?;
        setns(&file, CloneFlags::CLONE_NEWNET).with_context(|| format!("entering {name}"))?;
    }
    let mut set = CpuSet::new();
    set.set(cpu).context("cpu set")?;
    sched_setaffinity(Pid::from_raw(0), &set).with_context(|| format!("pinning to CPU {cpu}"))?;
    Ok(())
}

fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// The IPv4 address of binding `n`: 10.64.0.0/10 and up, never .0 or .255.
fn numbered_ip(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a40_0000 + (n / 250) * 256 + n % 250 + 1)
}

/// `count` ARP requests, binding `first + i` each (a distinct MAC and IP).
fn arp_payloads(vni: u32, first: u32, count: u64, random_order: bool) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let n = host_of(first.wrapping_add(u32::try_from(i).unwrap_or(u32::MAX)), random_order);
            arp_request(vni, numbered_mac(0x5b, n), numbered_ip(n), Ipv4Addr::new(10, 63, 255, 254))
        })
        .collect()
}

/// A VXLAN payload that is not ARP: an inner IPv4/UDP frame of 64 bytes,
/// its IPv4 header checksum set (a bridge with netfilter checks it).
fn other_payload(vni: u32) -> Vec<u8> {
    let [_, v0, v1, v2] = vni.to_be_bytes();
    let mut payload = vec![0x08, 0, 0, 0, v0, v1, v2, 0];
    payload.extend_from_slice(&[0x02, 0x5c, 0, 0, 0, 2, 0x02, 0x5c, 0, 0, 0, 1, 0x08, 0x00]);
    let mut ip = [0x45, 0, 0, 50, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 1, 0, 1, 10, 1, 0, 2];
    let checksum = ipv4_header_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    payload.extend_from_slice(&ip);
    payload.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 30, 0, 0]);
    payload.extend_from_slice(&[0xab; 22]);
    payload
}

struct Sent {
    frames: u64,
    seconds: f64,
}

/// Sends `payloads` in order (cycling when `total` is larger) at `rate`
/// frames/s (0: unpaced), `batch` per `sendmmsg`, optionally calling
/// `stamp(index, unix_ns)` just before each batch goes out.
fn send(
    socket: &UdpSocket,
    payloads: &[Vec<u8>],
    total: u64,
    rate: u64,
    batch: usize,
    mut stamp: impl FnMut(u64, u128),
) -> anyhow::Result<Sent> {
    if payloads.is_empty() {
        bail!("nothing to send");
    }
    let slices: Vec<[IoSlice<'_>; 1]> = payloads.iter().map(|p| [IoSlice::new(p)]).collect();
    let addresses: Vec<Option<SockaddrIn>> = vec![None; batch];
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(batch, None);
    let start = Instant::now();
    let mut sent = 0_u64;
    let mut position = 0_usize;
    while sent < total {
        if rate > 0 {
            #[expect(clippy::cast_precision_loss, reason = "frame counts are far below 2^52")]
            let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
            loop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                // Sleep rather than spin wherever the timer's slack allows:
                // a spinning sender would take a core from what it measures.
                if due - now > Duration::from_micros(20) {
                    thread::sleep((due - now).saturating_sub(Duration::from_micros(10)));
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        let want =
            usize::try_from(total - sent).unwrap_or(usize::MAX).min(batch).min(slices.len() - position);
        stamp(sent, unix_ns());
        match sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &slices[position..position + want],
            &addresses[..want],
            [],
            MsgFlags::empty(),
        ) {
            Ok(results) => {
                let n = results.count();
                sent += n as u64;
                position = (position + n) % slices.len();
            }
            // An ICMP error from an earlier datagram (port unreachable) is
            // reported on a later call; it is not this batch's failure.
            Err(nix::errno::Errno::ECONNREFUSED) => {}
            Err(e) => return Err(e).context("sendmmsg"),
        }
    }
    Ok(Sent { frames: sent, seconds: start.elapsed().as_secs_f64() })
}

fn sender_socket(src: Ipv4Addr, dst: Ipv4Addr) -> anyhow::Result<UdpSocket> {
    let socket = UdpSocket::bind((src, 0)).with_context(|| format!("bind {src}"))?;
    socket.connect(SocketAddrV4::new(dst, VXLAN_PORT)).with_context(|| format!("connect {dst}"))?;
    Ok(socket)
}

/// Sends from a thread in the transmit namespace, pinned to CPU 0.
fn send_from_namespace(
    args: &Args,
    payloads: Arc<Vec<Vec<u8>>>,
    total: u64,
    rate: u64,
) -> anyhow::Result<Sent> {
    let (tx_ns, src, dst) = (args.tx_ns.clone(), args.src, args.dst);
    thread::spawn(move || {
        enter(Some(&tx_ns), 0)?;
        let socket = sender_socket(src.context("--src")?, dst.context("--dst")?)?;
        send(&socket, &payloads, total, rate, BATCH, |_, _| {})
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the sender thread panicked"))?
}

/// Classic BPF: IPv4, UDP, not a fragment, destination port 4789, inner
/// ethertype ARP; accept the whole frame. What `tcpdump 'udp dst port 4789
/// and udp[28:2] = 0x0806'` compiles to, give or take.
fn classic_arp_in_vxlan_filter() -> Vec<SockFilter> {
    vec![
        SockFilter::new(0x28, 0, 0, 12),      // ldh [12]: ethertype
        SockFilter::new(0x15, 0, 10, 0x0800), // IPv4?
        SockFilter::new(0x30, 0, 0, 23),      // ldb [23]: protocol
        SockFilter::new(0x15, 0, 8, 17),      // UDP?
        SockFilter::new(0x28, 0, 0, 20),      // ldh [20]: fragment offset
        SockFilter::new(0x45, 6, 0, 0x1fff),  // a fragment: drop
        SockFilter::new(0xb1, 0, 0, 14),      // x = IP header length
        SockFilter::new(0x48, 0, 0, 16),      // ldh [x + 16]: UDP destination port
        SockFilter::new(0x15, 0, 3, u32::from(VXLAN_PORT)),
        SockFilter::new(0x48, 0, 0, 42),     // ldh [x + 42]: inner ethertype
        SockFilter::new(0x15, 0, 1, 0x0806), // ARP?
        SockFilter::new(0x06, 0, 0, 0xffff), // accept
        SockFilter::new(0x06, 0, 0, 0),      // drop
    ]
}

/// Counts what a receiver passed up, from a thread pinned to CPU 1, until
/// told to stop and nothing more arrives for 200 ms.
struct Receiver {
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<anyhow::Result<()>>,
}

impl Receiver {
    fn finish(self, sent: u64) -> anyhow::Result<u64> {
        // Let the reader catch up: until it has everything, or stalls.
        let mut last = (self.received.load(Ordering::Relaxed), Instant::now());
        while self.received.load(Ordering::Relaxed) < sent {
            thread::sleep(Duration::from_millis(20));
            let now = self.received.load(Ordering::Relaxed);
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() > Duration::from_millis(300) {
                break;
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;
        Ok(self.received.load(Ordering::Relaxed))
    }
}

fn snooper(args: &Args, mode: AttachMode) -> anyhow::Result<Snooper> {
    let config = SnooperConfig {
        netns: Some(netns_path(&args.rx_ns)),
        interfaces: vec![args.rx_if.clone()],
        mode,
        settings: Settings::DEFAULT,
    };
    let snooper = Snooper::start(config).context("starting the snooper")?;
    if !matches!(snooper.status().get(&args.rx_if), Some(arp_snoop::InterfaceStatus::Attached { .. })) {
        bail!("the snooper did not attach to {}: {:?}", args.rx_if, snooper.status());
    }
    Ok(snooper)
}

fn snooper_reader(snooper: &mut Snooper, cpu: usize) -> anyhow::Result<Receiver> {
    let mut ring = snooper.take_events().context("no event ring buffer")?;
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (count, done) = (received.clone(), stop.clone());
    let thread = thread::spawn(move || {
        enter(None, cpu)?;
        while !done.load(Ordering::Relaxed) {
            let events = arp_snoop::drain_ring(&mut ring);
            if events.is_empty() {
                thread::sleep(Duration::from_micros(50));
            } else {
                count.fetch_add(events.len() as u64, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    Ok(Receiver { received, stop, thread })
}

/// The baseline: a packet socket in the receive namespace with the classic
/// filter, 4 MiB of receive buffer, one `recv` per frame.
fn afpacket_reader(args: &Args) -> anyhow::Result<Receiver> {
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (count, done, rx_ns, cpu) = (received.clone(), stop.clone(), args.rx_ns.clone(), args.reader_cpu);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = thread::spawn(move || {
        let setup = || -> anyhow::Result<Socket> {
            enter(Some(&rx_ns), cpu)?;
            let all = i32::from(ETH_P_ALL.to_be());
            let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(all)))
                .context("AF_PACKET socket")?;
            socket.attach_filter(&classic_arp_in_vxlan_filter()).context("SO_ATTACH_FILTER")?;
            socket.set_recv_buffer_size(4 << 20).context("SO_RCVBUF")?;
            socket.set_read_timeout(Some(Duration::from_millis(50)))?;
            Ok(socket)
        };
        let socket = match setup() {
            Ok(socket) => {
                let _ = ready_tx.send(Ok(()));
                socket
            }
            Err(e) => {
                let _ = ready_tx.send(Err(format!("{e:#}")));
                return Err(e);
            }
        };
        let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
        while !done.load(Ordering::Relaxed) {
            if socket.recv(&mut buffer).is_ok() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    ready_rx.recv().context("the reader thread died")?.map_err(|e| anyhow::anyhow!(e))?;
    Ok(Receiver { received, stop, thread })
}

/// A UDP socket on port 4789 in the receive namespace that is never read:
/// frames end in its full queue, dropped early, instead of each costing an
/// ICMP port unreachable (route lookups and all) on the measured core.
fn vxlan_port_sink(rx_ns: &str) -> anyhow::Result<Socket> {
    let rx_ns = rx_ns.to_owned();
    thread::spawn(move || -> anyhow::Result<Socket> {
        enter(Some(&rx_ns), 1)?;
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).context("UDP socket")?;
        socket.set_recv_buffer_size(4096).context("SO_RCVBUF")?;
        socket
            .bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, VXLAN_PORT).into())
            .context("bind port 4789")?;
        Ok(socket)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the sink thread panicked"))?
}

/// What `bench/xdp_source.py` reported.
struct KernelSent {
    sent: Sent,
    /// The kernel's time per frame over the receive path, on CPU 1.
    ns_per_frame: f64,
}

/// Has `bench/xdp_source.py` pass `count` copies of `frame` up the receive
/// interface's path on CPU 1, as fast as that CPU goes; with `number_arp`,
/// each copy a new ARP binding (the frame must be ARP in VXLAN).
fn kernel_send(
    args: &Args,
    helper: &std::path::Path,
    frame: &[u8],
    count: u64,
    number_arp: bool,
) -> anyhow::Result<KernelSent> {
    let path = std::env::temp_dir().join(format!("snoop-bench-{}.frame", std::process::id()));
    std::fs::write(&path, frame).with_context(|| path.display().to_string())?;
    let mut command = std::process::Command::new("ip");
    command.args(["netns", "exec", &args.rx_ns, "python3"]).arg(helper).arg(&args.rx_if).arg(&path);
    command.args([count.to_string(), "--cpu".into(), "1".into()]);
    if number_arp {
        command.args(["--vary-arp", "1"]);
    }
    if args.destination == Destination::OtherHost {
        command.arg("--other-host");
    }
    let output = command.output().context("running bench/xdp_source.py");
    let _ = std::fs::remove_file(&path);
    let output = output?;
    if !output.status.success() {
        bail!("bench/xdp_source.py failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("bench/xdp_source.py's report")?;
    let frames = report["frames"].as_u64().context("no frame count")?;
    if number_arp && report["generated"].as_u64() != Some(frames) {
        bail!("the XDP source numbered {} bindings for {frames} frames", report["generated"]);
    }
    Ok(KernelSent {
        sent: Sent { frames, seconds: report["seconds"].as_f64().context("no seconds")? },
        ns_per_frame: report["kernel-ns-per-frame"].as_f64().context("no kernel time")?,
    })
}

fn throughput(args: &Args) -> anyhow::Result<()> {
    if args.frames == 0 || args.rates.is_empty() || args.rx_ns.is_empty() || args.rx_if.is_empty() {
        bail!("{}", usage());
    }
    if args.kernel_source.is_some() && args.rates.iter().any(|&rate| rate != 0) {
        bail!("the kernel source runs unpaced: --rates 0");
    }
    let _sink = vxlan_port_sink(&args.rx_ns)?;
    // The kernel source numbers its copies of the first binding itself.
    let distinct = if args.kernel_source.is_some() { 1 } else { args.frames };
    let payloads = Arc::new(arp_payloads(args.vni, 0, distinct, false));
    for &rate in &args.rates {
        let (mut snooper, reader) = match args.receiver.as_str() {
            "tc" | "socket" => {
                let mode = if args.receiver == "tc" { AttachMode::Tc } else { AttachMode::Socket };
                let mut snooper = snooper(args, mode)?;
                let reader = snooper_reader(&mut snooper, args.reader_cpu)?;
                (Some(snooper), reader)
            }
            "afpacket" => (None, afpacket_reader(args)?),
            other => bail!("unknown receiver {other}"),
        };
        let programs_before = program_stats()?;
        let (idle_before, wall) = (idle_us(1)?, Instant::now());
        let (sent, kernel_ns) = match &args.kernel_source {
            Some(helper) => {
                let frame =
                    vxlan_frame(args.src.context("--src")?, args.dst.context("--dst")?, &payloads[0])?;
                let kernel = kernel_send(args, helper, &frame, args.frames, true)?;
                (kernel.sent, Some(kernel.ns_per_frame))
            }
            None => (send_from_namespace(args, payloads.clone(), args.frames, rate)?, None),
        };
        // CPU 1 over the send: with RPS it runs the receive path and the
        // program, and its busy time per frame says what one core could take.
        let (idle_after, wall) = (idle_us(1)?, wall.elapsed());
        let received = reader.finish(sent.frames)?;
        let (run_ns, runs) = program_delta(&programs_before, &program_stats()?);
        let wall_us = u64::try_from(wall.as_micros()).unwrap_or(u64::MAX);
        let busy_us = wall_us.saturating_sub(idle_after.saturating_sub(idle_before));
        let mut line = serde_json::json!({
            "receiver": args.receiver,
            "target-rate": rate,
            "sent": sent.frames,
            "send-seconds": sent.seconds,
            "sent-rate": rate_of(sent.frames, sent.seconds),
            "received": received,
            "lost": sent.frames.saturating_sub(received),
            "program-runs": runs,
            "program-ns-per-run": ns_per(run_ns, runs),
            "cpu1-busy-us": busy_us,
            "cpu1-ns-per-frame": ns_per(u128::from(busy_us) * 1000, sent.frames),
        });
        if let Some(ns) = kernel_ns {
            line["source"] = args.destination.source_name().into();
            line["kernel-ns-per-frame"] = ns.into();
        }
        if let Some(snooper) = snooper.as_mut() {
            for counter in [Counter::Seen, Counter::Matched, Counter::Deduplicated, Counter::RingBufferFull] {
                line[counter.name()] = snooper.counter(counter).context("counters")?.into();
            }
        }
        println!("{line}");
        std::io::stdout().flush()?;
    }
    Ok(())
}

#[expect(clippy::cast_precision_loss, reason = "frame counts are far below 2^52")]
fn rate_of(frames: u64, seconds: f64) -> f64 {
    if seconds > 0.0 { frames as f64 / seconds } else { 0.0 }
}

#[expect(clippy::cast_precision_loss, reason = "counts and times are far below 2^52")]
fn ns_per(total_ns: u128, runs: u64) -> f64 {
    if runs > 0 { total_ns as f64 / runs as f64 } else { 0.0 }
}

/// Microseconds CPU `cpu` spent idle so far, over all its idle states.
fn idle_us(cpu: usize) -> anyhow::Result<u64> {
    let dir = format!("/sys/devices/system/cpu/cpu{cpu}/cpuidle");
    let mut total = 0;
    for state in std::fs::read_dir(&dir).with_context(|| format!("{dir} (no cpuidle driver?)"))? {
        let path = state?.path().join("time");
        total += std::fs::read_to_string(&path)
            .with_context(|| path.display().to_string())?
            .trim()
            .parse::<u64>()
            .with_context(|| path.display().to_string())?;
    }
    Ok(total)
}

/// Run time and run count of each loaded program whose name starts with
/// `arp_snoop` (the kernel truncates names to 15 characters), and of the
/// do-nothing program of `bench/empty_tc.py`, by id.
fn program_stats() -> anyhow::Result<std::collections::BTreeMap<u32, (Duration, u64)>> {
    let mut stats = std::collections::BTreeMap::new();
    for program in aya::programs::loaded_programs() {
        let program = program.context("reading program info")?;
        if program.name_as_str().is_some_and(|name| name.starts_with("arp_snoop") || name == "bench_empty_tc")
        {
            stats.insert(program.id(), (program.run_time(), program.run_count()));
        }
    }
    Ok(stats)
}

/// Time and runs between two snapshots, over the programs still loaded: a
/// program of an earlier run may still be on its way out in the first.
fn program_delta(
    before: &std::collections::BTreeMap<u32, (Duration, u64)>,
    after: &std::collections::BTreeMap<u32, (Duration, u64)>,
) -> (u128, u64) {
    let (mut time, mut runs) = (0, 0);
    for (id, (run_time, run_count)) in after {
        let (earlier_time, earlier_count) = before.get(id).copied().unwrap_or_default();
        time += run_time.saturating_sub(earlier_time).as_nanos();
        runs += run_count.saturating_sub(earlier_count);
    }
    (time, runs)
}

fn overhead(args: &Args) -> anyhow::Result<()> {
    let rate = args.rates.first().copied().unwrap_or(0);
    let paced = rate > 0 && args.seconds > 0.0;
    let unpaced = args.kernel_source.is_some() && args.frames > 0;
    if !(paced || unpaced) || args.rx_ns.is_empty() || args.rx_if.is_empty() {
        bail!("{}", usage());
    }
    let mode = match args.receiver.as_str() {
        "none" => None,
        "tc" => Some(AttachMode::Tc),
        "socket" => Some(AttachMode::Socket),
        other => bail!("unknown receiver {other}"),
    };
    let _snooper = mode.map(|mode| snooper(args, mode)).transpose()?;
    let _sink = if args.no_sink { None } else { Some(vxlan_port_sink(&args.rx_ns)?) };
    if let Some(helper) = &args.kernel_source {
        // The kernel's clock around the receive path, frame after frame on
        // CPU 1: no CPU accounting involved.
        let frame =
            vxlan_frame(args.src.context("--src")?, args.dst.context("--dst")?, &other_payload(args.vni))?;
        let programs_before = program_stats()?;
        let kernel = kernel_send(args, helper, &frame, args.frames, false)?;
        let (run_ns, runs) = program_delta(&programs_before, &program_stats()?);
        let line = serde_json::json!({
            "receiver": args.receiver,
            "source": args.destination.source_name(),
            "sent": kernel.sent.frames,
            "sent-rate": rate_of(kernel.sent.frames, kernel.sent.seconds),
            "kernel-ns-per-frame": kernel.ns_per_frame,
            "program-runs": runs,
            "program-ns-per-run": ns_per(run_ns, runs),
        });
        println!("{line}");
        return Ok(());
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "positive, and far below 2^52"
    )]
    let total = (rate as f64 * args.seconds) as u64;
    let payloads = Arc::new(vec![other_payload(args.vni)]);
    let programs_before = program_stats()?;
    let (idle_before, wall) = (idle_us(1)?, Instant::now());
    let sent = send_from_namespace(args, payloads, total, rate)?;
    // Frames queued for CPU 1 are processed within microseconds; let them.
    thread::sleep(Duration::from_millis(50));
    let (idle_after, wall) = (idle_us(1)?, wall.elapsed());
    let (run_ns, runs) = program_delta(&programs_before, &program_stats()?);
    let wall_us = u64::try_from(wall.as_micros()).unwrap_or(u64::MAX);
    let busy_us = wall_us.saturating_sub(idle_after.saturating_sub(idle_before));
    #[expect(clippy::cast_precision_loss, reason = "counts and times are far below 2^52")]
    let line = serde_json::json!({
        "receiver": args.receiver,
        "rate": rate,
        "sent": sent.frames,
        "sent-rate": rate_of(sent.frames, sent.seconds),
        "cpu1-busy-us": busy_us,
        "cpu1-ns-per-frame": busy_us as f64 * 1000.0 / sent.frames.max(1) as f64,
        "program-runs": runs,
        "program-ns-per-run": ns_per(run_ns, runs),
    });
    println!("{line}");
    Ok(())
}

/// Writes the frame `overhead` sends (with `--arp`, the first one
/// `throughput` sends), as it reaches the receiver: see [`vxlan_frame`].
fn frame_command(args: &Args) -> anyhow::Result<()> {
    let (src, dst) = (args.src.context("--src")?, args.dst.context("--dst")?);
    let out = args.out.as_ref().context("--out")?;
    let payload = if args.arp {
        arp_payloads(args.vni, args.first, 1, false).swap_remove(0)
    } else {
        other_payload(args.vni)
    };
    std::fs::write(out, vxlan_frame(src, dst, &payload)?).with_context(|| out.display().to_string())
}

/// A whole frame around a VXLAN payload: Ethernet, IPv4 (no options, don't
/// fragment, header checksum set, so that the stack takes it when
/// `bench/xdp_source.py` passes it up), UDP to the VXLAN port (checksum
/// zero: none), then the payload.
fn vxlan_frame(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> anyhow::Result<Vec<u8>> {
    let udp_len = u16::try_from(8 + payload.len()).context("payload size")?;
    let ip_len = 20 + udp_len;
    let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&ip_len.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let checksum = ipv4_header_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&40_000_u16.to_be_bytes());
    frame.extend_from_slice(&VXLAN_PORT.to_be_bytes());
    frame.extend_from_slice(&udp_len.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    Ok(frame)
}

/// RFC 791's header checksum: the ones' complement of the ones' complement
/// sum of the header's 16-bit words, the checksum field counted as zero.
fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 =
        header.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

/// A paced stream of distinct bindings; with `--stamps`, one line per
/// frame: its MAC and the unix time in ns just before its batch was sent.
fn send_command(args: &Args) -> anyhow::Result<()> {
    let rate = args.rates.first().copied().unwrap_or(0);
    if args.frames == 0 {
        bail!("{}", usage());
    }
    enter(Some(&args.tx_ns), 0)?;
    if args.random_order && u64::from(args.first) + args.frames > u64::from(RANDOM_ORDER_HOSTS) {
        bail!("--order random numbers at most {RANDOM_ORDER_HOSTS} bindings");
    }
    let payloads = arp_payloads(args.vni, args.first, args.frames, args.random_order);
    let socket = sender_socket(args.src.context("--src")?, args.dst.context("--dst")?)?;
    let mut stamps = Vec::new();
    // With stamps, one frame per call, so that each stamp is its frame's.
    let batch = if args.stamps.is_some() { 1 } else { BATCH };
    let sent = send(&socket, &payloads, args.frames, rate, batch, |index, at| {
        if args.stamps.is_some() {
            stamps.push((index, at));
        }
    })?;
    if let Some(path) = &args.stamps {
        let mut out =
            std::io::BufWriter::new(File::create(path).with_context(|| path.display().to_string())?);
        for (index, at) in stamps {
            let n = args.first.wrapping_add(u32::try_from(index).unwrap_or(u32::MAX));
            let mac = numbered_mac(0x5b, n);
            let text: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(out, "{} {at}", text.join(":"))?;
        }
        out.flush()?;
    }
    println!(
        "{}",
        serde_json::json!({"sent": sent.frames, "seconds": sent.seconds, "rate": rate_of(sent.frames, sent.seconds)})
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    match args.command.as_str() {
        "throughput" => throughput(&args),
        "overhead" => overhead(&args),
        "send" => send_command(&args),
        "frame" => frame_command(&args),
        _ => bail!("{}", usage()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_matches_a_known_header() {
        // 192.168.0.1 -> 192.168.0.199, UDP, total length 115: checksum 0xb861.
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01,
            0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header_checksum(&header), 0xb861);
    }

    #[test]
    fn frames_verify_as_the_stack_checks_them() {
        // A header whose checksum field is set sums to 0xffff: its checksum
        // computed again is zero.
        for payload in [other_payload(VNI), arp_payloads(VNI, 0, 1, false).swap_remove(0)] {
            let frame = vxlan_frame(Ipv4Addr::new(10, 200, 0, 1), Ipv4Addr::new(10, 200, 0, 2), &payload)
                .expect("a small frame");
            assert_eq!(ipv4_header_checksum(&frame[14..34]), 0, "outer header");
            assert_eq!(frame.len(), 14 + 20 + 8 + payload.len());
        }
        let inner = other_payload(VNI);
        assert_eq!(ipv4_header_checksum(&inner[22..42]), 0, "inner header");
    }
}
