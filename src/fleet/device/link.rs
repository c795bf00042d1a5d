//! One connection to the hub, from the dial to its end: hello → welcome (or refused), then one loop that reads the
//! hub's messages, pings every heartbeat period, declares the hub gone after [`MISSED_HEARTBEATS`] silent periods,
//! announces screen changes, and hands streams and calls to [`Streams`] and [`Calls`]. Everything written goes
//! through the link's [`Outbox`] and its writer task. When the loop ends, every stream and call task of the link
//! ends with it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use sightline_media::ScreenInfo;
use sightline_monitor::{Connection, Lifecycle};
use sightline_signaling::fleet::{
    CLOSE_PROTOCOL, CLOSE_REFUSED, CLOSE_REPLACED, CLOSE_TIMEOUT, DeviceMsg, Hello, HubMsg,
    MAX_DEVICE_SCREENS, MAX_NAME_CHARS, MISSED_HEARTBEATS, PROTOCOL_VERSION, RemoteScreen,
    check_screen_id, parse_hub,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::Identity;
use super::bounds::SCREENS_POLL;
use super::calls::Calls;
use super::dial::{self, DialError, HubSocket, Target};
use super::outbox::{Outbox, close_message, write_loop};
use super::streams::{StreamRequest, Streams};
use crate::config::HubConfig;
use crate::mcp::local::LocalMcp;
use crate::session::SessionManager;

/// How long the device waits for the hub's welcome after its hello.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the writer may take to send the close frame at the end of a link.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Heartbeat periods accepted from a welcome, ms (as `[hub] heartbeat_ms`).
const HEARTBEAT_MS: std::ops::RangeInclusive<u64> = 200..=60_000;
/// WebSocket close code: going away (the device shuts down).
const CLOSE_GOING_AWAY: u16 = 1001;

/// What the link needs, the same for every connection of one device.
pub struct Ctx {
    /// The device's session manager.
    pub manager: SessionManager,
    /// Who the device is.
    pub identity: Identity,
    /// `[hub]`.
    pub hub: HubConfig,
    /// Where it dials.
    pub target: Target,
    /// TLS for `wss://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The in-process MCP client for tool calls.
    pub mcp: Option<LocalMcp>,
    /// The device's shutdown.
    pub shutdown: CancellationToken,
}

/// How a connection ended.
#[derive(Debug)]
pub enum Outcome {
    /// The device is shutting down (the hub was told with 1001).
    Shutdown,
    /// The hub refused the device (its reason).
    Refused(String),
    /// The dial failed.
    DialFailed(DialError),
    /// The link was up (welcomed) and ended.
    Ended {
        /// How long it was up.
        up_for: Duration,
        /// Why it ended.
        reason: String,
    },
    /// The hub closed or broke the connection before welcoming the device.
    NotWelcomed(String),
}

/// The device's screens as it announces them: valid ids only, names made to fit, at most [`MAX_DEVICE_SCREENS`].
pub fn remote_screens(screens: &[ScreenInfo]) -> Vec<RemoteScreen> {
    screens
        .iter()
        .filter(|s| {
            check_screen_id(&s.id).is_ok()
                && (1..=16_384).contains(&s.width)
                && (1..=16_384).contains(&s.height)
        })
        .take(MAX_DEVICE_SCREENS)
        .map(|s| RemoteScreen {
            id: s.id.clone(),
            name: s
                .name
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_NAME_CHARS)
                .collect(),
            width: s.width,
            height: s.height,
            primary: s.primary,
        })
        .collect()
}

/// The device's screens now (an empty list when the backend cannot say: the hub then shows none).
async fn screens_now(manager: &SessionManager) -> Vec<RemoteScreen> {
    match manager.local_screens().await {
        Ok(s) => remote_screens(&s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list this device's screens");
            Vec::new()
        }
    }
}

/// Runs one connection to its end. `conn` is its monitor connection (connecting → connected → closed by the
/// caller).
pub async fn run(ctx: &Ctx, conn: &Connection) -> Outcome {
    let mut socket = tokio::select! {
        s = dial::dial(&ctx.target, &ctx.hub.token, ctx.tls.clone()) => match s {
            Ok(s) => s,
            Err(e) => return Outcome::DialFailed(e),
        },
        () = ctx.shutdown.cancelled() => return Outcome::Shutdown,
    };
    let screens = screens_now(&ctx.manager).await;
    let hello = DeviceMsg::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        id: ctx.identity.id.clone(),
        name: ctx.identity.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        screens: screens.clone(),
    });
    let welcome = tokio::select! {
        w = welcome(&mut socket, &hello) => w,
        () = ctx.shutdown.cancelled() => {
            let _ = socket.send(close_message(CLOSE_GOING_AWAY, "the device is shutting down")).await;
            return Outcome::Shutdown;
        }
    };
    let heartbeat_ms = match welcome {
        Ok(ms) => ms,
        Err(outcome) => return outcome,
    };
    conn.set_lifecycle(Lifecycle::Connected);
    conn.event(format!(
        "welcomed; heartbeat {heartbeat_ms} ms; {} screens",
        screens.len()
    ));
    tracing::info!(hub = %ctx.target.url, heartbeat_ms, screens = screens.len(), "device link up");
    let up = Instant::now();
    let reason = serve(
        ctx,
        conn,
        socket,
        Duration::from_millis(heartbeat_ms),
        screens,
    )
    .await;
    match reason {
        Served::Shutdown => Outcome::Shutdown,
        Served::Refused(r) => Outcome::Refused(r),
        Served::Ended(reason) => Outcome::Ended {
            up_for: up.elapsed(),
            reason,
        },
    }
}

/// Sends the hello and waits for the welcome: its heartbeat period, or how the attempt ended.
async fn welcome(socket: &mut HubSocket, hello: &DeviceMsg) -> Result<u64, Outcome> {
    let text = serde_json::to_string(hello).unwrap_or_default();
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|e| Outcome::NotWelcomed(format!("cannot send the hello: {e}")))?;
    let deadline = tokio::time::Instant::now() + WELCOME_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| Outcome::NotWelcomed(format!("no welcome within {WELCOME_TIMEOUT:?}")))?;
        let message = match next {
            None => return Err(Outcome::NotWelcomed("the hub closed the connection".into())),
            Some(Err(e)) => {
                return Err(Outcome::NotWelcomed(format!("the connection failed: {e}")));
            }
            Some(Ok(m)) => m,
        };
        match message {
            Message::Text(t) => match parse_hub(&t) {
                Ok(HubMsg::Welcome {
                    protocol,
                    version,
                    heartbeat_ms,
                }) => {
                    if protocol != PROTOCOL_VERSION {
                        tracing::warn!(protocol, hub_version = %version, "the hub speaks another protocol version");
                    }
                    return Ok(heartbeat_ms.clamp(*HEARTBEAT_MS.start(), *HEARTBEAT_MS.end()));
                }
                Ok(HubMsg::Refused { reason }) => return Err(Outcome::Refused(reason)),
                Ok(HubMsg::Ping { t }) => {
                    let pong = serde_json::to_string(&DeviceMsg::Pong { t }).unwrap_or_default();
                    let _ = socket.send(Message::Text(pong.into())).await;
                }
                Ok(other) => {
                    return Err(Outcome::NotWelcomed(format!(
                        "the hub sent {other:?} before its welcome"
                    )));
                }
                Err(e) => return Err(Outcome::NotWelcomed(e)),
            },
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return Err(if code == CLOSE_REFUSED {
                    Outcome::Refused(reason)
                } else {
                    Outcome::NotWelcomed(format!("the hub closed the connection ({code} {reason})"))
                });
            }
            _ => {}
        }
    }
}

enum Served {
    Shutdown,
    Refused(String),
    Ended(String),
}

async fn serve(
    ctx: &Ctx,
    conn: &Connection,
    socket: HubSocket,
    period: Duration,
    mut announced: Vec<RemoteScreen>,
) -> Served {
    let (sink, mut stream) = socket.split();
    let (out, inbox) = Outbox::new();
    let link = CancellationToken::new();
    let mut writer = ctx.manager.spawn(
        "device-link-writer",
        conn.owner(),
        write_loop(sink, inbox, conn.clone(), link.clone()),
    );
    let mut writer_done = false;
    let mut streams = Streams::new(ctx.manager.clone(), conn.clone(), out.clone(), link.clone());
    let calls = Calls::new(
        ctx.manager.clone(),
        ctx.mcp.clone(),
        out.clone(),
        link.clone(),
        conn.owner(),
    );
    let start = tokio::time::Instant::now();
    let mut heartbeat = tokio::time::interval_at(start + period, period);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll = tokio::time::interval_at(start + SCREENS_POLL, SCREENS_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = tokio::time::Instant::now();
    let served = loop {
        tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => {
                out.close(CLOSE_GOING_AWAY, "the device is shutting down");
                break Served::Shutdown;
            }
            () = out.overloaded().cancelled() => {
                break Served::Ended("the hub stopped reading: the device's control queue is full".into());
            }
            done = &mut writer, if !writer_done => {
                writer_done = true;
                let why = match done {
                    Ok(Err(e)) => e,
                    Ok(Ok(())) => "the writer stopped".into(),
                    Err(e) => format!("the writer failed: {e}"),
                };
                break Served::Ended(why);
            }
            message = stream.next() => {
                last_heard = tokio::time::Instant::now();
                let message = match message {
                    None => break Served::Ended("the hub closed the connection".into()),
                    Some(Err(e)) => break Served::Ended(format!("the connection failed: {e}")),
                    Some(Ok(m)) => m,
                };
                conn.update_counters(|c| {
                    c.messages_received += 1;
                    c.bytes_received += message.len() as u64;
                });
                match message {
                    Message::Text(t) => {
                        let hub_msg = match parse_hub(&t) {
                            Ok(m) => m,
                            Err(e) => {
                                out.close(CLOSE_PROTOCOL, &e);
                                break Served::Ended(e);
                            }
                        };
                        if let Err(e) = handle(hub_msg, conn, &out, &mut streams, &calls) {
                            match e {
                                Handled::Refused(r) => break Served::Refused(r),
                                Handled::Protocol(e) => {
                                    out.close(CLOSE_PROTOCOL, &e);
                                    break Served::Ended(format!("protocol error: {e}"));
                                }
                            }
                        }
                    }
                    Message::Binary(_) => {
                        let e = "the hub sent a binary message";
                        out.close(CLOSE_PROTOCOL, e);
                        break Served::Ended(e.into());
                    }
                    Message::Close(frame) => {
                        let (code, reason) = frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        break match code {
                            CLOSE_REFUSED => Served::Refused(reason),
                            CLOSE_REPLACED => Served::Ended(format!(
                                "replaced by a newer connection of this device id ({reason}); is the id file shared by two machines?"
                            )),
                            _ => Served::Ended(format!("the hub closed the link ({code} {reason})")),
                        };
                    }
                    _ => {}
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() >= period * MISSED_HEARTBEATS {
                    let why = format!("the hub was silent for {MISSED_HEARTBEATS} heartbeats ({period:?} each)");
                    out.close(CLOSE_TIMEOUT, &why);
                    break Served::Ended(why);
                }
                out.control(&DeviceMsg::Ping { t: now_ms() });
            }
            _ = poll.tick() => {
                let now = screens_now(&ctx.manager).await;
                if now != announced {
                    tracing::info!(screens = now.len(), "the device's screens changed");
                    conn.event(format!("screens changed: {}", now.len()));
                    out.control(&DeviceMsg::Screens { screens: now.clone() });
                    announced = now;
                }
            }
        }
    };
    drop(streams);
    if !writer_done {
        // Lets the writer send what is queued up to the close frame, briefly.
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
    }
    link.cancel();
    served
}

enum Handled {
    Refused(String),
    Protocol(String),
}

fn handle(
    message: HubMsg,
    conn: &Connection,
    out: &Outbox,
    streams: &mut Streams,
    calls: &Calls,
) -> Result<(), Handled> {
    match message {
        HubMsg::Welcome { .. } => {}
        HubMsg::Refused { reason } => return Err(Handled::Refused(reason)),
        HubMsg::Ping { t } => out.control(&DeviceMsg::Pong { t }),
        HubMsg::Pong { t } => {
            let rtt = now_ms().saturating_sub(t);
            conn.update_counters(|c| c.rtt_ms = Some(rtt as f64));
        }
        HubMsg::OpenVideo {
            stream,
            screen,
            bitrate_kbps,
            max_width,
            usage,
        } => {
            match check_screen_id(&screen)
                .and_then(|()| StreamRequest::video(screen, bitrate_kbps, max_width, &usage))
            {
                Ok(request) => streams.open(stream, request).map_err(Handled::Protocol)?,
                Err(why) => out.ended(stream, why),
            }
        }
        HubMsg::OpenJpeg {
            stream,
            screen,
            quality,
            max_width,
            fps,
        } => match check_screen_id(&screen) {
            Ok(()) => {
                let profile = sightline_media::engine::JpegProfile {
                    quality,
                    max_width,
                    fps,
                };
                streams
                    .open(stream, StreamRequest::Jpeg { screen, profile })
                    .map_err(Handled::Protocol)?;
            }
            Err(why) => out.ended(stream, why),
        },
        HubMsg::Close { stream } => streams.close(stream),
        HubMsg::Keyframe { stream } => streams.keyframe(stream),
        HubMsg::Bitrate { stream, kbps } => streams.bitrate(stream, kbps),
        call @ (HubMsg::Input { .. } | HubMsg::Tool { .. } | HubMsg::Snapshot { .. }) => {
            calls.start(call);
        }
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
