//! The REST API under `/api/v1` (screens, status, sessions, snapshots, MJPEG) and the monitor's `/api/v0/mcp/…`
//! paths. Described in `docs/openapi.yaml`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sightline_media::ScreenInfo;

use crate::auth::{Auth, Viewer};
use crate::error::AppError;
use crate::gateway::Gateway;

/// The REST routes.
pub fn routes() -> Router<Gateway> {
    Router::new().route("/api/v1/screens", get(screens))
}

/// `GET /api/v1/screens` response.
#[derive(Debug, Serialize)]
pub struct ScreensResponse {
    /// The screens.
    pub screens: Vec<ScreenInfo>,
}

async fn screens(
    State(gw): State<Gateway>,
    _auth: Auth<Viewer>,
) -> Result<Json<ScreensResponse>, AppError> {
    let screens = tokio::task::spawn_blocking(move || gw.screens())
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    Ok(Json(ScreensResponse { screens }))
}
