//! MCP tool arguments, without the JSON-RPC envelope: the first line is the tool's name, the rest its
//! `arguments` JSON, so the fuzzer spends its time inside the arguments (rmcp's extraction into the tool's
//! argument struct, the tool's checks, the geometry and the input events it would inject).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (name, arguments) = text.split_once('\n').unwrap_or((text, ""));
    let arguments = match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    sightline_fuzz::tool_call(name, arguments);
});
