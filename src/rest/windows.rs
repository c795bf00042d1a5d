//! `/api/v1/windows`: the desktop's top-level windows (role view) and `POST /api/v1/windows/{id}/focus`
//! (role control), the REST twins of the MCP tools `list_windows` and `focus_window` ([`crate::mcp::windows`]).
//! Both are charged to the caller's token like other REST calls: a listing as a light request, a focus as input.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use sightline_media::{WindowId, WindowInfo, WindowList};

use super::{Remote, charge};
use crate::auth::{Auth, Controller, Viewer};
use crate::control::echo;
use crate::error::AppError;
use crate::mcp::windows::lookup;
use crate::ratelimit::Class;
use crate::session::SessionManager;

/// The windows routes.
pub fn routes() -> Router<SessionManager> {
    Router::new()
        .route("/api/v1/windows", get(list))
        .route("/api/v1/windows/{id}/focus", post(focus))
}

/// A window id from a path: decimal, or hexadecimal with `0x` as `xwininfo` and `xdotool` print them.
fn parse_id(text: &str) -> Result<WindowId, AppError> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => WindowId::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| {
        AppError::BadRequest(format!(
            "{} is not a window id (a number from GET /api/v1/windows)",
            echo(text)
        ))
    })
}

async fn list(
    State(manager): State<SessionManager>,
    _auth: Auth<Viewer>,
    remote: Remote,
    headers: HeaderMap,
) -> Result<Json<WindowList>, AppError> {
    charge(&manager, &headers, remote, Class::Light)?;
    Ok(Json(manager.windows().await?))
}

async fn focus(
    State(manager): State<SessionManager>,
    _auth: Auth<Controller>,
    remote: Remote,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<WindowInfo>, AppError> {
    charge(&manager, &headers, remote, Class::Input)?;
    let id = parse_id(&id)?;
    let op = manager.operation("focus_window", None);
    let result = async {
        if lookup(&manager, id).await?.is_none() {
            return Err(AppError::NotFound(format!("no window {id}")));
        }
        Ok(manager.focus_window(id).await?)
    }
    .await;
    op.finish_with(result).map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ids_are_decimal_or_hex() {
        assert_eq!(parse_id("4194318").unwrap(), 4_194_318);
        assert_eq!(parse_id("0x40000e").unwrap(), 0x40_000e);
        assert!(matches!(parse_id("window"), Err(AppError::BadRequest(_))));
        assert!(matches!(parse_id("-1"), Err(AppError::BadRequest(_))));
    }
}
