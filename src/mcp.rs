//! MCP (Model Context Protocol) tools for AI agents, over Streamable HTTP at `/mcp` and over stdio.

use crate::gateway::Gateway;

/// Serves MCP over stdin/stdout until stdin closes.
pub async fn serve_stdio(_gw: Gateway) -> anyhow::Result<()> {
    anyhow::bail!("MCP over stdio is not part of this build yet")
}
