//! WHEP (WebRTC-HTTP Egress Protocol, RFC 9725 draft lineage) so standard players can watch a screen.
//!
//! - `POST /whep/{screen}` with an SDP offer (`application/sdp`) and a bearer token (role view or above) →
//!   `201 Created`, the SDP answer with every candidate inside, and `Location: /whep/{screen}/{resource}`.
//! - `PATCH` on the location with `application/trickle-ice-sdpfrag` adds the client's trickled candidates (`204`).
//! - `DELETE` on the location ends the session (`200`).
//! - CORS: every WHEP response allows any origin and exposes `Location` and `Link`, and `OPTIONS` answers
//!   preflights, so a WHEP player on another web origin can watch. Authentication is the bearer token only (no
//!   cookies), so allowing any origin grants nothing a token does not.
//!
//! Each WHEP session is a session of the session manager's table (listed, kickable, found by its resource id) owned
//! by one tracked task that holds the peer and ends it on DELETE (a kick), on ICE failure or at shutdown. The resource id in the URL is random, so a
//! viewer cannot end someone else's session by guessing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use sightline_monitor::Owner;

use crate::auth::{Auth, Viewer, generate_token};
use crate::cors;
use crate::error::AppError;
use crate::peer::{CandidateInit, PeerEvent};
use crate::session::{SessionKind, SessionManager, WatchMedia, WatchRequest};

/// The WHEP routes, with CORS on every response.
pub fn routes() -> Router<SessionManager> {
    Router::new()
        .route("/whep/{screen}", post(create).options(preflight))
        .route(
            "/whep/{screen}/{session}",
            delete(remove).patch(patch).options(preflight),
        )
        .layer(axum::middleware::map_response(allow_any_origin))
}

/// Headers a WHEP player on another origin must read.
const EXPOSED: &str = "Location, Link";

/// `OPTIONS` on a WHEP path: a CORS preflight.
async fn preflight() -> Response {
    cors::preflight(
        HeaderValue::from_static("*"),
        "POST, PATCH, DELETE, OPTIONS",
        HeaderValue::from_static("Authorization, Content-Type, If-Match"),
        EXPOSED,
    )
}

async fn allow_any_origin(r: Response) -> Response {
    cors::allow(r, HeaderValue::from_static("*"), EXPOSED)
}

/// Largest SDP offer accepted. Offers from players are a few KB.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

fn sdp_response(status: StatusCode, sdp: String) -> Response {
    let mut r = (status, sdp).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    r
}

fn content_type_is(headers: &HeaderMap, want: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
}

/// `POST /whep/{screen}`.
pub async fn create(
    State(manager): State<SessionManager>,
    auth: Auth<Viewer>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(screen): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if !content_type_is(&headers, "application/sdp") {
        return Err(AppError::BadRequest(
            "the offer must be sent as Content-Type: application/sdp".into(),
        ));
    }
    if body.len() > MAX_OFFER_BYTES {
        return Err(AppError::TooLarge);
    }
    let offer = std::str::from_utf8(&body)
        .map_err(|_| AppError::BadRequest("the offer is not UTF-8 text".into()))?;
    // An unknown screen is a 404 before any session is admitted.
    manager.find_screen(Some(screen.clone())).await?;
    let session =
        manager.open_session(SessionKind::Whep, auth.role, Some(remote.to_string()), None)?;
    let request = WatchRequest::Whep {
        screen,
        offer: offer.to_owned(),
    };
    let watch = manager.open_watch(&session, request).await?;
    let WatchMedia::Peer(p) = watch.media else {
        return Err(AppError::Internal("a WHEP watch has no peer".into()));
    };
    let (screen, conn, ticket, mut events) = (watch.screen, watch.conn, watch.ticket, p.events);
    let resource = generate_token();
    // The client's ICE servers for the `Link` headers below, with a TURN credential for this session.
    let ice_servers = manager
        .config()
        .client_ice_servers(session.id(), std::time::SystemTime::now());
    let peer = Arc::new(p.peer);
    session.set_whep(resource.clone(), peer.clone());
    let location = format!("/whep/{}/{}", screen.id, resource);
    manager.spawn("whep-session", Owner::Connection(conn.id()), async move {
        let kicked = session.kicked().clone();
        let reason = loop {
            tokio::select! {
                () = kicked.cancelled() => break "ended",
                ev = events.recv() => match ev {
                    None | Some(PeerEvent::Closed) => break "closed",
                    Some(PeerEvent::Failed(_)) => break "failed",
                    Some(PeerEvent::VideoEnded) => break "the screen is no longer available",
                    Some(_) => {}
                },
            }
        };
        peer.close().await;
        tracing::debug!(session = session.id(), reason, "WHEP session ended");
        drop(ticket);
        drop(session);
    });
    let mut r = sdp_response(StatusCode::CREATED, p.sdp);
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|e| AppError::Internal(e.to_string()))?,
    );
    for s in &ice_servers {
        for url in &s.urls {
            let mut link = format!("<{url}>; rel=\"ice-server\"");
            if let (Some(u), Some(c)) = (&s.username, &s.credential) {
                link.push_str(&format!(
                    "; username=\"{u}\"; credential=\"{c}\"; credential-type=\"password\""
                ));
            }
            if let Ok(v) = HeaderValue::from_str(&link) {
                h.append(header::LINK, v);
            }
        }
    }
    Ok(r)
}

/// `DELETE /whep/{screen}/{resource}`: ends the session and answers once its peer is closed.
pub async fn remove(
    State(manager): State<SessionManager>,
    _auth: Auth<Viewer>,
    Path((screen, resource)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (session, peer) = manager
        .whep_session(&resource, &screen)
        .ok_or_else(|| AppError::NotFound("no such WHEP session".into()))?;
    manager.kick(&session).await;
    // The session's task closes the peer too; closing here as well answers only once it is closed.
    if let Some(peer) = peer {
        peer.close().await;
    }
    Ok(StatusCode::OK.into_response())
}

/// `PATCH /whep/{screen}/{resource}` with `application/trickle-ice-sdpfrag`: adds the client's candidates.
pub async fn patch(
    State(manager): State<SessionManager>,
    _auth: Auth<Viewer>,
    Path((screen, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let peer = manager
        .whep_session(&resource, &screen)
        .and_then(|(_, peer)| peer)
        .ok_or_else(|| AppError::NotFound("no such WHEP session".into()))?;
    if !content_type_is(&headers, "application/trickle-ice-sdpfrag") {
        return Err(AppError::BadRequest(
            "send candidates as Content-Type: application/trickle-ice-sdpfrag".into(),
        ));
    }
    if body.len() > MAX_OFFER_BYTES {
        return Err(AppError::TooLarge);
    }
    let frag = std::str::from_utf8(&body)
        .map_err(|_| AppError::BadRequest("the fragment is not UTF-8".into()))?;
    for init in sdpfrag_candidates(frag) {
        peer.add_remote_candidate(init)
            .await
            .map_err(|e| AppError::BadRequest(format!("candidate refused: {e}")))?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The candidates of a `trickle-ice-sdpfrag` body (RFC 8840), in order, each labelled with the `a=mid` before it;
/// `a=end-of-candidates` becomes an empty candidate. Other lines are ignored. At most one entry per line of the
/// body, which [`MAX_OFFER_BYTES`] bounds.
pub fn sdpfrag_candidates(frag: &str) -> Vec<CandidateInit> {
    let mut out = Vec::new();
    let mut mid = None;
    let mut mline = None;
    for line in frag.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("a=mid:") {
            mid = Some(m.to_owned());
            mline = Some(mline.map_or(0, |i: u16| i.saturating_add(1)));
        } else if let Some(c) = line.strip_prefix("a=") {
            let end = c == "end-of-candidates";
            if c.starts_with("candidate:") || end {
                out.push(CandidateInit {
                    candidate: if end { String::new() } else { c.to_owned() },
                    sdp_mid: mid.clone(),
                    sdp_mline_index: mline,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdpfrag_candidates_follow_their_mid() {
        let frag = "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\n\
                    a=mid:0\r\na=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\n\
                    a=mid:1\r\na=candidate:2 1 udp 1686052607 198.51.100.7 9 typ srflx\r\na=end-of-candidates\r\n";
        let c = sdpfrag_candidates(frag);
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[0].candidate,
            "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host"
        );
        assert_eq!(
            (c[0].sdp_mid.as_deref(), c[0].sdp_mline_index),
            (Some("0"), Some(0))
        );
        assert_eq!(
            (c[1].sdp_mid.as_deref(), c[1].sdp_mline_index),
            (Some("1"), Some(1))
        );
        assert_eq!(c[2].candidate, "");
        assert!(sdpfrag_candidates("a=mid:\na=ice-lite\nx").is_empty());
    }

    #[test]
    fn sdpfrag_mid_count_saturates() {
        let frag = "a=mid:x\n".repeat(usize::from(u16::MAX) + 2) + "a=end-of-candidates\n";
        let c = sdpfrag_candidates(&frag);
        assert_eq!(c[0].sdp_mline_index, Some(u16::MAX));
    }
}
