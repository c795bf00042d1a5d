//! The real-network rig of issue 10's tests and benchmark: a [`Topology`] of namespaces, an Xvfb with the
//! high-motion [`NoisePainter`] on one screen, the gateway inside the gateway namespace capturing that screen,
//! and browsers (sightline's viewer page, or the Chromium→Chromium baseline) inside viewer namespaces.
//!
//! The X server stays in the test's namespace: the gateway reaches it through the socket file in
//! `/tmp/.X11-unix` (x11rb tries the abstract socket first, which is per network namespace, then the file), and
//! MIT-SHM works because `ip netns exec` keeps the IPC namespace.

use serde_json::{Value, json};

use super::netns::Topology;
use super::netview::LiveNode;
use super::noise::{NoisePainter, NoiseSpec};
use super::xvfb::{SCREENS, Xvfb};
use super::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, http};

/// The gateway's HTTP port inside its own namespace (private: no other process can hold it).
pub const GATEWAY_PORT: u16 = 8080;

/// Everything but the browsers; dropped in field order: gateway, painter, X server, namespaces.
pub struct NetRig {
    gateway: Option<GatewayProcess>,
    noise: Option<NoisePainter>,
    /// The X server (screens as in [`SCREENS`]).
    pub xvfb: Xvfb,
    /// The namespaces and links.
    pub topo: Topology,
    /// The X screen painted and watched.
    pub screen: usize,
}

impl NetRig {
    /// A topology with `viewers` viewer namespaces and noise painted on X screen `noise.screen` (0 is 1920×1080,
    /// 1 is 1280×720). No gateway yet: see [`NetRig::start_gateway`].
    pub fn new(viewers: usize, noise: NoiseSpec) -> Self {
        let topo = Topology::new(viewers);
        let xvfb = Xvfb::start();
        let painter = NoisePainter::start(&xvfb.display(), noise);
        Self {
            gateway: None,
            noise: Some(painter),
            xvfb,
            topo,
            screen: noise.screen,
        }
    }

    /// The watched screen's size.
    pub fn size(&self) -> (u32, u32) {
        SCREENS[self.screen]
    }

    /// Frames the painter has drawn so far.
    pub fn painted(&self) -> u64 {
        self.noise.as_ref().map_or(0, NoisePainter::frames)
    }

    /// The gateway configuration: X11 capture of the test display at 30 fps, WebRTC only on the viewer links,
    /// the three test tokens, then `extra` (whole tables, e.g. `"[congestion]\nenabled = true\n"`).
    pub fn gateway_config(&self, extra: &str) -> String {
        let udp: Vec<String> = self
            .topo
            .gateway_udp_addrs()
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect();
        format!(
            "[server]\nlisten = \"0.0.0.0:{GATEWAY_PORT}\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\n\
             controllers = [\"{CONTROL_TOKEN}\"]\nadmins = [\"{ADMIN_TOKEN}\"]\n[capture]\nsource = \"x11\"\n\
             display = \"{}\"\nfps = 30\n[webrtc]\nudp_addrs = [{}]\n{extra}",
            self.xvfb.display(),
            udp.join(", ")
        )
    }

    /// Starts (or restarts) the gateway in the gateway namespace with [`NetRig::gateway_config`]`(extra)`.
    pub fn start_gateway(&mut self, extra: &str) {
        self.stop_gateway();
        let config = self.gateway_config(extra);
        self.gateway = Some(GatewayProcess::start_in_netns(
            &self.topo.gateway_ns,
            &config,
        ));
    }

    /// Stops the gateway (SIGTERM, clean exit expected).
    pub fn stop_gateway(&mut self) {
        if let Some(gw) = self.gateway.take() {
            gw.stop();
        }
    }

    /// The running gateway.
    pub fn gateway(&self) -> &GatewayProcess {
        self.gateway.as_ref().expect("the gateway was started")
    }

    /// The gateway's base URL from the test's namespace (over the management link).
    pub fn api(&self) -> String {
        format!("http://{}:{GATEWAY_PORT}", self.topo.gateway_mgmt_ip)
    }

    /// Viewer `i`'s entry for `network_viewer.mjs`: its Chromium wrapper and the gateway's URL on its link.
    pub fn viewer_spec(&self, i: usize, name: &str) -> Value {
        let v = self.topo.viewer(i);
        json!({
            "name": name,
            "chromium": self.topo.chromium_in(&v.ns),
            "base": format!("http://{}:{GATEWAY_PORT}", v.gateway_ip),
            "screen": self.screen.to_string(),
        })
    }

    /// Opens sightline's viewer page for each `(viewer namespace, name)`.
    pub fn open_viewers(&self, viewers: &[(usize, &str)]) -> LiveNode {
        let specs: Vec<Value> = viewers
            .iter()
            .map(|(i, name)| self.viewer_spec(*i, name))
            .collect();
        LiveNode::start(
            "network_viewer.mjs",
            &[
                "--token",
                VIEW_TOKEN,
                "--viewers",
                &Value::Array(specs).to_string(),
            ],
        )
    }

    /// The Chromium→Chromium baseline: the sender page in the gateway namespace, the receiver in viewer `i`'s,
    /// painting this rig's screen size (the X painter should be stopped first: see [`NetRig::pause_noise`]).
    /// `content_hint` is the sender track's `contentHint` (empty: libwebrtc's default for a canvas).
    pub fn open_c2c(
        &self,
        i: usize,
        noise: NoiseSpec,
        max_kbps: u32,
        content_hint: &str,
    ) -> LiveNode {
        let (w, h) = self.size();
        let sender = self.topo.chromium_in(&self.topo.gateway_ns);
        let receiver = self.topo.chromium_in(&self.topo.viewer(i).ns);
        LiveNode::start(
            "network_c2c.mjs",
            &[
                "--content-hint",
                content_hint,
                "--sender-chromium",
                sender.to_str().expect("UTF-8 path"),
                "--receiver-chromium",
                receiver.to_str().expect("UTF-8 path"),
                "--width",
                &w.to_string(),
                "--height",
                &h.to_string(),
                "--paint-fps",
                &noise.fps.to_string(),
                "--cell",
                &noise.cell_px.to_string(),
                "--max-kbps",
                &max_kbps.to_string(),
                "--codec",
                "h264",
            ],
        )
    }

    /// Stops the X painter (the baseline paints its own canvas; two painters would share the CPU).
    pub fn pause_noise(&mut self) {
        self.noise = None;
    }

    /// Starts the X painter again.
    pub fn resume_noise(&mut self, spec: NoiseSpec) {
        self.noise = Some(NoisePainter::start(&self.xvfb.display(), spec));
    }

    /// `GET` a JSON document from the gateway as admin.
    pub fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.api());
        let (status, _, body) = http("GET", &url, Some(ADMIN_TOKEN), None, b"", &[]);
        assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
    }

    /// The open WebRTC connection (monitor summary, with `counters`) of viewer session `session`.
    pub fn webrtc_connection(&self, session: &str) -> Option<Value> {
        self.get("/api/v0/mcp/monitor/webrtc/connections")["connections"]
            .as_array()?
            .iter()
            .find(|c| {
                c["kind"] == "webrtc" && c["session"] == session && c["lifecycle"] != "closed"
            })
            .cloned()
    }

    /// The H.264 pipelines (encoders) of the watched screen that have subscribers.
    pub fn encoders(&self) -> Vec<Value> {
        let screen = self.screen.to_string();
        self.get("/api/v1/status")["pipelines"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                p["kind"] == "h264"
                    && p["screen"] == screen.as_str()
                    && p["subscribers"].as_u64().unwrap_or(0) > 0
            })
            .cloned()
            .collect()
    }
}
