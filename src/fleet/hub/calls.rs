//! Calls to a device (input, MCP tools, snapshots): each gets an id, waits for the device's `result` with that id
//! or its timeout, and fails at once with `unavailable` when the link goes down.
//!
//! At most [`MAX_PENDING_CALLS`] wait per device; one more is `busy` (the caller may retry), never queued.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use sightline_signaling::fleet::{CallResult, HubMsg};
use tokio::sync::oneshot;

use super::upstream::LinkShared;
use crate::control::{Error, ErrorKind};

/// Calls waiting for their answer per device.
pub const MAX_PENDING_CALLS: usize = 64;
/// How long an input call may take.
pub const INPUT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a snapshot may take.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a tool call may take besides the tool's own wait (`timeout_ms`, `duration_ms`).
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest own wait of a tool the hub adds to [`TOOL_TIMEOUT`].
pub const MAX_TOOL_WAIT: Duration = Duration::from_secs(600);

type Reply = oneshot::Sender<Result<Value, Error>>;

/// The calls of one link.
#[derive(Default)]
pub(super) struct Calls {
    last: u64,
    pending: HashMap<u64, Reply>,
    /// The link is down: why (every later call fails with it).
    gone: Option<String>,
}

impl Calls {
    /// Fails every waiting call, and every later one, with `unavailable` `message`.
    pub(super) fn fail_all(&mut self, message: &str) {
        self.gone = Some(message.to_owned());
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(Error::unavailable(message)));
        }
    }

    /// Calls waiting now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }
}

/// The error a device reported, with the gateway's kind.
fn device_error(kind: &str, message: String) -> Error {
    let kind = match kind {
        "not_found" => ErrorKind::NotFound,
        "invalid" => ErrorKind::Invalid,
        "busy" => ErrorKind::Busy,
        "forbidden" => ErrorKind::Forbidden,
        "unavailable" => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, message)
}

impl LinkShared {
    /// Sends the call `build(id)` and waits up to `timeout` for its answer; `what` names it in the timeout error.
    pub(super) async fn call(
        &self,
        what: &str,
        timeout: Duration,
        build: impl FnOnce(u64) -> HubMsg,
    ) -> Result<Value, Error> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut calls = self.calls.lock();
            if let Some(gone) = &calls.gone {
                return Err(Error::unavailable(gone.clone()));
            }
            if calls.pending.len() >= MAX_PENDING_CALLS {
                return Err(Error::busy(format!(
                    "{} already has {MAX_PENDING_CALLS} calls waiting; retry shortly",
                    self.label()
                )));
            }
            calls.last += 1;
            let id = calls.last;
            if !self.send(&build(id)) {
                return Err(Error::busy(format!(
                    "the link to {} is congested; retry shortly",
                    self.label()
                )));
            }
            calls.pending.insert(id, tx);
            id
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::unavailable(format!("{} went offline", self.label()))),
            Err(_) => {
                self.calls.lock().pending.remove(&id);
                Err(Error::unavailable(format!(
                    "{} did not answer the {what} within {} s",
                    self.label(),
                    timeout.as_secs()
                )))
            }
        }
    }

    /// The device's answer to a call (a late one, after its timeout, is dropped).
    pub(super) fn on_result(&self, result: CallResult) {
        let Some(reply) = self.calls.lock().pending.remove(&result.id) else {
            tracing::debug!(device = %self.device, id = result.id, "answer to no waiting call (timed out?)");
            return;
        };
        let value = match (result.error, result.ok) {
            (Some(e), _) => Err(device_error(&e.kind, e.message)),
            (None, ok) => Ok(ok.unwrap_or(Value::Null)),
        };
        let _ = reply.send(value);
    }
}

/// The tool's own wait from its arguments (`timeout_ms`, `duration_ms`), capped at [`MAX_TOOL_WAIT`].
pub(super) fn tool_wait(arguments: &serde_json::Map<String, Value>) -> Duration {
    let ms: u64 = ["timeout_ms", "duration_ms"]
        .iter()
        .filter_map(|k| arguments.get(*k).and_then(Value::as_u64))
        .fold(0u64, u64::saturating_add);
    Duration::from_millis(ms).min(MAX_TOOL_WAIT)
}
