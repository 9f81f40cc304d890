//! `static-vxlan-agent`: makes static VXLAN VTEPs first-class BGP EVPN
//! citizens. It runs as an SR Linux NDK agent or standalone next to FRR or
//! GoBGP, snoops ARP/ND inside VXLAN with eBPF, and advertises EVPN routes on
//! behalf of the static VTEPs through its own iBGP speaker.
//!
//! This is the command-line edge: arguments, logging, exit codes. The
//! subsystems live in the library (see ARCHITECTURE.md).
#![forbid(unsafe_code)]
#![allow(
    unused_crate_dependencies,
    reason = "the binary shares the package's dependency list with the library, which uses them"
)]

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use clap::{Parser, Subcommand};
use static_vxlan_agent::{app, ndk::client as ndk_client, privileges, state::AgentState};

/// Command-line interface.
#[derive(Debug, Parser)]
#[command(
    name = "static-vxlan-agent",
    version,
    about = "Advertises static VXLAN VTEPs and the MACs behind them into BGP EVPN",
    long_about = "Advertises static VXLAN VTEPs and the MACs behind them into BGP EVPN.\n\n\
                  It snoops ARP and ND inside VXLAN on the uplinks with eBPF and originates \
                  EVPN route types 3 and 2 on behalf of each static VTEP towards the local \
                  BGP route reflector."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run: standalone with a YAML configuration (SIGHUP reloads it), or on
    /// SR Linux with the configuration from the NDK (--ndk).
    Run {
        /// The configuration file (standalone mode).
        #[arg(long, short, required_unless_present = "ndk", conflicts_with = "ndk")]
        config: Option<PathBuf>,
        /// Take the configuration from SR Linux through the NDK and publish
        /// state there.
        #[arg(long)]
        ndk: bool,
        /// The NDK server: `unix:/path` or `host:port`.
        #[arg(long, env = "NDK_ADDRESS", default_value = ndk_client::DEFAULT_ADDRESS)]
        ndk_address: String,
        /// The application name in the app-manager YAML (sent as `agent_name`).
        #[arg(long, env = "NDK_AGENT_NAME", default_value = ndk_client::DEFAULT_AGENT_NAME)]
        agent_name: String,
        /// Serve state on this address: GET /state (JSON), /metrics
        /// (Prometheus). A bare port means loopback: `8479` is 127.0.0.1:8479.
        /// Overrides `http:` in the configuration file.
        #[arg(long, env = "SVA_HTTP", value_parser = http_address)]
        http: Option<SocketAddr>,
    },
    /// Show the running agent's state as tables.
    Show {
        /// Where the agent serves its state.
        #[arg(long, env = "SVA_HTTP", default_value = "127.0.0.1:8479", value_parser = http_address)]
        http: SocketAddr,
        /// Print the raw JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Check a configuration file and exit (0: valid).
    CheckConfig {
        /// The configuration file.
        config: PathBuf,
    },
    /// Write the man page (static-vxlan-agent.1) into a directory (for packaging).
    #[command(hide = true)]
    Manpage {
        /// The directory.
        dir: PathBuf,
    },
    /// Print a shell completion script (for packaging).
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; plain lines for journald and
        // log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Cmd::Run { config, ndk: _, ndk_address, agent_name, http } => {
            // First, before the runtime starts any thread: capabilities are
            // per thread, and new threads inherit the creator's.
            let capabilities = match privileges::keep_only_needed() {
                Ok(kept) => kept,
                Err(error) => {
                    eprintln!("static-vxlan-agent: {error}");
                    return ExitCode::FAILURE;
                }
            };
            tracing::info!(
                kept = %capabilities,
                bounding_set_dropped = capabilities.bounding_set_dropped,
                "capabilities dropped"
            );
            let source = match config {
                Some(path) => app::Source::Yaml(path),
                None => app::Source::Ndk(ndk_client::NdkOptions { address: ndk_address, agent_name }),
            };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(app::run(app::Options { source, http, capabilities })))
        }
        Cmd::Show { http, json } => show(http, json),
        Cmd::CheckConfig { config } => {
            app::load_config(&config).map(|_| println!("{}: valid", config.display()))
        }
        Cmd::Manpage { dir } => write_man_page(&dir),
        Cmd::Completions { shell } => {
            // Into a buffer first: clap_complete panics when its writer
            // fails (a closed pipe); ours returns the error.
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "static-vxlan-agent", &mut script);
            std::io::stdout().write_all(&script).map_err(anyhow::Error::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("static-vxlan-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--http`: an address, or a bare port on loopback.
fn http_address(text: &str) -> Result<SocketAddr, String> {
    static_vxlan_agent::config::model::http_address(text)
}

/// Writes the man page, `static-vxlan-agent.1`, into `dir`.
fn write_man_page(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page)?;
    let path = dir.join("static-vxlan-agent.1");
    std::fs::write(&path, page).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn show(http: SocketAddr, json: bool) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect_timeout(&http, Duration::from_secs(3)).map_err(|e| {
        anyhow::anyhow!("cannot reach the agent at {http}: {e} (is it running with --http {http}?)")
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /state HTTP/1.1\r\nhost: agent\r\nconnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    if json {
        let state: serde_json::Value = serde_json::from_str(body)?;
        println!("{}", serde_json::to_string_pretty(&state)?);
        return Ok(());
    }
    let state: AgentState =
        serde_json::from_str(body).map_err(|e| anyhow::anyhow!("the agent's /state does not parse: {e}"))?;
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let bgp = &state.bgp;
    println!(
        "BGP session: {}  peer id {}  hold {}",
        bgp.state.as_str(),
        or_dash(bgp.peer_id.map(|id| id.to_string())),
        or_dash(bgp.hold_time.map(|t| t.to_string()))
    );
    println!("Advertised routes: {}", state.proxy.advertised_routes);
    let snooper = &state.snooper;
    if snooper.interfaces.is_empty() {
        let why = snooper.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        println!("Snooper: {}{why}", snooper.status.as_str());
    }
    for (name, interface) in &snooper.interfaces {
        let count = |counter: &str| or_dash(interface.counters.get(counter).map(ToString::to_string));
        println!(
            "Snooping {name}: {}  seen {} matched {} deduplicated {} ignored {} ring-buffer-full {} parse-errors {}",
            interface.status,
            count("seen"),
            count("matched"),
            count("deduplicated"),
            count("ignored"),
            count("ring-buffer-full"),
            count("parse-errors")
        );
    }
    if !state.proxy.evpn_vteps.is_empty() {
        let vteps: Vec<String> = state.proxy.evpn_vteps.keys().map(ToString::to_string).collect();
        println!("EVPN VTEPs: {}", vteps.join(", "));
    }
    if !state.liveness.is_empty() {
        let withdrawn = |vtep: &std::net::Ipv4Addr| {
            state.proxy.mac_vrfs.values().any(|v| v.vteps.get(vtep).is_some_and(|s| s.withdrawn_down))
        };
        println!("\nStatic VTEP liveness:");
        println!(
            "  {:<15} {:<6} {:<8} {:>7} {:>8} {:>9}  routes",
            "VTEP", "method", "state", "sent", "answered", "rtt-us"
        );
        for (vtep, live) in &state.liveness {
            println!(
                "  {:<15} {:<6} {:<8} {:>7} {:>8} {:>9}  {}{}",
                vtep.to_string(),
                live.method.as_str(),
                live.state.as_str(),
                live.probes_sent,
                live.probes_answered,
                or_dash(live.last_rtt_us.map(|r| r.to_string())),
                if withdrawn(vtep) { "withdrawn" } else { "advertised" },
                live.error.as_deref().map(|e| format!("  ({e})")).unwrap_or_default()
            );
        }
    }
    let list =
        |ips: &[std::net::Ipv4Addr]| ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    for (name, vrf) in &state.proxy.mac_vrfs {
        println!(
            "\nmac-vrf {name}: static VTEPs [{}] discovered [{}]",
            list(&vrf.configured_vteps),
            list(&vrf.discovered_vteps)
        );
        println!("  {:<19} {:<15} {:<8} {:>4}  {:<12} IPs", "MAC", "VTEP", "source", "seq", "status");
        for (mac, entry) in vrf.macs.iter() {
            let ips: Vec<String> = entry.ips.keys().map(ToString::to_string).collect();
            println!(
                "  {:<19} {:<15} {:<8} {:>4}  {:<12} {}",
                mac.to_string(),
                entry.vtep.to_string(),
                entry.source.as_str(),
                entry.sequence,
                entry.status.name(),
                ips.join(" ")
            );
        }
    }
    Ok(())
}
