//! MCP (Model Context Protocol) tools for AI agents: agents see and drive the same screens people watch, through
//! the same session manager. An agent's screenshot is the frame viewers see; its input goes through
//! [`SessionManager::act`](crate::session::SessionManager::act) like a viewer's, is shown to the people watching (`{"type":"agent",…}` overlays) and is
//! recorded in the monitor's operations (`mcp_tool_call` with the tool, its arguments and its result).
//!
//! # Parts
//! - [`http`]: Streamable HTTP at `/mcp` on the gateway's own server ([`service`]): Host and Origin checks, bearer
//!   tokens, a bounded body that must be JSON-RPC, then rmcp's service for both the session lifecycle
//!   (2025-06-18, 2025-11-25) and the session-less 2026-07-28 revision.
//! - [`serve_stdio`]: MCP over stdin/stdout for desktop clients that launch `sightline mcp`; the whole gateway runs
//!   in the same process, and the stdio client acts as `admin` (the local user started it).
//! - [`handler`]: the server object: the tool list, role checks, the audit trail, cancellation.
//! - [`tools`]: what each tool does; [`geometry`]: the screen-pixel coordinate space, crops and scales;
//!   [`change`]: change detection and the two waiting rules (plain structs taking `now`).
//! - [`registration`]: each MCP session in the session table and the monitor, from birth to end; [`sessions`]:
//!   rmcp's Streamable HTTP session store; [`audit`]: what the trail keeps; [`error`]: tool errors as the agent
//!   reads them.
//!
//! # Tools
//! | tool | role | does |
//! |---|---|---|
//! | `list_screens` | view | screens: id, name, size, source, primary |
//! | `screenshot` | view | image + mapping to screen pixels |
//! | `wait_for_change`, `wait_until_stable` | view | wait on the capture pipeline's change detection |
//! | `click`, `move_pointer`, `drag`, `scroll`, `type_text`, `press_keys` | control | input |
//! | `list_sessions`, `monitor_summary` | view | the session table and the monitor summary |
//! | `list_windows`, `ui_tree` | view | top-level windows; a window's accessibility tree ([`a11y`]) |
//! | `focus_window`, `click_element`, `set_text`, `long_press` | control | windows, elements by id, held input |
//!
//! Screens are also resources, `screen://<id>` ([`resources`]): read as JPEG + JSON, subscribed to with debounced
//! update notifications (legacy subscribe and 2026-07-28 listen). [`gestures`] holds input and releases it from a
//! drop guard.

pub mod a11y;
mod agent_tools;
pub mod audit;
pub mod change;
pub mod clipboard;
pub mod error;
mod fleet_tools;
pub mod geometry;
pub mod gestures;
pub mod handler;
pub mod http;
pub mod local;
pub mod output;
pub mod registration;
pub mod remote;
pub mod resources;
pub mod sessions;
pub mod tools;
pub mod windows;

use std::sync::Arc;

use anyhow::Context as _;
use rmcp::ServiceExt as _;
use rmcp::service::QuitReason;
use rmcp::service::ServerInitializeError;
use sightline_signaling::Role;

use crate::session::SessionManager;
pub use http::service;
use registration::{Closer, Registration};

/// Serves MCP over stdin/stdout until stdin closes, an admin ends the session or the gateway shuts down. The
/// client is `admin`: whoever can start this process already has the display. Nothing but the protocol is written
/// to stdout (logs go to stderr).
pub async fn serve_stdio(gw: SessionManager) -> anyhow::Result<()> {
    let stop = gw.shutdown_token().child_token();
    let registration = Arc::new(Registration::open(
        &gw,
        Role::Admin,
        None,
        "stdio",
        Closer::Token(stop.clone()),
    ));
    let handler = handler::SightlineMcp::stdio(gw, Arc::clone(&registration));
    let running = match handler
        .serve_with_ct(rmcp::transport::io::stdio_pipes(), stop.clone())
        .await
    {
        Ok(running) => running,
        // The client went away (or the session was ended) before initialising: nothing was served, nothing failed.
        Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {
            tracing::info!("stdio MCP client left before initialising");
            return Ok(());
        }
        Err(e) => return Err(e).context("MCP over stdio could not start"),
    };
    match running
        .waiting()
        .await
        .context("the stdio MCP session failed")?
    {
        QuitReason::JoinError(e) => return Err(e).context("the stdio MCP session panicked"),
        QuitReason::Cancelled => tracing::info!("stdio MCP session ended by the gateway"),
        other => tracing::info!(reason = ?other, "stdio MCP client closed the session"),
    }
    drop(registration);
    Ok(())
}
