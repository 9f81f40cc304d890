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

use crate::control::Request;

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
            let (tx, rx) = oneshot::channel();
            let request = if path == "/yang" { Request::Yang(tx) } else { Request::State(tx) };
            let snapshot = if state.send(request).await.is_ok() { rx.await.ok() } else { None };
            let (status, kind, body) = match (path, snapshot) {
                ("/state" | "/yang", Some(s)) => {
                    ("200 OK", "application/json", serde_json::to_string_pretty(&s).unwrap_or_default())
                }
                ("/metrics", Some(s)) => ("200 OK", "text/plain; version=0.0.4", metrics(&s)),
                (_, None) => ("503 Service Unavailable", "text/plain", "the agent is stopping\n".to_owned()),
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

/// Prometheus text exposition of the main figures.
fn metrics(state: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let number = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let _ = writeln!(out, "# TYPE sva_advertised_routes gauge");
    let _ = writeln!(out, "sva_advertised_routes {}", number(&state["proxy"]["advertised-routes"]));
    let _ = writeln!(out, "# TYPE sva_bgp_established gauge");
    let _ = writeln!(out, "sva_bgp_established {}", u8::from(state["bgp"]["state"] == "established"));
    for (name, value) in state["proxy"]["counters"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "sva_proxy_{} {}", name.replace('-', "_"), number(value));
    }
    for (name, value) in state["snooper"]["counters"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "sva_snooper_{}_total {}", name.replace('-', "_"), number(value));
    }
    for (interface, entry) in state["snooper"]["interfaces"].as_object().into_iter().flatten() {
        for (name, value) in entry.as_object().into_iter().flatten().filter(|(_, v)| v.is_u64()) {
            let metric = name.replace('-', "_");
            let _ = writeln!(
                out,
                "sva_snooper_interface_{metric}_total{{interface=\"{interface}\"}} {}",
                number(value)
            );
        }
    }
    for (name, vrf) in state["proxy"]["mac-vrfs"].as_object().into_iter().flatten() {
        let macs = vrf["macs"].as_object().map_or(0, serde_json::Map::len);
        let _ = writeln!(out, "sva_macs{{mac_vrf=\"{name}\"}} {macs}");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn metrics_carry_totals_per_interface_counters_and_macs() {
        let state = json!({
            "bgp": {"state": "established"},
            "proxy": {"advertised-routes": 3, "counters": {"learned": 2},
                      "mac-vrfs": {"blue": {"macs": {"02:00:00:00:00:01": {}}}}},
            "snooper": {
                "counters": {"seen": 10, "ring-buffer-full": 0},
                "interfaces": {"e1-1": {"status": "attached (ifindex 7)", "seen": 9, "parse-errors": 1}},
            },
        });
        let text = super::metrics(&state);
        for line in [
            "sva_advertised_routes 3",
            "sva_bgp_established 1",
            "sva_proxy_learned 2",
            "sva_snooper_seen_total 10",
            "sva_snooper_ring_buffer_full_total 0",
            "sva_snooper_interface_seen_total{interface=\"e1-1\"} 9",
            "sva_snooper_interface_parse_errors_total{interface=\"e1-1\"} 1",
            "sva_macs{mac_vrf=\"blue\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("status"), "only numbers are metrics:\n{text}");
    }
}
