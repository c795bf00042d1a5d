//! The fleet's test topology (issue 15): a **hub** sightline in the test's own network namespace and **devices**
//! (`sightline device`) each in a network namespace of its own that can reach the hub but cannot be reached.
//!
//! ```text
//!   root namespace (the test, the hub on 0.0.0.0:PORT)      sightline-<pid>-f<n>-<name>  (one per device)
//!   sf<pid>x<k> 10.214.a.b+1/30 ───────── veth ─────────── hub0 10.214.a.b+2/30
//!                                                          nft input: lo, established/related accept; new drop
//! ```
//! - The hub listens on the wildcard address: the test, Chromium and the MCP client use `127.0.0.1` (a secure
//!   context, loopback ICE as in every browser test); each device dials `ws://<its link's hub side>:PORT`.
//! - A device namespace has no default route (nothing it sends can leave the topology) and an nftables input
//!   chain that drops every new inbound connection: the device can open connections, never accept one, as behind
//!   a home NAT. [`DeviceNs::verify_isolation`] proves both directions with real TCP connections.
//! - Names carry the process id (`sightline-<pid>-f<n>-…`, the pattern tests/common/netns.rs cleans up after dead
//!   processes); dropping a [`DeviceNs`] kills what runs inside and deletes it, which deletes its veth pair.
//!
//! [`DeviceProcess`] runs `sightline --config <file> device --hub URL --token T --name N` on a synthetic screen
//! of a given size, inside its namespace (or on the host for the benchmark's loopback device), and can be killed
//! with SIGKILL and started again with the same id file. Every failing step panics with the command and its
//! output: nothing is skipped silently.

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::netns::{self, NS_PREFIX, check, delete_namespace, run};
use super::tempdir::TempDir;
use super::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, http};

/// The device token of the test hubs (`[auth] devices`).
pub const DEVICE_TOKEN: &str = "device-token-0001";
/// Heartbeat period of hubs and devices in the tests, ms: a dead link is noticed within three periods.
pub const HEARTBEAT_MS: u64 = 500;
/// Longest a device may take from start to online at the hub (process start, hello, welcome).
pub const ONLINE_TIMEOUT: Duration = Duration::from_secs(20);
/// The nftables table holding a device namespace's inbound rule.
const FIREWALL_TABLE: &str = "sightline_fleet";
/// Device links are /30s in 10.214.0.0/16, picked from the process id.
const LINK_OCTET: u8 = 214;
/// The probe port inside a device namespace that must stay unreachable.
const PROBE_PORT: u16 = 7999;

/// Namespace creation is serialised within a process: the free-subnet check and the `ip` calls must not interleave.
static CREATE: Mutex<()> = Mutex::new(());
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The hub's configuration: the wildcard listen address (devices reach it over their links), the three test
/// tokens plus [`DEVICE_TOKEN`], its own synthetic 640×360 screen, `[devices] heartbeat_ms` = [`HEARTBEAT_MS`],
/// then `extra` (whole tables; `devices_extra` goes into `[devices]`).
///
/// ICE binds loopback only (`[webrtc] udp_addrs`): the hub's viewers are on loopback, and with the wildcard it
/// would also offer its addresses on other tests' device links, whose veths vanish when those tests end — a
/// viewer whose ICE picked such a pair froze (the packets had no route left).
pub fn hub_config(devices_extra: &str, extra: &str) -> String {
    format!(
        "# The test hub (tests/common/fleet.rs).\n[server]\nlisten = \"0.0.0.0:0\"\n\n[auth]\n\
         viewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\nadmins = [\"{ADMIN_TOKEN}\"]\n\
         devices = [\"{DEVICE_TOKEN}\"]\n\n[capture]\nsource = \"synthetic\"\nsynthetic_size = \"640x360\"\n\
         fps = 30\n\n[webrtc]\nudp_addrs = [\"127.0.0.1:0\"]\n\n[devices]\nheartbeat_ms = {HEARTBEAT_MS}\n{devices_extra}\n{extra}"
    )
}

/// A device's network namespace and its link to the hub's namespace.
pub struct DeviceNs {
    /// The namespace.
    pub ns: String,
    /// The device's address.
    pub ip: Ipv4Addr,
    /// The hub side of the link (in the test's namespace): the host of the hub URL the device dials.
    pub hub_ip: Ipv4Addr,
}

impl DeviceNs {
    /// Creates the namespace `sightline-<pid>-f<n>-<label>`, its veth pair to the test's namespace and the
    /// inbound firewall.
    ///
    /// # Panics
    /// When not root, when `ip` or `nft` is missing, or when the kernel refuses a step (the message names the
    /// command and its error).
    pub fn new(label: &str) -> Self {
        require_root_and_tools();
        let _one = CREATE.lock().unwrap_or_else(|e| e.into_inner());
        netns::remove_stale();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // `sightline-<pid>-f<n>-<label>`: netns::remove_stale recognises it.
        let ns = format!("{NS_PREFIX}{pid}-f{n}-{label}");
        let (hub_ip, ip) = netns::free_subnet(
            LINK_OCTET,
            pid.wrapping_mul(131).wrapping_add(n.wrapping_mul(7919)),
        );
        let host_dev = format!("sf{pid}x{n}");
        assert!(host_dev.len() <= 15, "interface name {host_dev} too long");
        run(&["ip", "netns", "add", &ns]);
        // From here on, Drop removes the namespace (and with it the veth pair) if a step panics.
        let me = Self { ns, ip, hub_ip };
        let ns = &me.ns;
        for (key, value) in [
            ("net/ipv6/conf/all/disable_ipv6", "1"),
            ("net/ipv6/conf/default/disable_ipv6", "1"),
            ("net/ipv4/ip_forward", "0"),
        ] {
            me.exec("sh", &["-c", &format!("echo {value} > /proc/sys/{key}")]);
        }
        run_line(&format!("ip -n {ns} link set lo up"));
        run_line(&format!(
            "ip link add {host_dev} type veth peer name hub0 netns {ns}"
        ));
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{host_dev}/disable_ipv6"),
            "1",
        );
        run_line(&format!("ip addr add {hub_ip}/30 dev {host_dev}"));
        run_line(&format!("ip link set {host_dev} up"));
        run_line(&format!("ip -n {ns} addr add {ip}/30 dev hub0"));
        run_line(&format!("ip -n {ns} link set hub0 up"));
        // No default route: only the hub's /30 is reachable, nothing leaves the topology.
        let rules = TempDir::new();
        let file = rules.path().join("inbound.nft");
        std::fs::write(
            &file,
            format!(
                "table inet {FIREWALL_TABLE} {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    \
                 iif \"lo\" accept\n    ct state established,related accept\n    ct state new counter drop\n  }}\n}}\n"
            ),
        )
        .expect("write the nft rules");
        run_line(&format!("ip netns exec {ns} nft -f {}", file.display()));
        me
    }

    /// A command that runs `program` inside the namespace (`ip netns exec` execs: the pid is the program's).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, program]);
        cmd
    }

    /// Runs `program args` inside the namespace; returns stdout. Panics with stderr when it fails.
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {} {program}: {e}", self.ns));
        check(
            &format!("ip netns exec {} {program} {}", self.ns, args.join(" ")),
            out,
        )
    }

    /// New inbound connections the firewall dropped so far.
    pub fn firewall_drops(&self) -> u64 {
        let json = self.exec("nft", &["-j", "list", "table", "inet", FIREWALL_TABLE]);
        let v: Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("nft -j output is not JSON ({e}): {json}"));
        netns::counted_packets(&v)
    }

    /// Proves the namespace's shape with real TCP connections: from inside, a connection to a listener on the hub
    /// side of the link is accepted; from the hub side, a connection to a listener inside times out (the SYN is
    /// dropped by the firewall, whose counter grows).
    ///
    /// # Panics
    /// When either direction behaves otherwise.
    pub fn verify_isolation(&self) {
        // Outbound works: the kernel completes the handshake into the listener's backlog, accept() then finds it.
        let listener = TcpListener::bind((self.hub_ip, 0)).expect("listen on the hub side");
        let port = listener.local_addr().expect("local addr").port();
        self.exec(
            "python3",
            &["-c", &format!("import socket; socket.create_connection(('{}', {port}), timeout=5).sendall(b'out')", self.hub_ip)],
        );
        let (mut conn, _) = listener.accept().expect("the device's outbound connection");
        conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got);
        assert_eq!(
            got, b"out",
            "{}: the outbound connection carried data",
            self.ns
        );
        // Inbound is dropped, though something listens.
        let script = format!(
            "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
             s.bind(('0.0.0.0', {PROBE_PORT})); s.listen(4); print('listening', flush=True); time.sleep(8)"
        );
        let mut probe = self
            .command("python3")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("probe");
        let mut line = String::new();
        let _ = BufReader::new(probe.stdout.take().expect("piped")).read_line(&mut line);
        assert_eq!(
            line.trim(),
            "listening",
            "{}: the probe listener did not start",
            self.ns
        );
        let before = self.firewall_drops();
        let addr = SocketAddr::from((self.ip, PROBE_PORT));
        let inbound = TcpStream::connect_timeout(&addr, Duration::from_millis(1500));
        let after = self.firewall_drops();
        let _ = probe.kill();
        let _ = probe.wait();
        assert!(
            inbound.is_err(),
            "{}: a connection from the hub side to {addr} was accepted",
            self.ns
        );
        assert!(
            after > before,
            "{}: the inbound connect to {addr} failed ({:?}) but the firewall counted no drop",
            self.ns,
            inbound.err()
        );
    }
}

impl Drop for DeviceNs {
    fn drop(&mut self) {
        delete_namespace(&self.ns);
    }
}

/// One device: its configuration, its namespace (none for a device on the host) and its process.
#[derive(Clone, Debug)]
pub struct DeviceSpec {
    /// The name it announces (`--name`).
    pub name: String,
    /// Its synthetic screen's size.
    pub size: (u32, u32),
    /// Extra configuration (whole tables, or keys that go into `[hub]` when they start without a table).
    pub hub_extra: String,
    /// Whether the device also runs its own HTTP server (`[hub] local_server = true`, on 127.0.0.1:0): only for a
    /// device on the host.
    pub local_server: bool,
}

impl DeviceSpec {
    /// A device named `name` with a `w`×`h` synthetic screen at 30 fps.
    pub fn new(name: &str, w: u32, h: u32) -> Self {
        Self {
            name: name.to_owned(),
            size: (w, h),
            hub_extra: String::new(),
            local_server: false,
        }
    }
}

/// A `sightline device` process.
pub struct DeviceProcess {
    /// What it was started with.
    pub spec: DeviceSpec,
    /// The hub URL it dials.
    pub hub_url: String,
    child: Option<Child>,
    config: PathBuf,
    /// Its `[hub] id_file`.
    pub id_file: PathBuf,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<Vec<String>>>,
    /// Its namespace (dropped after the process: fields drop in order).
    pub ns: Option<DeviceNs>,
    dir: TempDir,
}

impl DeviceProcess {
    /// Starts a device in a new namespace of its own, dialling `hub` over its link.
    pub fn start_in_ns(spec: DeviceSpec, hub: &GatewayProcess) -> Self {
        let ns = DeviceNs::new(&spec.name.replace(|c: char| !c.is_ascii_alphanumeric(), ""));
        let url = format!("ws://{}:{}", ns.hub_ip, port_of(&hub.addr));
        Self::start(spec, url, Some(ns))
    }

    /// Starts a device in the test's namespace dialling `hub_url` (the benchmark's loopback device).
    pub fn start_on_host(spec: DeviceSpec, hub_url: &str) -> Self {
        Self::start(spec, hub_url.to_owned(), None)
    }

    fn start(spec: DeviceSpec, hub_url: String, ns: Option<DeviceNs>) -> Self {
        let dir = TempDir::new();
        let id_file = dir.path().join("state/device-id");
        let config = dir.path().join("device.toml");
        let (w, h) = spec.size;
        let mut toml = format!(
            "# A test device (tests/common/fleet.rs).\n[hub]\nurl = \"{hub_url}\"\ntoken = \"{DEVICE_TOKEN}\"\n\
             name = \"{}\"\nid_file = \"{}\"\nheartbeat_ms = {HEARTBEAT_MS}\nreconnect_min_ms = 100\n\
             reconnect_max_ms = 1000\nlocal_server = {}\n{}\n[capture]\nsource = \"synthetic\"\n\
             synthetic_size = \"{w}x{h}\"\nfps = 30\n",
            spec.name,
            id_file.display(),
            spec.local_server,
            spec.hub_extra,
        );
        if spec.local_server {
            toml.push_str(&format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\n\
                 controllers = [\"{CONTROL_TOKEN}\"]\nadmins = [\"{ADMIN_TOKEN}\"]\n"
            ));
        }
        std::fs::write(&config, toml).expect("write the device config");
        let mut me = Self {
            spec,
            hub_url,
            child: None,
            config,
            id_file,
            stderr: Arc::default(),
            stdout: Arc::default(),
            ns,
            dir,
        };
        me.spawn();
        me
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the device is already running");
        let bin = env!("CARGO_BIN_EXE_sightline");
        let mut cmd = match &self.ns {
            Some(ns) => ns.command(bin),
            None => Command::new(bin),
        };
        cmd.arg("--config")
            .arg(&self.config)
            .args(["device", "--hub", &self.hub_url, "--token", DEVICE_TOKEN])
            .args(["--name", &self.spec.name])
            .env("XDG_STATE_HOME", self.dir.path().join("xdg"))
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                std::env::var("SIGHTLINE_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let tag = format!("[device {}] ", self.spec.name);
        let err = child.stderr.take().expect("piped");
        let sink = self.stderr.clone();
        let t = tag.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("{t}{line}");
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
                if s.len() > 1 << 20 {
                    let cut = s.ceil_char_boundary(s.len() - (1 << 19));
                    s.drain(..cut);
                }
            }
        });
        let out = child.stdout.take().expect("piped");
        let sink = self.stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("{tag}{line}");
                let mut l = sink.lock().unwrap();
                if l.len() < 4096 {
                    l.push(line);
                }
            }
        });
        self.child = Some(child);
    }

    /// Kills the device with SIGKILL (no goodbye to the hub) and reaps it.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the device is running");
        child.kill().expect("SIGKILL the device");
        let _ = child.wait();
    }

    /// Sends signal `sig` (`STOP`, `CONT`, …) to the device.
    pub fn signal(&self, sig: &str) {
        run_line(&format!("kill -{sig} {}", self.pid()));
    }

    /// Starts the device again with the same configuration and id file.
    pub fn restart(&mut self) {
        self.stdout.lock().unwrap().clear();
        self.spawn();
    }

    /// The process id (of the `sightline` process: `ip netns exec` execs).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// What it printed on stderr so far (its log), across restarts.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Panics with the log when the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!(
                "device {} exited with {status}; its log:\n{}",
                self.spec.name,
                self.stderr()
            );
        }
    }

    /// The device's id, once it has written its id file (16 lowercase hex digits, generated on first start).
    pub fn wait_id(&mut self) -> String {
        let deadline = Instant::now() + ONLINE_TIMEOUT;
        loop {
            if let Ok(id) = std::fs::read_to_string(&self.id_file) {
                let id = id.trim().to_owned();
                if !id.is_empty() {
                    assert!(
                        id.len() == 16
                            && id
                                .bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                        "device {}: the id file holds {id:?}, not 16 lowercase hex digits",
                        self.spec.name
                    );
                    return id;
                }
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "device {} wrote no id file at {} within {ONLINE_TIMEOUT:?}; its log:\n{}",
                self.spec.name,
                self.id_file.display(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The base URL of its own HTTP server (`[hub] local_server = true`), from its `ready: open` line.
    pub fn local_base(&mut self) -> String {
        let deadline = Instant::now() + ONLINE_TIMEOUT;
        loop {
            if let Some(line) = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains("ready: open http"))
            {
                let url = line.split("open ").nth(1).expect("a URL").trim();
                return url
                    .split("/#")
                    .next()
                    .unwrap_or(url)
                    .trim_end_matches('/')
                    .to_owned();
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "device {} printed no `ready: open http…` line within {ONLINE_TIMEOUT:?} (local_server = true)",
                self.spec.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DeviceProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A hub and its devices; dropped devices first (processes, then namespaces), then the hub.
pub struct Fleet {
    /// The devices, in the order given.
    pub devices: Vec<DeviceProcess>,
    /// The hub.
    pub hub: GatewayProcess,
}

impl Fleet {
    /// Starts a hub with [`hub_config`]`(devices_extra, extra)`, then each device in its own namespace (whose
    /// isolation is verified before the device starts).
    pub fn start(devices_extra: &str, extra: &str, specs: &[DeviceSpec]) -> Self {
        let hub = GatewayProcess::start(&hub_config(devices_extra, extra));
        let devices = specs
            .iter()
            .map(|spec| {
                let d = DeviceProcess::start_in_ns(spec.clone(), &hub);
                d.ns.as_ref().expect("a namespace").verify_isolation();
                d
            })
            .collect();
        Self { devices, hub }
    }

    /// `GET path` on the hub as admin; panics unless 200 with JSON.
    pub fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.hub.base);
        let (status, _, body) = http("GET", &url, Some(ADMIN_TOKEN), None, b"", &[]);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
    }

    /// `GET /api/v1/devices` → the `devices` array.
    pub fn devices_list(&self) -> Vec<Value> {
        let v = self.get("/api/v1/devices");
        v["devices"]
            .as_array()
            .unwrap_or_else(|| panic!("GET /api/v1/devices has no `devices` array: {v}"))
            .clone()
    }

    /// Device `id` as the hub lists it, if listed.
    pub fn device_info(&self, id: &str) -> Option<Value> {
        self.devices_list().into_iter().find(|d| d["id"] == id)
    }

    /// Waits until the hub lists device `id` with `online` and `state` (`allowed`/`pending`; `None`: any); returns
    /// its entry. Panics with the last list and the device's log after `timeout`.
    pub fn wait_device(
        &self,
        i: usize,
        id: &str,
        online: bool,
        state: Option<&str>,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let info = self.device_info(id);
            if let Some(d) = &info
                && d["online"] == online
                && state.is_none_or(|s| d["state"] == s)
            {
                return d.clone();
            }
            assert!(
                Instant::now() < deadline,
                "device {id} ({}) not listed with online = {online}, state = {state:?} within {timeout:?}; \
                 GET /api/v1/devices: {}\n--- the device's log\n{}",
                self.devices[i].spec.name,
                Value::Array(self.devices_list()),
                self.devices[i].stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every device's id once each is online at the hub (in the order given).
    pub fn wait_all_online(&mut self) -> Vec<String> {
        let ids: Vec<String> = self
            .devices
            .iter_mut()
            .map(DeviceProcess::wait_id)
            .collect();
        for (i, id) in ids.iter().enumerate() {
            self.wait_device(i, id, true, None, ONLINE_TIMEOUT);
        }
        ids
    }
}

/// One server-sent event: its `event:` name and its `data:` as JSON.
pub type SseEvent = (String, Value);

/// A `GET` server-sent-events stream read on a thread (for `GET /api/v1/events`).
pub struct EventStream {
    rx: mpsc::Receiver<SseEvent>,
    seen: Vec<SseEvent>,
}

impl EventStream {
    /// Opens `url` with `token`; panics unless it answers 200 `text/event-stream`.
    pub fn open(url: &str, token: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        let req = ureq::http::Request::builder()
            .method("GET")
            .uri(url)
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "text/event-stream")
            .body(())
            .expect("request");
        let mut resp = agent.run(req).unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if status != 200 {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            panic!("GET {url}: {status} {body}");
        }
        assert!(
            ct.starts_with("text/event-stream"),
            "GET {url}: content-type {ct:?}"
        );
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(resp.into_body().into_reader());
        std::thread::spawn(move || {
            let (mut event, mut data) = (String::from("message"), String::new());
            for line in reader.lines().map_while(Result::ok) {
                if line.is_empty() {
                    if !data.is_empty() {
                        let v = serde_json::from_str(&data).unwrap_or(Value::String(data.clone()));
                        if tx.send((event.clone(), v)).is_err() {
                            return;
                        }
                    }
                    (event, data) = (String::from("message"), String::new());
                } else if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(d.trim_start());
                }
            }
        });
        Self {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits for an event named `name` whose data satisfies `pred`; panics with every event seen after
    /// `timeout`.
    pub fn expect(
        &mut self,
        name: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((e, v)) => {
                    self.seen.push((e.clone(), v.clone()));
                    if e == name && pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "no `{name}` event within {timeout:?}; events seen: {:?}",
                    self.seen
                ),
            }
        }
    }
}

/// The port of `host:port`.
pub fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr:?}"))
}

/// [`run`] of a command line without quoting (every argument here is a plain word).
fn run_line(line: &str) -> String {
    run(&line.split_whitespace().collect::<Vec<_>>())
}

/// Device namespaces need root and iproute2, nftables and python3 (the probes).
fn require_root_and_tools() {
    netns::require_root_and_tools(
        "the fleet tests put each device in a network namespace",
        &["ip", "nft", "python3"],
    );
}
