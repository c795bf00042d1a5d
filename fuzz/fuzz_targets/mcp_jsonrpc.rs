//! `POST /mcp` bodies: the gateway's JSON-RPC gate (`mcp::http::check_jsonrpc`: parse error vs invalid request
//! vs a client message) and rmcp's `ClientJsonRpcMessage` deserialisation; a `tools/call` goes on to its tool's
//! arguments (see `mcp_tool_args`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};

fuzz_target!(|body: &[u8]| {
    let gate = sightline::mcp::http::check_jsonrpc(body);
    let parsed = serde_json::from_slice::<ClientJsonRpcMessage>(body);
    assert_eq!(gate.is_ok(), parsed.is_ok());
    if let Err(reply) = gate {
        let _ = reply.0.to_string();
    }
    if let Ok(ClientJsonRpcMessage::Request(r)) = parsed
        && let ClientRequest::CallToolRequest(call) = r.request
    {
        sightline_fuzz::tool_call(&call.params.name, call.params.arguments);
    }
});
