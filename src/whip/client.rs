//! One WHIP publication (RFC 9725) from start to end: subscribe to the tier's shared encoder, build the publishing
//! peer ([`Peer::publish`]), `POST` its offer, keep the resource URL, watch the connection, restart ICE with a
//! `PATCH` when it stays disconnected (§4.4), re-publish when that is not possible, and `DELETE` the resource at
//! the end. [`run`] is the publication's task; the registry ([`super::WhipPublications`]) only starts and stops it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use sightline_media::ScreenInfo;
use sightline_media::engine::Engine;
use sightline_monitor::{
    Connection, ConnectionAttrs, ConnectionId, ConnectionKind, Counters, Monitor, PublicationHandle,
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::error::WhipError;
use super::sdp::{apply_fragment, excerpt, resolve_location, restart_fragment};
use crate::config::Config;
use crate::httpc;
use crate::peer::{Peer, PeerEvent, Published, SubscriptionFeed};
use crate::session::profiles::video_tiers;

/// Timeout of the `POST` and `PATCH` exchanges with the WHIP server.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of the `DELETE` that ends a publication (a server that does not answer must not hold a stop).
pub const DELETE_TIMEOUT: Duration = Duration::from_secs(3);
/// A connection disconnected this long gets an ICE restart (webrtc-rs declares it failed, and tears it down,
/// [`crate::peer::ICE_FAILED_TIMEOUT`] after the disconnection).
pub const RESTART_AFTER: Duration = Duration::from_secs(2);
/// How long an accepted ICE restart may take to reconnect before the publication is re-published.
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(5);
/// A publication that has not connected this long after its answer is re-published.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// First wait before re-publishing (or retrying a publication that failed to start); doubles on each failure.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the gateway lends a publication.
#[derive(Clone)]
pub(super) struct Gateway {
    pub(super) config: Config,
    pub(super) engine: Engine,
    pub(super) monitor: Monitor,
}

/// What to publish and where (no `Debug`: it holds the token).
#[derive(Clone)]
pub(super) struct Spec {
    /// Screen id; empty = the primary screen.
    pub(super) screen: String,
    pub(super) url: String,
    pub(super) token: String,
    pub(super) tier: usize,
}

/// Where a publication stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhipState {
    /// Offer posted, connection being established.
    Connecting,
    /// Connected: video flows.
    Publishing,
    /// The connection is disconnected; an ICE restart is under way.
    Restarting,
    /// The last attempt failed (or the connection was lost); the next one follows after a backoff.
    Retrying,
    /// Ended.
    Stopped,
}

/// A publication's live status, shared with the registry.
#[derive(Debug, Clone)]
pub(super) struct Status {
    pub(super) state: WhipState,
    /// The screen as resolved (the primary's id for an empty spec screen), once known.
    pub(super) screen: Option<String>,
    pub(super) resource: Option<String>,
    pub(super) error: Option<String>,
    pub(super) connection: Option<ConnectionId>,
    pub(super) ice_restarts: u64,
    pub(super) republishes: u64,
}

impl Status {
    pub(super) fn new() -> Self {
        Self {
            state: WhipState::Connecting,
            screen: None,
            resource: None,
            error: None,
            connection: None,
            ice_restarts: 0,
            republishes: 0,
        }
    }
}

/// An established publication: the peer and the resource the server created for it.
pub(super) struct Live {
    peer: Peer,
    events: mpsc::Receiver<PeerEvent>,
    state: watch::Receiver<RTCPeerConnectionState>,
    conn: Connection,
    /// The resource URL (absolute).
    resource: String,
    /// The answer applied last (an ICE restart patches it).
    answer: String,
    screen: String,
    tier: String,
}

impl Live {
    /// Records the attempt in the publication's status: screen, resource, connection.
    pub(super) fn record(&self, status: &Mutex<Status>) {
        let mut s = status.lock();
        s.screen = Some(self.screen.clone());
        s.resource = Some(self.resource.clone());
        s.connection = Some(self.conn.id());
        if s.state != WhipState::Publishing {
            s.state = WhipState::Connecting;
        }
    }
}

/// The publication's row in the monitor's SFU table, fed from its peer's connection counters.
struct Meter {
    handle: PublicationHandle,
    /// The current attempt's counters at the last sync (a new attempt's connection starts from zero).
    last: Counters,
}

impl Meter {
    /// Adds what the attempt's connection counted since the last sync.
    fn sync(&mut self, monitor: &Monitor, conn: ConnectionId) {
        let Some(now) = monitor.connection(conn).map(|d| d.summary.counters) else {
            return;
        };
        let last = &self.last;
        self.handle.add_sent(
            now.packets_sent.saturating_sub(last.packets_sent),
            now.bytes_sent.saturating_sub(last.bytes_sent),
        );
        for _ in last.keyframes_sent..now.keyframes_sent {
            self.handle.add_keyframe();
        }
        for _ in last.pli_received..now.pli_received {
            self.handle.add_pli();
        }
        for _ in last.fir_received..now.fir_received {
            self.handle.add_fir();
        }
        self.last = now;
    }
}

/// The endpoint's `host[:port]`, naming the publication's target in the monitor (the path may carry a key).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// How [`maintain`] ended.
enum Outcome {
    Stopped,
    Lost(String),
}

/// The wait before attempt `failures` (1 = the first retry).
fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(5);
    (BACKOFF_FIRST * factor).min(BACKOFF_MAX)
}

/// The `Authorization` header value, when a token is set.
fn bearer(spec: &Spec) -> Option<String> {
    (!spec.token.is_empty()).then(|| format!("Bearer {}", spec.token))
}

async fn find_screen(engine: &Engine, id: &str) -> Result<ScreenInfo, WhipError> {
    let engine = engine.clone();
    let screens = tokio::task::spawn_blocking(move || engine.screens())
        .await
        .map_err(|e| WhipError::Media(format!("screen lookup: {e}")))?
        .map_err(|e| WhipError::Media(e.to_string()))?;
    let found = if id.is_empty() {
        screens
            .iter()
            .find(|s| s.primary)
            .or_else(|| screens.first())
    } else {
        screens.iter().find(|s| s.id == id)
    };
    found
        .cloned()
        .ok_or_else(|| WhipError::UnknownScreen(id.to_owned()))
}

/// Starts one publication: the offer is posted and the answer applied; the connection may still be forming.
pub(super) async fn publish(gw: &Gateway, id: &str, spec: &Spec) -> Result<Live, WhipError> {
    let screen = find_screen(&gw.engine, &spec.screen).await?;
    let tiers = video_tiers(&gw.config, &screen, None);
    let tier = tiers.get(spec.tier).cloned().ok_or(WhipError::BadTier {
        tier: spec.tier,
        tiers: tiers.len(),
    })?;
    let conn = gw.monitor.open_connection(
        ConnectionKind::Publish,
        ConnectionAttrs {
            screen: Some(screen.id.clone()),
            role: Some("whip".into()),
            remote: Some(spec.url.clone()),
            ..ConnectionAttrs::default()
        },
    );
    conn.event(format!(
        "WHIP publication {id}: screen {} at tier {} to {}",
        screen.id, tier.name, spec.url
    ));
    let feed = match SubscriptionFeed::with_tiers(gw.engine.clone(), &screen.id, vec![tier], 0) {
        Ok(feed) => feed,
        Err(e) => {
            conn.close("start failed");
            return Err(WhipError::Media(e.to_string()));
        }
    };
    let Published {
        peer,
        events,
        offer,
        state,
    } = Peer::publish(&gw.config.peer_settings(), feed, conn.clone(), &gw.monitor).await?;
    let (resource, answer) = match post(spec, offer).await {
        Ok(created) => created,
        Err(e) => {
            conn.event(format!("WHIP POST failed: {e}"));
            peer.close().await;
            return Err(e);
        }
    };
    conn.event(format!("WHIP resource created: {resource}"));
    let live = Live {
        peer,
        events,
        state,
        conn,
        resource,
        answer,
        screen: screen.id,
        tier: spec.tier.to_string(),
    };
    if let Err(e) = live.peer.set_answer(&live.answer).await {
        end(live, spec).await;
        return Err(WhipError::Protocol(format!(
            "the SDP answer was refused: {e}"
        )));
    }
    Ok(live)
}

/// `POST` of the offer; returns the resource URL and the answer.
async fn post(spec: &Spec, offer: String) -> Result<(String, String), WhipError> {
    let auth = bearer(spec);
    let mut headers = vec![("Accept", "application/sdp")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    let body = Some(("application/sdp", Bytes::from(offer)));
    let resp = httpc::request("POST", &spec.url, &headers, body, HTTP_TIMEOUT).await?;
    if resp.status != 201 {
        return Err(WhipError::Refused {
            status: resp.status,
            body: excerpt(&resp.body),
        });
    }
    let location = resp
        .header("location")
        .ok_or_else(|| WhipError::Protocol("201 without a Location header".into()))?;
    let resource = resolve_location(&spec.url, location).map_err(WhipError::Protocol)?;
    let answer = String::from_utf8(resp.body.to_vec())
        .ok()
        .filter(|a| a.trim_start().starts_with("v=0"))
        .ok_or_else(|| {
            WhipError::Protocol(format!(
                "the 201's body is not an SDP answer: {}",
                excerpt(&resp.body)
            ))
        });
    match answer {
        Ok(answer) => Ok((resource, answer)),
        Err(e) => {
            // The server created a resource we cannot use: release it.
            delete(spec, &resource).await;
            Err(e)
        }
    }
}

/// `DELETE` of the resource; failures are logged, never fatal. Returns what happened, for the monitor.
async fn delete(spec: &Spec, resource: &str) -> String {
    let auth = bearer(spec);
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    match httpc::request("DELETE", resource, &headers, None, DELETE_TIMEOUT).await {
        Ok(r) if r.is_success() => format!("WHIP resource deleted ({})", r.status),
        Ok(r) => {
            tracing::warn!(resource, status = r.status, "WHIP DELETE refused");
            format!("WHIP DELETE answered {}: {}", r.status, excerpt(&r.body))
        }
        Err(e) => {
            tracing::warn!(resource, error = %e, "WHIP DELETE failed");
            format!("WHIP DELETE failed: {e}")
        }
    }
}

/// Ends a publication: `DELETE` its resource, then close the peer (and its monitor connection).
async fn end(live: Live, spec: &Spec) {
    let done = delete(spec, &live.resource).await;
    live.conn.event(done);
    live.peer.close().await;
}

/// ICE restart over the resource (RFC 9725 §4.4): a restart offer's fragment goes out in a `PATCH`, the server's
/// fragment (new credentials, candidates) is applied to the answer we hold.
async fn restart_ice(live: &mut Live, spec: &Spec) -> Result<(), WhipError> {
    let offer = live.peer.restart_ice().await?;
    let fragment = restart_fragment(&offer).map_err(WhipError::Protocol)?;
    let auth = bearer(spec);
    let mut headers = vec![("If-Match", "*")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    let body = Some(("application/trickle-ice-sdpfrag", Bytes::from(fragment)));
    let resp = httpc::request("PATCH", &live.resource, &headers, body, HTTP_TIMEOUT).await?;
    if resp.status != 200 {
        return Err(WhipError::Refused {
            status: resp.status,
            body: excerpt(&resp.body),
        });
    }
    let theirs = String::from_utf8_lossy(&resp.body);
    let answer = apply_fragment(&live.answer, &theirs).map_err(WhipError::Protocol)?;
    live.peer.set_answer(&answer).await?;
    live.answer = answer;
    Ok(())
}

/// Watches an established publication until it is stopped or lost; restarts ICE once per disconnection.
async fn maintain(
    live: &mut Live,
    spec: &Spec,
    stop: &CancellationToken,
    status: &Mutex<Status>,
    (meter, monitor): (&mut Meter, &Monitor),
) -> Outcome {
    let mut connected = false;
    let mut disconnected_since: Option<Instant> = None;
    let mut restarted = false;
    let connect_deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let wake = match (connected, disconnected_since) {
            (false, _) => Some(connect_deadline),
            (true, Some(since)) if restarted => Some(since + RESTART_TIMEOUT),
            (true, Some(since)) => Some(since + RESTART_AFTER),
            (true, None) => None,
        };
        let timer = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return Outcome::Stopped,
            event = live.events.recv() => match event {
                None | Some(PeerEvent::Closed) => return Outcome::Lost("the peer connection closed".into()),
                Some(PeerEvent::Failed(reason)) => return Outcome::Lost(reason),
                Some(PeerEvent::VideoEnded) => return Outcome::Lost("the screen's video ended".into()),
                // Once a second while sending.
                Some(PeerEvent::Network(_)) => meter.sync(monitor, live.conn.id()),
                _ => {}
            },
            changed = live.state.changed() => {
                if changed.is_err() {
                    return Outcome::Lost("the peer connection stopped".into());
                }
                let state = *live.state.borrow_and_update();
                match state {
                    RTCPeerConnectionState::Connected => {
                        connected = true;
                        restarted = false;
                        if disconnected_since.take().is_some() {
                            live.conn.event("reconnected");
                        }
                        let mut s = status.lock();
                        s.state = WhipState::Publishing;
                        s.error = None;
                    }
                    RTCPeerConnectionState::Disconnected if connected => {
                        disconnected_since.get_or_insert_with(Instant::now);
                    }
                    _ => {}
                }
            }
            () = timer => {
                if !connected {
                    return Outcome::Lost(format!("not connected {} s after the answer", CONNECT_TIMEOUT.as_secs()));
                }
                if restarted {
                    return Outcome::Lost("still disconnected after an ICE restart".into());
                }
                restarted = true;
                disconnected_since = Some(Instant::now());
                status.lock().state = WhipState::Restarting;
                match restart_ice(live, spec).await {
                    Ok(()) => {
                        live.conn.event("ICE restart: PATCH accepted by the WHIP server");
                        status.lock().ice_restarts += 1;
                    }
                    Err(e) => {
                        live.conn.event(format!("ICE restart not possible ({e}); re-publishing instead"));
                        return Outcome::Lost(format!("disconnected; ICE restart not possible: {e}"));
                    }
                }
            }
        }
    }
}

/// A publication's task: publish (unless `first` is already published), keep it up, re-publish with backoff when
/// it is lost, and end it (`DELETE` + close) when `stop` is cancelled.
pub(super) async fn run(
    gw: Gateway,
    id: String,
    spec: Spec,
    status: Arc<Mutex<Status>>,
    stop: CancellationToken,
    mut first: Option<Live>,
) {
    let mut failures: u32 = 0;
    let mut meter: Option<Meter> = None;
    loop {
        let mut live = match first.take() {
            Some(live) => live,
            None => {
                let attempt = tokio::select! {
                    _ = stop.cancelled() => break,
                    attempt = publish(&gw, &id, &spec) => attempt,
                };
                match attempt {
                    Ok(live) => live,
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        let wait = backoff(failures);
                        tracing::error!(publication = %id, screen = %spec.screen, url = %spec.url, error = %e,
                            retry_in_s = wait.as_secs(), "WHIP publication failed to start; retrying");
                        {
                            let mut s = status.lock();
                            s.state = WhipState::Retrying;
                            s.error = Some(e.to_string());
                        }
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            () = tokio::time::sleep(wait) => continue,
                        }
                    }
                }
            }
        };
        live.record(&status);
        let meter = meter.get_or_insert_with(|| Meter {
            handle: gw.monitor.sfu().publication(
                "whip",
                host_of(&spec.url),
                &live.screen,
                &live.tier,
            ),
            last: Counters::default(),
        });
        meter.last = Counters::default();
        let outcome = maintain(&mut live, &spec, &stop, &status, (meter, &gw.monitor)).await;
        meter.sync(&gw.monitor, live.conn.id());
        let Outcome::Lost(reason) = outcome else {
            end(live, &spec).await;
            break;
        };
        if matches!(
            status.lock().state,
            WhipState::Publishing | WhipState::Restarting
        ) {
            // It had connected: the backoff starts over.
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let wait = backoff(failures);
        live.conn.event(format!(
            "re-publishing (DELETE, then POST again in {} s): {reason}",
            wait.as_secs()
        ));
        tracing::warn!(publication = %id, url = %spec.url, reason = %reason, "WHIP publication lost; re-publishing");
        end(live, &spec).await;
        {
            let mut s = status.lock();
            s.state = WhipState::Retrying;
            s.error = Some(reason);
            s.resource = None;
            s.republishes += 1;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    let mut s = status.lock();
    s.state = WhipState::Stopped;
    s.resource = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_endpoints_host() {
        assert_eq!(
            host_of("https://ingest.example:8443/whip/key?x"),
            "ingest.example:8443"
        );
        assert_eq!(host_of("http://h"), "h");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), BACKOFF_FIRST);
        assert_eq!(backoff(2), BACKOFF_FIRST * 2);
        assert_eq!(backoff(40), BACKOFF_MAX);
    }
}
