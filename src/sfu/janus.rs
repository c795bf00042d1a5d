//! The Janus HTTP API, typed: sessions, the Streaming plugin handle, messages, trickle, the long poll, and the
//! mountpoint requests the gateway needs (create, destroy, viewer count). Facts about Janus 1.1.2 this relies on
//! are in the project's JANUS-FACTS notes: `create/destroy/info` answer synchronously in `plugindata`, `watch` and
//! `start` answer `ack` and report on the long poll, a long poll is held up to ~30 s and keeps the session alive.
//!
//! Every request is one HTTP exchange ([`crate::httpc`]) with a fresh random `transaction` and, when configured,
//! `apisecret`. A reply is checked in one place ([`check_reply`]): a Janus error (`{"janus":"error",...}`) and a
//! plugin error (`error_code`/`error` inside `plugindata.data`) both become [`JanusError::Janus`].

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::config::JanusInstanceConfig;
use crate::httpc::{self, HttpError};

/// Timeout of one API call (everything but the long poll).
pub const API_TIMEOUT: Duration = Duration::from_secs(3);
/// Timeout of one long poll: Janus holds a GET up to ~30 s before answering `keepalive`.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(35);
/// The Streaming plugin's package name.
pub const STREAMING: &str = "janus.plugin.streaming";
/// Streaming plugin error: no such mountpoint (`JANUS_STREAMING_ERROR_NO_SUCH_MOUNTPOINT`).
pub const ERR_NO_SUCH_MOUNTPOINT: i64 = 455;
/// Janus core error: no such session (`JANUS_ERROR_SESSION_NOT_FOUND`).
pub const ERR_NO_SUCH_SESSION: i64 = 458;
/// Janus core error: unauthorized (`JANUS_ERROR_UNAUTHORIZED`: wrong or missing `apisecret`).
pub const ERR_UNAUTHORIZED: i64 = 403;
/// Bytes of randomness in a mountpoint secret (hex-encoded: twice as many characters).
const SECRET_BYTES: usize = 16;
/// The RTP payload type and format the gateway's H.264 is published with (constrained baseline, mode 1).
const PT: u8 = 96;
const FMTP: &str = "profile-level-id=42e01f;packetization-mode=1";

/// Why a Janus request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JanusError {
    /// The HTTP exchange failed (unreachable, timeout, ...).
    #[error("Janus API: {0}")]
    Http(#[from] HttpError),
    /// Janus or its Streaming plugin refused the request.
    #[error("Janus error {code}: {reason}")]
    Janus {
        /// Janus's numeric error code (core 4xx, Streaming plugin 45x).
        code: i64,
        /// Janus's text.
        reason: String,
    },
    /// A reply that is not what the API documents.
    #[error("unexpected Janus reply: {0}")]
    Protocol(String),
}

impl JanusError {
    /// The mountpoint does not exist (any more): Janus restarted, or it was destroyed.
    pub fn is_no_such_mountpoint(&self) -> bool {
        matches!(self, Self::Janus { code, .. } if *code == ERR_NO_SUCH_MOUNTPOINT)
    }

    /// The session does not exist (any more): it timed out, was destroyed, or Janus restarted.
    pub fn is_no_such_session(&self) -> bool {
        matches!(self, Self::Janus { code, .. } if *code == ERR_NO_SUCH_SESSION)
    }
}

/// One Janus instance's HTTP API. Cheap to clone.
#[derive(Clone)]
pub struct JanusApi {
    /// The API base URL without a trailing `/` (`http://127.0.0.1:8088/janus`).
    base: String,
    /// `apisecret` sent with every request, when Janus has an `api_secret`.
    api_secret: Option<String>,
}

impl std::fmt::Debug for JanusApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusApi")
            .field("base", &self.base)
            .field(
                "api_secret",
                &self.api_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl JanusApi {
    /// The API of the configured instance.
    pub fn new(cfg: &JanusInstanceConfig) -> Self {
        Self::with(&cfg.url, &cfg.api_secret)
    }

    /// The API at `base` (`apisecret` = `api_secret` unless empty).
    pub fn with(base: &str, api_secret: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            api_secret: (!api_secret.is_empty()).then(|| api_secret.to_owned()),
        }
    }

    /// The API base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET {base}/info`: the server description.
    pub async fn info(&self) -> Result<Value, JanusError> {
        self.info_within(API_TIMEOUT).await
    }

    /// [`JanusApi::info`] with its own timeout (the health check's, shorter than [`API_TIMEOUT`] when checks are
    /// frequent).
    pub async fn info_within(&self, timeout: Duration) -> Result<Value, JanusError> {
        let reply = self.get(&format!("{}/info", self.base), timeout).await?;
        if reply.get("janus").and_then(Value::as_str) != Some("server_info") {
            return Err(JanusError::Protocol(format!(
                "info: {}",
                excerpt(&reply.to_string())
            )));
        }
        Ok(reply)
    }

    /// Creates a session; its id.
    pub async fn create_session(&self) -> Result<u64, JanusError> {
        let reply = self
            .post(&self.base, json!({"janus": "create"}), API_TIMEOUT)
            .await?;
        data_id(&reply)
    }

    /// Attaches the Streaming plugin to `session`; the handle id.
    pub async fn attach(&self, session: u64) -> Result<u64, JanusError> {
        let url = format!("{}/{session}", self.base);
        let reply = self
            .post(
                &url,
                json!({"janus": "attach", "plugin": STREAMING}),
                API_TIMEOUT,
            )
            .await?;
        data_id(&reply)
    }

    /// Sends a plugin request (`body`, with an optional `jsep`) on handle `h` of session `s`. Returns the whole
    /// reply: `success` with `plugindata` for synchronous requests, `ack` for asynchronous ones (`watch`, `start`).
    pub async fn message(
        &self,
        s: u64,
        h: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<Value, JanusError> {
        let mut msg = json!({"janus": "message", "body": body});
        if let Some(j) = jsep {
            msg["jsep"] = j;
        }
        self.post(&format!("{}/{s}/{h}", self.base), msg, API_TIMEOUT)
            .await
    }

    /// Trickles one candidate (`candidate`, `sdpMid`, `sdpMLineIndex`), or `None`: end of candidates.
    pub async fn trickle(
        &self,
        s: u64,
        h: u64,
        candidate: Option<(String, Option<String>, Option<u16>)>,
    ) -> Result<(), JanusError> {
        let c = match candidate {
            Some((candidate, mid, mline)) => {
                let mut c = json!({"candidate": candidate});
                if let Some(mid) = mid {
                    c["sdpMid"] = json!(mid);
                }
                if let Some(m) = mline {
                    c["sdpMLineIndex"] = json!(m);
                }
                c
            }
            None => json!({"completed": true}),
        };
        let msg = json!({"janus": "trickle", "candidate": c});
        self.post(&format!("{}/{s}/{h}", self.base), msg, API_TIMEOUT)
            .await
            .map(drop)
    }

    /// One long poll on session `s`: up to `maxev` events, or none when Janus's hold (~30 s) expires.
    pub async fn poll(&self, s: u64, maxev: u32) -> Result<Vec<Value>, JanusError> {
        let mut url = format!("{}/{s}?maxev={}", self.base, maxev.max(1));
        if let Some(secret) = &self.api_secret {
            url.push_str("&apisecret=");
            url.push_str(&percent_encode(secret));
        }
        let resp = httpc::request("GET", &url, &[], None, POLL_TIMEOUT).await?;
        // Janus answers a long poll on an unknown session with an empty 404, not a JSON error.
        if resp.status == 404 && resp.body.is_empty() {
            return Err(JanusError::Janus {
                code: ERR_NO_SUCH_SESSION,
                reason: format!("No such session {s} (HTTP 404)"),
            });
        }
        parse_poll(&resp_json(&resp)?)
    }

    /// Keeps session `s` alive (a long poll does too).
    pub async fn keepalive(&self, s: u64) -> Result<(), JanusError> {
        self.post(
            &format!("{}/{s}", self.base),
            json!({"janus": "keepalive"}),
            API_TIMEOUT,
        )
        .await
        .map(drop)
    }

    /// Destroys session `s` and its handles (a viewer's PeerConnection is hung up).
    pub async fn destroy_session(&self, s: u64) -> Result<(), JanusError> {
        self.post(
            &format!("{}/{s}", self.base),
            json!({"janus": "destroy"}),
            API_TIMEOUT,
        )
        .await
        .map(drop)
    }

    async fn post(
        &self,
        url: &str,
        mut msg: Value,
        timeout: Duration,
    ) -> Result<Value, JanusError> {
        msg["transaction"] = json!(transaction());
        if let Some(secret) = &self.api_secret {
            msg["apisecret"] = json!(secret);
        }
        let body = Bytes::from(msg.to_string());
        let resp =
            httpc::request("POST", url, &[], Some(("application/json", body)), timeout).await?;
        check_reply(resp_json(&resp)?)
    }

    async fn get(&self, url: &str, timeout: Duration) -> Result<Value, JanusError> {
        let resp = httpc::request("GET", url, &[], None, timeout).await?;
        check_reply(resp_json(&resp)?)
    }

    /// Runs `f` on a fresh control session with a Streaming handle, then destroys the session whatever `f`
    /// returned (mountpoints outlive the session that created them).
    async fn with_control<T>(
        &self,
        f: impl AsyncFnOnce(u64, u64) -> Result<T, JanusError>,
    ) -> Result<T, JanusError> {
        let s = self.create_session().await?;
        let result = match self.attach(s).await {
            Ok(h) => f(s, h).await,
            Err(e) => Err(e),
        };
        if let Err(e) = self.destroy_session(s).await {
            tracing::debug!(base = %self.base, session = s, "janus control session not destroyed: {e}");
        }
        result
    }
}

/// A mountpoint the gateway created: where to send its RTP and the secret that manages it.
#[derive(Clone, PartialEq, Eq)]
pub struct Mountpoint {
    /// The mountpoint (stream) id.
    pub id: u64,
    /// Its secret: needed for `destroy` and to read its viewer count.
    pub secret: String,
    /// The port Janus receives RTP on (at the instance's `rtp_host`).
    pub rtp_port: u16,
    /// The port Janus receives and sends RTCP on: the publisher sends SRs there so keyframe requests come back.
    pub rtcp_port: u16,
}

impl std::fmt::Debug for Mountpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mountpoint")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("rtp_port", &self.rtp_port)
            .field("rtcp_port", &self.rtcp_port)
            .finish()
    }
}

/// Creates a private, non-permanent RTP mountpoint `id` for the gateway's H.264, Janus choosing the RTP and RTCP
/// ports on `rtp_host` only. Uses its own control session, destroyed afterwards.
pub async fn create_mountpoint(
    api: &JanusApi,
    admin_key: &str,
    id: u64,
    name: &str,
    rtp_host: IpAddr,
) -> Result<Mountpoint, JanusError> {
    let secret = random_hex(SECRET_BYTES);
    let body = create_request(admin_key, id, name, &secret, rtp_host);
    let reply = api
        .with_control(async |s, h| api.message(s, h, body, None).await)
        .await?;
    parse_created(&reply, id, secret)
}

/// Destroys a mountpoint (its viewers get `stopped` then a hangup). One that no longer exists counts as destroyed.
pub async fn destroy_mountpoint(api: &JanusApi, m: &Mountpoint) -> Result<(), JanusError> {
    let body = json!({"request": "destroy", "id": m.id, "secret": m.secret, "permanent": false});
    match api
        .with_control(async |s, h| api.message(s, h, body, None).await)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_no_such_mountpoint() => Ok(()),
        Err(e) => Err(e),
    }
}

/// How many viewers watch the mountpoint (Streaming `info` with the secret).
pub async fn mountpoint_viewers(api: &JanusApi, m: &Mountpoint) -> Result<u64, JanusError> {
    let body = json!({"request": "info", "id": m.id, "secret": m.secret});
    let reply = api
        .with_control(async |s, h| api.message(s, h, body, None).await)
        .await?;
    plugin_data(&reply)
        .and_then(|d| d.pointer("/info/viewers"))
        .and_then(Value::as_u64)
        .ok_or_else(|| JanusError::Protocol(format!("info: {}", excerpt(&reply.to_string()))))
}

/// The Streaming `create` request (JANUS-FACTS §1).
fn create_request(admin_key: &str, id: u64, name: &str, secret: &str, rtp_host: IpAddr) -> Value {
    let mut body = json!({
        "request": "create",
        "type": "rtp",
        "id": id,
        "name": name,
        "description": name,
        "secret": secret,
        "is_private": true,
        "permanent": false,
        // Viewers negotiate the playout-delay RTP extension, so the broker can ask for no playout delay (as the
        // gateway's own peers do): without it the browser buffers frames for smoothness.
        "playoutdelay_ext": true,
        "media": [{
            "type": "video", "mid": "v", "label": "screen",
            "port": 0, "rtcpport": 0,
            "pt": PT, "codec": "h264", "fmtp": FMTP,
            "iface": rtp_host.to_string(),
        }],
    });
    if !admin_key.is_empty() {
        body["admin_key"] = json!(admin_key);
    }
    body
}

/// The ports from a `created` reply (`stream.ports[0].port` / `.rtcp_port`).
fn parse_created(reply: &Value, id: u64, secret: String) -> Result<Mountpoint, JanusError> {
    let bad = || JanusError::Protocol(format!("create: {}", excerpt(&reply.to_string())));
    let data = plugin_data(reply).ok_or_else(bad)?;
    if data.get("streaming").and_then(Value::as_str) != Some("created") {
        return Err(bad());
    }
    let port = data.pointer("/stream/ports/0").ok_or_else(bad)?;
    let get = |k: &str| {
        port.get(k)
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
    };
    let (Some(rtp_port), Some(rtcp_port)) = (get("port"), get("rtcp_port")) else {
        return Err(bad());
    };
    let id = data
        .pointer("/stream/id")
        .and_then(Value::as_u64)
        .unwrap_or(id);
    Ok(Mountpoint {
        id,
        secret,
        rtp_port,
        rtcp_port,
    })
}

/// `plugindata.data` of a reply or event.
pub fn plugin_data(v: &Value) -> Option<&Value> {
    v.pointer("/plugindata/data")
}

/// Turns Janus and plugin errors in a reply into [`JanusError::Janus`]; anything else is returned as it is.
pub fn check_reply(v: Value) -> Result<Value, JanusError> {
    if !v.is_object() {
        return Err(JanusError::Protocol(format!(
            "not a JSON object: {}",
            excerpt(&v.to_string())
        )));
    }
    if v.get("janus").and_then(Value::as_str) == Some("error") {
        let e = v.get("error");
        return Err(JanusError::Janus {
            code: e
                .and_then(|e| e.get("code"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
            reason: e
                .and_then(|e| e.get("reason"))
                .and_then(Value::as_str)
                .unwrap_or("(no reason)")
                .to_owned(),
        });
    }
    if let Some(err) = plugin_error(&v) {
        return Err(err);
    }
    Ok(v)
}

/// A plugin error (`error_code`, `error`) inside `plugindata.data`.
pub fn plugin_error(v: &Value) -> Option<JanusError> {
    let data = plugin_data(v)?;
    let code = data.get("error_code")?.as_i64().unwrap_or(0);
    let reason = data
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("(no reason)")
        .to_owned();
    Some(JanusError::Janus { code, reason })
}

/// The events of a long-poll reply: an array (`maxev` > 1), one event, or none (`{"janus":"keepalive"}`, Janus's
/// answer when its hold expires). A Janus error (no such session) is an error; plugin errors inside events are
/// left to the reader.
pub fn parse_poll(v: &Value) -> Result<Vec<Value>, JanusError> {
    match v {
        Value::Array(events) => Ok(events
            .iter()
            .filter(|e| !is_keepalive(e))
            .cloned()
            .collect()),
        Value::Object(_) if is_keepalive(v) => Ok(Vec::new()),
        Value::Object(_) if v.get("janus").and_then(Value::as_str) == Some("error") => {
            check_reply(v.clone()).map(|_| Vec::new())
        }
        Value::Object(_) => Ok(vec![v.clone()]),
        _ => Err(JanusError::Protocol(format!(
            "poll: {}",
            excerpt(&v.to_string())
        ))),
    }
}

fn is_keepalive(v: &Value) -> bool {
    v.get("janus").and_then(Value::as_str) == Some("keepalive")
}

/// `data.id` of a `create`/`attach` success.
fn data_id(reply: &Value) -> Result<u64, JanusError> {
    if reply.get("janus").and_then(Value::as_str) != Some("success") {
        return Err(JanusError::Protocol(excerpt(&reply.to_string())));
    }
    reply
        .pointer("/data/id")
        .and_then(Value::as_u64)
        .ok_or_else(|| JanusError::Protocol(format!("no data.id: {}", excerpt(&reply.to_string()))))
}

/// The JSON body of a response; a non-2xx status without a JSON error is a protocol error, except Janus's
/// empty 403 to a GET without the right `apisecret`.
fn resp_json(resp: &httpc::Response) -> Result<Value, JanusError> {
    match serde_json::from_slice::<Value>(&resp.body) {
        Ok(v) if resp.is_success() || v.get("janus").is_some() => Ok(v),
        _ if resp.status == 403 => Err(JanusError::Janus {
            code: ERR_UNAUTHORIZED,
            reason: "Unauthorized request (wrong or missing api_secret) (HTTP 403)".into(),
        }),
        _ => Err(JanusError::Protocol(format!(
            "HTTP {}: {}",
            resp.status,
            excerpt(&String::from_utf8_lossy(&resp.body))
        ))),
    }
}

fn excerpt(s: &str) -> String {
    const SHOWN: usize = 300;
    match s.char_indices().nth(SHOWN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// A random transaction id (12 hex characters).
fn transaction() -> String {
    random_hex(6)
}

fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let _ = write!(out, "{:02x}", rand::random::<u8>());
    }
    out
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for the query string.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn janus_errors_and_plugin_errors_map_to_janus_error() {
        let e = check_reply(j(
            r#"{"janus":"error","transaction":"t","error":{"code":458,"reason":"No such session 1"}}"#,
        ))
        .unwrap_err();
        assert!(e.is_no_such_session());
        assert_eq!(e.to_string(), "Janus error 458: No such session 1");
        let e = check_reply(j(
            r#"{"janus":"success","plugindata":{"plugin":"janus.plugin.streaming","data":{"streaming":"event","error_code":455,"error":"No such mountpoint/stream 12345"}}}"#,
        ))
        .unwrap_err();
        assert!(e.is_no_such_mountpoint());
        let e = check_reply(j(
            r#"{"janus":"success","plugindata":{"plugin":"janus.plugin.streaming","data":{"error_code":457,"error":"Unauthorized (wrong admin_key)"}}}"#,
        ))
        .unwrap_err();
        assert_eq!(
            e,
            JanusError::Janus {
                code: 457,
                reason: "Unauthorized (wrong admin_key)".into()
            }
        );
        assert!(check_reply(j(r#"{"janus":"ack"}"#)).is_ok());
        assert!(matches!(
            check_reply(j("[1]")),
            Err(JanusError::Protocol(_))
        ));
    }

    #[test]
    fn the_created_reply_gives_the_ports() {
        let reply = j(
            r#"{"janus":"success","plugindata":{"plugin":"janus.plugin.streaming","data":{"streaming":"created","created":"screen-4242","permanent":false,"stream":{"id":4242,"type":"live","description":"screen","is_private":false,"host":"127.0.0.1","ports":[{"type":"video","mid":"v","port":20000,"rtcp_port":20001}]}}}}"#,
        );
        let m = parse_created(&reply, 4242, "s".into()).unwrap();
        assert_eq!((m.id, m.rtp_port, m.rtcp_port), (4242, 20000, 20001));
        // The deprecated flat answer (no `ports`) or a missing RTCP port is refused.
        let flat = j(
            r#"{"janus":"success","plugindata":{"data":{"streaming":"created","stream":{"id":1,"video_port":10000,"video_rtcp_port":10001}}}}"#,
        );
        assert!(matches!(
            parse_created(&flat, 1, "s".into()),
            Err(JanusError::Protocol(_))
        ));
        let no_rtcp = j(
            r#"{"janus":"success","plugindata":{"data":{"streaming":"created","stream":{"id":1,"ports":[{"port":20000}]}}}}"#,
        );
        assert!(parse_created(&no_rtcp, 1, "s".into()).is_err());
    }

    #[test]
    fn the_create_request_is_private_on_the_rtp_host() {
        let b = create_request("ak", 7, "screen-7", "sec", "127.0.0.1".parse().unwrap());
        assert_eq!(b["admin_key"], "ak");
        assert_eq!(b["is_private"], true);
        assert_eq!(b["permanent"], false);
        let m = &b["media"][0];
        assert_eq!(m["iface"], "127.0.0.1");
        assert_eq!(
            (m["port"].as_u64(), m["rtcpport"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(m["pt"], 96);
        assert_eq!(m["codec"], "h264");
        assert_eq!(m["fmtp"], "profile-level-id=42e01f;packetization-mode=1");
        let b = create_request("", 7, "n", "sec", "::1".parse().unwrap());
        assert!(b.get("admin_key").is_none());
        assert_eq!(b["media"][0]["iface"], "::1");
    }

    #[test]
    fn poll_replies_are_arrays_single_events_or_keepalives() {
        assert!(
            parse_poll(&j(r#"{"janus":"keepalive"}"#))
                .unwrap()
                .is_empty()
        );
        let one = parse_poll(&j(r#"{"janus":"webrtcup","session_id":1,"sender":2}"#)).unwrap();
        assert_eq!(one.len(), 1);
        let many = parse_poll(&j(
            r#"[{"janus":"event","sender":2,"plugindata":{"data":{"streaming":"event","result":{"status":"starting"}}}},{"janus":"webrtcup","sender":2}]"#,
        ))
        .unwrap();
        assert_eq!(many.len(), 2);
        let gone = parse_poll(&j(
            r#"{"janus":"error","error":{"code":458,"reason":"No such session 5"}}"#,
        ))
        .unwrap_err();
        assert!(gone.is_no_such_session());
        assert!(parse_poll(&j("3")).is_err());
    }

    #[test]
    fn secrets_are_encoded_and_not_printed() {
        assert_eq!(percent_encode("a b&c=d"), "a%20b%26c%3Dd");
        let api = JanusApi::with("http://h/janus/", "top-secret");
        assert_eq!(api.base(), "http://h/janus");
        assert!(!format!("{api:?}").contains("top-secret"));
        let m = Mountpoint {
            id: 1,
            secret: "mp-secret".into(),
            rtp_port: 1,
            rtcp_port: 2,
        };
        assert!(!format!("{m:?}").contains("mp-secret"));
        assert_eq!(random_hex(SECRET_BYTES).len(), 2 * SECRET_BYTES);
        assert_ne!(transaction(), transaction());
    }
}
