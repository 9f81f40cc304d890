//! SIGHUP reloads that restart the BGP session: a good one takes effect
//! (the listener comes back and its OPEN carries the new hold time); one
//! whose session cannot start is refused and the previous session and
//! configuration stay. Either way the agent keeps running. Loopback only.
#![allow(
    unused_crate_dependencies,
    reason = "an integration test links every dependency of its crate but uses few"
)]

use std::{
    fs,
    io::Read as _,
    net::{SocketAddr, TcpStream},
    path::Path,
    process::Command,
    time::Duration,
};

use static_vxlan_agent_tests::peers::{Daemon, ScratchDir, free_port, wait_for};

const AGENT: &str = env!("CARGO_BIN_EXE_static-vxlan-agent");

fn write_config(path: &Path, source: &str, listen_port: u16, hold_time: u16) {
    // Nobody listens on the peer port: the session only comes from our
    // passive side here, which is what the test dials.
    fs::write(
        path,
        format!(
            "source-address: {source}\npeer-address: 127.0.0.1\npeer-port: {}\nlisten-port: {listen_port}\n\
             local-as: 65000\nhold-time: {hold_time}\nstate-file: ''\nmac-vrfs: {{}}\n",
            free_port()
        ),
    )
    .expect("write config");
}

/// Connects to the agent's listener as its peer would and returns the hold
/// time in the OPEN it sends.
fn hold_time_offered(listen_port: u16) -> Result<u16, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], listen_port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    // Marker (16), length (2), type (1), version (1), AS (2), hold time (2).
    let mut head = [0u8; 24];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    if head[18] != 1 {
        return Err(format!("not an OPEN: type {}", head[18]));
    }
    Ok(u16::from_be_bytes([head[22], head[23]]))
}

fn show(http: &str) -> Result<serde_json::Value, String> {
    let out =
        Command::new(AGENT).args(["show", "--http", http, "--json"]).output().map_err(|e| e.to_string())?;
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// GET `path` from the agent's HTTP state server, as JSON.
fn get(http: &str, path: &str) -> Result<serde_json::Value, String> {
    use std::io::Write as _;
    let addr: SocketAddr = http.parse().map_err(|e| format!("{e}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: agent\r\nconnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).map_err(|e| format!("{e}: {response}"))
}

fn hangup(agent: &Daemon) {
    let pid = agent.pid().expect("running").to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().expect("kill").success());
}

#[test]
fn a_session_restart_on_sighup_takes_effect_or_is_refused_without_stopping_the_agent() {
    let dir = ScratchDir::new("reload");
    let config = dir.path().join("agent.yaml");
    let log = dir.path().join("agent.log");
    let http = format!("127.0.0.1:{}", free_port());
    let listen_port = free_port();
    write_config(&config, "127.0.0.1", listen_port, 90);
    let mut agent = Daemon::spawn(
        "static-vxlan-agent",
        Command::new(AGENT).args(["run", "--config", config.to_str().expect("utf-8"), "--http", &http]),
        &log,
    );
    assert_eq!(
        wait_for("the agent's listener", Duration::from_secs(10), || hold_time_offered(listen_port)),
        90
    );

    // A new hold time restarts the session on the same listen port: the old
    // listener must be gone before the new one binds.
    write_config(&config, "127.0.0.1", listen_port, 30);
    hangup(&agent);
    wait_for("the new hold time in the OPEN", Duration::from_secs(10), || {
        match hold_time_offered(listen_port) {
            Ok(30) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    // A source address that is not local: the new session cannot bind. The
    // reload is refused, the previous session is back, the agent runs on.
    write_config(&config, "192.0.2.1", listen_port, 60);
    hangup(&agent);
    wait_for("the refusal in the log", Duration::from_secs(10), || {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains("keeping the running configuration") { Ok(()) } else { Err(text) }
    });
    assert_eq!(
        wait_for("the previous listener", Duration::from_secs(10), || hold_time_offered(listen_port)),
        30
    );
    // Standalone serves the state in the YANG shape SR Linux would show.
    let yang = wait_for("/yang", Duration::from_secs(5), || get(&http, "/yang"));
    let agent_node = &yang[".network_instance{.name==\"default\"}.protocols.static_vxlan_agent"];
    assert_eq!(agent_node["source-address"], "127.0.0.1", "{yang}");
    assert_eq!(agent_node["hold-time"], 30, "the running configuration: {yang}");
    assert!(agent_node["oper-reason"].as_str().is_some_and(|r| r.starts_with("BGP session")), "{yang}");
    show(&http).unwrap_or_else(|e| {
        panic!("the agent is gone: {e}\n{}", fs::read_to_string(&log).unwrap_or_default())
    });
    agent.stop();
}
