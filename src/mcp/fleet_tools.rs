//! The fleet's tool: `list_devices`. A third router of [`SightlineMcp`], merged with the others in
//! [`super::handler`]; every screen-taking tool already accepts a device's screen ([`super::remote`]).

use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};

use super::handler::{SightlineMcp, result_of};
use super::remote;

#[tool_router(router = fleet_tool_router, vis = "pub(super)")]
impl SightlineMcp {
    #[tool(
        description = "List the devices dialled in to this gateway (its fleet): id, name, online, state (allowed \
                       or pending approval), last_seen, version, rtt_ms, and screens with the ids every screen \
                       tool takes (\"<device>/<screen>\"). Offline devices are listed with their last screens.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_devices(&self) -> CallToolResult {
        result_of(remote::list_devices(self.gw()))
    }
}
