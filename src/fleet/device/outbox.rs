//! The write path of one link: two bounded queues drained by one writer task, control first.
//!
//! - **control** ([`CONTROL_OUTBOX`]): pongs, pings, screen lists, `stream_ended`, call results and the close
//!   frame. Never dropped: call results wait for room (there are at most [`super::MAX_DEVICE_CALLS`] of them);
//!   anything else finding the queue full means the hub stopped reading, and the link is declared overloaded and
//!   closed (a reconnect starts clean) rather than losing a message.
//! - **media** ([`super::DEVICE_OUTBOX`]): binary pictures; a full queue drops the picture
//!   ([`super::streams`] decides what that means for its stream).

use futures_util::{Sink, SinkExt as _};
use sightline_monitor::Connection;
use sightline_signaling::fleet::{CallResult, DeviceMsg};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

use super::bounds::{DEVICE_OUTBOX, MAX_DEVICE_CALLS, MAX_DEVICE_STREAMS};
use super::streams::Sent;

/// Control messages queued for the writer: every call's result, a burst of `stream_ended` (a screen with every
/// stream open on it vanished) and a few heartbeats and screen lists.
pub const CONTROL_OUTBOX: usize = MAX_DEVICE_CALLS + MAX_DEVICE_STREAMS + 16;

/// The senders' side. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    control: mpsc::Sender<Message>,
    media: mpsc::Sender<Message>,
    /// Cancelled when a control message found no room: the link loop closes the link.
    overloaded: CancellationToken,
}

/// The writer's side.
pub struct Inbox {
    control: mpsc::Receiver<Message>,
    media: mpsc::Receiver<Message>,
}

impl Outbox {
    /// A pair of empty queues.
    pub fn new() -> (Self, Inbox) {
        let (control, control_rx) = mpsc::channel(CONTROL_OUTBOX);
        let (media, media_rx) = mpsc::channel(DEVICE_OUTBOX);
        (
            Self {
                control,
                media,
                overloaded: CancellationToken::new(),
            },
            Inbox {
                control: control_rx,
                media: media_rx,
            },
        )
    }

    /// Cancelled when the control queue overflowed.
    pub fn overloaded(&self) -> &CancellationToken {
        &self.overloaded
    }

    /// Queues a picture, or drops it when the media queue is full.
    pub fn media(&self, message: Message) -> Sent {
        match self.media.try_send(message) {
            Ok(()) => Sent::Yes,
            Err(mpsc::error::TrySendError::Full(_)) => Sent::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Sent::Closed,
        }
    }

    /// Queues a control message at once; a full queue marks the link overloaded.
    pub fn control(&self, message: &DeviceMsg) {
        self.control_raw(Message::Text(encode(message).into()));
    }

    fn control_raw(&self, message: Message) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.control.try_send(message) {
            self.overloaded.cancel();
        }
    }

    /// Tells the hub a stream ended here.
    pub fn ended(&self, stream: u32, reason: String) {
        self.control(&DeviceMsg::StreamEnded { stream, reason });
    }

    /// Queues a call's result, waiting for room; gives up only when the link ends (`false`).
    pub async fn result(&self, result: CallResult, link: &CancellationToken) -> bool {
        let message = Message::Text(encode(&DeviceMsg::Result(result)).into());
        tokio::select! {
            sent = self.control.send(message) => sent.is_ok(),
            () = link.cancelled() => false,
        }
    }

    /// Queues the close frame (after every control message already queued).
    pub fn close(&self, code: u16, reason: &str) {
        self.control_raw(close_message(code, reason));
    }
}

/// A close frame; the reason is cut to what a close frame can carry (123 bytes), at a character boundary.
pub fn close_message(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason[..end].to_owned().into(),
    }))
}

fn encode(message: &DeviceMsg) -> String {
    // Plain data with string keys: serialising cannot fail.
    serde_json::to_string(message).unwrap_or_default()
}

/// Writes queued messages, control first, until a close frame was written, the socket fails (`Err`) or `link`
/// is cancelled. Counts bytes and messages on `conn`.
pub async fn write_loop<S>(
    mut sink: S,
    mut inbox: Inbox,
    conn: Connection,
    link: CancellationToken,
) -> Result<(), String>
where
    S: Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    loop {
        let message = tokio::select! {
            biased;
            () = link.cancelled() => return Ok(()),
            m = inbox.control.recv() => m,
            m = inbox.media.recv() => m,
        };
        let Some(message) = message else {
            return Ok(());
        };
        let closing = matches!(message, Message::Close(_));
        let bytes = message.len() as u64;
        tokio::select! {
            biased;
            () = link.cancelled() => return Ok(()),
            sent = sink.send(message) => sent.map_err(|e| format!("cannot write to the hub: {e}"))?,
        }
        conn.update_counters(|c| {
            c.messages_sent += 1;
            c.bytes_sent += bytes;
        });
        if closing {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_is_dropped_when_full_and_control_overflow_marks_the_link() {
        let (out, mut inbox) = Outbox::new();
        for _ in 0..DEVICE_OUTBOX {
            assert_eq!(out.media(Message::Binary(vec![1].into())), Sent::Yes);
        }
        assert_eq!(out.media(Message::Binary(vec![2].into())), Sent::Full);
        for t in 0..CONTROL_OUTBOX as u64 {
            out.control(&DeviceMsg::Pong { t });
        }
        assert!(!out.overloaded().is_cancelled());
        out.control(&DeviceMsg::Pong { t: 0 });
        assert!(out.overloaded().is_cancelled());
        assert!(inbox.control.try_recv().is_ok());
        drop(inbox);
        assert_eq!(out.media(Message::Binary(vec![3].into())), Sent::Closed);
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        let Message::Close(Some(f)) = close_message(4400, &"é".repeat(100)) else {
            panic!("a close frame");
        };
        assert_eq!(u16::from(f.code), 4400);
        assert!(f.reason.len() <= 123);
        assert!(f.reason.chars().all(|c| c == 'é'));
    }

    #[tokio::test]
    async fn control_goes_before_media() {
        let (out, inbox) = Outbox::new();
        out.media(Message::Binary(vec![1].into()));
        out.control(&DeviceMsg::Ping { t: 1 });
        out.close(1001, "bye");
        out.media(Message::Binary(vec![2].into()));
        let written = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let w = std::sync::Arc::clone(&written);
        let sink = futures_util::sink::unfold((), move |(), m: Message| {
            let w = std::sync::Arc::clone(&w);
            async move {
                w.lock().push(m);
                Ok::<_, tokio_tungstenite::tungstenite::Error>(())
            }
        });
        let monitor =
            sightline_monitor::Monitor::new(crate::config::Config::default().monitor_settings());
        let conn = monitor.open_connection(
            sightline_monitor::ConnectionKind::Publish,
            sightline_monitor::ConnectionAttrs::default(),
        );
        write_loop(Box::pin(sink), inbox, conn, CancellationToken::new())
            .await
            .unwrap();
        let written = written.lock();
        assert_eq!(written.len(), 2, "the writer stops after the close frame");
        assert!(matches!(written[0], Message::Text(_)));
        assert!(matches!(written[1], Message::Close(_)));
    }
}
