//! The hub's calls on one link: input, MCP tools and snapshots, each run in its own task (at most
//! [`super::MAX_DEVICE_CALLS`] at once; one more is answered `busy` at once) and answered by one `result` with the
//! call's id. A call still running when the link ends is abandoned: the hub fails it as "went offline".

use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use sightline_media::{InputEvent, StillEncoding, StillRequest};
use sightline_signaling::fleet::{CallError, CallResult, HubMsg, SnapshotValue, check_screen_id};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::bounds::MAX_DEVICE_CALLS;
use super::outbox::Outbox;
use crate::control::{Error, ErrorKind};
use crate::mcp::local::LocalMcp;
use crate::session::SessionManager;

/// Quality of a snapshot whose call names none (as `GET /api/v1/screens/{id}/snapshot`).
const DEFAULT_SNAPSHOT_QUALITY: u8 = 90;

/// The wire name of an error kind (`not_found`, …).
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "not_found",
        ErrorKind::Invalid => "invalid",
        ErrorKind::Busy => "busy",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Internal => "internal",
    }
}

/// A call's answer.
pub fn answer(id: u64, outcome: Result<Value, Error>) -> CallResult {
    match outcome {
        Ok(value) => CallResult {
            id,
            ok: Some(value),
            error: None,
        },
        Err(e) => CallResult {
            id,
            ok: None,
            error: Some(CallError {
                kind: kind_name(e.kind).to_owned(),
                message: e.message,
            }),
        },
    }
}

/// Runs the calls of one link.
pub struct Calls {
    manager: SessionManager,
    mcp: Option<LocalMcp>,
    out: Outbox,
    link: CancellationToken,
    owner: sightline_monitor::Owner,
    slots: Arc<Semaphore>,
}

impl Calls {
    /// No calls running yet. `mcp` is the device's in-process MCP client (`None`: tools answer unavailable).
    pub fn new(
        manager: SessionManager,
        mcp: Option<LocalMcp>,
        out: Outbox,
        link: CancellationToken,
        owner: sightline_monitor::Owner,
    ) -> Self {
        Self {
            manager,
            mcp,
            out,
            link,
            owner,
            slots: Arc::new(Semaphore::new(MAX_DEVICE_CALLS)),
        }
    }

    /// Starts a call (`input`, `tool` or `snapshot`); other messages are ignored.
    pub fn start(&self, call: HubMsg) {
        let id = match &call {
            HubMsg::Input { id, .. } | HubMsg::Tool { id, .. } | HubMsg::Snapshot { id, .. } => *id,
            _ => return,
        };
        let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
            let busy = Error::busy(format!(
                "the device is already running {MAX_DEVICE_CALLS} calls; retry shortly"
            ));
            self.out
                .control(&sightline_signaling::fleet::DeviceMsg::Result(answer(
                    id,
                    Err(busy),
                )));
            return;
        };
        let manager = self.manager.clone();
        let mcp = self.mcp.clone();
        let out = self.out.clone();
        let link = self.link.clone();
        self.manager
            .spawn("device-call", self.owner.clone(), async move {
                let outcome = tokio::select! {
                    r = run(&manager, mcp.as_ref(), call) => r,
                    () = link.cancelled() => return,
                };
                out.result(answer(id, outcome), &link).await;
                drop(permit);
            });
    }
}

async fn run(
    manager: &SessionManager,
    mcp: Option<&LocalMcp>,
    call: HubMsg,
) -> Result<Value, Error> {
    match call {
        HubMsg::Input { screen, events, .. } => {
            local_screen(&screen)?;
            let events = events
                .into_iter()
                .enumerate()
                .map(|(i, e)| {
                    serde_json::from_value::<InputEvent>(e)
                        .map_err(|why| Error::invalid(format!("input event {i}: {why}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            manager.inject_events(&screen, events).await?;
            Ok(Value::Null)
        }
        HubMsg::Tool {
            name,
            arguments,
            role,
            ..
        } => {
            let mcp =
                mcp.ok_or_else(|| Error::unavailable("the device's MCP server is not running"))?;
            mcp.call_tool(&name, arguments, role).await
        }
        HubMsg::Snapshot {
            screen,
            format,
            quality,
            max_width,
            ..
        } => snapshot(manager, &screen, &format, quality, max_width).await,
        _ => Err(Error::invalid("not a call")),
    }
}

/// The hub names the device's own screens: never another device's (`a/b`).
fn local_screen(screen: &str) -> Result<(), Error> {
    check_screen_id(screen).map_err(Error::invalid)
}

async fn snapshot(
    manager: &SessionManager,
    screen: &str,
    format: &str,
    quality: Option<u8>,
    max_width: Option<u32>,
) -> Result<Value, Error> {
    local_screen(screen)?;
    let quality = quality.unwrap_or(DEFAULT_SNAPSHOT_QUALITY);
    if !sightline_limits::JPEG_QUALITY.contains(&u32::from(quality)) {
        return Err(Error::invalid("quality must be from 1 to 100"));
    }
    if let Some(w) = max_width
        && !sightline_limits::MAX_WIDTH.contains(&w)
    {
        return Err(Error::invalid(format!(
            "max_width must be from {} to {}",
            sightline_limits::MAX_WIDTH.start(),
            sightline_limits::MAX_WIDTH.end()
        )));
    }
    let encoding = match format {
        "jpeg" | "jpg" | "" => StillEncoding::Jpeg { quality, max_width },
        "png" => StillEncoding::Png { max_width },
        other => {
            return Err(Error::invalid(format!(
                "format must be jpeg or png, not {}",
                crate::control::echo(other)
            )));
        }
    };
    let request = StillRequest {
        region: None,
        include_cursor: false,
        encoding,
    };
    let op = manager.operation("snapshot", None);
    let still = op.finish_with(manager.still(screen, request).await)?;
    let value = SnapshotValue {
        mime: still.mime.to_owned(),
        width: still.width,
        height: still.height,
        data: base64::engine::general_purpose::STANDARD.encode(&still.data),
    };
    serde_json::to_value(value)
        .map_err(|e| Error::internal(format!("cannot encode a snapshot: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_the_kind_by_its_wire_name() {
        let ok = answer(3, Ok(Value::Null));
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"id":3,"ok":null}"#);
        let err = answer(4, Err(Error::not_found("unknown screen \"9\"")));
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            serde_json::json!({"id": 4, "error": {"kind": "not_found", "message": "unknown screen \"9\""}})
        );
        for (k, n) in [
            (ErrorKind::Invalid, "invalid"),
            (ErrorKind::Busy, "busy"),
            (ErrorKind::Forbidden, "forbidden"),
            (ErrorKind::Unavailable, "unavailable"),
            (ErrorKind::Internal, "internal"),
        ] {
            assert_eq!(kind_name(k), n);
        }
        assert!(local_screen("dev/0").is_err());
        assert!(local_screen("0").is_ok());
    }
}
