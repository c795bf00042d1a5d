//! The publisher flow (WHIP egress, [`crate::whip`]): we offer one sendonly H.264 video section — no data channel,
//! nobody sends us input — with every local candidate inside the offer (gathering awaited, as WHIP does not
//! trickle), and learn the peer connection's state so the WHIP client can restart ICE while the connection is
//! only disconnected (webrtc-rs tears a failed one down).

use std::time::{Duration, Instant};

use rtc::peer_connection::configuration::RTCOfferOptions;
use sightline_monitor::{Connection, Lifecycle, Monitor};
use tokio::sync::{mpsc, watch};
use webrtc::peer_connection::RTCPeerConnectionState;

use super::config::{GATHER_TIMEOUT, HANDLER_EVENT_CAPACITY, PeerConfig};
use super::error::PeerError;
use super::events::{PeerEvent, VideoFeed};
use super::handler::HandlerEvent;
use super::{Flow, Peer, build, detail};

/// How often [`Peer::restart_ice`] looks for the new generation's candidates while it waits for them.
const RESTART_GATHER_POLL: Duration = Duration::from_millis(100);

/// A publishing peer, as [`Peer::publish`] returns it.
pub struct Published {
    /// The peer, holding the video subscription.
    pub peer: Peer,
    /// Its events (no candidates and no control messages in this flow).
    pub events: mpsc::Receiver<PeerEvent>,
    /// The offer, with every local candidate gathered within [`GATHER_TIMEOUT`].
    pub offer: String,
    /// The peer connection's state as webrtc-rs reports it (`Disconnected` is the cue for an ICE restart).
    pub state: watch::Receiver<RTCPeerConnectionState>,
}

impl Peer {
    /// Publisher flow (WHIP egress): creates the peer connection with one sendonly H.264 track (constrained
    /// baseline, [`super::H264_FMTP`]) and no data channel, and returns it with the offer SDP holding every local
    /// candidate (non-trickle; gathering is awaited at most [`GATHER_TIMEOUT`]). Apply the server's answer with
    /// [`Peer::set_answer`].
    pub async fn publish(
        cfg: &PeerConfig,
        feed: impl VideoFeed,
        conn: Connection,
        monitor: &Monitor,
    ) -> Result<Published, PeerError> {
        let started = Instant::now();
        let op = monitor.operation("create_offer", Some(conn.id()));
        let mut parts = match build(cfg, &conn, monitor, Flow::Publisher).await {
            Ok(parts) => parts,
            Err(e) => {
                op.fail(detail(&e));
                conn.close("setup failed");
                return Err(e);
            }
        };
        // webrtc-rs's callbacks reach the driver through a relay that also keeps the connection state.
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (relay_tx, relay_rx) = mpsc::channel(HANDLER_EVENT_CAPACITY);
        let source = std::mem::replace(&mut parts.handler_rx, relay_rx);
        monitor.spawn(
            "peer-state",
            conn.owner(),
            relay_states(source, relay_tx, state_tx),
        );
        let (peer, events) = Peer::start(
            parts,
            feed,
            conn,
            monitor,
            Flow::Publisher,
            started,
            cfg.congestion,
        );
        peer.conn.set_lifecycle(Lifecycle::Connecting);
        let offer = match peer.pc.create_offer(None).await {
            Ok(offer) => offer,
            Err(e) => return peer.fail_publish(op, PeerError::Setup(e)).await,
        };
        op.ok();
        let op = monitor.operation("set_local_description", Some(peer.conn.id()));
        if let Err(e) = peer.pc.set_local_description(offer).await {
            return peer.fail_publish(op, PeerError::Setup(e)).await;
        }
        op.ok();
        let mut gathered = peer.gathered.clone();
        if tokio::time::timeout(GATHER_TIMEOUT, gathered.wait_for(|done| *done))
            .await
            .is_err()
        {
            peer.conn
                .event("ice gathering did not complete in time; offering the candidates so far");
        }
        let Some(local) = peer.pc.local_description().await else {
            let op = monitor.operation("create_offer", Some(peer.conn.id()));
            return peer
                .fail_publish(op, PeerError::WrongState("the offer could not be created"))
                .await;
        };
        Ok(Published {
            peer,
            events,
            offer: local.sdp,
            state,
        })
    }

    /// Publisher flow only: creates and applies an offer with new ICE credentials (an ICE restart) and returns
    /// it once it holds local candidates (at most [`GATHER_TIMEOUT`]). The answer goes to [`Peer::set_answer`].
    pub async fn restart_ice(&self) -> Result<String, PeerError> {
        let op = self.monitor.operation("create_offer", Some(self.conn.id()));
        let result = self.restart_offer().await;
        match &result {
            Ok(_) => op.ok(),
            Err(e) => op.fail(detail(e)),
        }
        result
    }

    async fn restart_offer(&self) -> Result<String, PeerError> {
        if self.flow != Flow::Publisher {
            return Err(PeerError::WrongState(
                "only a publishing connection restarts ICE itself",
            ));
        }
        self.ensure_open()?;
        let options = RTCOfferOptions { ice_restart: true };
        let offer = self
            .pc
            .create_offer(Some(options))
            .await
            .map_err(|e| self.closed_or(PeerError::Setup(e)))?;
        self.pc
            .set_local_description(offer)
            .await
            .map_err(|e| self.closed_or(PeerError::Setup(e)))?;
        let deadline = Instant::now() + GATHER_TIMEOUT;
        loop {
            let sdp = self
                .pc
                .local_description()
                .await
                .map(|d| d.sdp)
                .ok_or(PeerError::WrongState("the restart offer was not applied"))?;
            if sdp.contains("a=candidate:") || Instant::now() >= deadline {
                return Ok(sdp);
            }
            tokio::time::sleep(RESTART_GATHER_POLL).await;
        }
    }

    async fn fail_publish(
        self,
        op: sightline_monitor::Operation,
        e: PeerError,
    ) -> Result<Published, PeerError> {
        op.fail(detail(&e));
        self.close().await;
        Err(e)
    }
}

/// Forwards webrtc-rs's callbacks to the driver, keeping the last connection state. Ends when either side does.
async fn relay_states(
    mut source: mpsc::Receiver<HandlerEvent>,
    to_driver: mpsc::Sender<HandlerEvent>,
    state: watch::Sender<RTCPeerConnectionState>,
) {
    loop {
        let event = tokio::select! {
            event = source.recv() => event,
            _ = to_driver.closed() => None,
        };
        let Some(event) = event else { return };
        if let HandlerEvent::Connection(s) = &event {
            state.send_replace(*s);
        }
        // Overflow: awaited, as the driver's own queue is (webrtc-rs waits on its callback).
        if to_driver.send(event).await.is_err() {
            return;
        }
    }
}
