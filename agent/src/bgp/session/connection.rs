//! One TCP connection of a session: its reader task (framing, decoding
//! with what the peer's OPEN negotiated) and its writer task (the priority
//! queue first, every write bounded by the send-hold time), and the handle
//! the session task keeps.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bgp_wire::{DecodeCx, DecodeError, Message};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpStream, tcp::OwnedReadHalf, tcp::OwnedWriteHalf},
    sync::{Notify, mpsc},
    task::JoinHandle,
    time::timeout,
};
use tracing::{Instrument as _, debug, warn};

use super::{BULK_QUEUE, MAX_IN_FLIGHT, NOTIFICATION_WRITE_TIMEOUT};

/// What the reader and writer tasks tell the session task.
#[derive(Debug)]
pub(super) enum FromConnection {
    Message(Box<Message>),
    Malformed(DecodeError),
    Closed,
    SendHoldExpired,
}

/// One TCP connection with its reader and writer tasks.
pub(super) struct Connection {
    pub(super) incoming: mpsc::Receiver<FromConnection>,
    pub(super) priority: mpsc::Sender<Vec<u8>>,
    pub(super) bulk: mpsc::Sender<Vec<u8>>,
    pub(super) in_flight: Arc<AtomicUsize>,
    pub(super) drained: Arc<Notify>,
    pub(super) reader: JoinHandle<()>,
    pub(super) writer: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        // The writer ends by itself once its queues close, after writing a
        // final NOTIFICATION if one is queued; the watchdog makes sure it
        // ends even if the peer does not read.
        let writer = self.writer.abort_handle();
        tokio::spawn(async move {
            tokio::time::sleep(NOTIFICATION_WRITE_TIMEOUT).await;
            writer.abort();
        });
    }
}

impl Connection {
    pub(super) fn new(stream: TcpStream, send_hold: Duration) -> Self {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (incoming_tx, incoming) = mpsc::channel(256);
        let (priority, priority_rx) = mpsc::channel(16);
        let (bulk, bulk_rx) = mpsc::channel(BULK_QUEUE);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let drained = Arc::new(Notify::new());
        let reader = tokio::spawn(read_loop(read, incoming_tx.clone()).in_current_span());
        let writer = tokio::spawn(
            write_loop(
                write,
                priority_rx,
                bulk_rx,
                send_hold,
                in_flight.clone(),
                drained.clone(),
                incoming_tx,
            )
            .in_current_span(),
        );
        Self { incoming, priority, bulk, in_flight, drained, reader, writer }
    }

    pub(super) fn send_priority(&self, bytes: Vec<u8>) {
        // Only KEEPALIVE and NOTIFICATION use this queue: if 16 of them are
        // queued the peer is not reading and the send-hold timer ends it.
        if self.priority.try_send(bytes).is_err() {
            debug!("priority queue full or closed");
        }
    }

    pub(super) fn free_slots(&self) -> usize {
        MAX_IN_FLIGHT.saturating_sub(self.in_flight.load(Ordering::Acquire))
    }

    pub(super) fn send_bulk(&self, bytes: Vec<u8>) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        // Full cannot happen (see BULK_QUEUE); closed means the connection is
        // going down, and the next session sends the whole table again.
        if let Err(error) = self.bulk.try_send(bytes) {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            if matches!(error, mpsc::error::TrySendError::Full(_)) {
                warn!("bulk queue full: an UPDATE was dropped (a bug: see BULK_QUEUE)");
            }
        }
    }
}

async fn read_loop(mut read: OwnedReadHalf, tx: mpsc::Sender<FromConnection>) {
    let mut buf = Vec::with_capacity(65_536);
    // Until the peer's OPEN arrives we know nothing negotiated; after it,
    // its capabilities (with ours: we always offer both) set the context.
    let mut cx = DecodeCx { four_octet_as: true, ibgp: true, extended_message: false };
    let mut chunk = vec![0u8; 65_536];
    loop {
        loop {
            match Message::frame_len(&buf, cx) {
                Ok(Some(len)) if buf.len() >= len => {
                    let result = Message::decode(&buf[..len], cx);
                    buf.drain(..len);
                    let item = match result {
                        Ok(message) => {
                            if let Message::Open(open) = &message {
                                cx.four_octet_as = open.has(bgp_wire::capability_code::FOUR_OCTET_AS);
                                cx.extended_message = open.has(bgp_wire::capability_code::EXTENDED_MESSAGE);
                            }
                            FromConnection::Message(Box::new(message))
                        }
                        Err(error) => FromConnection::Malformed(error),
                    };
                    let fatal = matches!(item, FromConnection::Malformed(_));
                    if tx.send(item).await.is_err() || fatal {
                        return;
                    }
                }
                Ok(_) => break,
                Err(error) => {
                    let _ = tx.send(FromConnection::Malformed(error)).await;
                    return;
                }
            }
        }
        match read.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                let _ = tx.send(FromConnection::Closed).await;
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn write_loop(
    mut write: OwnedWriteHalf,
    mut priority: mpsc::Receiver<Vec<u8>>,
    mut bulk: mpsc::Receiver<Vec<u8>>,
    send_hold: Duration,
    in_flight: Arc<AtomicUsize>,
    drained: Arc<Notify>,
    report: mpsc::Sender<FromConnection>,
) {
    loop {
        let (bytes, from_bulk) = tokio::select! {
            biased;
            item = priority.recv() => match item {
                Some(bytes) => (bytes, false),
                // The connection was dropped: queued UPDATEs are moot.
                None => break,
            },
            Some(bytes) = bulk.recv() => (bytes, true),
        };
        let is_notification = bytes.get(18) == Some(&3);
        let limit = if is_notification { NOTIFICATION_WRITE_TIMEOUT } else { send_hold };
        match timeout(limit, write.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                let _ = report.send(FromConnection::Closed).await;
                return;
            }
            Err(_) => {
                let _ = report.send(FromConnection::SendHoldExpired).await;
                return;
            }
        }
        if from_bulk {
            in_flight.fetch_sub(1, Ordering::AcqRel);
            drained.notify_one();
        }
        if is_notification {
            // Nothing follows a NOTIFICATION (RFC 4271 §6).
            break;
        }
    }
    let _ = write.shutdown().await;
}
