//! A passive iBGP peer for L2VPN/EVPN that only counts: it accepts one
//! session, decodes every UPDATE with `bgp-wire`, and prints one JSON line
//! once it has received the expected number of RT-2 routes (or gave up).
//!
//! It measures a sender alone, without a receiving BGP implementation's own
//! costs in the way: the clock starts when the session is established (the
//! sender's KEEPALIVE acknowledging our OPEN) and stops at the UPDATE that
//! completes the count. Used by `bench/origination.py` for the agent and for
//! GoBGP in the same run.
//!
//! With `--log-routes FILE` it also writes one line per RT-2 it receives,
//! `MAC IP-or-dash UNIX_NS` (the time the UPDATE was read), flushed after
//! every UPDATE, for the learning benchmarks (`bench/learning.py`).
//!
//! usage: bgp-sink --listen ADDR:PORT --asn N --expect ROUTES [--timeout SECS] [--log-routes FILE]
#![forbid(unsafe_code)]
#![allow(unused_crate_dependencies, reason = "the package's other targets use the rest")]

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use bgp_wire::{Capability, DecodeCx, EncodeCx, EvpnRoute, Message, MpReach, MpUnreach, Open};

struct Args {
    listen: String,
    asn: u32,
    expect: u64,
    timeout: Duration,
    log_routes: Option<std::path::PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        listen: String::new(),
        asn: 65_000,
        expect: 0,
        timeout: Duration::from_mins(10),
        log_routes: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => args.listen = value,
            "--asn" => args.asn = value.parse().context("--asn")?,
            "--expect" => args.expect = value.parse().context("--expect")?,
            "--timeout" => args.timeout = Duration::from_secs(value.parse().context("--timeout")?),
            "--log-routes" => args.log_routes = Some(value.into()),
            _ => bail!("unknown argument {flag}"),
        }
    }
    if args.listen.is_empty() || args.expect == 0 {
        bail!("usage: bgp-sink --listen ADDR:PORT --asn N --expect ROUTES [--timeout SECS]");
    }
    Ok(args)
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Reads one whole message into `buf` (cleared first).
fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>, cx: DecodeCx) -> anyhow::Result<()> {
    buf.clear();
    buf.resize(19, 0);
    stream.read_exact(buf).context("reading a header")?;
    let len = Message::frame_len(buf, cx).context("bad header")?.context("short header")?;
    buf.resize(len, 0);
    stream.read_exact(&mut buf[19..]).context("reading a body")?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let listener = TcpListener::bind(&args.listen).with_context(|| format!("bind {}", args.listen))?;
    // Ready: the orchestrator waits for this line before starting a sender.
    println!("{{\"listening\": \"{}\"}}", args.listen);
    std::io::stdout().flush()?;
    let (mut stream, peer) = listener.accept().context("accept")?;
    stream.set_read_timeout(Some(args.timeout))?;
    let deadline = Instant::now() + args.timeout;

    let mut buf = Vec::with_capacity(65_535);
    let mut cx = DecodeCx::default();
    read_message(&mut stream, &mut buf, cx)?;
    let Message::Open(theirs) = Message::decode(&buf, cx).context("their OPEN")? else {
        bail!("{peer} did not start with an OPEN");
    };
    let ours = Open::new(
        args.asn,
        240,
        Ipv4Addr::new(192, 0, 2, 254),
        vec![
            Capability::Multiprotocol { afi: 25, safi: 70 },
            Capability::RouteRefresh,
            Capability::FourOctetAs(args.asn),
            Capability::ExtendedMessage,
        ],
    );
    cx.extended_message = theirs.has(bgp_wire::capability_code::EXTENDED_MESSAGE);
    let encode = EncodeCx { four_octet_as: true, extended_message: cx.extended_message };
    let mut out = Message::Open(ours).to_bytes(encode)?;
    Message::Keepalive.encode(&mut out, encode)?;
    stream.write_all(&out)?;
    // Keepalives every 30 s from their own thread (hold time 240 s).
    let mut keepalive_stream = stream.try_clone()?;
    let keepalive = Message::Keepalive.to_bytes(encode)?;
    thread::spawn(move || {
        loop {
            thread::sleep(Duration::from_secs(30));
            if keepalive_stream.write_all(&keepalive).is_err() {
                return;
            }
        }
    });

    let mut log = match &args.log_routes {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| path.display().to_string())?,
        )),
        None => None,
    };
    let mut established: Option<(Instant, f64)> = None;
    let mut first_route: Option<Instant> = None;
    let (mut rt2, mut other_routes, mut withdrawn, mut updates, mut bytes) =
        (0_u64, 0_u64, 0_u64, 0_u64, 0_u64);
    while rt2 < args.expect {
        if Instant::now() > deadline {
            break;
        }
        if let Err(e) = read_message(&mut stream, &mut buf, cx) {
            eprintln!("bgp-sink: {e:#}");
            break;
        }
        match Message::decode(&buf, cx) {
            Ok(Message::Keepalive) if established.is_none() => {
                established = Some((Instant::now(), unix_now()));
            }
            Ok(Message::Update(update)) => {
                updates += 1;
                bytes += buf.len() as u64;
                if let Some(MpReach::Evpn { routes, .. }) = &update.attributes.mp_reach {
                    first_route.get_or_insert_with(Instant::now);
                    let read_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
                    for route in routes {
                        if let EvpnRoute::MacIp(route) = route {
                            rt2 += 1;
                            if let Some(log) = log.as_mut() {
                                let ip = route.ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
                                writeln!(log, "{} {ip} {read_at}", route.mac)?;
                            }
                        } else {
                            other_routes += 1;
                        }
                    }
                }
                if let Some(MpUnreach::Evpn { routes }) = &update.attributes.mp_unreach {
                    withdrawn += routes.len() as u64;
                }
                if let Some(log) = log.as_mut() {
                    log.flush()?;
                }
            }
            Ok(Message::Notification(n)) => bail!("{peer} sent a NOTIFICATION: {}", n.describe()),
            Ok(_) => {}
            Err(e) => bail!("{peer} sent an undecodable message: {e}"),
        }
    }
    let done = Instant::now();
    let (start, start_unix) = established.unwrap_or((done, unix_now()));
    let elapsed = done.duration_since(start).as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "route counts are far below 2^52")]
    let rate = if elapsed > 0.0 { rt2 as f64 / elapsed } else { 0.0 };
    println!(
        "{}",
        serde_json::json!({
            "peer": peer.to_string(),
            "complete": rt2 >= args.expect,
            "rt2": rt2,
            "other-routes": other_routes,
            "withdrawn": withdrawn,
            "updates": updates,
            "bytes": bytes,
            "extended-message": cx.extended_message,
            "established-unix": start_unix,
            "first-route-s": first_route.map(|f| f.duration_since(start).as_secs_f64()),
            "elapsed-s": elapsed,
            "rt2-per-s": rate,
        })
    );
    Ok(())
}
