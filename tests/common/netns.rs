//! A private network for one test: a namespace for the gateway and one per viewer, joined by veth pairs, with the
//! impairments a real path has — a bandwidth cap (`tc`: `htb` root, `tbf` leaf) and random loss (nftables
//! `numgen random` drops) — applied to each viewer's link on its own (issue 10's tests and benchmark).
//!
//! ```text
//!   root namespace (the test)                 <tag>-gw                        <tag>-v0, <tag>-v1, …
//!   slm<pid>x<n> 10.213.a.b+1 ──veth── mgmt 10.213.a.b+2
//!                                            tov0 10.77.1.1 ──veth (shaped)── togw 10.77.1.2   (viewer 0)
//!                                            tov1 10.77.2.1 ──veth (shaped)── togw 10.77.2.2   (viewer 1)
//! ```
//! - The **management link** lets the test reach the gateway's HTTP API; nothing else uses it (the gateway binds
//!   its WebRTC UDP sockets only on the viewer links, see [`Topology::gateway_udp_addrs`]).
//! - **Shaping** happens where a real bottleneck is, on the way to the viewer: the gateway side of each viewer link
//!   has an `htb` root whose filter sends UDP (all media: RTP, RTCP, STUN) to class `1:20` and everything else
//!   (HTTP, the WebSocket) to the unshaped class `1:10`; [`Topology::cap`] puts a `tbf` leaf under `1:20`.
//!   Signalling stays responsive, so a test observes the media path, not a stalled WebSocket.
//! - **Loss** is dropped on arrival in the viewer namespace (the *input* hook: drops on output would make the
//!   sender's `sendto` fail, which no lossy link does).
//! - The namespaces are isolated: IPv6 off (so no traffic can bypass the IPv4 filter), no forwarding; default
//!   routes point into the topology, never out of it.
//!
//! Names carry the process id and a counter (`sightline-<pid>-<n>-…`), so test binaries running in parallel do
//! not collide; namespaces left behind by dead processes are deleted when the next topology is made. Dropping a
//! [`Topology`] kills what still runs inside its namespaces and deletes them (which deletes the veth pairs).
//! Every command that fails panics with the command and its stderr: nothing is skipped silently.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::tempdir::TempDir;

/// Namespace names start with this, then `<pid>-<n>-`: how stale ones are recognised.
pub const NS_PREFIX: &str = "sightline-";
/// Queue of the bottleneck, as `tbf latency`: a home router or cellular link buffers a few hundred ms before it
/// drops, so a sender that overshoots sees its delay grow (what delay-based congestion control reacts to) well
/// before it sees loss. The value the environment notes verified.
pub const TBF_QUEUE_MS: u32 = 400;
/// Token bucket depth as time at the cap rate: a short burst passes at line rate, as on a real shaper.
const TBF_BURST_MS: u64 = 10;
/// The bucket must hold at least two full-size packets (tbf rejects a burst below the MTU).
const TBF_MIN_BURST_BYTES: u64 = 3028;
/// The shaped class (UDP: all media) and the unshaped default class of each viewer link's `htb` root.
const MEDIA_CLASS: &str = "1:20";
const OTHER_CLASS: &str = "1:10";
/// The nftables table holding a viewer namespace's loss rule.
const LOSS_TABLE: &str = "sightline_loss";
/// Management links are /30s in 10.213.0.0/16, picked from the process id.
const MGMT_OCTET: u8 = 213;

/// Creation is serialised within a process: the management subnet check and the `ip` calls must not interleave.
static CREATE: Mutex<()> = Mutex::new(());
static NEXT: AtomicU32 = AtomicU32::new(0);

/// One viewer's namespace and link.
#[derive(Clone, Debug)]
pub struct ViewerNs {
    /// Namespace name.
    pub ns: String,
    /// The viewer's address.
    pub ip: Ipv4Addr,
    /// The gateway's address on this link: the viewer page's URL host and an ICE address of the gateway.
    pub gateway_ip: Ipv4Addr,
    /// The gateway-side interface (in the gateway namespace), where the shaping is.
    gw_dev: String,
}

/// Counters of a viewer link's shaped class: proof that media crossed it, and what the cap did to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShapedCounters {
    /// Bytes and packets the shaped (UDP) class sent towards the viewer.
    pub bytes: u64,
    pub packets: u64,
    /// Packets the class's queue dropped (the `tbf` leaf was full).
    pub dropped: u64,
}

/// The whole private network; deleted on drop.
pub struct Topology {
    tag: String,
    /// The gateway's namespace.
    pub gateway_ns: String,
    /// The gateway's address on the management link (reachable from the test).
    pub gateway_mgmt_ip: Ipv4Addr,
    viewers: Vec<ViewerNs>,
    dir: TempDir,
}

impl Topology {
    /// Builds a gateway namespace and `viewers` viewer namespaces.
    ///
    /// # Panics
    /// When not root, when `ip`, `tc` or `nft` is missing, or when the kernel refuses a step (the message names
    /// the command and its error).
    pub fn new(viewers: usize) -> Self {
        require_root_and_tools(
            "the network tests create network namespaces and shape links",
            &["ip", "tc", "nft"],
        );
        let _one = CREATE.lock().unwrap_or_else(|e| e.into_inner());
        remove_stale();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag = format!("{NS_PREFIX}{pid}-{n}");
        let mut topo = Self {
            gateway_ns: format!("{tag}-gw"),
            tag,
            gateway_mgmt_ip: Ipv4Addr::UNSPECIFIED,
            viewers: Vec::new(),
            dir: TempDir::new(),
        };
        // From here on, a failing step panics and Drop removes whatever was made.
        topo.add_namespace(&topo.gateway_ns.clone());
        let (host_ip, gw_ip) = free_subnet(
            MGMT_OCTET,
            pid.wrapping_mul(31).wrapping_add(n.wrapping_mul(7919)),
        );
        let host_dev = format!("slm{pid}x{n}");
        assert!(host_dev.len() <= 15, "interface name {host_dev} too long");
        run(&[
            "ip",
            "link",
            "add",
            &host_dev,
            "type",
            "veth",
            "peer",
            "name",
            "mgmt",
            "netns",
            &topo.gateway_ns,
        ]);
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{host_dev}/disable_ipv6"),
            "1",
        );
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &host_dev,
        ]);
        run(&["ip", "link", "set", &host_dev, "up"]);
        topo.ip_in(
            &topo.gateway_ns,
            &["addr", "add", &format!("{gw_ip}/30"), "dev", "mgmt"],
        );
        topo.ip_in(&topo.gateway_ns, &["link", "set", "mgmt", "up"]);
        topo.gateway_mgmt_ip = gw_ip;
        for i in 0..viewers {
            topo.add_viewer(i);
        }
        if !topo.viewers.is_empty() {
            // Packets for unknown destinations go into viewer 0's namespace, which forwards nothing: Chromium sees
            // a default route (it asks for one to pick its interface) and nothing leaves the topology.
            let via = topo.viewers[0].ip.to_string();
            topo.ip_in(&topo.gateway_ns, &["route", "add", "default", "via", &via]);
        }
        topo
    }

    fn add_namespace(&self, ns: &str) {
        run(&["ip", "netns", "add", ns]);
        // New namespaces start with forwarding off; make it explicit. IPv6 off: the tc filter matches IPv4 only.
        for (key, value) in [
            ("net/ipv6/conf/all/disable_ipv6", "1"),
            ("net/ipv6/conf/default/disable_ipv6", "1"),
            ("net/ipv4/ip_forward", "0"),
        ] {
            self.exec(
                ns,
                "sh",
                &["-c", &format!("echo {value} > /proc/sys/{key}")],
            );
        }
        self.ip_in(ns, &["link", "set", "lo", "up"]);
    }

    fn add_viewer(&mut self, i: usize) {
        let ns = format!("{}-v{i}", self.tag);
        self.add_namespace(&ns);
        let gw_dev = format!("tov{i}");
        let subnet = u8::try_from(i + 1).expect("at most 254 viewers");
        let gateway_ip = Ipv4Addr::new(10, 77, subnet, 1);
        let ip = Ipv4Addr::new(10, 77, subnet, 2);
        self.ip_in(
            &self.gateway_ns,
            &[
                "link", "add", &gw_dev, "type", "veth", "peer", "name", "togw", "netns", &ns,
            ],
        );
        self.ip_in(
            &self.gateway_ns,
            &["addr", "add", &format!("{gateway_ip}/24"), "dev", &gw_dev],
        );
        self.ip_in(&self.gateway_ns, &["link", "set", &gw_dev, "up"]);
        self.ip_in(&ns, &["addr", "add", &format!("{ip}/24"), "dev", "togw"]);
        self.ip_in(&ns, &["link", "set", "togw", "up"]);
        self.ip_in(
            &ns,
            &["route", "add", "default", "via", &gateway_ip.to_string()],
        );
        // The shaping skeleton: UDP → 1:20 (capped later), everything else → 1:10 (never capped). Both classes are
        // effectively unlimited until a tbf leaf goes under 1:20; an explicit quantum keeps htb quiet about it.
        let tc = |args: &[&str]| {
            let mut full = vec!["tc"];
            full.extend_from_slice(args);
            self.exec(&self.gateway_ns, full[0], &full[1..]);
        };
        tc(&[
            "qdisc", "add", "dev", &gw_dev, "root", "handle", "1:", "htb", "default", "10",
        ]);
        for class in [OTHER_CLASS, MEDIA_CLASS] {
            tc(&[
                "class", "add", "dev", &gw_dev, "parent", "1:", "classid", class, "htb", "rate",
                "10gbit", "quantum", "60000",
            ]);
        }
        tc(&[
            "filter",
            "add",
            "dev",
            &gw_dev,
            "parent",
            "1:",
            "protocol",
            "ip",
            "prio",
            "1",
            "u32",
            "match",
            "ip",
            "protocol",
            "17",
            "0xff",
            "flowid",
            MEDIA_CLASS,
        ]);
        self.viewers.push(ViewerNs {
            ns,
            ip,
            gateway_ip,
            gw_dev,
        });
    }

    /// Viewer `i`'s namespace and addresses.
    pub fn viewer(&self, i: usize) -> &ViewerNs {
        &self.viewers[i]
    }

    /// How many viewer namespaces there are.
    pub fn viewer_count(&self) -> usize {
        self.viewers.len()
    }

    /// `[webrtc] udp_addrs` for a gateway in this topology: one socket per viewer link, none on the management
    /// link, so the only ICE path to a viewer is its (shaped) link.
    pub fn gateway_udp_addrs(&self) -> Vec<String> {
        self.viewers
            .iter()
            .map(|v| format!("{}:0", v.gateway_ip))
            .collect()
    }

    /// A command that runs `program` inside namespace `ns` (`ip netns exec`, which execs: the child's pid is the
    /// program's).
    pub fn command(&self, ns: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]);
        cmd
    }

    /// Runs `program args` inside `ns`; returns stdout. Panics with stderr when it fails.
    pub fn exec(&self, ns: &str, program: &str, args: &[&str]) -> String {
        let out = self
            .command(ns, program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {ns} {program}: {e}"));
        check(
            &format!("ip netns exec {ns} {program} {}", args.join(" ")),
            out,
        )
    }

    fn ip_in(&self, ns: &str, args: &[&str]) {
        let mut full = vec!["ip", "-n", ns];
        full.extend_from_slice(args);
        run(&full);
    }

    /// An executable script that runs Chromium inside `ns`, for playwright's `executablePath`: the DevTools pipe
    /// is a pair of inherited file descriptors, so it crosses the namespace boundary.
    pub fn chromium_in(&self, ns: &str) -> PathBuf {
        let chromium =
            std::env::var("SIGHTLINE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&chromium).exists(),
            "{chromium} is missing; run `scripts/install-deps.sh --test`"
        );
        let path = self.dir.path().join(format!("chromium-{ns}"));
        std::fs::write(
            &path,
            format!("#!/bin/sh\nexec ip netns exec {ns} {chromium} \"$@\"\n"),
        )
        .expect("write the Chromium wrapper");
        run(&["chmod", "755", path.to_str().expect("a UTF-8 temp path")]);
        path
    }

    /// Caps the media (UDP) towards viewer `i` at `kbps` kbit/s, or changes the cap at run time (the queue is
    /// kept: `tc qdisc replace` on the same handle changes the leaf in place).
    pub fn cap(&self, i: usize, kbps: u32) {
        let v = &self.viewers[i];
        let burst = (u64::from(kbps) * 1000 / 8 * TBF_BURST_MS / 1000).max(TBF_MIN_BURST_BYTES);
        self.exec(
            &self.gateway_ns,
            "tc",
            &[
                "qdisc",
                "replace",
                "dev",
                &v.gw_dev,
                "parent",
                MEDIA_CLASS,
                "handle",
                "20:",
                "tbf",
                "rate",
                &format!("{kbps}kbit"),
                "burst",
                &burst.to_string(),
                "latency",
                &format!("{TBF_QUEUE_MS}ms"),
            ],
        );
    }

    /// Lifts viewer `i`'s cap (removes the `tbf` leaf; the class counters keep counting). No cap: no-op.
    pub fn uncap(&self, i: usize) {
        let v = &self.viewers[i];
        let qdiscs = self.exec(&self.gateway_ns, "tc", &["qdisc", "show", "dev", &v.gw_dev]);
        if qdiscs.contains("qdisc tbf 20:") {
            self.exec(
                &self.gateway_ns,
                "tc",
                &["qdisc", "del", "dev", &v.gw_dev, "parent", MEDIA_CLASS],
            );
        }
    }

    /// The current cap of viewer `i` in kbit/s, `None` when uncapped (read back from the kernel).
    pub fn current_cap_kbps(&self, i: usize) -> Option<u64> {
        let v = &self.viewers[i];
        let json = self.exec(
            &self.gateway_ns,
            "tc",
            &["-j", "qdisc", "show", "dev", &v.gw_dev],
        );
        let qdiscs: serde_json::Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("tc -j qdisc output is not JSON ({e}): {json}"));
        qdiscs.as_array()?.iter().find_map(|q| {
            (q["kind"] == "tbf").then(|| q["options"]["rate"].as_u64().unwrap_or(0) * 8 / 1000)
        })
    }

    /// Drops `percent` % (0.1 % steps) of the UDP packets arriving in viewer `i`'s namespace; 0 removes the rule.
    pub fn set_loss(&self, i: usize, percent: f64) {
        let ns = &self.viewers[i].ns;
        let permille = (percent * 10.0).round().clamp(0.0, 1000.0) as u32;
        // Delete-then-add in one transaction: replacing the rule never leaves a moment without it.
        let mut script = format!("table inet {LOSS_TABLE}\ndelete table inet {LOSS_TABLE}\n");
        if permille > 0 {
            script.push_str(&format!(
                "table inet {LOSS_TABLE} {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    \
                 meta l4proto udp numgen random mod 1000 < {permille} counter drop\n  }}\n}}\n"
            ));
        }
        let path = self.dir.path().join(format!("loss-{i}.nft"));
        std::fs::write(&path, script).expect("write the nft script");
        self.exec(
            ns,
            "nft",
            &["-f", path.to_str().expect("a UTF-8 temp path")],
        );
    }

    /// Packets the loss rule of viewer `i` dropped so far (0 without a rule).
    pub fn loss_drops(&self, i: usize) -> u64 {
        let ns = &self.viewers[i].ns;
        let out = self
            .command(ns, "nft")
            .args(["-j", "list", "table", "inet", LOSS_TABLE])
            .output()
            .expect("run nft");
        if !out.status.success() {
            return 0; // no table: no rule
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        counted_packets(&v)
    }

    /// The shaped class's counters on viewer `i`'s link.
    pub fn shaped_counters(&self, i: usize) -> ShapedCounters {
        let v = &self.viewers[i];
        // `tc -j class show` prints text for htb on this iproute2; the text form is stable.
        let text = self.exec(
            &self.gateway_ns,
            "tc",
            &["-s", "class", "show", "dev", &v.gw_dev],
        );
        parse_class_counters(&text, MEDIA_CLASS)
            .unwrap_or_else(|| panic!("no htb class {MEDIA_CLASS} on {} in:\n{text}", v.gw_dev))
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Every namespace of this topology by name, including one a failed constructor left half made.
        let prefix = format!("{}-", self.tag);
        for ns in namespaces().iter().filter(|n| n.starts_with(&prefix)) {
            delete_namespace(ns);
        }
    }
}

/// The names of all network namespaces (`ip netns list` prints `name (id: N)` or `name`).
fn namespaces() -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Kills what still runs in `ns` (only test processes can be in a test's namespace) and deletes it.
pub fn delete_namespace(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(Stdio::null())
        .status();
}

/// Deletes namespaces of earlier test processes (these and the fleet's, `sightline-<pid>-…`) that died without
/// cleaning up.
pub fn remove_stale() {
    for name in namespaces() {
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("netns: removing stale namespace {name} of dead process {pid}");
            delete_namespace(&name);
        }
    }
}

/// A /30 in 10.`octet`.0.0/16 (16384 of them) that no interface of this machine uses, searched from a place
/// derived from `seed`: (its first address, its second).
pub fn free_subnet(octet: u8, seed: u32) -> (Ipv4Addr, Ipv4Addr) {
    const SUBNETS: u32 = 16384;
    let used = run(&["ip", "-4", "-o", "addr", "show"]);
    for k in 0..SUBNETS {
        let index = seed.wrapping_add(k) % SUBNETS;
        let base = u32::from(Ipv4Addr::new(10, octet, 0, 0)) + index * 4;
        let (a, b) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
        if !used.contains(&format!(" {a}/")) && !used.contains(&format!(" {b}/")) {
            return (a, b);
        }
    }
    panic!("no free /30 in 10.{octet}.0.0/16");
}

/// The packets counted by every `counter` of the rules in `nft -j list table …` output.
pub fn counted_packets(nft_json: &serde_json::Value) -> u64 {
    nft_json["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["rule"]["expr"].as_array())
        .flatten()
        .filter_map(|e| e["counter"]["packets"].as_u64())
        .sum()
}

/// Parses `Sent N bytes M pkt (dropped D, …)` of `class htb <class>` from `tc -s class show`.
fn parse_class_counters(text: &str, class: &str) -> Option<ShapedCounters> {
    let start = text.find(&format!("class htb {class} "))?;
    let rest = &text[start..];
    let sent = rest.find("Sent ")?;
    let words: Vec<&str> = rest[sent..]
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .take(8)
        .collect();
    // ["Sent", N, "bytes", M, "pkt", "dropped", D, ...]
    Some(ShapedCounters {
        bytes: words.get(1)?.parse().ok()?,
        packets: words.get(3)?.parse().ok()?,
        dropped: words.get(6)?.parse().ok()?,
    })
}

/// Runs a command; panics with the command line and its output when it fails. Returns its stdout.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", args[0]));
    check(&args.join(" "), out)
}

/// Panics with `what` and the output unless the command succeeded; returns its stdout.
pub fn check(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "`{what}` failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and `tools` (iproute2, nftables, …); `who`
/// names the tests in the message ("the network tests create network namespaces and shape links").
pub fn require_root_and_tools(who: &str, tools: &[&str]) {
    let uid = run(&["id", "-u"]);
    assert_eq!(uid.trim(), "0", "{who}: they must run as root");
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "`{tool}` is not installed; run `scripts/install-deps.sh --test` (it installs iproute2 and nftables)"
        );
    }
}
