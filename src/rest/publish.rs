//! `/api/v1/screens/{id}/publish` (admin): WHIP egress of a screen ([`crate::whip`]). `POST` starts a publication
//! (`201` once the WHIP server has created its resource), `GET` lists the screen's publications, `DELETE` stops
//! them all or the one named by `?id=` (`204`; each `DELETE`s its WHIP resource). The token is never echoed.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Admin, Auth};
use crate::control::echo;
use crate::error::AppError;
use crate::session::SessionManager;
use crate::whip::{WhipError, WhipPublicationInfo};

/// The publish routes.
pub fn routes() -> Router<SessionManager> {
    Router::new().route(
        "/api/v1/screens/{id}/publish",
        get(list).post(start).delete(stop),
    )
}

/// `POST /api/v1/screens/{id}/publish` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The WHIP endpoint (`http://` or `https://`).
    pub url: String,
    /// Bearer token; empty or absent = no `Authorization` header.
    #[serde(default)]
    pub token: String,
    /// Index in the screen's tier ladder (0 = the best).
    #[serde(default)]
    pub tier: usize,
}

/// `GET /api/v1/screens/{id}/publish` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublicationsResponse {
    /// The screen's publications.
    pub publications: Vec<WhipPublicationInfo>,
}

/// `DELETE /api/v1/screens/{id}/publish` query.
#[derive(Debug, Deserialize)]
pub struct StopQuery {
    /// Only this publication.
    id: Option<String>,
}

/// A WHIP failure as the REST client sees it: the WHIP server's fault is `502`, with its status when it answered.
fn whip_error(e: WhipError) -> Response {
    match e {
        WhipError::Full(_) => AppError::Unavailable(e.to_string()).into_response(),
        WhipError::UnknownScreen(_) | WhipError::NotFound(_) => {
            AppError::NotFound(e.to_string()).into_response()
        }
        WhipError::BadTier { .. } | WhipError::BadRequest(_) => {
            AppError::BadRequest(e.to_string()).into_response()
        }
        WhipError::Media(_) => AppError::Unavailable(e.to_string()).into_response(),
        WhipError::Peer(_) => AppError::Internal(e.to_string()).into_response(),
        WhipError::Http(_) | WhipError::Refused { .. } | WhipError::Protocol(_) => {
            let upstream = match &e {
                WhipError::Refused { status, .. } => Some(*status),
                _ => None,
            };
            let body = json!({
                "error": "bad_gateway",
                "message": e.to_string(),
                "upstream_status": upstream,
            });
            (StatusCode::BAD_GATEWAY, Json(body)).into_response()
        }
    }
}

async fn start(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<WhipPublicationInfo>), Response> {
    let req: PublishRequest = serde_json::from_slice(&body).map_err(|e| {
        AppError::BadRequest(format!(
            "the body must be {{\"url\": \"http(s)://…\", \"token\": \"…\", \"tier\": 0}}: {e}"
        ))
        .into_response()
    })?;
    let screen = manager
        .find_screen(Some(id))
        .await
        .map_err(|e| AppError::from(e).into_response())?;
    manager
        .whip()
        .start(&screen.id, &req.url, &req.token, req.tier)
        .await
        .map(|info| (StatusCode::CREATED, Json(info)))
        .map_err(whip_error)
}

async fn list(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
    Path(id): Path<String>,
) -> Json<PublicationsResponse> {
    Json(PublicationsResponse {
        publications: manager.whip().list(Some(&id)),
    })
}

async fn stop(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
    Path(id): Path<String>,
    Query(query): Query<StopQuery>,
) -> Result<StatusCode, Response> {
    match manager.whip().stop(&id, query.id.as_deref()).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(WhipError::NotFound(p)) => Err(AppError::NotFound(format!(
            "no WHIP publication {} on screen {}",
            echo(&p),
            echo(&id)
        ))
        .into_response()),
        Err(e) => Err(whip_error(e)),
    }
}
