//! The HTTP edge: a minimal HTTP/1.1 responder for `/state` (JSON),
//! `/yang` (the state as SR Linux shows it) and `/metrics` (Prometheus
//! text). Each request is one question to the agent task; the answer is
//! rendered here, off the agent task.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
    sync::{mpsc, oneshot},
};

use crate::{
    config::model::{Config, LivenessMethod},
    control::Request,
    ndk::telemetry,
    state::{AgentState, Liveness, SessionState},
};

/// A minimal HTTP/1.1 responder: GET /state (JSON) and /metrics (Prometheus).
pub(super) async fn serve_http(listener: TcpListener, state: mpsc::Sender<Request>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let state = state.clone();
        tokio::spawn(async move {
            let mut request = vec![0u8; 2048];
            let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut request)).await
            else {
                return;
            };
            let first = String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or_default().to_owned();
            let path = first.split_whitespace().nth(1).unwrap_or("/");
            let (status, kind, body) = match path {
                "/state" | "/metrics" => {
                    let (tx, rx) = oneshot::channel();
                    match ask(&state, Request::State(tx), rx).await {
                        Some(s) if path == "/state" => (
                            "200 OK",
                            "application/json",
                            serde_json::to_string_pretty(&s).unwrap_or_default(),
                        ),
                        Some(s) => ("200 OK", "text/plain; version=0.0.4", metrics(&s)),
                        None => stopping(),
                    }
                }
                "/yang" => {
                    let (tx, rx) = oneshot::channel();
                    match ask(&state, Request::Yang(tx), rx).await {
                        Some((s, config)) => ("200 OK", "application/json", yang(&s, config.as_deref())),
                        None => stopping(),
                    }
                }
                _ => ("404 Not Found", "text/plain", "try /state, /yang or /metrics\n".to_owned()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// Sends `request` and waits for its answer; `None` once the agent task is
/// gone.
async fn ask<T>(agent: &mpsc::Sender<Request>, request: Request, answer: oneshot::Receiver<T>) -> Option<T> {
    agent.send(request).await.ok()?;
    answer.await.ok()
}

fn stopping() -> (&'static str, &'static str, String) {
    ("503 Service Unavailable", "text/plain", "the agent is stopping\n".to_owned())
}

/// The state as SR Linux shows it: the telemetry rendering, one object
/// per YANG node by telemetry key, for the nodes SR Linux would hold for
/// the configuration in force.
fn yang(state: &AgentState, config: Option<&Config>) -> String {
    let nodes = config.map(telemetry::nodes_from_config).unwrap_or_default();
    let entries: serde_json::Map<String, serde_json::Value> = telemetry::render(state, &nodes)
        .into_iter()
        .map(|(key, json)| (key, serde_json::from_str(&json).unwrap_or(serde_json::Value::Null)))
        .collect();
    serde_json::to_string_pretty(&entries).unwrap_or_default()
}

/// Prometheus text exposition of the main figures.
fn metrics(state: &AgentState) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "# TYPE sva_advertised_routes gauge");
    let _ = writeln!(out, "sva_advertised_routes {}", state.proxy.advertised_routes);
    let _ = writeln!(out, "# TYPE sva_bgp_established gauge");
    let _ = writeln!(out, "sva_bgp_established {}", u8::from(state.bgp.state == SessionState::Established));
    for (name, value) in state.bgp.counters.named() {
        let _ = writeln!(out, "sva_bgp_{}_total {value}", name.replace('-', "_"));
    }
    for (name, value) in state.proxy.counters.named() {
        let _ = writeln!(out, "sva_proxy_{} {value}", name.replace('-', "_"));
    }
    for (name, value) in &state.snooper.counters {
        let _ = writeln!(out, "sva_snooper_{}_total {value}", name.replace('-', "_"));
    }
    for (interface, entry) in &state.snooper.interfaces {
        for (name, value) in &entry.counters {
            let metric = name.replace('-', "_");
            let _ =
                writeln!(out, "sva_snooper_interface_{metric}_total{{interface=\"{interface}\"}} {value}");
        }
    }
    for (name, vrf) in &state.proxy.mac_vrfs {
        let _ = writeln!(out, "sva_macs{{mac_vrf=\"{name}\"}} {}", vrf.macs.len());
    }
    // Per static VTEP with a liveness check: 1 up, 0 down, -1 unknown
    // (the check has no answer yet, or cannot run).
    for (vtep, live) in &state.liveness {
        let up = match live.state {
            Liveness::Up => 1,
            Liveness::Down | Liveness::Init | Liveness::AdminDown => 0,
            Liveness::Unknown => -1,
        };
        let labels = format!("vtep=\"{vtep}\",method=\"{}\"", live.method.as_str());
        let _ = writeln!(out, "sva_vtep_up{{{labels}}} {up}");
        if live.method == LivenessMethod::Icmp {
            let _ = writeln!(out, "sva_vtep_probes_sent_total{{vtep=\"{vtep}\"}} {}", live.probes_sent);
            let _ =
                writeln!(out, "sva_vtep_probes_answered_total{{vtep=\"{vtep}\"}} {}", live.probes_answered);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn metrics_carry_totals_per_interface_counters_and_macs() {
        let state = json!({
            "bgp": {"state": "established", "counters": {"routes-received": 4}},
            "proxy": {"advertised-routes": 3, "counters": {"learned-events": 2},
                      "mac-vrfs": {"blue": {"macs": {"02:00:00:00:00:01": {
                          "vtep": "192.0.2.1", "source": "learned", "ips": {}, "last-seen-ms": 1,
                          "sequence": 0, "best-remote-sequence": 0, "status": "active"}}}}},
            "liveness": {"192.0.2.1": {"method": "icmp", "state": "down", "probes-sent": 7, "probes-answered": 4},
                         "192.0.2.2": {"method": "bfd", "state": "unknown"}},
            "snooper": {
                "counters": {"seen": 10, "ring-buffer-full": 0},
                "interfaces": {"e1-1": {"status": "attached (ifindex 7)", "seen": 9, "parse-errors": 1}},
            },
        });
        let state = serde_json::from_value(state).expect("state");
        let text = super::metrics(&state);
        for line in [
            "sva_advertised_routes 3",
            "sva_bgp_established 1",
            "sva_bgp_routes_received_total 4",
            "sva_proxy_learned_events 2",
            "sva_snooper_seen_total 10",
            "sva_snooper_ring_buffer_full_total 0",
            "sva_snooper_interface_seen_total{interface=\"e1-1\"} 9",
            "sva_snooper_interface_parse_errors_total{interface=\"e1-1\"} 1",
            "sva_macs{mac_vrf=\"blue\"} 1",
            "sva_vtep_up{vtep=\"192.0.2.1\",method=\"icmp\"} 0",
            "sva_vtep_probes_sent_total{vtep=\"192.0.2.1\"} 7",
            "sva_vtep_probes_answered_total{vtep=\"192.0.2.1\"} 4",
            "sva_vtep_up{vtep=\"192.0.2.2\",method=\"bfd\"} -1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("status"), "only numbers are metrics:\n{text}");
    }
}
