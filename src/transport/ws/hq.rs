//! HQ frames: a full-quality JPEG of the screen a viewer asks for (`request_hq_frame`), prepared off the socket's
//! task and delivered through its outbox, at most [`MAX_HQ_IN_FLIGHT`] at once per socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use sightline_monitor::{Connection, Owner};
use sightline_signaling::{ErrorCode, ProtocolError, ServerMessage};
use tokio::sync::mpsc;

use super::jpeg::epoch_ms;
use super::outbox::Outbound;
use super::viewer::Replies;
use crate::session::SessionManager;

/// HQ frames being prepared at once per socket; more requests get `busy`.
pub const MAX_HQ_IN_FLIGHT: usize = 2;

/// One `request_hq_frame`.
#[derive(Debug)]
pub struct HqRequest {
    /// The request's `id`, echoed in the `frame` or the error.
    pub id: Option<Value>,
    /// The screen (`None`: the primary).
    pub screen: Option<String>,
    /// JPEG quality.
    pub quality: u8,
}

impl HqRequest {
    /// Starts preparing an HQ frame; it arrives through the outbox. Refused with `busy` when
    /// [`MAX_HQ_IN_FLIGHT`] are already being prepared.
    pub async fn start(
        self,
        manager: &SessionManager,
        conn: &Connection,
        outbox: &mpsc::Sender<Outbound>,
        hq_in_flight: &Arc<AtomicUsize>,
    ) -> Replies {
        let Self {
            id,
            screen,
            quality,
        } = self;
        let screen = match manager.find_screen(screen).await {
            Ok(s) => s.id,
            Err(e) => return vec![e.to_protocol().with_id(id).to_message()],
        };
        if hq_in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_HQ_IN_FLIGHT {
            hq_in_flight.fetch_sub(1, Ordering::AcqRel);
            return vec![
                ProtocolError::new(ErrorCode::Busy, "an HQ frame is already being prepared")
                    .with_id(id)
                    .to_message(),
            ];
        }
        let manager = manager.clone();
        let outbox = outbox.clone();
        let in_flight = hq_in_flight.clone();
        let (conn_id, closed) = (conn.id(), conn.closed_token());
        manager
            .clone()
            .spawn("hq-frame", Owner::Connection(conn_id), async move {
                let msg = match manager.hq_frame(&screen, quality, conn_id).await {
                    Ok(jpeg) => Outbound::Frame(
                        ServerMessage::Frame {
                            screen,
                            seq: jpeg.seq,
                            width: jpeg.width,
                            height: jpeg.height,
                            captured_at_ms: epoch_ms(jpeg.captured_at),
                            hq: true,
                            id: id.clone(),
                        },
                        jpeg.data,
                    ),
                    Err(e) => Outbound::Message(e.to_protocol().with_id(id).to_message()),
                };
                tokio::select! {
                    _ = outbox.send(msg) => {}
                    () = closed.cancelled() => {}
                }
                in_flight.fetch_sub(1, Ordering::AcqRel);
            });
        Vec::new()
    }
}
