//! A real Janus (Debian's `janus` 1.1.2, installed by `scripts/install-deps.sh --test`) for one test, inside the
//! gateway namespace of a [`Topology`] (issue 12's tests and benchmark).
//!
//! Why a namespace: libnice gathers no candidates on `lo` and ignores interfaces named `veth*`, so Janus runs where
//! the gateway runs and gathers only on the viewer links (`--ice-enforce-list=tov0,tov1,…`). Its HTTP API listens
//! on the gateway namespace's management address, so the test (root namespace) and the gateway (same namespace)
//! both reach it at [`Janus::api_url`]. Mountpoints receive RTP on `127.0.0.1` of that namespace, where the gateway
//! sends it. The admin API and every plugin, transport, logger and event handler but the Streaming plugin and the
//! HTTP transport are off.
//!
//! The configuration is written to a temporary directory (the stock `/etc/janus/*.jcfg` as a base, then the files
//! this rig needs); Janus's output goes to a log file there, which every failure message quotes.
//! [`Janus::kill`] sends SIGKILL (the fault test's "Janus died"); [`Janus::restart`] starts it again on the same
//! address. Dropping a [`Janus`] kills it.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::netns::Topology;
use super::tempdir::TempDir;

/// The HTTP transport's port inside the gateway namespace (private: nothing else can hold it).
pub const JANUS_PORT: u16 = 8088;
/// The Streaming plugin's `admin_key` (mountpoint `create` needs it).
pub const ADMIN_KEY: &str = "sightline-test-admin-key";
/// Where mountpoints with `port: 0` get their RTP/RTCP ports.
pub const RTP_PORT_RANGE: &str = "20000-20999";
/// The instance name the gateway configuration gives this Janus.
pub const INSTANCE: &str = "janus-1";
/// How long Janus may take to answer `GET /janus/info` after it starts (about 0.3 s on an idle machine).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// One API request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The stock configuration this rig starts from.
const STOCK_CONFIG: &str = "/etc/janus";
/// What stays enabled.
const PLUGIN: &str = "libjanus_streaming.so";
const TRANSPORT: &str = "libjanus_http.so";
/// Longest log tail quoted in a failure message.
const LOG_TAIL: usize = 4000;

/// A Janus process in a topology's gateway namespace.
pub struct Janus {
    child: Option<Child>,
    ns: String,
    mgmt_ip: Ipv4Addr,
    enforce: String,
    dir: TempDir,
}

/// A mountpoint this rig created itself (the self-tests feed it with ffmpeg).
#[derive(Clone, Debug)]
pub struct TestMountpoint {
    /// Mountpoint id.
    pub id: u64,
    /// Its secret (`info` shows viewers only with it).
    pub secret: String,
    /// Where Janus receives RTP and RTCP (on 127.0.0.1 of the gateway namespace).
    pub rtp_port: u16,
    pub rtcp_port: u16,
}

impl Janus {
    /// Writes a configuration and starts Janus in `topo`'s gateway namespace; returns once `GET /janus/info`
    /// answers.
    ///
    /// # Panics
    /// When `janus` is not installed, the configuration cannot be written, or Janus does not answer within
    /// [`START_TIMEOUT`] (with its log).
    pub fn start(topo: &Topology) -> Self {
        super::ensure_test_deps();
        assert!(
            Path::new("/usr/bin/janus").exists(),
            "/usr/bin/janus is missing; run `scripts/install-deps.sh --test`"
        );
        assert!(
            topo.viewer_count() > 0,
            "Janus needs at least one viewer link to gather ICE candidates on (libnice ignores lo)"
        );
        let enforce = (0..topo.viewer_count())
            .map(|i| format!("tov{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut janus = Self {
            child: None,
            ns: topo.gateway_ns.clone(),
            mgmt_ip: topo.gateway_mgmt_ip,
            enforce,
            dir: TempDir::new(),
        };
        janus.write_config();
        janus.launch();
        janus
    }

    fn write_config(&self) {
        let dir = self.dir.path();
        for entry in std::fs::read_dir(STOCK_CONFIG)
            .unwrap_or_else(|e| panic!("read {STOCK_CONFIG} (is janus installed?): {e}"))
        {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "jcfg") {
                std::fs::copy(&path, dir.join(path.file_name().expect("a file name")))
                    .unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
            }
        }
        let libs = "/usr/lib/x86_64-linux-gnu/janus";
        let others = |kind: &str, keep: &str| -> String {
            let mut names: Vec<String> = std::fs::read_dir(format!("{libs}/{kind}"))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.ends_with(".so") && n != keep)
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            names.join(",")
        };
        let main = format!(
            "general: {{\n\tconfigs_folder = \"{cfg}\"\n\tplugins_folder = \"{libs}/plugins\"\n\t\
             transports_folder = \"{libs}/transports\"\n\tevents_folder = \"{libs}/events\"\n\t\
             loggers_folder = \"{libs}/loggers\"\n\tdebug_level = 4\n\tserver_name = \"sightline-test\"\n\
             \tsession_timeout = 60\n}}\ncertificates: {{\n}}\nmedia: {{\n}}\nnat: {{\n\tnice_debug = false\n}}\n\
             plugins: {{\n\tdisable = \"{plugins}\"\n}}\ntransports: {{\n\tdisable = \"{transports}\"\n}}\n\
             loggers: {{\n\tdisable = \"{loggers}\"\n}}\nevents: {{\n\tbroadcast = false\n\tdisable = \"{events}\"\n}}\n",
            cfg = dir.display(),
            plugins = others("plugins", PLUGIN),
            transports = others("transports", TRANSPORT),
            loggers = others("loggers", ""),
            events = others("events", ""),
        );
        let http = format!(
            "general: {{\n\tjson = \"compact\"\n\tbase_path = \"/janus\"\n\thttp = true\n\tport = {JANUS_PORT}\n\t\
             ip = \"{}\"\n\thttps = false\n}}\nadmin: {{\n\tadmin_http = false\n\tadmin_https = false\n}}\n\
             cors: {{\n}}\n",
            self.mgmt_ip
        );
        let streaming = format!(
            "general: {{\n\tadmin_key = \"{ADMIN_KEY}\"\n\trtp_port_range = \"{RTP_PORT_RANGE}\"\n}}\n"
        );
        for (name, text) in [
            ("janus.jcfg", main),
            ("janus.transport.http.jcfg", http),
            ("janus.plugin.streaming.jcfg", streaming),
        ] {
            std::fs::write(dir.join(name), text)
                .unwrap_or_else(|e| panic!("write {}: {e}", dir.join(name).display()));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("janus.log")
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the Janus log");
        let err = log.try_clone().expect("clone the log handle");
        let dir = self.dir.path();
        // `ip netns exec` execs Janus: the child's pid is Janus's.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "/usr/bin/janus"])
            .arg(format!("--config={}", dir.join("janus.jcfg").display()))
            .arg(format!("--configs-folder={}", dir.display()))
            .arg(format!("--ice-enforce-list={}", self.enforce))
            .arg("--disable-colors")
            .arg("--debug-timestamps")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start janus in {}: {e}", self.ns));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "janus exited with {status} before answering; log:\n{}",
                    self.log()
                );
            }
            let info = self.try_request("GET", &format!("{}/info", self.api_url()), None);
            if let Some(info) = info.ok().filter(|i| i["janus"] == "server_info") {
                assert!(
                    info["plugins"].get("janus.plugin.streaming").is_some(),
                    "Janus runs without the Streaming plugin: {info}\nlog:\n{}",
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Janus did not answer GET {}/info within {START_TIMEOUT:?}; log:\n{}",
                self.api_url(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The HTTP API base, `http://<gateway management address>:8088/janus` (reachable from the test and from
    /// inside the gateway namespace).
    pub fn api_url(&self) -> String {
        format!("http://{}:{JANUS_PORT}/janus", self.mgmt_ip)
    }

    /// The Streaming plugin's `admin_key`.
    pub fn admin_key(&self) -> &'static str {
        ADMIN_KEY
    }

    /// `[sfu]` + `[[sfu.janus]]` tables of a gateway configuration using this Janus with `policy`, then `extra`
    /// lines of `[sfu]` (e.g. `"linger_ms = 2000\n"`).
    pub fn sfu_config(&self, policy: &str, extra: &str) -> String {
        format!(
            "[sfu]\npolicy = \"{policy}\"\n{extra}[[sfu.janus]]\nname = \"{INSTANCE}\"\nurl = \"{}\"\n\
             admin_key = \"{ADMIN_KEY}\"\nrtp_host = \"127.0.0.1\"\n",
            self.api_url()
        )
    }

    /// Janus's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// CPU time Janus has used so far (user + system), in clock ticks (`/proc/PID/stat` utime + stime; 100 per
    /// second on Linux).
    ///
    /// # Panics
    /// When Janus is not running.
    pub fn cpu_ticks(&self) -> u64 {
        let pid = self.pid().expect("Janus is running");
        cpu_ticks_of(pid)
    }

    /// SIGKILL, then reaps the process: what a crashed or killed SFU looks like to the gateway.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Janus again (after [`Janus::kill`]) with the same configuration and address; returns once it
    /// answers. Mountpoints do not survive a restart.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Janus's log so far (the tail).
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let cut = text.len().saturating_sub(LOG_TAIL);
        let cut = (cut..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[cut..].to_owned()
    }

    fn try_request(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Value, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(bytes)
            .map_err(|e| e.to_string())?;
        let mut resp = agent.run(req).map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{method} {url}: reading the body: {e}"))?;
        if status != 200 {
            return Err(format!("{method} {url}: HTTP {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{method} {url}: not JSON ({e}): {text}"))
    }

    /// A request to the API (`path` under [`Janus::api_url`]); panics with the log on any failure.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("{}{path}", self.api_url());
        self.try_request(method, &url, body)
            .unwrap_or_else(|e| panic!("Janus API: {e}\nJanus log:\n{}", self.log()))
    }

    /// One synchronous Streaming plugin request on a fresh session (created, attached, destroyed): the
    /// `plugindata.data` object of the answer.
    pub fn streaming(&self, body: Value) -> Value {
        let session = self.janus_call("", json!({"janus": "create"}));
        let sid = session["data"]["id"].as_u64().expect("a session id");
        let handle = self.janus_call(
            &format!("/{sid}"),
            json!({"janus": "attach", "plugin": "janus.plugin.streaming"}),
        );
        let hid = handle["data"]["id"].as_u64().expect("a handle id");
        let answer = self.janus_call(
            &format!("/{sid}/{hid}"),
            json!({"janus": "message", "body": body}),
        );
        let _ = self.janus_call(&format!("/{sid}"), json!({"janus": "destroy"}));
        answer["plugindata"]["data"].clone()
    }

    fn janus_call(&self, path: &str, mut msg: Value) -> Value {
        static TRANSACTION: AtomicU64 = AtomicU64::new(0);
        msg["transaction"] = json!(format!("t{}", TRANSACTION.fetch_add(1, Ordering::Relaxed)));
        let answer = self.request("POST", path, Some(&msg));
        assert!(
            answer["janus"] == "success",
            "Janus refused {msg}: {answer}"
        );
        answer
    }

    /// The Streaming plugin's `list` with the admin key (private mountpoints included): `[{id, description,
    /// enabled, media: [{age_ms…}]…}]`.
    pub fn list(&self) -> Vec<Value> {
        let data = self.streaming(json!({"request": "list", "admin_key": ADMIN_KEY}));
        data["list"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("Janus list answered {data}"))
    }

    /// The Streaming plugin's `info` on mountpoint `id` (with its secret, when known): the `info` object, or the
    /// error answer.
    pub fn info(&self, id: u64, secret: Option<&str>) -> Value {
        let mut body = json!({"request": "info", "id": id});
        if let Some(s) = secret {
            body["secret"] = json!(s);
        }
        let data = self.streaming(body);
        if data["info"].is_object() {
            data["info"].clone()
        } else {
            data
        }
    }

    /// Viewers of mountpoint `id` as Janus counts them (`info` shows them only with the secret, or when the
    /// mountpoint has none): `None` when Janus did not say.
    pub fn viewers(&self, id: u64, secret: Option<&str>) -> Option<u64> {
        self.info(id, secret)["viewers"].as_u64()
    }

    /// Creates an RTP H.264 mountpoint (as the gateway does, JANUS-FACTS §1) with ports Janus picks.
    pub fn create_mountpoint(&self, id: u64) -> TestMountpoint {
        let secret = format!("secret-{id}");
        let data = self.streaming(json!({
            "request": "create", "admin_key": ADMIN_KEY, "type": "rtp", "id": id,
            "name": format!("test-{id}"), "description": "rig self-test", "secret": secret,
            "is_private": true, "permanent": false,
            "media": [{"type": "video", "mid": "v", "label": "screen", "port": 0, "rtcpport": 0, "pt": 96,
                       "codec": "h264", "fmtp": "profile-level-id=42e01f;packetization-mode=1",
                       "iface": "127.0.0.1"}]
        }));
        assert_eq!(data["streaming"], "created", "create mountpoint: {data}");
        let port = &data["stream"]["ports"][0];
        let num = |v: &Value| {
            v.as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or_else(|| panic!("no port in {data}"))
        };
        TestMountpoint {
            id,
            secret,
            rtp_port: num(&port["port"]),
            rtcp_port: num(&port["rtcp_port"]),
        }
    }

    /// Destroys a mountpoint.
    pub fn destroy_mountpoint(&self, m: &TestMountpoint) {
        let data = self.streaming(json!({"request": "destroy", "id": m.id, "secret": m.secret,
                                          "permanent": false}));
        assert_eq!(data["streaming"], "destroyed", "destroy mountpoint: {data}");
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        self.kill();
    }
}

/// CPU time of process `pid` so far (utime + stime), in clock ticks; 0 when it is gone.
pub fn cpu_ticks_of(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name is in parentheses and may hold spaces: fields count from after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12 here.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`; 100 on every Linux this runs on).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// The gateway's HTTP port inside its namespace.
pub const GATEWAY_PORT: u16 = 8080;

/// A topology, a Janus in its gateway namespace and a gateway beside it on the synthetic screen; dropped in field
/// order: gateway, Janus, namespaces.
pub struct SfuRig {
    gateway: Option<super::GatewayProcess>,
    /// The SFU.
    pub janus: Janus,
    /// The namespaces (viewer `i` reaches the gateway and Janus over link `tov<i>`).
    pub topo: Topology,
    size: (u32, u32),
    /// More tables for the gateway configuration (e.g. `"[congestion]\nenabled = false\n"`), set before
    /// [`SfuRig::start_gateway`].
    pub extra_config: String,
}

impl SfuRig {
    /// `viewers` viewer namespaces and a running Janus; no gateway yet (see [`SfuRig::start_gateway`]).
    pub fn new(viewers: usize, size: (u32, u32)) -> Self {
        let topo = Topology::new(viewers);
        let janus = Janus::start(&topo);
        Self {
            gateway: None,
            janus,
            topo,
            size,
            extra_config: String::new(),
        }
    }

    /// The gateway configuration: the synthetic screen at 30 fps, WebRTC only on the viewer links, the three test
    /// tokens, [`SfuRig::extra_config`], and `[sfu]` with this Janus and `policy` (`"off"`: no `[sfu]` table at
    /// all), then `sfu_extra` lines of `[sfu]`.
    pub fn gateway_config(&self, policy: &str, sfu_extra: &str) -> String {
        let udp: Vec<String> = self
            .topo
            .gateway_udp_addrs()
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect();
        let sfu = if policy == "off" {
            String::new()
        } else {
            self.janus.sfu_config(policy, sfu_extra)
        };
        format!(
            "[server]\nlisten = \"0.0.0.0:{GATEWAY_PORT}\"\n[auth]\nviewers = [\"{}\"]\ncontrollers = [\"{}\"]\n\
             admins = [\"{}\"]\n[capture]\nsource = \"synthetic\"\nsynthetic_size = \"{}x{}\"\nfps = 30\n\
             [webrtc]\nudp_addrs = [{}]\n{}{sfu}",
            super::VIEW_TOKEN,
            super::CONTROL_TOKEN,
            super::ADMIN_TOKEN,
            self.size.0,
            self.size.1,
            udp.join(", "),
            self.extra_config
        )
    }

    /// Starts (or restarts) the gateway in the gateway namespace.
    pub fn start_gateway(&mut self, policy: &str, sfu_extra: &str) {
        self.stop_gateway();
        let config = self.gateway_config(policy, sfu_extra);
        self.gateway = Some(super::GatewayProcess::start_in_netns(
            &self.topo.gateway_ns,
            &config,
        ));
    }

    /// Stops the gateway (SIGTERM, clean exit expected).
    pub fn stop_gateway(&mut self) {
        if let Some(gw) = self.gateway.take() {
            let status = gw.stop();
            assert!(status.success(), "the gateway exited with {status}");
        }
    }

    /// The running gateway.
    pub fn gateway(&self) -> &super::GatewayProcess {
        self.gateway.as_ref().expect("the gateway was started")
    }

    /// The gateway's base URL from the test's namespace (over the management link).
    pub fn api(&self) -> String {
        format!("http://{}:{GATEWAY_PORT}", self.topo.gateway_mgmt_ip)
    }

    /// The gateway's base URL from viewer namespace `i` (the viewer page's origin there).
    pub fn base_for(&self, i: usize) -> String {
        format!("http://{}:{GATEWAY_PORT}", self.topo.viewer(i).gateway_ip)
    }

    /// The gateway's `/ws` URL from viewer namespace `i`.
    pub fn ws_for(&self, i: usize) -> String {
        format!("ws://{}:{GATEWAY_PORT}/ws", self.topo.viewer(i).gateway_ip)
    }

    /// `GET` a JSON document from the gateway as admin.
    pub fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.api());
        let (status, _, body) = super::http("GET", &url, Some(super::ADMIN_TOKEN), None, b"", &[]);
        assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
    }

    /// `GET /api/v1/sfu`: `{"instances":[{name, up, viewers…}], "publications":[{kind, target, screen, tier,
    /// mountpoint, viewers…}]}`.
    pub fn sfu_status(&self) -> Value {
        self.get("/api/v1/sfu")
    }

    /// `GET /api/v1/sessions`: each session's `watch` says `sfu` when an SFU serves it.
    pub fn sessions(&self) -> Value {
        self.get("/api/v1/sessions")
    }

    /// The gateway's publication to this rig's Janus instance, if any.
    pub fn janus_publication(&self) -> Option<Value> {
        self.sfu_status()["publications"]
            .as_array()?
            .iter()
            .find(|p| p["kind"] == "janus" && p["target"] == INSTANCE)
            .cloned()
    }

    /// This rig's instance as the gateway sees it (`up`, `viewers`…), if listed.
    pub fn janus_instance(&self) -> Option<Value> {
        self.sfu_status()["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == INSTANCE)
            .cloned()
    }

    /// Viewers of the gateway's mountpoint as Janus itself counts them: `info` with the mountpoint's secret,
    /// which the gateway's `GET /api/v1/sfu` shows admins as the publication's `mountpoint_secret`. `Err` says what
    /// is missing.
    pub fn janus_viewers(&self) -> Result<(u64, String), String> {
        let p = self
            .janus_publication()
            .ok_or_else(|| format!("no janus publication in {}", self.sfu_status()))?;
        let id = p["mountpoint"]
            .as_u64()
            .ok_or_else(|| format!("no mountpoint id in {p}"))?;
        let secret = p["mountpoint_secret"]
            .as_str()
            .ok_or_else(|| format!("no mountpoint_secret in {p}"))?;
        let n = self.janus.viewers(id, Some(secret)).ok_or_else(|| {
            format!(
                "Janus shows no viewer count for mountpoint {id}: {}",
                self.janus.info(id, Some(secret))
            )
        })?;
        Ok((n, format!("Janus info on mountpoint {id}: {n} viewers")))
    }
}

/// UDP receive-buffer drops (`RcvbufErrors` of `/proc/net/snmp`) in namespace `ns` so far: datagrams the kernel
/// dropped because a socket's receive buffer was full (e.g. a keyframe burst Janus did not read in time).
pub fn udp_rcvbuf_errors(topo: &Topology, ns: &str) -> u64 {
    let snmp = topo.exec(ns, "cat", &["/proc/net/snmp"]);
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// UDP sockets in namespace `ns` that dropped datagrams (`ss -uanmp`: the `d` of `skmem`), as
/// `"<process> <local address>: <drops> dropped"`.
pub fn udp_socket_drops(topo: &Topology, ns: &str) -> Vec<String> {
    let out = topo.exec(ns, "ss", &["-uanmpH"]);
    let mut result = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(local) = words.get(3).filter(|_| !line.starts_with([' ', '\t'])) {
            let process = line
                .split("((\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("?");
            current = Some((process.to_owned(), (*local).to_owned()));
        }
        if let Some(skmem) = line.split("skmem:(").nth(1) {
            let drops = skmem
                .trim_end_matches(')')
                .split(',')
                .find_map(|f| f.strip_prefix('d').and_then(|d| d.parse::<u64>().ok()))
                .unwrap_or(0);
            if let (Some((process, local)), true) = (&current, drops > 0) {
                result.push(format!("{process} {local}: {drops} dropped"));
            }
        }
    }
    result
}
