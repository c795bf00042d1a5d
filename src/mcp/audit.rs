//! The audit trail of agent actions: every tool call is a monitor operation `mcp_tool_call` whose detail is
//! `{"tool", "arguments", "result"}`, with long strings cut so one call cannot flood the trail (the monitor bounds
//! the whole detail too). Images are described, never stored. Clipboard contents (`set_clipboard`'s text or image,
//! `get_clipboard`'s result) are recorded by size only: a clipboard holds passwords.

use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::{Value, json};

/// Longest string argument kept (a `type_text` may carry 4096 characters: the first 200 say what it was).
pub const MAX_ARGUMENT_CHARS: usize = 200;
/// Longest result text kept: enough for every tool's summary line, not for a full `monitor_summary`.
pub const MAX_RESULT_CHARS: usize = 500;
/// Deepest nesting of arguments kept; deeper values are replaced by a note (tools take flat arguments).
const MAX_DEPTH: usize = 4;

/// Tools whose arguments or results carry clipboard contents.
const CLIPBOARD_TOOLS: [&str; 2] = ["get_clipboard", "set_clipboard"];

/// The detail of a call before it finishes.
pub fn started(tool: &str, arguments: Option<&JsonObject>) -> Value {
    json!({ "tool": tool, "arguments": audited_arguments(tool, arguments) })
}

/// The detail of a finished call.
pub fn finished(tool: &str, arguments: Option<&JsonObject>, result: &str) -> Value {
    let result = if tool == "get_clipboard" {
        format!("({} bytes, not recorded)", result.len())
    } else {
        truncate(result, MAX_RESULT_CHARS)
    };
    json!({
        "tool": tool,
        "arguments": audited_arguments(tool, arguments),
        "result": result,
    })
}

/// [`arguments_for_audit`], with a clipboard tool's string arguments but `selection` replaced by their size.
fn audited_arguments(tool: &str, arguments: Option<&JsonObject>) -> Value {
    let mut v = arguments_for_audit(arguments);
    if CLIPBOARD_TOOLS.contains(&tool)
        && let (Value::Object(out), Some(args)) = (&mut v, arguments)
    {
        for (k, value) in args {
            if let Value::String(s) = value
                && k != "selection"
            {
                out.insert(
                    k.clone(),
                    Value::String(format!("({} bytes, not recorded)", s.len())),
                );
            }
        }
    }
    v
}

/// The arguments with every string cut to [`MAX_ARGUMENT_CHARS`] characters.
pub fn arguments_for_audit(arguments: Option<&JsonObject>) -> Value {
    match arguments {
        Some(map) => bounded(&Value::Object(map.clone()), 0),
        None => Value::Object(JsonObject::new()),
    }
}

fn bounded(v: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::String("…(nested too deep)".into());
    }
    match v {
        Value::String(s) => Value::String(truncate(s, MAX_ARGUMENT_CHARS)),
        Value::Array(items) => Value::Array(items.iter().map(|i| bounded(i, depth + 1)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (truncate(k, MAX_ARGUMENT_CHARS), bounded(v, depth + 1)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `s` cut to `max` characters, with the number of characters left out.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…(+{} chars)", &s[..cut], s[cut..].chars().count()),
    }
}

/// One line for a tool result: its texts, and a description of each image.
pub fn result_text(result: &CallToolResult) -> String {
    let parts: Vec<String> = result
        .content
        .iter()
        .map(|c| match c {
            ContentBlock::Text(t) => t.text.clone(),
            ContentBlock::Image(i) => {
                format!("[{} image, {} base64 bytes]", i.mime_type, i.data.len())
            }
            _ => "[other content]".to_owned(),
        })
        .collect();
    parts.join(" | ")
}

/// Bytes of content a result carries (the counters of the session's monitor connection).
pub fn result_bytes(result: &CallToolResult) -> usize {
    result
        .content
        .iter()
        .map(|c| match c {
            ContentBlock::Text(t) => t.text.len(),
            ContentBlock::Image(i) => i.data.len(),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_are_cut_with_a_count() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc…(+3 chars)");
        assert_eq!(truncate("ééééé", 2), "éé…(+3 chars)", "cut on characters");
    }

    #[test]
    fn arguments_keep_their_shape_with_strings_bounded() {
        let mut args = JsonObject::new();
        args.insert("text".into(), Value::String("x".repeat(5000)));
        args.insert("keys".into(), json!(["ControlLeft", "KeyT"]));
        args.insert("x".into(), json!(12));
        let v = arguments_for_audit(Some(&args));
        assert_eq!(v["keys"], json!(["ControlLeft", "KeyT"]));
        assert_eq!(v["x"], json!(12));
        let text = v["text"].as_str().unwrap();
        assert!(text.ends_with("…(+4800 chars)"), "{text}");
        assert_eq!(arguments_for_audit(None), json!({}));
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
        let v = arguments_for_audit(deep.as_object());
        assert_eq!(v["a"]["b"]["c"]["d"]["e"], json!("…(nested too deep)"));
    }

    #[test]
    fn clipboard_contents_are_recorded_by_size_only() {
        let mut args = JsonObject::new();
        args.insert("text".into(), Value::String("hunter2".into()));
        args.insert("selection".into(), Value::String("primary".into()));
        let d = finished(
            "set_clipboard",
            Some(&args),
            "The clipboard now holds text (7 bytes)",
        );
        assert_eq!(d["arguments"]["text"], "(7 bytes, not recorded)");
        assert_eq!(d["arguments"]["selection"], "primary");
        let d = finished("get_clipboard", None, "hunter2");
        assert_eq!(d["result"], "(7 bytes, not recorded)");
        assert!(
            !started("set_clipboard", Some(&args))
                .to_string()
                .contains("hunter2")
        );
    }

    #[test]
    fn results_describe_images_without_their_data() {
        let r = CallToolResult::success(vec![
            ContentBlock::image("QUJD", "image/png"),
            ContentBlock::text("3x1 px"),
        ]);
        assert_eq!(
            result_text(&r),
            "[image/png image, 4 base64 bytes] | 3x1 px"
        );
        assert_eq!(result_bytes(&r), 4 + 6);
        let d = finished("screenshot", None, &result_text(&r));
        assert_eq!(d["tool"], json!("screenshot"));
        assert_eq!(
            d["result"],
            json!("[image/png image, 4 base64 bytes] | 3x1 px")
        );
    }
}
