//! The NDK client task: registers with the SR Linux NDK server, receives
//! configuration commits and BFD session changes, acknowledges each commit
//! once the agent has carried it out (or refused it), and keeps the
//! agent's state published as telemetry.
//!
//! ```text
//!  NDK server ──stream: config, BFD──► client task ──Configure──► agent task
//!      ▲                                   │  ▲                     (owns the core)
//!      └── AcknowledgeConfig, Telemetry ◄──┘  └──State (every 2 s)──┘
//! ```
//!
//! If the server goes away the task reconnects with backoff, registers
//! again, resubscribes (the NDK replays the running configuration, which
//! changes nothing when it is the same) and republishes everything. The
//! agent keeps its BGP session and routes meanwhile: losing the NDK is not
//! a reason to withdraw. On stop it removes its state, deletes its stream
//! and unregisters.

use std::{net::IpAddr, time::Duration};

use ndk_proto::sdk::{
    AcknowledgeConfigRequest, AcknowledgeConfigRequestInfo, AgentRegistrationRequest, BfdSessionStatus,
    BfdSessionSubscriptionRequest, ConfigSubscriptionRequest, NotificationRegisterRequest,
    NotificationStreamRequest, SdkMgrOperation, SdkMgrStatus, TelemetryData, TelemetryDeleteRequest,
    TelemetryInfo, TelemetryKey, TelemetryUpdateRequest, acknowledge_config_request_info, config_data,
    notification, notification_register_request, sdk_mgr_config_service_client::SdkMgrConfigServiceClient,
    sdk_mgr_service_client::SdkMgrServiceClient,
    sdk_mgr_telemetry_service_client::SdkMgrTelemetryServiceClient,
    sdk_notification_service_client::SdkNotificationServiceClient,
};
use tokio::sync::{mpsc, oneshot, watch};
use tonic::{
    Request, Status,
    metadata::{AsciiMetadataValue, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};
use tracing::{Instrument as _, info, info_span, warn};

use super::{
    commit::{AckError, CommitAssembler, Notification, Op, Outcome},
    telemetry::{self, Published},
};
use crate::{control::Request as AgentRequest, state::Liveness};

/// The NDK server's default address (the `:50053` is part of the file name).
pub const DEFAULT_ADDRESS: &str = "unix:///opt/srlinux/var/run/sr_sdk_service_manager:50053";
/// The application name in the app-manager YAML, sent as `agent_name`.
pub const DEFAULT_AGENT_NAME: &str = "static_vxlan_agent";
/// How often state is rendered and differences published.
const PUBLISH_INTERVAL: Duration = Duration::from_secs(2);
/// Telemetry entries per call, so that 100k MACs do not make one huge message.
const TELEMETRY_BATCH: usize = 1000;
/// Every unary call's limit: a hung server is treated like a gone one.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and as whom to talk to the NDK.
#[derive(Clone, Debug)]
pub struct NdkOptions {
    /// `unix:/path`, `unix:///path`, `host:port` or `http://host:port`.
    pub address: String,
    /// The `agent_name` metadata value.
    pub agent_name: String,
}

/// Why a session with the NDK server ended.
#[derive(Debug, thiserror::Error)]
pub enum NdkError {
    /// The address does not parse.
    #[error("invalid NDK address {0:?}: {1}")]
    Address(String, String),
    /// No connection (the server is not there or not enabled).
    #[error(
        "cannot connect to the NDK server at {0}: {1} (on SR Linux 25.3+: system ndk-server admin-state enable)"
    )]
    Connect(String, String),
    /// A call failed at the gRPC level.
    #[error("{0}: {1}")]
    Rpc(&'static str, Status),
    /// A call did not answer in time.
    #[error("{0}: no answer within {CALL_TIMEOUT:?}")]
    Timeout(&'static str),
    /// The server answered with a failure status.
    #[error("{0} refused: {1}")]
    Refused(&'static str, String),
    /// The notification stream ended.
    #[error("the NDK notification stream ended")]
    StreamEnded,
    /// The agent task is gone (shutting down).
    #[error("the agent is stopping")]
    AgentGone,
}

/// Sends `agent_name` on every call, as the NDK requires.
#[derive(Clone)]
struct AgentName(AsciiMetadataValue);

impl Interceptor for AgentName {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("agent_name", self.0.clone());
        Ok(request)
    }
}

type Svc = InterceptedService<Channel, AgentName>;

struct Clients {
    manager: SdkMgrServiceClient<Svc>,
    notifications: SdkNotificationServiceClient<Svc>,
    config: SdkMgrConfigServiceClient<Svc>,
    telemetry: SdkMgrTelemetryServiceClient<Svc>,
}

/// Runs the NDK side until `stop` turns true; reconnects on any failure.
pub async fn run(options: NdkOptions, agent: mpsc::Sender<AgentRequest>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut client = Client::new(&options, agent.clone());
        let span = info_span!("ndk", address = %options.address);
        let result = client.session(&mut stop).instrument(span).await;
        match result {
            Ok(()) | Err(NdkError::AgentGone) => return,
            Err(error) => {
                let registered = client.registered;
                warn!(%error, retry_in = ?backoff, "NDK session lost; routes stay up, reconnecting");
                client.status(format!("reconnecting: {error}")).await;
                if registered {
                    backoff = Duration::from_millis(250);
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}

struct Client<'a> {
    options: &'a NdkOptions,
    agent: mpsc::Sender<AgentRequest>,
    assembler: CommitAssembler,
    published: Published,
    registered: bool,
}

impl<'a> Client<'a> {
    fn new(options: &'a NdkOptions, agent: mpsc::Sender<AgentRequest>) -> Self {
        Self {
            options,
            agent,
            // Fresh per session: the NDK replays the running configuration
            // to every new subscription.
            assembler: CommitAssembler::new(),
            published: Published::default(),
            registered: false,
        }
    }

    async fn connect(&self) -> Result<Clients, NdkError> {
        let address = &self.options.address;
        let uri = if address.starts_with("unix:") || address.contains("://") {
            address.clone()
        } else {
            format!("http://{address}")
        };
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| NdkError::Address(address.clone(), e.to_string()))?
            .connect_timeout(Duration::from_secs(3));
        let channel =
            endpoint.connect().await.map_err(|e| NdkError::Connect(address.clone(), error_chain(&e)))?;
        let name: AsciiMetadataValue = MetadataValue::try_from(self.options.agent_name.as_str())
            .map_err(|e| NdkError::Address(address.clone(), format!("agent name: {e}")))?;
        let name = AgentName(name);
        Ok(Clients {
            manager: SdkMgrServiceClient::with_interceptor(channel.clone(), name.clone()),
            notifications: SdkNotificationServiceClient::with_interceptor(channel.clone(), name.clone()),
            config: SdkMgrConfigServiceClient::with_interceptor(channel.clone(), name.clone()),
            telemetry: SdkMgrTelemetryServiceClient::with_interceptor(channel, name),
        })
    }

    async fn session(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), NdkError> {
        let mut clients = self.connect().await?;
        let registration = call(
            "AgentRegister",
            clients.manager.agent_register(AgentRegistrationRequest {
                // Commits wait for our verdict: a bad one is refused, not half applied.
                wait_config_ack: true,
                ..Default::default()
            }),
        )
        .await?;
        check("AgentRegister", registration.status, &registration.error_str)?;
        self.registered = true;
        info!(app_id = registration.app_id, agent_name = %self.options.agent_name, "registered with the NDK");

        let created = call(
            "NotificationRegister(create)",
            clients.manager.notification_register(NotificationRegisterRequest {
                op: notification_register_request::Operation::Create.into(),
                ..Default::default()
            }),
        )
        .await?;
        check("NotificationRegister(create)", created.status, "")?;
        let stream_id = created.stream_id;
        let subscribe = |kind| NotificationRegisterRequest {
            stream_id,
            op: notification_register_request::Operation::AddSubscription.into(),
            subscription_types: Some(kind),
            ..Default::default()
        };
        let config = call(
            "NotificationRegister(config)",
            clients.manager.notification_register(subscribe(
                notification_register_request::SubscriptionTypes::Config(ConfigSubscriptionRequest {
                    key: None,
                }),
            )),
        )
        .await?;
        check("NotificationRegister(config)", config.status, "")?;
        // BFD gives static-VTEP liveness for state; without it the agent works.
        // This session's notifications replace what an earlier one reported.
        self.agent.send(AgentRequest::LivenessReset).await.map_err(|_| NdkError::AgentGone)?;
        match call(
            "NotificationRegister(bfd)",
            clients.manager.notification_register(subscribe(
                notification_register_request::SubscriptionTypes::BfdSession(BfdSessionSubscriptionRequest {
                    key: None,
                }),
            )),
        )
        .await
        {
            Ok(r) if r.status == SdkMgrStatus::Success as i32 => {}
            Ok(_) => warn!("BFD session subscription refused: static-VTEP liveness shows unknown"),
            Err(error) => {
                warn!(%error, "BFD session subscription failed: static-VTEP liveness shows unknown");
            }
        }
        let mut stream = clients
            .notifications
            .notification_stream(NotificationStreamRequest { stream_id })
            .await
            .map_err(|s| NdkError::Rpc("NotificationStream", s))?
            .into_inner();
        self.status("registered".to_owned()).await;

        let mut publish = tokio::time::interval(PUBLISH_INTERVAL);
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = stream.message() => {
                    let response = message.map_err(|s| NdkError::Rpc("NotificationStream", s))?
                        .ok_or(NdkError::StreamEnded)?;
                    let mut committed = false;
                    for notification in response.notifications {
                        committed |= self.on_notification(&mut clients, notification).await?;
                    }
                    if committed {
                        self.publish(&mut clients).await?;
                    }
                }
                _ = publish.tick() => self.publish(&mut clients).await?,
                _ = stop.changed() => {
                    self.shut_down(&mut clients, stream_id).await;
                    return Ok(());
                }
            }
        }
    }

    /// Handles one notification; true when it ended a commit.
    async fn on_notification(
        &mut self,
        clients: &mut Clients,
        notification: ndk_proto::sdk::Notification,
    ) -> Result<bool, NdkError> {
        match notification.subscription_types {
            Some(notification::SubscriptionTypes::Config(config)) => {
                let key = config.key.unwrap_or_default();
                let json = match config.data.and_then(|d| d.data_type) {
                    Some(config_data::DataType::Json(json)) => json,
                    Some(config_data::DataType::Data(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                    None => String::new(),
                };
                let op = if config.op == SdkMgrOperation::Delete as i32 { Op::Delete } else { Op::Set };
                let notification = Notification {
                    op,
                    js_path: key.js_path,
                    keys: key.keys,
                    js_path_with_keys: key.js_path_with_keys,
                    json,
                };
                let Some(outcome) = self.assembler.process(&notification) else { return Ok(false) };
                self.on_commit(clients, outcome).await?;
                Ok(true)
            }
            Some(notification::SubscriptionTypes::BfdSession(bfd)) => {
                let destination = bfd
                    .key
                    .and_then(|k| match k.key {
                        Some(ndk_proto::sdk::bfd_general_session_key::Key::P2p(p2p)) => {
                            p2p.destination_ip_address
                        }
                        None => None,
                    })
                    .and_then(|ip| ip_from_bytes(&ip.ip_address));
                let Some(destination) = destination else { return Ok(false) };
                let liveness = if bfd.op == SdkMgrOperation::Delete as i32 {
                    info!(vtep = %destination, "BFD session removed");
                    None
                } else {
                    let status = bfd.data.map_or(BfdSessionStatus::Invalid, |d| d.status());
                    let liveness = match status {
                        BfdSessionStatus::Up => Liveness::Up,
                        BfdSessionStatus::Down => Liveness::Down,
                        BfdSessionStatus::Init => Liveness::Init,
                        BfdSessionStatus::AdminDown => Liveness::AdminDown,
                        BfdSessionStatus::Invalid => Liveness::Unknown,
                    };
                    info!(vtep = %destination, liveness = liveness.as_str(), "BFD session");
                    Some(liveness)
                };
                let change = AgentRequest::Liveness { vtep: destination, liveness };
                self.agent.send(change).await.map_err(|_| NdkError::AgentGone)?;
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// Carries out (or refuses) one commit and acknowledges it.
    async fn on_commit(&mut self, clients: &mut Clients, outcome: Outcome) -> Result<(), NdkError> {
        let errors = match outcome {
            Outcome::Nothing => return Ok(()),
            Outcome::Apply { commit_seq, config } => {
                let (reply, answer) = oneshot::channel();
                self.agent
                    .send(AgentRequest::Configure { config, reply })
                    .await
                    .map_err(|_| NdkError::AgentGone)?;
                match answer.await.map_err(|_| NdkError::AgentGone)? {
                    Ok(()) => {
                        info!(commit_seq, "commit applied");
                        Vec::new()
                    }
                    Err(text) => {
                        warn!(commit_seq, error = %text, "commit refused: the running configuration stays");
                        self.assembler.revert();
                        let node = self
                            .assembler
                            .running_nodes()
                            .agent
                            .map_or_else(|| telemetry::DEFAULT_AGENT_KEY.to_owned(), |n| n.js_path_with_keys);
                        vec![AckError { js_path_with_keys: node, text }]
                    }
                }
            }
            Outcome::Reject { commit_seq, errors } => {
                for error in &errors {
                    warn!(commit_seq, node = %error.js_path_with_keys, error = %error.text, "commit rejected");
                }
                errors
            }
        };
        let infos = errors
            .into_iter()
            .map(|e| AcknowledgeConfigRequestInfo {
                js_path_with_keys: e.js_path_with_keys,
                result: Some(acknowledge_config_request_info::Result::Error(e.text)),
            })
            .collect();
        let ack =
            call("AcknowledgeConfig", clients.config.acknowledge_config(AcknowledgeConfigRequest { infos }))
                .await?;
        check("AcknowledgeConfig", ack.status, &ack.error_str)
    }

    /// Renders the state and sends what changed.
    async fn publish(&mut self, clients: &mut Clients) -> Result<(), NdkError> {
        let (reply, answer) = oneshot::channel();
        self.agent.send(AgentRequest::State(reply)).await.map_err(|_| NdkError::AgentGone)?;
        let state = answer.await.map_err(|_| NdkError::AgentGone)?;
        let desired = telemetry::render(&state, &self.assembler.running_nodes());
        let delta = self.published.diff(desired);
        let result = self.send(clients, delta.updates, delta.deletes).await;
        if result.is_err() {
            self.published.forget();
        }
        result
    }

    async fn send(
        &self,
        clients: &mut Clients,
        updates: Vec<(String, String)>,
        deletes: Vec<String>,
    ) -> Result<(), NdkError> {
        for chunk in deletes.chunks(TELEMETRY_BATCH) {
            let keys = chunk.iter().map(|k| TelemetryKey { js_path: k.clone() }).collect();
            let r =
                call("TelemetryDelete", clients.telemetry.telemetry_delete(TelemetryDeleteRequest { keys }))
                    .await?;
            check("TelemetryDelete", r.status, &r.error_str)?;
        }
        for chunk in updates.chunks(TELEMETRY_BATCH) {
            let states = chunk
                .iter()
                .map(|(key, json)| TelemetryInfo {
                    key: Some(TelemetryKey { js_path: key.clone() }),
                    data: Some(TelemetryData { json_content: json.clone() }),
                })
                .collect();
            let r = call(
                "TelemetryAddOrUpdate",
                clients.telemetry.telemetry_add_or_update(TelemetryUpdateRequest { states }),
            )
            .await?;
            check("TelemetryAddOrUpdate", r.status, &r.error_str)?;
        }
        Ok(())
    }

    /// Removes our state, our stream and our registration. Best effort:
    /// the agent exits either way.
    async fn shut_down(&mut self, clients: &mut Clients, stream_id: u64) {
        let keys = self.published.keys();
        if let Err(error) = self.send(clients, Vec::new(), keys).await {
            warn!(%error, "could not remove the published state");
        }
        let delete = NotificationRegisterRequest {
            stream_id,
            op: notification_register_request::Operation::Delete.into(),
            ..Default::default()
        };
        if let Err(error) =
            call("NotificationRegister(delete)", clients.manager.notification_register(delete)).await
        {
            warn!(%error, "could not delete the notification stream");
        }
        match call("AgentUnRegister", clients.manager.agent_un_register(AgentRegistrationRequest::default()))
            .await
        {
            Ok(_) => info!("unregistered from the NDK"),
            Err(error) => warn!(%error, "could not unregister"),
        }
    }

    async fn status(&self, text: String) {
        let _ = self.agent.send(AgentRequest::NdkStatus(text)).await;
    }
}

/// Awaits a unary call with [`CALL_TIMEOUT`].
async fn call<T>(
    what: &'static str,
    future: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, NdkError> {
    match tokio::time::timeout(CALL_TIMEOUT, future).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(NdkError::Rpc(what, status)),
        Err(_) => Err(NdkError::Timeout(what)),
    }
}

fn check(what: &'static str, status: i32, error: &str) -> Result<(), NdkError> {
    if status == SdkMgrStatus::Success as i32 {
        Ok(())
    } else {
        let text = if error.is_empty() {
            "status FAILED (is agent_name the app-manager YAML's name?)"
        } else {
            error
        };
        Err(NdkError::Refused(what, text.to_owned()))
    }
}

/// An NDK `IpAddressPb`: 4 or 16 bytes.
fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => {
            <[u8; 16]>::try_from(bytes).ok().map(|b| IpAddr::from(std::net::Ipv6Addr::from(b)).to_canonical())
        }
        _ => None,
    }
}

/// An error with its sources, which tonic keeps the useful part in.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfd_addresses_are_four_or_sixteen_bytes() {
        assert_eq!(ip_from_bytes(&[192, 0, 2, 1]), Some("192.0.2.1".parse().unwrap()));
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[192, 0, 2, 1]);
        assert_eq!(ip_from_bytes(&mapped), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(ip_from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn a_failed_status_says_what_to_check() {
        let error = check("AgentRegister", SdkMgrStatus::Failed as i32, "").unwrap_err();
        assert!(error.to_string().contains("agent_name"), "{error}");
        assert!(check("AgentRegister", SdkMgrStatus::Success as i32, "").is_ok());
    }
}
