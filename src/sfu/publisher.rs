//! The RTP sender of one publication: a task that sends a screen tier's shared H.264 to a Janus mountpoint as
//! plain RTP and turns Janus's PLI/FIR into coalesced keyframe requests.
//!
//! One UDP socket does everything (JANUS-FACTS §2): it sends RTP to the mountpoint's RTP port and a Sender
//! Report to its RTCP port at once and every [`SR_PERIOD`]. Janus sends its RTCP to the source of the last packet
//! that reached the RTCP port, so its PLIs, FIRs (forwarded as PLIs) and REMBs come back to this socket. A
//! request goes through a [`KeyframeGate`] ([`KEYFRAME_MIN_INTERVAL`]): a burst becomes one request to the
//! encoder, a request inside the window waits for it to pass, and an IDR the encoder made anyway (another viewer
//! joined) satisfies it.
//!
//! A failed send (the SFU host answers with ICMP unreachable, the route is gone) is counted in the publication's
//! monitor row and logged once per burst; the task keeps going at the frame rate, so the stream resumes by
//! itself when the SFU is back, and the health checker decides whether the instance is down. The task ends
//! when the handle is dropped or [`RtpPublisher::stop`]ped, or when the encoder ends.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use sightline_media::engine::VideoSubscription;
use sightline_media::h264::AccessUnit;
use sightline_media::keyframe::KeyframeGate;
use sightline_monitor::{Monitor, Owner, PublicationHandle};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::rtp::{Feedback, Packetizer, parse_rtcp, sender_report};
use crate::peer::{SubscriptionFeed, VideoFeed};

/// Period of the Sender Reports. Janus keeps its RTCP destination latched on the last packet it got on the
/// RTCP port, and re-latches within this time when the gateway's address changes.
pub const SR_PERIOD: Duration = Duration::from_secs(1);

/// Minimum spacing of the keyframes the publisher asks for. Janus itself sends at most one PLI a second per
/// stream, plus a redundant one after it (JANUS-FACTS §2); half a second absorbs that pair without delaying a
/// real second request.
pub const KEYFRAME_MIN_INTERVAL: Duration = Duration::from_millis(500);

/// Access units of at most this many packets go out back to back: P-frames, which must not wait.
pub const PACE_FREE: usize = 48;
/// Larger units (keyframes: a hundred packets or more at 720p) go out in bursts of this many packets,
/// [`PACE_GAP`] apart: sent back to back they overflow the SFU's receive buffer (Linux's default holds about 90)
/// whenever its relay thread is descheduled for a few milliseconds, and a keyframe the SFU drops cannot be
/// repaired (Janus does not NACK its RTP source).
pub const PACE_BURST: usize = 16;
/// The pause between two bursts of one access unit.
pub const PACE_GAP: Duration = Duration::from_millis(1);
/// RTP payload type of the mountpoint (JANUS-FACTS §1: `pt 96`, H.264).
pub const PAYLOAD_TYPE: u8 = 96;

/// Receive buffer for RTCP: one Ethernet-sized datagram; longer ones are truncated by the kernel and their
/// truncated tail is ignored by the parser.
const RTCP_BUF: usize = 1500;

/// RTP clock rate of H.264 (RFC 6184), ticks per second.
const CLOCK_RATE: u128 = 90_000;

/// Why the task ended when its handle stopped it (the normal end).
const STOPPED: &str = "stopped";

/// A send error after this much time without one starts a new burst, which is logged again.
const ERROR_BURST_QUIET: Duration = Duration::from_secs(10);

/// A running RTP sender. Dropping it stops the task (without waiting); [`RtpPublisher::stop`] waits for it.
#[derive(Debug)]
pub struct RtpPublisher {
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    local: SocketAddr,
}

impl RtpPublisher {
    /// Spawns the sender of `sub` (see [`Self::start_feed`]).
    pub fn start(
        sub: VideoSubscription,
        host: IpAddr,
        rtp_port: u16,
        rtcp_port: u16,
        stats: PublicationHandle,
        monitor: &Monitor,
        owner: Owner,
    ) -> std::io::Result<Self> {
        Self::start_feed(
            SubscriptionFeed::new(sub),
            host,
            rtp_port,
            rtcp_port,
            stats,
            monitor,
            owner,
        )
    }

    /// Spawns the task (named `sfu-rtp`, owned by `owner`) sending `feed` as RTP to `host:rtp_port`, with
    /// Sender Reports to `host:rtcp_port`, from one UDP socket bound to an ephemeral port of `host`'s family.
    /// Counters go to `stats`. Fails only when the socket cannot be opened. Must be called inside a Tokio
    /// runtime.
    pub fn start_feed(
        feed: impl VideoFeed,
        host: IpAddr,
        rtp_port: u16,
        rtcp_port: u16,
        stats: PublicationHandle,
        monitor: &Monitor,
        owner: Owner,
    ) -> std::io::Result<Self> {
        let any: IpAddr = match host {
            IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let std_socket = std::net::UdpSocket::bind((any, 0))?;
        std_socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(std_socket)?;
        let local = socket.local_addr()?;
        let shutdown = CancellationToken::new();
        let ctx = Ctx {
            socket,
            rtp: SocketAddr::new(host, rtp_port),
            rtcp: SocketAddr::new(host, rtcp_port),
            stats,
            shutdown: shutdown.clone(),
        };
        let task = monitor.spawn("sfu-rtp", owner, run(feed, ctx));
        Ok(Self {
            shutdown,
            task: Some(task),
            local,
        })
    }

    /// The local address of the socket sending RTP and receiving RTCP (its IP is unspecified).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether the task has ended (stopped, or the encoder ended).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the task and waits for it to end.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            // A panic was already recorded by the monitor's task registry; nothing more to do here.
            let _ = task.await;
        }
    }
}

impl Drop for RtpPublisher {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// What the task needs besides its feed.
struct Ctx {
    socket: UdpSocket,
    rtp: SocketAddr,
    rtcp: SocketAddr,
    stats: PublicationHandle,
    shutdown: CancellationToken,
}

/// RTP timing and SR counters of one stream.
struct StreamClock {
    /// Random RTP timestamp of the first access unit (RFC 3550 §5.1).
    base_ts: u32,
    /// Capture time of the first access unit, once there was one.
    first: Option<SystemTime>,
    /// 90 kHz ticks since `first` of the last unit sent: timestamps never go back even if the wall clock does.
    last_ticks: u64,
    /// Packets and payload octets sent (the SR's counts, wrapping as RFC 3550 says).
    packets: u32,
    octets: u32,
}

impl StreamClock {
    fn ticks_since_first(&self, t: SystemTime) -> u64 {
        let Some(first) = self.first else { return 0 };
        let d = t.duration_since(first).unwrap_or_default();
        u64::try_from(d.as_nanos() * CLOCK_RATE / 1_000_000_000).unwrap_or(u64::MAX)
    }

    /// The RTP timestamp of an access unit captured at `captured`.
    fn unit_ts(&mut self, captured: SystemTime) -> u32 {
        let first = *self.first.get_or_insert(captured);
        let ticks = if captured == first {
            0
        } else {
            self.ticks_since_first(captured).max(self.last_ticks + 1)
        };
        self.last_ticks = ticks;
        self.base_ts.wrapping_add(ticks as u32)
    }

    /// The RTP time matching wall-clock `now`, for a Sender Report.
    fn sr_ts(&self, now: SystemTime) -> u32 {
        self.base_ts
            .wrapping_add(self.ticks_since_first(now) as u32)
    }
}

/// Logs send errors once per burst: a warning for the first error after [`ERROR_BURST_QUIET`] without any, so a
/// gone SFU (or one that flaps) costs one line per quiet period, never one per frame.
#[derive(Default)]
struct ErrorBurst {
    /// Errors since the last successful send.
    count: u64,
    /// When the last error happened.
    last: Option<Instant>,
}

impl ErrorBurst {
    fn failed(&mut self, what: &str, dest: SocketAddr, e: &std::io::Error, now: Instant) {
        let new_burst = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= ERROR_BURST_QUIET);
        if new_burst {
            tracing::warn!(%dest, error = %e, "sending {what} to the SFU failed (counted; further errors in this burst are not logged)");
            self.count = 0;
        }
        self.count += 1;
        self.last = Some(now);
    }

    fn succeeded(&mut self, dest: SocketAddr) {
        if self.count > 0 {
            tracing::debug!(%dest, errors = self.count, "sending to the SFU works again");
            self.count = 0;
        }
    }
}

/// The task: `run_inner` and one log line for why it ended.
async fn run(feed: impl VideoFeed, ctx: Ctx) {
    let rtp = ctx.rtp;
    let why = run_inner(feed, ctx).await;
    if why == STOPPED {
        tracing::debug!(dest = %rtp, "RTP publisher ended: {why}");
    } else {
        tracing::info!(dest = %rtp, "RTP publisher ended: {why}");
    }
}

async fn run_inner(mut feed: impl VideoFeed, ctx: Ctx) -> &'static str {
    let mut packetizer = Packetizer::new(rand::random(), PAYLOAD_TYPE);
    let mut clock = StreamClock {
        base_ts: rand::random(),
        first: None,
        last_ticks: 0,
        packets: 0,
        octets: 0,
    };
    let mut gate = KeyframeGate::new(KEYFRAME_MIN_INTERVAL);
    let mut errors = ErrorBurst::default();
    // The first tick is immediate: Janus latches its RTCP destination before the first viewer's join PLI.
    let mut sr_tick = tokio::time::interval(SR_PERIOD);
    sr_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = vec![0u8; RTCP_BUF];
    let mut packets = Vec::new();
    loop {
        let due = gate
            .due_at(Instant::now().into_std())
            .map(Instant::from_std);
        tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => return STOPPED,
            r = ctx.socket.recv_from(&mut buf) => match r {
                Ok((n, _from)) => on_rtcp(&buf[..n], &ctx.stats, &mut gate, &feed),
                // ICMP errors may surface here; they are one-shot, so this cannot spin.
                Err(e) => tracing::debug!(error = %e, "RTCP receive failed"),
            },
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                if gate.should_force(Instant::now().into_std()) {
                    feed.request_keyframe();
                }
            }
            _ = sr_tick.tick() => {
                let now = SystemTime::now();
                let sr = sender_report(packetizer.ssrc(), now, clock.sr_ts(now), clock.packets, clock.octets);
                match ctx.socket.send_to(&sr, ctx.rtcp).await {
                    Ok(_) => errors.succeeded(ctx.rtcp),
                    Err(e) => {
                        ctx.stats.add_send_error();
                        errors.failed("a sender report", ctx.rtcp, &e, Instant::now());
                    }
                }
            }
            au = feed.recv() => {
                let Some(au) = au else { return "the encoder ended" };
                send_unit(&au, &ctx, &mut packetizer, &mut clock, &mut packets, &mut errors).await;
                if au.keyframe {
                    ctx.stats.add_keyframe();
                    gate.on_idr(Instant::now().into_std());
                }
            }
        }
    }
}

/// Handles one RTCP datagram from the SFU.
fn on_rtcp(
    datagram: &[u8],
    stats: &PublicationHandle,
    gate: &mut KeyframeGate,
    feed: &impl VideoFeed,
) {
    let now = Instant::now().into_std();
    for fb in parse_rtcp(datagram) {
        match fb {
            Feedback::Pli => stats.add_pli(),
            Feedback::Fir => stats.add_fir(),
            Feedback::Remb(bps) => {
                stats.set_remb(bps);
                continue;
            }
            Feedback::Other => continue,
        }
        gate.request(now);
    }
    if gate.should_force(now) {
        feed.request_keyframe();
    }
}

/// Packetizes and sends one access unit. On the first failed packet the rest of the unit is dropped (the
/// picture is broken anyway); the next unit tries again.
async fn send_unit(
    au: &AccessUnit,
    ctx: &Ctx,
    packetizer: &mut Packetizer,
    clock: &mut StreamClock,
    packets: &mut Vec<bytes::Bytes>,
    errors: &mut ErrorBurst,
) {
    let ts = clock.unit_ts(au.captured_at);
    packets.clear();
    packetizer.packetize(&au.data, ts, packets);
    let (mut sent, mut bytes) = (0u64, 0u64);
    let paced = packets.len() > PACE_FREE;
    for (i, p) in packets.iter().enumerate() {
        if paced && i > 0 && i % PACE_BURST == 0 {
            tokio::time::sleep(PACE_GAP).await;
        }
        match ctx.socket.send_to(p, ctx.rtp).await {
            Ok(_) => {
                sent += 1;
                bytes += p.len() as u64;
                clock.packets = clock.packets.wrapping_add(1);
                clock.octets = clock
                    .octets
                    .wrapping_add((p.len() - super::rtp::RTP_HEADER_LEN) as u32);
            }
            Err(e) => {
                ctx.stats.add_send_error();
                errors.failed("RTP", ctx.rtp, &e, Instant::now());
                break;
            }
        }
    }
    if sent > 0 {
        errors.succeeded(ctx.rtp);
        ctx.stats.add_sent(sent, bytes);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use sightline_monitor::MonitorConfig;
    use tokio::sync::mpsc;

    use super::*;

    /// Access units from a channel; counts keyframe requests.
    struct FakeFeed {
        units: mpsc::Receiver<Arc<AccessUnit>>,
        keyframe_requests: Arc<AtomicUsize>,
    }

    impl VideoFeed for FakeFeed {
        async fn recv(&mut self) -> Option<Arc<AccessUnit>> {
            self.units.recv().await
        }

        fn request_keyframe(&self) {
            self.keyframe_requests.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn unit(keyframe: bool, seq: u64, captured_at: SystemTime) -> Arc<AccessUnit> {
        let mut data = Vec::new();
        if keyframe {
            data.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f]);
            data.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
            data.extend_from_slice(&[0, 0, 0, 1, 0x65]);
            data.extend(std::iter::repeat_n(0x5a, 5000));
        } else {
            data.extend_from_slice(&[0, 0, 0, 1, 0x41]);
            data.extend(std::iter::repeat_n(0x33, 300));
        }
        Arc::new(AccessUnit {
            data: Bytes::from(data),
            keyframe,
            captured_at,
            seq,
            width: 64,
            height: 64,
            encode_ms: 1.0,
        })
    }

    struct Rig {
        monitor: Monitor,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        units: mpsc::Sender<Arc<AccessUnit>>,
        requests: Arc<AtomicUsize>,
        stats: PublicationHandle,
        publisher: RtpPublisher,
    }

    /// A publisher sending to two local sockets acting as Janus's RTP and RTCP ports (or to `dest` instead).
    async fn rig(dest: Option<(IpAddr, u16, u16)>) -> Rig {
        let monitor = Monitor::new(MonitorConfig::default());
        let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (tx, rx) = mpsc::channel(16);
        let requests = Arc::new(AtomicUsize::new(0));
        let stats = monitor.sfu().publication("janus", "janus-1", "0", "t0");
        let (host, rtp_port, rtcp_port) = dest.unwrap_or((
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            rtp.local_addr().unwrap().port(),
            rtcp.local_addr().unwrap().port(),
        ));
        let feed = FakeFeed {
            units: rx,
            keyframe_requests: requests.clone(),
        };
        let publisher = RtpPublisher::start_feed(
            feed,
            host,
            rtp_port,
            rtcp_port,
            stats.clone(),
            &monitor,
            Owner::Gateway,
        )
        .unwrap();
        Rig {
            monitor,
            rtp,
            rtcp,
            units: tx,
            requests,
            stats,
            publisher,
        }
    }

    async fn recv(sock: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = vec![0u8; 2048];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("a datagram within 5 s")
            .unwrap();
        buf.truncate(n);
        (buf, from)
    }

    async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ok() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    const PLI: [u8; 12] = [0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];

    #[tokio::test]
    async fn rtp_and_sender_reports_reach_janus_and_plis_become_coalesced_keyframe_requests() {
        let r = rig(None).await;
        // The SR comes at once, to the RTCP port, from the socket that will send the RTP.
        let (sr, source) = recv(&r.rtcp).await;
        assert_eq!((sr.len(), sr[1]), (28, 200));

        let t0 = SystemTime::now();
        r.units.send(unit(true, 1, t0)).await.unwrap();
        let mut got = Vec::new();
        loop {
            let (p, from) = recv(&r.rtp).await;
            assert_eq!(from.port(), source.port(), "RTP and RTCP share one socket");
            let last = p[1] & 0x80 != 0;
            got.push(p);
            if last {
                break;
            }
        }
        assert_eq!(
            got.len(),
            2 + 5000usize.div_ceil(super::super::rtp::MAX_PAYLOAD - 2)
        );
        assert_eq!(got[0][1] & 0x7f, PAYLOAD_TYPE);
        assert_eq!(got[0][12] & 0x1f, 7, "SPS first");
        assert_eq!(&got[0][8..12], &sr[4..8], "the SR names the stream's SSRC");
        let ts0 = u32::from_be_bytes(got[0][4..8].try_into().unwrap());
        // A P-frame 100 ms later: 9000 ticks later.
        r.units
            .send(unit(false, 2, t0 + Duration::from_millis(100)))
            .await
            .unwrap();
        let (p, _) = recv(&r.rtp).await;
        let ts1 = u32::from_be_bytes(p[4..8].try_into().unwrap());
        assert_eq!(ts1.wrapping_sub(ts0), 9000);
        wait_for("the counters", || r.stats.snapshot().keyframes == 1).await;
        let s = r.stats.snapshot();
        assert_eq!(s.packets, got.len() as u64 + 1);
        assert_eq!(
            s.bytes,
            got.iter().map(|p| p.len() as u64).sum::<u64>() + p.len() as u64
        );

        // Two PLIs in one datagram (the join PLI and Janus's redundant one): one keyframe request.
        r.rtcp.send_to(&[PLI, PLI].concat(), source).await.unwrap();
        wait_for("the keyframe request", || {
            r.requests.load(Ordering::SeqCst) == 1
        })
        .await;
        assert_eq!(r.stats.snapshot().plis, 2);
        tokio::time::sleep(KEYFRAME_MIN_INTERVAL + Duration::from_millis(200)).await;
        assert_eq!(
            r.requests.load(Ordering::SeqCst),
            1,
            "two PLIs, one request"
        );

        // A compound with a REMB and a FIR.
        let mut remb = vec![0x8f, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0];
        remb.extend_from_slice(b"REMB");
        remb.extend_from_slice(&[0, (2 << 2) | 1, 0x00, 0x00]); // mantissa 0x10000, exponent 2
        let fir = [
            0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0,
        ];
        r.rtcp
            .send_to(&[&remb[..], &fir[..]].concat(), source)
            .await
            .unwrap();
        wait_for("the FIR's keyframe request", || {
            r.requests.load(Ordering::SeqCst) == 2
        })
        .await;
        let s = r.stats.snapshot();
        assert_eq!((s.firs, s.remb_bps), (1, 0x10000 << 2));

        // Another SR about a second after the first.
        let (sr2, _) = recv(&r.rtcp).await;
        assert_eq!(sr2[1], 200);
        assert_eq!(r.monitor.tasks().counts.running, 1);
        r.publisher.stop().await;
        assert_eq!(r.monitor.tasks().counts.running, 0);
    }

    #[tokio::test]
    async fn send_errors_are_counted_and_the_stream_goes_on() {
        let monitor = Monitor::new(MonitorConfig::default());
        let stats = monitor.sfu().publication("janus", "janus-1", "0", "t0");
        // An IPv6 destination for an IPv4 socket: every send fails at once, like a refused one.
        let ctx = Ctx {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            rtp: "[::1]:9".parse().unwrap(),
            rtcp: "[::1]:9".parse().unwrap(),
            stats: stats.clone(),
            shutdown: CancellationToken::new(),
        };
        let (tx, rx) = mpsc::channel(16);
        let feed = FakeFeed {
            units: rx,
            keyframe_requests: Arc::new(AtomicUsize::new(0)),
        };
        let task = tokio::spawn(run_inner(feed, ctx));
        let t0 = SystemTime::now();
        for i in 0..5 {
            tx.send(unit(i == 0, i + 1, t0 + Duration::from_millis(33 * i)))
                .await
                .unwrap();
        }
        // One error per unit (the rest of a failed unit is dropped) plus the first SR's.
        wait_for("the send errors", || stats.snapshot().send_errors >= 6).await;
        assert!(!task.is_finished(), "errors do not end the task");
        assert_eq!(stats.snapshot().packets, 0);
        drop(tx);
        assert_eq!(task.await.unwrap(), "the encoder ended");
    }
}
