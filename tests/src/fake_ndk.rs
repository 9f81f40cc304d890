//! A fake SR Linux NDK server for tests: a tonic server built from our own
//! .proto files (proven wire-compatible with NDK 0.5.0 by ndk-proto's
//! tests), on a unix socket in a scratch directory.
//!
//! It behaves as the NDK reference describes the real one: it insists on
//! `agent_name` metadata on every call, hands out stream and subscription
//! ids, replays the running configuration (then `.commit.end`) to a new
//! config subscription, delivers commits as one notification per delivery
//! node with `js_path_with_keys` in SR Linux's form, waits for the agent's
//! `AcknowledgeConfig` when it registered with `wait_config_ack`, rolls a
//! refused commit back (streaming the rollback like any commit), keeps
//! published telemetry per key, and forgets an agent's state when it
//! unregisters.
//!
//! [`FakeNdk::stop`] drops the whole server runtime, connections and all,
//! as a crashed NDK would; the "management server" side (the running
//! configuration and commit sequence) survives it, as on a real box.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use ndk_proto::sdk::{
    AcknowledgeConfigRequest, AcknowledgeConfigResponse, AgentRegistrationRequest, AgentRegistrationResponse,
    BfdGeneralSessionData, BfdGeneralSessionKey, BfdSessionNotification, ConfigData, ConfigKey,
    ConfigNotification, IpAddressPb, KeepAliveRequest, KeepAliveResponse, Notification,
    NotificationRegisterRequest, NotificationRegisterResponse, NotificationStreamRequest,
    NotificationStreamResponse, SdkMgrOperation, SdkMgrStatus, TelemetryDeleteRequest,
    TelemetryDeleteResponse, TelemetryUpdateRequest, TelemetryUpdateResponse,
    acknowledge_config_request_info, bfd_general_session_key, config_data, notification,
    notification_register_request::{Operation, SubscriptionTypes},
    sdk_mgr_config_service_server::{SdkMgrConfigService, SdkMgrConfigServiceServer},
    sdk_mgr_service_server::{SdkMgrService, SdkMgrServiceServer},
    sdk_mgr_telemetry_service_server::{SdkMgrTelemetryService, SdkMgrTelemetryServiceServer},
    sdk_notification_service_server::{SdkNotificationService, SdkNotificationServiceServer},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{UnboundedReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status};

/// The agent name the fake expects in `agent_name` metadata.
pub const AGENT_NAME: &str = "static_vxlan_agent";

/// One change in a commit, as an operator's `set` or `delete` makes it.
#[derive(Clone, Debug)]
pub enum Change {
    /// Create or replace a delivery node with this JSON content.
    Set {
        /// The node's `js_path` (no keys).
        js_path: String,
        /// The list keys along the path.
        keys: Vec<String>,
        /// Its content.
        json: serde_json::Value,
    },
    /// Remove a delivery node.
    Delete {
        /// The node's `js_path`.
        js_path: String,
        /// The list keys along the path.
        keys: Vec<String>,
    },
}

/// One `AcknowledgeConfig` entry as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckInfo {
    /// The node it is about.
    pub js_path_with_keys: String,
    /// `error`, `warning` or `output`.
    pub kind: String,
    /// Its text.
    pub text: String,
}

/// What became of a commit.
#[derive(Clone, Debug)]
pub struct CommitResult {
    /// The commit's sequence number.
    pub commit_seq: u64,
    /// The agent's acknowledgement (`None`: no agent was subscribed).
    pub ack: Option<Vec<AckInfo>>,
    /// True if the agent refused it and it was rolled back.
    pub rolled_back: bool,
}

#[derive(Clone, Debug)]
struct Node {
    js_path: String,
    keys: Vec<String>,
    json: String,
}

#[derive(Debug, Default)]
struct Stream {
    config: bool,
    bfd: bool,
    sender: Option<mpsc::UnboundedSender<Result<NotificationStreamResponse, Status>>>,
    receiver: Option<mpsc::UnboundedReceiver<Result<NotificationStreamResponse, Status>>>,
}

/// Everything the fake knows.
#[derive(Debug, Default)]
struct State {
    // The management server's side: survives NDK restarts.
    running: BTreeMap<String, Node>,
    commit_seq: u64,
    // The NDK server's side: gone when it stops.
    registered: bool,
    wait_config_ack: bool,
    streams: HashMap<u64, Stream>,
    next_id: u64,
    telemetry: BTreeMap<String, serde_json::Value>,
    acks: Vec<Vec<AckInfo>>,
    // What the test checks.
    calls: Vec<String>,
    without_agent_name: Vec<String>,
    bad_telemetry: Vec<String>,
}

/// The fake server. Stops (and removes its socket) on drop.
pub struct FakeNdk {
    socket: PathBuf,
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for FakeNdk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeNdk").field("socket", &self.socket).finish_non_exhaustive()
    }
}

impl FakeNdk {
    /// Starts serving on the unix socket `socket`.
    #[must_use]
    pub fn start(socket: &Path) -> Self {
        let mut fake = Self { socket: socket.to_owned(), state: Arc::default(), runtime: None };
        fake.serve();
        fake
    }

    /// The address to give the agent (`unix:<path>`).
    #[must_use]
    pub fn address(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    fn serve(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime for the fake NDK");
        let listener = {
            let _guard = runtime.enter();
            tokio::net::UnixListener::bind(&self.socket).expect("bind the fake NDK socket")
        };
        let service = Service { state: self.state.clone() };
        runtime.spawn(async move {
            let result = tonic::transport::Server::builder()
                .add_service(SdkMgrServiceServer::new(service.clone()))
                .add_service(SdkNotificationServiceServer::new(service.clone()))
                .add_service(SdkMgrConfigServiceServer::new(service.clone()))
                .add_service(SdkMgrTelemetryServiceServer::new(service))
                .serve_with_incoming(UnixListenerStream::new(listener))
                .await;
            if let Err(error) = result {
                eprintln!("fake NDK server: {error}");
            }
        });
        self.runtime = Some(runtime);
    }

    /// Stops the server as a crash would: connections drop, registrations,
    /// streams and telemetry are gone; the running configuration stays.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        let _ = std::fs::remove_file(&self.socket);
        let mut state = self.lock();
        state.registered = false;
        state.streams.clear();
        state.telemetry.clear();
        state.calls.push("(server stopped)".into());
    }

    /// Starts the server again after [`FakeNdk::stop`].
    pub fn restart(&mut self) {
        self.stop();
        self.serve();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every call so far, one line each (`AgentRegister wait_config_ack=true`...).
    #[must_use]
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Calls that came without the right `agent_name` metadata.
    #[must_use]
    pub fn calls_without_agent_name(&self) -> Vec<String> {
        self.lock().without_agent_name.clone()
    }

    /// Telemetry updates whose JSON was not an object.
    #[must_use]
    pub fn bad_telemetry(&self) -> Vec<String> {
        self.lock().bad_telemetry.clone()
    }

    /// True while an agent is registered.
    #[must_use]
    pub fn registered(&self) -> bool {
        self.lock().registered
    }

    /// True once an agent has a config subscription on an open stream.
    #[must_use]
    pub fn subscribed(&self) -> bool {
        self.lock().streams.values().any(|s| s.config && s.sender.is_some() && s.receiver.is_none())
    }

    /// The published state, by telemetry key.
    #[must_use]
    pub fn telemetry(&self) -> BTreeMap<String, serde_json::Value> {
        self.lock().telemetry.clone()
    }

    /// Every acknowledgement so far, in order.
    #[must_use]
    pub fn acks(&self) -> Vec<Vec<AckInfo>> {
        self.lock().acks.clone()
    }

    /// Commits `changes`: streams them (three notifications per message,
    /// so that commits span messages) with `.commit.end`, waits for the
    /// acknowledgement, and rolls back if it carries an error.
    pub fn commit(&self, changes: &[Change]) -> CommitResult {
        let (commit_seq, notifications, undo) = {
            let mut state = self.lock();
            state.commit_seq += 1;
            let mut notifications = Vec::new();
            let mut undo = Vec::new();
            for change in changes {
                let (js_path, keys) = match change {
                    Change::Set { js_path, keys, .. } | Change::Delete { js_path, keys } => (js_path, keys),
                };
                let path = js_path_with_keys(js_path, keys);
                let before = state.running.get(&path).cloned();
                undo.push(before.clone().map_or_else(
                    || Change::Delete { js_path: js_path.clone(), keys: keys.clone() },
                    |n| Change::Set {
                        js_path: n.js_path.clone(),
                        keys: n.keys.clone(),
                        json: serde_json::from_str(&n.json).unwrap_or_default(),
                    },
                ));
                match change {
                    Change::Set { json, .. } => {
                        let node =
                            Node { js_path: js_path.clone(), keys: keys.clone(), json: json.to_string() };
                        let op =
                            if before.is_some() { SdkMgrOperation::Update } else { SdkMgrOperation::Create };
                        notifications.push(config_notification(op, &node));
                        state.running.insert(path, node);
                    }
                    Change::Delete { .. } => {
                        let node = Node { js_path: js_path.clone(), keys: keys.clone(), json: String::new() };
                        notifications.push(config_notification(SdkMgrOperation::Delete, &node));
                        state.running.remove(&path);
                    }
                }
            }
            notifications.push(commit_end(state.commit_seq));
            (state.commit_seq, notifications, undo)
        };
        let ack = self.deliver(&notifications);
        let refused = ack.as_ref().is_some_and(|infos| infos.iter().any(|i| i.kind == "error"));
        if refused {
            // SR Linux rolls back to the previous running configuration and
            // streams the rollback to the app like a commit.
            let rollback = self.commit(&undo.into_iter().rev().collect::<Vec<_>>());
            assert!(!rollback.rolled_back, "the rollback itself was refused: {:?}", rollback.ack);
        }
        CommitResult { commit_seq, ack, rolled_back: refused }
    }

    /// Sends notifications to every config subscriber and waits for an ack.
    fn deliver(&self, notifications: &[Notification]) -> Option<Vec<AckInfo>> {
        let (acks_before, waits) = {
            let state = self.lock();
            let mut sent = false;
            for stream in state.streams.values().filter(|s| s.config) {
                if let Some(sender) = &stream.sender {
                    // Fails when the agent's end of the stream is gone.
                    for chunk in notifications.chunks(3) {
                        sent |= sender
                            .send(Ok(NotificationStreamResponse { notifications: chunk.to_vec() }))
                            .is_ok();
                    }
                }
            }
            (state.acks.len(), sent && state.wait_config_ack)
        };
        if !waits {
            return None;
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(ack) = self.lock().acks.get(acks_before) {
                return Some(ack.clone());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no AcknowledgeConfig within 15 s; calls: {:?}", self.calls());
    }

    /// Reports a BFD session's state to BFD subscribers.
    pub fn bfd(&self, destination: Ipv4Addr, status: ndk_proto::sdk::BfdSessionStatus) {
        let notification = Notification {
            subscription_id: 0,
            subscription_types: Some(notification::SubscriptionTypes::BfdSession(BfdSessionNotification {
                op: SdkMgrOperation::CreateOrUpdate.into(),
                key: Some(BfdGeneralSessionKey {
                    r#type: ndk_proto::sdk::BfdSessionType::P2p.into(),
                    key: Some(bfd_general_session_key::Key::P2p(bfd_general_session_key::P2pKey {
                        destination_ip_address: Some(IpAddressPb {
                            ip_address: destination.octets().to_vec(),
                        }),
                        ..Default::default()
                    })),
                }),
                data: Some(BfdGeneralSessionData { status: status.into(), ..Default::default() }),
            })),
        };
        let state = self.lock();
        for stream in state.streams.values().filter(|s| s.bfd) {
            if let Some(sender) = &stream.sender {
                let _ =
                    sender.send(Ok(NotificationStreamResponse { notifications: vec![notification.clone()] }));
            }
        }
    }
}

impl Drop for FakeNdk {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// SR Linux's `js_path_with_keys`: each list segment carries its key leaf
/// and value, `{.name=="default"}`; integer keys go unquoted.
#[must_use]
pub fn js_path_with_keys(js_path: &str, keys: &[String]) -> String {
    let mut keys = keys.iter();
    let mut out = String::new();
    for segment in js_path.trim_start_matches('.').split('.') {
        out.push('.');
        out.push_str(segment);
        let leaf = match segment {
            "network_instance" => Some(("name", true)),
            "bgp_instance" => Some(("id", false)),
            "static_vtep" => Some(("vtep_ip", true)),
            _ => None,
        };
        if let Some((leaf, quoted)) = leaf
            && let Some(value) = keys.next()
        {
            let _ = if quoted {
                write!(out, "{{.{leaf}==\"{value}\"}}")
            } else {
                write!(out, "{{.{leaf}=={value}}}")
            };
        }
    }
    out
}

fn config_notification(op: SdkMgrOperation, node: &Node) -> Notification {
    Notification {
        subscription_id: 0,
        subscription_types: Some(notification::SubscriptionTypes::Config(ConfigNotification {
            op: op.into(),
            key: Some(ConfigKey {
                js_path: node.js_path.clone(),
                keys: node.keys.clone(),
                js_path_with_keys: js_path_with_keys(&node.js_path, &node.keys),
            }),
            data: Some(ConfigData { data_type: Some(config_data::DataType::Json(node.json.clone())) }),
        })),
    }
}

fn commit_end(commit_seq: u64) -> Notification {
    config_notification(
        SdkMgrOperation::Create,
        &Node {
            js_path: ".commit.end".into(),
            keys: Vec::new(),
            json: format!("{{\"commit_seq\":{commit_seq}}}"),
        },
    )
}

#[derive(Clone)]
struct Service {
    state: Arc<Mutex<State>>,
}

impl Service {
    /// Records the call; `Err` when `agent_name` is missing or wrong.
    fn enter<T>(&self, request: &Request<T>, what: &str) -> Result<MutexGuard<'_, State>, Status> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let name = request.metadata().get("agent_name").and_then(|v| v.to_str().ok()).unwrap_or_default();
        state.calls.push(what.to_owned());
        if name != AGENT_NAME {
            state.without_agent_name.push(format!("{what} (agent_name {name:?})"));
            return Err(Status::unauthenticated(format!("agent_name must be {AGENT_NAME}, got {name:?}")));
        }
        Ok(state)
    }
}

const OK: i32 = SdkMgrStatus::Success as i32;
const FAILED: i32 = SdkMgrStatus::Failed as i32;

#[tonic::async_trait]
impl SdkMgrService for Service {
    async fn agent_register(
        &self,
        request: Request<AgentRegistrationRequest>,
    ) -> Result<Response<AgentRegistrationResponse>, Status> {
        let r = request.get_ref().clone();
        let Ok(mut state) =
            self.enter(&request, &format!("AgentRegister wait_config_ack={}", r.wait_config_ack))
        else {
            return Ok(Response::new(AgentRegistrationResponse { status: FAILED, ..Default::default() }));
        };
        state.registered = true;
        state.wait_config_ack = r.wait_config_ack;
        Ok(Response::new(AgentRegistrationResponse { status: OK, error_str: String::new(), app_id: 4242 }))
    }

    async fn agent_un_register(
        &self,
        request: Request<AgentRegistrationRequest>,
    ) -> Result<Response<AgentRegistrationResponse>, Status> {
        let mut state = self.enter(&request, "AgentUnRegister")?;
        state.registered = false;
        // The NDK removes an unregistered agent's state.
        state.telemetry.clear();
        Ok(Response::new(AgentRegistrationResponse { status: OK, ..Default::default() }))
    }

    async fn notification_register(
        &self,
        request: Request<NotificationRegisterRequest>,
    ) -> Result<Response<NotificationRegisterResponse>, Status> {
        let r = request.get_ref().clone();
        let op = Operation::try_from(r.op).unwrap_or(Operation::Create);
        let kind = match &r.subscription_types {
            Some(SubscriptionTypes::Config(_)) => "config",
            Some(SubscriptionTypes::BfdSession(_)) => "bfd",
            None => "-",
        };
        let mut state = self.enter(&request, &format!("NotificationRegister {} {kind}", op.as_str_name()))?;
        if !state.registered {
            return Ok(Response::new(NotificationRegisterResponse { status: FAILED, ..Default::default() }));
        }
        match op {
            Operation::Create => {
                state.next_id += 1;
                let id = state.next_id;
                let (sender, receiver) = mpsc::unbounded_channel();
                state.streams.insert(
                    id,
                    Stream { sender: Some(sender), receiver: Some(receiver), ..Default::default() },
                );
                Ok(Response::new(NotificationRegisterResponse {
                    stream_id: id,
                    subscription_id: 0,
                    status: OK,
                }))
            }
            Operation::AddSubscription => {
                state.next_id += 1;
                let subscription_id = state.next_id;
                let replay: Vec<Notification> = if kind == "config" {
                    let mut replay: Vec<_> = state
                        .running
                        .values()
                        .map(|n| config_notification(SdkMgrOperation::Create, n))
                        .collect();
                    replay.push(commit_end(state.commit_seq));
                    replay
                } else {
                    Vec::new()
                };
                let Some(stream) = state.streams.get_mut(&r.stream_id) else {
                    return Ok(Response::new(NotificationRegisterResponse {
                        status: FAILED,
                        ..Default::default()
                    }));
                };
                match kind {
                    "config" => stream.config = true,
                    "bfd" => stream.bfd = true,
                    _ => {
                        return Ok(Response::new(NotificationRegisterResponse {
                            status: FAILED,
                            ..Default::default()
                        }));
                    }
                }
                if let Some(sender) = &stream.sender {
                    for chunk in replay.chunks(3) {
                        let _ = sender.send(Ok(NotificationStreamResponse { notifications: chunk.to_vec() }));
                    }
                }
                Ok(Response::new(NotificationRegisterResponse {
                    stream_id: r.stream_id,
                    subscription_id,
                    status: OK,
                }))
            }
            Operation::Delete => {
                let status = if state.streams.remove(&r.stream_id).is_some() { OK } else { FAILED };
                Ok(Response::new(NotificationRegisterResponse {
                    stream_id: r.stream_id,
                    subscription_id: 0,
                    status,
                }))
            }
            Operation::DeleteSubscription => {
                Ok(Response::new(NotificationRegisterResponse { status: FAILED, ..Default::default() }))
            }
        }
    }

    async fn keep_alive(
        &self,
        request: Request<KeepAliveRequest>,
    ) -> Result<Response<KeepAliveResponse>, Status> {
        let _state = self.enter(&request, "KeepAlive")?;
        Ok(Response::new(KeepAliveResponse { status: OK }))
    }
}

#[tonic::async_trait]
impl SdkNotificationService for Service {
    type NotificationStreamStream = UnboundedReceiverStream<Result<NotificationStreamResponse, Status>>;

    async fn notification_stream(
        &self,
        request: Request<NotificationStreamRequest>,
    ) -> Result<Response<Self::NotificationStreamStream>, Status> {
        let id = request.get_ref().stream_id;
        let mut state = self.enter(&request, &format!("NotificationStream {id}"))?;
        let receiver = state
            .streams
            .get_mut(&id)
            .and_then(|s| s.receiver.take())
            .ok_or_else(|| Status::not_found(format!("no stream {id}, or it is already open")))?;
        Ok(Response::new(UnboundedReceiverStream::new(receiver)))
    }
}

#[tonic::async_trait]
impl SdkMgrConfigService for Service {
    async fn acknowledge_config(
        &self,
        request: Request<AcknowledgeConfigRequest>,
    ) -> Result<Response<AcknowledgeConfigResponse>, Status> {
        let infos: Vec<AckInfo> = request
            .get_ref()
            .infos
            .iter()
            .map(|i| {
                let (kind, text) = match &i.result {
                    Some(acknowledge_config_request_info::Result::Error(t)) => ("error", t.clone()),
                    Some(acknowledge_config_request_info::Result::Warning(t)) => ("warning", t.clone()),
                    Some(acknowledge_config_request_info::Result::Output(t)) => ("output", t.clone()),
                    None => ("none", String::new()),
                };
                AckInfo { js_path_with_keys: i.js_path_with_keys.clone(), kind: kind.into(), text }
            })
            .collect();
        let mut state = self.enter(&request, &format!("AcknowledgeConfig {} infos", infos.len()))?;
        state.acks.push(infos);
        Ok(Response::new(AcknowledgeConfigResponse { status: OK, error_str: String::new() }))
    }
}

#[tonic::async_trait]
impl SdkMgrTelemetryService for Service {
    async fn telemetry_add_or_update(
        &self,
        request: Request<TelemetryUpdateRequest>,
    ) -> Result<Response<TelemetryUpdateResponse>, Status> {
        let states = request.get_ref().states.clone();
        let mut state = self.enter(&request, &format!("TelemetryAddOrUpdate {}", states.len()))?;
        for info in states {
            let key = info.key.map(|k| k.js_path).unwrap_or_default();
            let json = info.data.map(|d| d.json_content).unwrap_or_default();
            match serde_json::from_str::<serde_json::Value>(&json) {
                Ok(value) if value.is_object() && key.starts_with('.') => {
                    // An update replaces what was at the key.
                    state.telemetry.insert(key, value);
                }
                _ => {
                    state.bad_telemetry.push(format!("{key}: {json}"));
                    return Ok(Response::new(TelemetryUpdateResponse {
                        status: FAILED,
                        error_str: format!("invalid telemetry at {key:?}"),
                    }));
                }
            }
        }
        Ok(Response::new(TelemetryUpdateResponse { status: OK, error_str: String::new() }))
    }

    async fn telemetry_delete(
        &self,
        request: Request<TelemetryDeleteRequest>,
    ) -> Result<Response<TelemetryDeleteResponse>, Status> {
        let keys = request.get_ref().keys.clone();
        let mut state = self.enter(&request, &format!("TelemetryDelete {}", keys.len()))?;
        for key in keys {
            state.telemetry.remove(&key.js_path);
        }
        Ok(Response::new(TelemetryDeleteResponse { status: OK, error_str: String::new() }))
    }
}
