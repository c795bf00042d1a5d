//! An in-process MCP client of the gateway's own MCP server: how a device runs the tools its hub forwards
//! ([`crate::fleet::device`]). The server is the stdio session's [`SightlineMcp`], served over one
//! `tokio::io::duplex` pair instead of stdin/stdout; the client speaks newline-delimited JSON-RPC on the other end:
//! one `initialize` handshake, then `tools/call` requests with increasing ids whose responses a reader task matches
//! by id. The server's session is registered like the stdio one (a session row and an `mcp` connection, role
//! `admin`): the hub checked the caller's role, and [`LocalMcp::call_tool`] checks it again against the tool's.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rmcp::ServiceExt as _;
use serde_json::{Map, Value, json};
use sightline_monitor::Owner;
use sightline_signaling::Role;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream, WriteHalf};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::handler::SightlineMcp;
use super::registration::{Closer, Registration};
use crate::control::{Error, ErrorKind};
use crate::session::SessionManager;

/// Bytes buffered in each direction of the duplex pair: a screenshot's base64 PNG streams through it.
const DUPLEX_BUFFER: usize = 256 * 1024;
/// Most calls waiting for their answer at once; one more is refused as busy (the device bounds its calls lower).
pub const MAX_LOCAL_CALLS: usize = 32;
/// Longest line the server may answer with: the fleet's own message limit, which a result must fit anyway.
const MAX_LINE_BYTES: usize = sightline_signaling::fleet::MAX_MESSAGE_BYTES;
/// How long the initialize handshake may take.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The MCP revision the client asks for (one with an initialize handshake).
const PROTOCOL: &str = "2025-06-18";

type Answer = Result<Value, Error>;

/// A connected in-process MCP client. Cheap to clone; the server and the reader end when `stop` (given to
/// [`LocalMcp::start`]) is cancelled or the gateway shuts down.
#[derive(Clone)]
pub struct LocalMcp {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalMcp").finish_non_exhaustive()
    }
}

struct Inner {
    writer: tokio::sync::Mutex<WriteHalf<DuplexStream>>,
    /// Calls waiting for their response, by JSON-RPC id; at most [`MAX_LOCAL_CALLS`].
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next_id: AtomicU64,
    /// Cancelled when the reader ends: no answer will come any more.
    dead: CancellationToken,
}

impl LocalMcp {
    /// Serves the gateway's MCP server in-process and completes the initialize handshake. `describe` names the
    /// session in the monitor (`device link`).
    pub async fn start(
        gw: &SessionManager,
        describe: &str,
        stop: CancellationToken,
    ) -> Result<Self, Error> {
        let (client, server) = tokio::io::duplex(DUPLEX_BUFFER);
        let registration = Arc::new(Registration::open(
            gw,
            Role::Admin,
            None,
            describe,
            Closer::Token(stop.clone()),
        ));
        let conn = registration.connection_id();
        let handler = SightlineMcp::stdio(gw.clone(), Arc::clone(&registration));
        {
            let stop = stop.clone();
            gw.spawn("mcp-local-server", Owner::Connection(conn), async move {
                match handler.serve_with_ct(tokio::io::split(server), stop).await {
                    Ok(running) => {
                        if let Err(e) = running.waiting().await {
                            tracing::warn!(error = %e, "the in-process MCP session failed");
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the in-process MCP session did not start")
                    }
                }
                drop(registration);
            });
        }
        let (read, write) = tokio::io::split(client);
        let inner = Arc::new(Inner {
            writer: tokio::sync::Mutex::new(write),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            dead: CancellationToken::new(),
        });
        {
            let inner = Arc::clone(&inner);
            gw.spawn("mcp-local-reader", Owner::Connection(conn), async move {
                let mut reader = BufReader::new(read);
                tokio::select! {
                    why = read_loop(&inner, &mut reader) => {
                        tracing::debug!(why, "the in-process MCP client stopped reading");
                    }
                    () = stop.cancelled() => {}
                }
                inner.dead.cancel();
                // Waiting calls fail now rather than at their timeout.
                for (_, tx) in inner.pending.lock().drain() {
                    let _ = tx.send(Err(Error::unavailable("the device's MCP server stopped")));
                }
            });
        }
        let client = Self { inner };
        let init = json!({
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "sightline-device", "version": env!("CARGO_PKG_VERSION")},
        });
        tokio::time::timeout(INIT_TIMEOUT, client.request("initialize", init))
            .await
            .map_err(|_| {
                Error::unavailable("the device's MCP server did not initialise in time")
            })??;
        client
            .write(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(client)
    }

    /// Whether the server still answers (its session was not ended, the gateway is not shutting down).
    pub fn is_alive(&self) -> bool {
        !self.inner.dead.is_cancelled()
    }

    /// Runs tool `name` for a caller of `role`: refused with [`ErrorKind::Forbidden`] when the role is below the
    /// tool's, [`ErrorKind::NotFound`] for an unknown tool. The value is the MCP `CallToolResult` as JSON (a tool
    /// that failed is a result with `isError: true`, as MCP clients expect).
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        role: Role,
    ) -> Result<Value, Error> {
        let Some(needed) = super::tools::required_role(name) else {
            return Err(Error::not_found(format!(
                "unknown tool {}",
                crate::control::echo(name)
            )));
        };
        if !role.allows(needed) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("tool {name} needs role {needed}; the caller has role {role}"),
            ));
        }
        self.request(
            "tools/call",
            json!({"name": name, "arguments": Value::Object(arguments)}),
        )
        .await
    }

    /// Sends one request and waits for its response (or the reader's end).
    async fn request(&self, method: &str, params: Value) -> Result<Value, Error> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.inner.pending.lock();
            if self.inner.dead.is_cancelled() {
                return Err(Error::unavailable("the device's MCP server stopped"));
            }
            if pending.len() >= MAX_LOCAL_CALLS {
                return Err(Error::busy(format!(
                    "{MAX_LOCAL_CALLS} tool calls are already running on this device"
                )));
            }
            pending.insert(id, tx);
        }
        // Removes the entry however this call ends (answered, failed, or its future dropped).
        let _forget = Forget {
            inner: &self.inner,
            id,
        };
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        match rx.await {
            Ok(answer) => answer,
            Err(_) => Err(Error::unavailable("the device's MCP server stopped")),
        }
    }

    async fn write(&self, message: &Value) -> Result<(), Error> {
        let mut line = serde_json::to_vec(message)
            .map_err(|e| Error::internal(format!("cannot encode an MCP request: {e}")))?;
        line.push(b'\n');
        let mut w = self.inner.writer.lock().await;
        w.write_all(&line)
            .await
            .map_err(|_| Error::unavailable("the device's MCP server stopped"))?;
        w.flush()
            .await
            .map_err(|_| Error::unavailable("the device's MCP server stopped"))
    }
}

struct Forget<'a> {
    inner: &'a Inner,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.inner.pending.lock().remove(&self.id);
    }
}

/// Reads responses until the server closes its end or sends something unreadable; returns why it stopped.
async fn read_loop(
    inner: &Inner,
    reader: &mut BufReader<tokio::io::ReadHalf<DuplexStream>>,
) -> &'static str {
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line(reader, &mut line).await {
            Ok(true) => {}
            Ok(false) => return "the server closed its end",
            Err(why) => return why,
        }
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
            return "the server sent a line that is not JSON";
        };
        if message.get("method").is_some() {
            // A notification (logging, progress) or a request of the server's (ping): this client offers nothing
            // beyond answering; notifications need no answer.
            if let Some(id) = message.get("id") {
                let reply = if message["method"] == "ping" {
                    json!({"jsonrpc": "2.0", "id": id, "result": {}})
                } else {
                    json!({"jsonrpc": "2.0", "id": id,
                           "error": {"code": -32601, "message": "this client offers no methods"}})
                };
                let mut out = serde_json::to_vec(&reply).unwrap_or_default();
                out.push(b'\n');
                let mut w = inner.writer.lock().await;
                if w.write_all(&out).await.is_err() || w.flush().await.is_err() {
                    return "the server closed its end";
                }
            }
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let Some(tx) = inner.pending.lock().remove(&id) else {
            continue;
        };
        let answer = match (message.get("result"), message.get("error")) {
            (Some(result), _) => Ok(result.clone()),
            (None, Some(error)) => Err(rpc_error(error)),
            (None, None) => Err(Error::internal("the MCP server's response has no result")),
        };
        let _ = tx.send(answer);
    }
}

/// A JSON-RPC error as the gateway's error: invalid params and unknown methods are the caller's mistakes.
fn rpc_error(error: &Value) -> Error {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the tool call failed")
        .to_owned();
    match error.get("code").and_then(Value::as_i64) {
        Some(-32602 | -32600) => Error::invalid(message),
        Some(-32601) => Error::not_found(message),
        _ => Error::internal(message),
    }
}

/// Reads one line (without its newline) into `line`, at most [`MAX_LINE_BYTES`]; `false` at the end of input.
async fn read_line(
    reader: &mut BufReader<tokio::io::ReadHalf<DuplexStream>>,
    line: &mut Vec<u8>,
) -> Result<bool, &'static str> {
    loop {
        let buf = reader
            .fill_buf()
            .await
            .map_err(|_| "the server's end failed")?;
        if buf.is_empty() {
            return Ok(!line.is_empty());
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > MAX_LINE_BYTES {
            return Err("the server sent a line over the size limit");
        }
        line.extend_from_slice(chunk);
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_map_to_kinds() {
        assert_eq!(
            rpc_error(&json!({"code": -32602, "message": "bad x"})).kind,
            ErrorKind::Invalid
        );
        assert_eq!(
            rpc_error(&json!({"code": -32601, "message": "no"})).kind,
            ErrorKind::NotFound
        );
        assert_eq!(rpc_error(&json!({})).kind, ErrorKind::Internal);
    }
}
