//! The WebRTC peer wrapper (webrtc-rs 0.21): one peer connection per viewer.
//!
//! A [`Peer`] is one viewer's peer connection with its own H.264 track, fed by a [`VideoFeed`] — the viewer's
//! subscription to the shared encoder, so a screen is encoded once however many viewers watch it — and a data
//! channel named [`CONTROL_LABEL`] for input and acknowledgements. Three negotiation flows:
//! - **offerer** ([`Peer::offer`], WebSocket `/ws`): we offer a sendonly video section and the control channel,
//!   trickle our candidates as [`PeerEvent::LocalCandidate`], and apply the answer with [`Peer::set_answer`];
//! - **answerer** ([`Peer::answer`], WHEP): the client offers (recvonly video), we answer with every host
//!   candidate already inside the SDP;
//! - **publisher** ([`Peer::publish`], WHIP egress, `publish.rs`): we offer the video only (no data channel) with
//!   every candidate inside, and may restart ICE ([`Peer::restart_ice`]).
//!
//! # Tasks
//! Every task is spawned through the monitor and owned by the viewer's monitor connection:
//! - `webrtc-driver`: webrtc-rs's own connection driver (sockets, ICE, DTLS/SRTP, SCTP), routed through the
//!   monitor by [`runtime::MonitoredRuntime`];
//! - `peer-driver` ([`driver`]): the single owner of the peer's state. webrtc-rs callbacks reach it as
//!   messages ([`handler`]); it records states and events in the monitor, emits [`PeerEvent`]s, forwards
//!   PLI/FIR to the media task, and tears everything down — on [`Peer::close`], on ICE failure, on drop;
//! - `peer-media` ([`media`]): drains the feed, sends from the first keyframe after connecting, with RTP
//!   timestamps from capture times;
//! - `peer-stats` ([`stats`]): `get_stats` every second → the connection's counters.
//!
//! # Keyframes
//! A viewer starts with a keyframe: the one its subscription received while the connection was being set up
//! (kept by the media task's join cache while it is at most 500 ms old), otherwise one requested from the
//! feed when the peer connects. Every PLI or FIR from the receiver — they only reach us through
//! [`interceptor::KeyframeRequestForwarder`] — requests another. Requests coalesce in the media task (one
//! pending request at most) and again in the encoder's keyframe gate.
//!
//! # Pacing
//! Outgoing RTP goes through rtc-interceptor's `PacerInterceptor` ([`config::PACING_RATE_BPS`],
//! [`config::PACING_BURST_PACKETS`]), so a 1080p IDR (~145 packets) is spread over a few milliseconds instead
//! of leaving in one burst that overflows receive buffers.
//!
//! # Playout delay
//! Every offer and answer carries the playout-delay RTP header extension, and when the receiver accepts it
//! (Chromium does) each packet asks for a minimum and maximum delay of 0: the browser renders frames as soon as
//! they are decoded instead of buffering them for smooth motion. On loopback this took Chromium's jitter
//! buffer from 71–120 ms to 0.5–2 ms, which is most of the glass-to-glass latency.
//!
//! # Bounded queues
//! [`config::PEER_EVENT_CAPACITY`] (events to the session manager), [`config::HANDLER_EVENT_CAPACITY`]
//! (webrtc-rs callbacks), [`config::DATA_CHANNEL_SEND_BUFFER_LIMIT`] (control messages not yet sent),
//! [`config::PACING_QUEUE_PACKETS`] (the pacer); webrtc-rs's own queues are bounded (256 events each). The
//! feed is the encoder fan-out's bounded per-subscriber queue.

mod adapt;
// Public for the fuzz targets (fuzz/) only: candidates and SDP arrive from the network, and the codecs let a target
// negotiate as a real peer does.
#[doc(hidden)]
pub mod candidate;
#[doc(hidden)]
pub mod codecs;
mod config;
mod congestion;
mod counters;
mod driver;
mod error;
mod events;
mod feed;
mod handler;
mod interceptor;
mod media;
mod publish;
mod queue;
mod retransmit;
mod runtime;
#[doc(hidden)]
pub mod sdp;
mod stats;
mod tier;

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use rtc::interceptor::{PacerBuilder, Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_nack, configure_rtcp_reports,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use sightline_monitor::{Connection, Lifecycle, Monitor};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder,
    RTCSessionDescription, SettingEngineBuilder,
};
use webrtc::rtp_transceiver::RtpSender;

pub use adapt::start_tier;
pub use candidate::CandidateInit;
pub use config::{
    CLOSE_TIMEOUT, CongestionSettings, GATHER_TIMEOUT, H264_FMTP, ICE_CHECK_INTERVAL,
    ICE_DISCONNECTED_TIMEOUT, ICE_FAILED_TIMEOUT, IceServer, PACING_BURST_PACKETS, PACING_RATE_BPS,
    PEER_EVENT_CAPACITY, PeerConfig,
};
pub use error::PeerError;
pub use events::{CONTROL_LABEL, NetworkReport, PeerEvent, TierInfo, VideoFeed};
use events::{Shared, TRACK_ID};
pub use feed::{SubscriptionFeed, Tier};
pub use publish::Published;

use adapt::Adapter;
use candidate::{RemoteCandidate, classify};
use config::*;
use congestion::PathEstimate;
use driver::Driver;
use handler::{Handler, HandlerEvent};
use interceptor::{KeyframeRequestForwarder, RtcpCounters};
use media::{MediaContext, MediaCounters};
use retransmit::{RetransmitCounters, RetransmitGate};
use runtime::MonitoredRuntime;

/// Media stream id of the video track.
const STREAM_ID: &str = "sightline";

/// Which negotiation flow created the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Offerer,
    Answerer,
    /// WHIP egress ([`Peer::publish`]): we offer video only, with every candidate inside.
    Publisher,
}

/// One viewer's WebRTC peer connection. Dropping it tears the peer down in the background; [`Peer::close`]
/// does the same and waits until everything has stopped.
pub struct Peer {
    pc: Arc<dyn PeerConnection>,
    conn: Connection,
    monitor: Monitor,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    finished: watch::Receiver<bool>,
    gathered: watch::Receiver<bool>,
    driver: Mutex<Option<JoinHandle<()>>>,
    flow: Flow,
    /// Keyframe requests to the media task (PLI/FIR and the viewer's `keyframe` command).
    keyframe: Arc<Notify>,
    /// The path estimate, for the viewer's manual cap.
    path: Arc<PathEstimate>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("connection", &self.conn.id())
            .field("flow", &self.flow)
            .finish_non_exhaustive()
    }
}

/// A peer connection with its video track, before any task runs.
struct Parts {
    pc: Arc<dyn PeerConnection>,
    handler_rx: mpsc::Receiver<HandlerEvent>,
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    control: Option<Arc<dyn DataChannel>>,
    rtcp: Arc<RtcpCounters>,
    path: Arc<PathEstimate>,
    retransmits: Arc<RetransmitCounters>,
}

impl Peer {
    /// Offerer flow (WS `/ws`): creates the peer connection with one sendonly H.264 track (constrained baseline,
    /// [`H264_FMTP`]) and the [`CONTROL_LABEL`] data channel, and returns the peer, its event receiver and the
    /// offer SDP. Local candidates follow as [`PeerEvent::LocalCandidate`] (trickle ICE).
    pub async fn offer(
        cfg: &PeerConfig,
        feed: impl VideoFeed,
        conn: Connection,
        monitor: &Monitor,
    ) -> Result<(Peer, mpsc::Receiver<PeerEvent>, String), PeerError> {
        let started = Instant::now();
        let op = monitor.operation("create_offer", Some(conn.id()));
        let parts = match build(cfg, &conn, monitor, Flow::Offerer).await {
            Ok(parts) => parts,
            Err(e) => {
                op.fail(detail(&e));
                conn.close("setup failed");
                return Err(e);
            }
        };
        let (peer, events) = Peer::start(
            parts,
            feed,
            conn,
            monitor,
            Flow::Offerer,
            started,
            cfg.congestion,
        );
        peer.conn.set_lifecycle(Lifecycle::Connecting);
        let offer = match peer.pc.create_offer(None).await {
            Ok(offer) => {
                op.ok();
                offer
            }
            Err(e) => return peer.fail_setup(op, PeerError::Setup(e)).await,
        };
        let sdp = offer.sdp.clone();
        let op = monitor.operation("set_local_description", Some(peer.conn.id()));
        if let Err(e) = peer.pc.set_local_description(offer).await {
            return peer.fail_setup(op, PeerError::Setup(e)).await;
        }
        op.ok();
        Ok((peer, events, sdp))
    }

    /// Answerer flow (WHEP): takes the client's offer, which must accept H.264 (constrained baseline,
    /// packetization-mode 1) in a video section it receives, and returns the answer SDP with every local
    /// candidate inside (non-trickle; gathering is awaited at most [`GATHER_TIMEOUT`]).
    pub async fn answer(
        cfg: &PeerConfig,
        offer_sdp: &str,
        feed: impl VideoFeed,
        conn: Connection,
        monitor: &Monitor,
    ) -> Result<(Peer, mpsc::Receiver<PeerEvent>, String), PeerError> {
        let started = Instant::now();
        let op = monitor.operation("set_remote_description", Some(conn.id()));
        let checked = sdp::check_h264_video(offer_sdp, "offer").and_then(|()| {
            RTCSessionDescription::offer(offer_sdp.to_owned()).map_err(PeerError::Negotiation)
        });
        let offer = match checked {
            Ok(offer) => offer,
            Err(e) => {
                op.fail(detail(&e));
                conn.close("offer rejected");
                return Err(e);
            }
        };
        let parts = match build(cfg, &conn, monitor, Flow::Answerer).await {
            Ok(parts) => parts,
            Err(e) => {
                op.fail(detail(&e));
                conn.close("setup failed");
                return Err(e);
            }
        };
        let (peer, events) = Peer::start(
            parts,
            feed,
            conn,
            monitor,
            Flow::Answerer,
            started,
            cfg.congestion,
        );
        peer.conn.set_lifecycle(Lifecycle::Connecting);
        if let Err(e) = peer.pc.set_remote_description(offer).await {
            return peer.fail_setup(op, PeerError::Negotiation(e)).await;
        }
        op.ok();

        let op = monitor.operation("create_answer", Some(peer.conn.id()));
        let answer = match peer.pc.create_answer(None).await {
            Ok(answer) => answer,
            Err(e) => return peer.fail_setup(op, PeerError::Negotiation(e)).await,
        };
        op.ok();
        let op = monitor.operation("set_local_description", Some(peer.conn.id()));
        if let Err(e) = peer.pc.set_local_description(answer).await {
            return peer.fail_setup(op, PeerError::Setup(e)).await;
        }
        op.ok();

        let mut gathered = peer.gathered.clone();
        if tokio::time::timeout(GATHER_TIMEOUT, gathered.wait_for(|done| *done))
            .await
            .is_err()
        {
            peer.conn.event(
                "ice gathering did not complete in time; answering with the candidates so far",
            );
        }
        let Some(local) = peer.pc.local_description().await else {
            let op = monitor.operation("create_answer", Some(peer.conn.id()));
            return peer
                .fail_setup(op, PeerError::WrongState("the answer could not be created"))
                .await;
        };
        Ok((peer, events, local.sdp))
    }

    /// Applies the client's answer to our offer (offer and publisher flows). The answer must accept our H.264 video.
    pub async fn set_answer(&self, sdp: &str) -> Result<(), PeerError> {
        let op = self
            .monitor
            .operation("set_remote_description", Some(self.conn.id()));
        let result = self.apply_answer(sdp).await;
        match &result {
            Ok(()) => op.ok(),
            Err(e) => op.fail(detail(e)),
        }
        result
    }

    async fn apply_answer(&self, sdp: &str) -> Result<(), PeerError> {
        if self.flow == Flow::Answerer {
            return Err(PeerError::WrongState(
                "this connection was not created by an offer from the server",
            ));
        }
        self.ensure_open()?;
        sdp::check_h264_video(sdp, "answer")?;
        let answer =
            RTCSessionDescription::answer(sdp.to_owned()).map_err(PeerError::Negotiation)?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(|e| self.closed_or(PeerError::Negotiation(e)))
    }

    /// Adds a candidate trickled by the client. `.local` (mDNS) candidates are ignored (`Ok`, recorded); an
    /// empty candidate is end-of-candidates.
    pub async fn add_remote_candidate(&self, c: CandidateInit) -> Result<(), PeerError> {
        let op = self
            .monitor
            .operation("add_candidate", Some(self.conn.id()));
        let result = self.apply_candidate(c).await;
        match &result {
            Ok(()) => op.ok(),
            Err(e) => op.fail(detail(e)),
        }
        result
    }

    async fn apply_candidate(&self, c: CandidateInit) -> Result<(), PeerError> {
        self.ensure_open()?;
        match classify(&c)? {
            RemoteCandidate::EndOfCandidates => {
                self.conn.event("remote end of candidates");
                Ok(())
            }
            RemoteCandidate::Mdns => {
                self.conn
                    .event(format!("ignored mDNS candidate {}", c.candidate.trim()));
                Ok(())
            }
            RemoteCandidate::Add(init) => {
                if self.pc.remote_description().await.is_none() {
                    return Err(PeerError::WrongState(
                        "an ICE candidate arrived before the session description",
                    ));
                }
                self.conn
                    .event(format!("remote candidate {}", init.candidate));
                self.pc
                    .add_ice_candidate(init)
                    .await
                    .map_err(|e| self.closed_or(PeerError::InvalidCandidate(Some(e))))
            }
        }
    }

    /// Sends a text message to the client on the control data channel (acknowledgements, errors). Waits while
    /// more than [`DATA_CHANNEL_SEND_BUFFER_LIMIT`](config::DATA_CHANNEL_SEND_BUFFER_LIMIT) bytes are unsent.
    pub async fn send_control(&self, text: String) -> Result<(), PeerError> {
        let dc = self
            .shared
            .control
            .lock()
            .clone()
            .ok_or(PeerError::ControlNotOpen)?;
        dc.send_text(&text)
            .await
            .map_err(|e| self.closed_or(PeerError::ControlSend(e)))
    }

    /// Closes the peer: ends every task it owns, closes the peer connection and the monitor connection.
    /// Idempotent; concurrent callers all return once teardown has finished.
    pub async fn close(&self) {
        self.shutdown.cancel();
        let mut finished = self.finished.clone();
        // Teardown waits up to CLOSE_TIMEOUT for the workers and for webrtc-rs's close; allow for both.
        if tokio::time::timeout(CLOSE_TIMEOUT * 3, finished.wait_for(|done| *done))
            .await
            .is_ok()
        {
            if let Some(driver) = self.driver.lock().take() {
                // Finished: the handle only needs to be dropped.
                drop(driver);
            }
            return;
        }
        // The driver is stuck (a bug): stop it and do the essential part of its teardown here.
        if let Some(driver) = self.driver.lock().take() {
            driver.abort();
        }
        let _ = self.pc.close().await;
        self.conn.close("close timed out");
        tracing::warn!(connection = %self.conn.id(), "webrtc peer teardown timed out; aborted");
    }

    /// Asks for a keyframe, as a PLI from the receiver would (rate-limited per viewer, coalesced per tier).
    pub fn request_keyframe(&self) {
        self.keyframe.notify_one();
    }

    /// Caps what this viewer's stream may use, kbit/s (`None` lifts the cap): the `quality` command. It bounds
    /// the estimate the tier selector and the encoder follow, so it moves this viewer only — never the other
    /// viewers of its tier.
    pub fn set_bitrate_cap(&self, kbps: Option<u32>) {
        self.path.set_cap_kbps(kbps);
    }

    /// The monitor connection this peer records into.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Whether teardown has finished.
    pub fn is_closed(&self) -> bool {
        *self.finished.borrow()
    }

    fn ensure_open(&self) -> Result<(), PeerError> {
        if self.shutdown.is_cancelled() {
            Err(PeerError::Closed)
        } else {
            Ok(())
        }
    }

    /// A failure of a call into webrtc-rs reads as `Closed` when the peer was closed meanwhile.
    fn closed_or(&self, e: PeerError) -> PeerError {
        if self.shutdown.is_cancelled() {
            PeerError::Closed
        } else {
            e
        }
    }

    /// Setup failed after the tasks started: record, tear down, return the error.
    async fn fail_setup(
        self,
        op: sightline_monitor::Operation,
        e: PeerError,
    ) -> Result<(Peer, mpsc::Receiver<PeerEvent>, String), PeerError> {
        op.fail(detail(&e));
        self.close().await;
        Err(e)
    }

    /// Spawns the media, stats and driver tasks for built parts.
    fn start(
        parts: Parts,
        feed: impl VideoFeed,
        conn: Connection,
        monitor: &Monitor,
        flow: Flow,
        started: Instant,
        congestion: CongestionSettings,
    ) -> (Peer, mpsc::Receiver<PeerEvent>) {
        let Parts {
            pc,
            handler_rx,
            track,
            sender,
            ssrc,
            control,
            rtcp,
            path,
            retransmits,
        } = parts;
        let (events_tx, events_rx) = mpsc::channel(PEER_EVENT_CAPACITY);
        let (connected_tx, connected_rx) = watch::channel(false);
        let (gathering_tx, gathered) = watch::channel(false);
        let (finished_tx, finished) = watch::channel(false);
        let shared = Arc::new(Shared {
            control: Mutex::new(None),
            finished: finished_tx,
        });
        let shutdown = CancellationToken::new();
        let keyframe = Arc::new(Notify::new());
        let owner = conn.owner();
        conn.track(TRACK_ID, "video", "new");

        let counters = Arc::new(MediaCounters::default());
        let adapter = Adapter::new(
            feed.tiers(),
            feed.tier(),
            path.clone(),
            rtcp.clone(),
            counters.clone(),
            &congestion,
        );
        let adapt_status = adapter.status();
        let media = monitor.spawn(
            "peer-media",
            owner.clone(),
            media::run(
                feed,
                MediaContext {
                    track: track.clone(),
                    sender,
                    ssrc,
                    connected: connected_rx,
                    keyframe: keyframe.clone(),
                    shutdown: shutdown.clone(),
                    counters: counters.clone(),
                    conn: conn.clone(),
                    events: events_tx.clone(),
                    adapter,
                },
            ),
        );
        let stats = monitor.spawn(
            "peer-stats",
            owner.clone(),
            stats::run(stats::StatsContext {
                pc: pc.clone(),
                conn: conn.clone(),
                media: counters,
                rtcp,
                adapt: adapt_status,
                retransmits,
                events: events_tx.clone(),
                shutdown: shutdown.clone(),
            }),
        );
        let driver = Driver {
            pc: pc.clone(),
            conn: conn.clone(),
            monitor: monitor.clone(),
            handler_rx,
            events: events_tx,
            shutdown: shutdown.clone(),
            shared: shared.clone(),
            track,
            connected_tx,
            gathering_tx,
            keyframe: keyframe.clone(),
            control,
            trickle: flow == Flow::Offerer,
            workers: vec![media, stats],
            started,
            keyframe_events_dropped: 0,
        };
        let driver = monitor.spawn("peer-driver", owner, driver.run());
        let peer = Peer {
            pc,
            conn,
            monitor: monitor.clone(),
            shared,
            shutdown,
            finished,
            gathered,
            driver: Mutex::new(Some(driver)),
            flow,
            keyframe,
            path,
        };
        (peer, events_rx)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The driver notices and tears the peer down on its own (nothing here can await).
        self.shutdown.cancel();
    }
}

/// The error with its sources, for the monitor (operators see it; clients only see `Display`).
fn detail(e: &PeerError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Builds the peer connection, its video track and (offer flow) the control channel.
async fn build(
    cfg: &PeerConfig,
    conn: &Connection,
    monitor: &Monitor,
    flow: Flow,
) -> Result<Parts, PeerError> {
    cfg.validate()?;
    let ssrc: u32 = rand::random();
    let rtcp = Arc::new(RtcpCounters::default());
    let mut me = MediaEngine::default();
    codecs::register_codecs(&mut me)?;
    let mut registry = configure_rtcp_reports(configure_nack(Registry::new(), &mut me)).with(
        KeyframeRequestForwarder::slot(),
        KeyframeRequestForwarder::new(ssrc, rtcp.clone()),
    );
    let path = if cfg.congestion.enabled {
        let (with_cc, path) = congestion::configure(registry, &mut me, &cfg.congestion)?;
        registry = with_cc;
        path
    } else {
        // No estimate: only the viewer's manual cap bounds what the adaptation sees.
        Arc::new(PathEstimate::new(f64::INFINITY))
    };
    let retransmits = Arc::new(RetransmitCounters::default());
    registry = registry.with(
        RetransmitGate::slot(),
        RetransmitGate::new(ssrc, path.clone(), rtcp.clone(), retransmits.clone()),
    );
    if cfg.pacing_bps > 0 && !cfg.congestion.enabled {
        registry = registry.with(
            Slot::Pacer,
            PacerBuilder::new()
                .with_target_bitrate(cfg.pacing_bps as f64)
                .with_burst_bits((PACING_BURST_PACKETS * RTP_MTU * 8) as f64)
                .with_queue_limit(PACING_QUEUE_PACKETS)
                .build(),
        );
    }
    let settings = SettingEngineBuilder::new()
        // Remote `.local` candidates are ignored before they reach webrtc-rs; disabling mDNS also keeps it
        // from binding port 5353 and sending multicast queries.
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_ice_timeouts(
            Some(ICE_DISCONNECTED_TIMEOUT),
            Some(ICE_FAILED_TIMEOUT),
            Some(ICE_KEEPALIVE_INTERVAL),
        )
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_BINDING_REQUESTS))
        .with_host_acceptance_min_wait(Some(ICE_ACCEPTANCE_MIN_WAIT[0]))
        .with_srflx_acceptance_min_wait(Some(ICE_ACCEPTANCE_MIN_WAIT[1]))
        .with_prflx_acceptance_min_wait(Some(ICE_ACCEPTANCE_MIN_WAIT[2]))
        .with_relay_acceptance_min_wait(Some(ICE_ACCEPTANCE_MIN_WAIT[3]))
        .build();
    let configuration = RTCConfigurationBuilder::new()
        .with_ice_servers(cfg.rtc_ice_servers(std::time::SystemTime::now()))
        .build();
    let (handler_tx, handler_rx) = mpsc::channel(HANDLER_EVENT_CAPACITY);
    let pc = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_media_engine(me)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler::new(handler_tx)))
        .with_runtime(Arc::new(MonitoredRuntime::new(
            monitor.clone(),
            conn.owner(),
        )))
        .with_udp_addrs(cfg.udp_addrs.clone())
        .with_data_channel_send_buffer_limit(DATA_CHANNEL_SEND_BUFFER_LIMIT)
        .build()
        .await
        .map_err(PeerError::Setup)?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    match add_media(&pc, flow, ssrc).await {
        Ok((track, sender, control)) => Ok(Parts {
            pc,
            handler_rx,
            track,
            sender,
            ssrc,
            control,
            rtcp,
            path,
            retransmits,
        }),
        Err(e) => {
            let _ = pc.close().await;
            Err(e)
        }
    }
}

type Media = (
    Arc<TrackLocalStaticRTP>,
    Arc<dyn RtpSender>,
    Option<Arc<dyn DataChannel>>,
);

/// Adds the sendonly video transceiver (sending as `ssrc`) and, when we offer, the control channel.
async fn add_media(
    pc: &Arc<dyn PeerConnection>,
    flow: Flow,
    ssrc: u32,
) -> Result<Media, PeerError> {
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        STREAM_ID.to_owned(),
        TRACK_ID.to_owned(),
        "screen".to_owned(),
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codecs::h264_codec(H264_FMTP, vec![]),
            ..Default::default()
        }],
    )));
    let transceiver = pc
        .add_transceiver_from_track(
            track.clone() as Arc<dyn TrackLocal>,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                ..Default::default()
            }),
        )
        .await
        .map_err(PeerError::Setup)?;
    let sender = transceiver
        .sender()
        .await
        .map_err(PeerError::Setup)?
        .ok_or(PeerError::WrongState(
            "the video sender could not be created",
        ))?;
    let control = match flow {
        Flow::Offerer => Some(
            pc.create_data_channel(CONTROL_LABEL, None)
                .await
                .map_err(PeerError::Setup)?,
        ),
        Flow::Answerer | Flow::Publisher => None,
    };
    Ok((track, sender, control))
}
