//! Opening a watch, once for every transport: find the screen → open the watch's monitor connection (a child of
//! the session's) → subscribe to the shared encoder → for WebRTC, build the peer → record what the session
//! watches. Each transport then only moves the picture: the `/ws` socket and WHEP hold a peer, the `/ws` JPEG
//! stream and MJPEG pace a JPEG subscription. A `/ws` WebRTC watch the `[sfu]` policy routes to an SFU gets a
//! brokered Janus session instead of a peer ([`SfuWatch`]); when the SFU cannot serve it, the gateway does.

use sightline_media::ScreenInfo;
use sightline_media::engine::{JpegProfile, JpegSubscription};
use sightline_monitor::{Connection, ConnectionAttrs, ConnectionKind};
use tokio::sync::mpsc;

use super::{Session, SessionManager, WatchInfo, WatchKind, profiles};
use crate::control::Error;
use crate::peer::{Peer, PeerEvent};
use crate::peer::{SubscriptionFeed, start_tier};
use crate::sfu::SfuViewer;

/// What a viewer asks to watch.
#[derive(Clone, Debug)]
pub enum WatchRequest {
    /// H.264 over WebRTC negotiated on `/ws`: the gateway offers.
    Webrtc {
        /// Screen id.
        screen: String,
        /// Downscale to at most this width: snapped to the screen's tier widths ([`profiles::video_tiers`]).
        max_width: Option<u32>,
    },
    /// H.264 over WebRTC negotiated by WHEP: the player offered.
    Whep {
        /// Screen id.
        screen: String,
        /// The player's SDP offer.
        offer: String,
    },
    /// JPEG frames over `/ws`.
    Jpeg {
        /// Screen id.
        screen: String,
        /// Quality, size and rate (defaults from `[preview]`).
        jpeg: JpegRequest,
    },
    /// A multipart JPEG stream over HTTP.
    Mjpeg {
        /// Screen id.
        screen: String,
        /// Quality, size and rate (defaults from `[preview]`).
        jpeg: JpegRequest,
    },
}

impl WatchRequest {
    /// The transport.
    pub fn kind(&self) -> WatchKind {
        match self {
            Self::Webrtc { .. } => WatchKind::Webrtc,
            Self::Whep { .. } => WatchKind::Whep,
            Self::Jpeg { .. } => WatchKind::Jpeg,
            Self::Mjpeg { .. } => WatchKind::Mjpeg,
        }
    }

    fn screen(&self) -> &str {
        match self {
            Self::Webrtc { screen, .. }
            | Self::Whep { screen, .. }
            | Self::Jpeg { screen, .. }
            | Self::Mjpeg { screen, .. } => screen,
        }
    }
}

/// A JPEG viewer's choices; `None` takes `[preview]`'s value. Quality and width are snapped to the fixed set of
/// [`profiles::snap_jpeg`]; `fps` only paces this viewer.
#[derive(Clone, Copy, Debug, Default)]
pub struct JpegRequest {
    /// JPEG quality.
    pub quality: Option<u8>,
    /// Downscale to at most this width.
    pub max_width: Option<u32>,
    /// Frames per second.
    pub fps: Option<u32>,
}

/// A running watch: what the transport needs to move the picture. Its [`WatchTicket`] keeps the session's watch
/// row; drop it when the watch ends.
pub struct Watch {
    /// The screen watched.
    pub screen: ScreenInfo,
    /// The watch's monitor connection (the peer's or the JPEG stream's).
    pub conn: Connection,
    /// The picture.
    pub media: WatchMedia,
    /// Clears the session's watch row when dropped.
    pub ticket: WatchTicket,
}

/// How the picture reaches the viewer.
pub enum WatchMedia {
    /// A WebRTC peer carrying the shared H.264 stream.
    Peer(PeerWatch),
    /// An SFU sends the picture; the gateway brokers the viewer's session with it.
    Sfu(SfuWatch),
    /// The shared JPEG encoder's latest frames, at the profile's rate.
    Jpeg {
        /// The subscription.
        sub: JpegSubscription,
        /// The viewer's profile, snapped (its `fps` paces the stream).
        profile: JpegProfile,
    },
}

/// A WebRTC watch's peer.
pub struct PeerWatch {
    /// The peer, holding the video subscription.
    pub peer: Peer,
    /// The peer's events (candidates, state, data-channel commands).
    pub events: mpsc::Receiver<PeerEvent>,
    /// The gateway's offer (`/ws`) or answer (WHEP).
    pub sdp: String,
}

/// A WebRTC watch served by an SFU instance.
pub struct SfuWatch {
    /// The brokered Janus session.
    pub viewer: SfuViewer,
    /// Janus's offer, relayed to the viewer.
    pub sdp: String,
}

/// Holds a session's watch row; dropping it records that the session watches nothing.
pub struct WatchTicket {
    manager: SessionManager,
    session: String,
}

impl Drop for WatchTicket {
    fn drop(&mut self) {
        self.manager
            .inner
            .table
            .lock()
            .set_watch(&self.session, None);
    }
}

impl SessionManager {
    /// Opens a watch for `session`. On failure nothing is left behind (the connection closes, the subscription
    /// ends) and the error says what failed.
    pub async fn open_watch(
        &self,
        session: &Session,
        request: WatchRequest,
    ) -> Result<Watch, Error> {
        let kind = request.kind();
        let screen = self.screen(request.screen())?;
        if let WatchRequest::Webrtc { max_width, .. } = &request
            && let Some(watch) = self.open_sfu_watch(session, &screen, *max_width).await
        {
            return Ok(watch);
        }
        let conn = self.open_connection(
            match kind {
                WatchKind::Webrtc => ConnectionKind::WebRtc,
                WatchKind::Whep => ConnectionKind::Whep,
                WatchKind::Jpeg => ConnectionKind::Jpeg,
                WatchKind::Mjpeg => ConnectionKind::Mjpeg,
            },
            ConnectionAttrs {
                session: Some(session.id.clone()),
                screen: Some(screen.id.clone()),
                role: Some(session.role.to_string()),
                remote: session.remote.clone(),
                parent: session.connection,
            },
        );
        let media = match self.start_media(&screen, &conn, request).await {
            Ok(m) => m,
            Err(e) => {
                conn.close("start failed");
                return Err(e);
            }
        };
        session.set_watch(Some(WatchInfo {
            screen: screen.id.clone(),
            transport: kind,
            connection: Some(conn.id()),
            sfu: None,
        }));
        Ok(Watch {
            screen,
            conn,
            media,
            ticket: WatchTicket {
                manager: self.clone(),
                session: session.id.clone(),
            },
        })
    }

    /// A watch served by an SFU, when the `[sfu]` policy sends this viewer there and the SFU sets it up; `None`
    /// means the gateway serves it (a failure is recorded on the instance's health and the watch's connection).
    async fn open_sfu_watch(
        &self,
        session: &Session,
        screen: &ScreenInfo,
        max_width: Option<u32>,
    ) -> Option<Watch> {
        let sfu = self.inner.sfu.as_ref()?;
        let local = self.inner.table.lock().local_webrtc_viewers(&screen.id);
        let index = sfu.route(local)?;
        let tiers = profiles::video_tiers(self.config(), screen, max_width);
        let tier = tiers.first()?;
        let conn = self.open_connection(
            ConnectionKind::Sfu,
            ConnectionAttrs {
                session: Some(session.id.clone()),
                screen: Some(screen.id.clone()),
                role: Some(session.role.to_string()),
                remote: session.remote.clone(),
                parent: session.connection,
            },
        );
        let (viewer, sdp) = match sfu.open_viewer(index, screen, tier, &conn).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, screen = %screen.id, "SFU unavailable; the gateway serves the viewer");
                conn.close(&format!("{e}; served by the gateway instead"));
                return None;
            }
        };
        conn.set_lifecycle(sightline_monitor::Lifecycle::Connecting);
        session.set_watch(Some(WatchInfo {
            screen: screen.id.clone(),
            transport: WatchKind::Webrtc,
            connection: Some(conn.id()),
            sfu: Some(viewer.instance().to_owned()),
        }));
        Some(Watch {
            screen: screen.clone(),
            conn,
            media: WatchMedia::Sfu(SfuWatch { viewer, sdp }),
            ticket: WatchTicket {
                manager: self.clone(),
                session: session.id.clone(),
            },
        })
    }

    async fn start_media(
        &self,
        screen: &ScreenInfo,
        conn: &Connection,
        request: WatchRequest,
    ) -> Result<WatchMedia, Error> {
        let config = self.config();
        // Every client choice goes through the snapping of `profiles`: the defaults too, so a request naming the
        // default values shares the default's encoder.
        let jpeg = |r: JpegRequest| {
            let preview = config.preview_profile();
            let wanted = JpegProfile {
                quality: r.quality.unwrap_or(preview.quality),
                max_width: r.max_width.or(preview.max_width),
                fps: r.fps.unwrap_or(preview.fps),
            };
            profiles::snap_jpeg(config, screen, wanted)
        };
        let (max_width, offer) = match request {
            WatchRequest::Jpeg { jpeg: r, .. } | WatchRequest::Mjpeg { jpeg: r, .. } => {
                let profile = jpeg(r);
                let sub = self.inner.engine.subscribe_jpeg(&screen.id, profile)?;
                return Ok(WatchMedia::Jpeg { sub, profile });
            }
            WatchRequest::Webrtc { max_width, .. } => (max_width, None),
            WatchRequest::Whep { offer, .. } => (None, Some(offer)),
        };
        let tiers = profiles::video_tiers(config, screen, max_width);
        let peer_config = config.peer_settings();
        let congestion = peer_config.congestion;
        let tops: Vec<u32> = tiers.iter().map(|t| t.profile.bitrate_kbps).collect();
        let start = start_tier(&tops, congestion.enabled.then_some(congestion.start_kbps));
        let feed =
            SubscriptionFeed::with_tiers(self.inner.engine.clone(), &screen.id, tiers, start)?;
        let monitor = &self.inner.monitor;
        let (peer, events, sdp) = match offer {
            None => Peer::offer(&peer_config, feed, conn.clone(), monitor)
                .await
                .map_err(|e| Error::internal(format!("cannot start WebRTC: {e}")))?,
            Some(offer) => Peer::answer(&peer_config, &offer, feed, conn.clone(), monitor)
                .await
                .map_err(|e| Error::invalid(format!("the offer was refused: {e}")))?,
        };
        Ok(WatchMedia::Peer(PeerWatch { peer, events, sdp }))
    }
}
