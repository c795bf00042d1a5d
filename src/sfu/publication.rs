//! The streams published to SFU instances: one Janus Streaming mountpoint and one RTP sender per (instance,
//! screen, quality tier), created for the first viewer routed there and destroyed `[sfu] linger_ms` after the last
//! one leaves. The RTP sender subscribes to the tier's shared encoder like any local viewer does, so publishing
//! adds no encoder.
//!
//! Each key has a slot for the life of the process (the keys are bounded: instances × screens × tiers); its async
//! mutex serialises creation, so two viewers arriving together create one mountpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use sightline_media::ScreenInfo;
use sightline_media::engine::{Engine, VideoControl, VideoProfile};
use sightline_monitor::{
    Connection, ConnectionAttrs, ConnectionKind, Monitor, Owner, PublicationHandle,
};
use tokio_util::sync::CancellationToken;

use super::instance::Instance;
use super::janus::{self, JanusError, Mountpoint};
use super::publisher::RtpPublisher;
use crate::peer::Tier;

/// How long tearing a mountpoint down may take before it is left to Janus (it goes when Janus restarts anyway).
pub const DESTROY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long asking Janus for a mountpoint's viewer count may take (the count is then left as it was).
const VIEWERS_TIMEOUT: Duration = Duration::from_millis(500);

/// Why a stream could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Janus refused or did not answer.
    #[error("{0}")]
    Janus(#[from] JanusError),
    /// The screen's encoder could not be subscribed to.
    #[error("{0}")]
    Media(#[from] sightline_media::MediaError),
    /// The RTP socket could not be opened.
    #[error("cannot open the RTP socket: {0}")]
    Socket(#[from] std::io::Error),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    instance: usize,
    screen: String,
    profile: VideoProfile,
}

/// One key's publication, when it runs.
struct Live {
    mountpoint: Mountpoint,
    publisher: RtpPublisher,
    conn: Connection,
    api: janus::JanusApi,
    stats: PublicationHandle,
    /// Keyframe requests to the tier's encoder.
    control: VideoControl,
}

struct Slot {
    key: Key,
    live: tokio::sync::Mutex<Option<Live>>,
    /// Leases held; the stream is torn down `linger` after this reaches 0.
    viewers: AtomicUsize,
    /// Bumped by every lease release, so a linger timer only acts when nobody came and went since it started.
    releases: AtomicU64,
}

/// Every publication to every instance.
pub struct Publications {
    slots: Mutex<HashMap<Key, Arc<Slot>>>,
    engine: Engine,
    monitor: Monitor,
    linger: Duration,
    shutdown: CancellationToken,
    /// Mountpoint ids: a random base (so a restarted gateway does not collide with its own lingering mountpoints)
    /// plus a counter; below 2^53 for JavaScript clients of Janus.
    next_id: AtomicU64,
}

/// A viewer's hold on a publication: the mountpoint it watches. Dropping it releases the hold.
pub struct Lease {
    slot: Arc<Slot>,
    registry: Arc<Publications>,
    /// The Janus mountpoint id.
    pub mountpoint: u64,
    control: VideoControl,
}

impl Lease {
    /// Asks the published tier's encoder for an IDR (coalesced with every other request). A viewer whose
    /// connection to the SFU just came up needs one: the keyframe Janus asked for when the viewer sent `start`
    /// went out before the viewer could receive it.
    pub fn request_keyframe(&self) {
        self.control.request_keyframe();
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.slot.releases.fetch_add(1, Ordering::AcqRel);
        if self.slot.viewers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.registry.linger(Arc::clone(&self.slot));
        }
    }
}

impl Publications {
    /// An empty registry.
    pub fn new(
        engine: Engine,
        monitor: Monitor,
        linger: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        let base = (rand::random::<u64>() % (1 << 40)) << 12;
        Self {
            slots: Mutex::default(),
            engine,
            monitor,
            linger,
            shutdown,
            next_id: AtomicU64::new(base + 1),
        }
    }

    /// A hold on the publication of `screen` at `tier` on `instance`, creating the mountpoint and the RTP sender
    /// when this is its first viewer.
    pub async fn acquire(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        screen: &ScreenInfo,
        tier: &Tier,
    ) -> Result<Lease, PublishError> {
        let key = Key {
            instance: instance.index,
            screen: screen.id.clone(),
            profile: tier.profile,
        };
        let slot = Arc::clone(self.slots.lock().entry(key.clone()).or_insert_with(|| {
            Arc::new(Slot {
                key,
                live: tokio::sync::Mutex::new(None),
                viewers: AtomicUsize::new(0),
                releases: AtomicU64::new(0),
            })
        }));
        let mut live = slot.live.lock().await;
        let l = match live.take() {
            Some(l) => l,
            None => self.start(instance, screen, tier).await?,
        };
        let (mountpoint, control) = (l.mountpoint.id, l.control.clone());
        *live = Some(l);
        slot.viewers.fetch_add(1, Ordering::AcqRel);
        Ok(Lease {
            slot: Arc::clone(&slot),
            registry: Arc::clone(self),
            mountpoint,
            control,
        })
    }

    async fn start(
        &self,
        instance: &Instance,
        screen: &ScreenInfo,
        tier: &Tier,
    ) -> Result<Live, PublishError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let name = format!("sightline {} {}", screen.id, tier.name);
        let cfg = &instance.cfg;
        let mountpoint =
            janus::create_mountpoint(&instance.api, &cfg.admin_key, id, &name, cfg.rtp_host)
                .await?;
        let conn = self.monitor.open_connection(
            ConnectionKind::Publish,
            ConnectionAttrs {
                screen: Some(screen.id.clone()),
                remote: Some(format!("janus {}", instance.name())),
                ..ConnectionAttrs::default()
            },
        );
        conn.event(format!(
            "mountpoint {} on {} ({}), RTP to {}:{}, RTCP {}",
            mountpoint.id,
            instance.name(),
            tier.name,
            cfg.rtp_host,
            mountpoint.rtp_port,
            mountpoint.rtcp_port
        ));
        let stats =
            self.monitor
                .sfu()
                .publication("janus", instance.name(), &screen.id, &tier.name);
        stats.set_mountpoint(mountpoint.id, &mountpoint.secret);
        let started = self
            .engine
            .subscribe_video(&screen.id, tier.profile)
            .map_err(PublishError::from)
            .and_then(|sub| {
                let control = sub.control();
                RtpPublisher::start(
                    sub,
                    cfg.rtp_host,
                    mountpoint.rtp_port,
                    mountpoint.rtcp_port,
                    stats.clone(),
                    &self.monitor,
                    Owner::Connection(conn.id()),
                )
                .map(|publisher| (publisher, control))
                .map_err(PublishError::from)
            });
        match started {
            Ok((publisher, control)) => {
                conn.set_lifecycle(sightline_monitor::Lifecycle::Connected);
                Ok(Live {
                    mountpoint,
                    publisher,
                    conn,
                    api: instance.api.clone(),
                    stats,
                    control,
                })
            }
            Err(e) => {
                conn.close("start failed");
                self.destroy_later(instance.api.clone(), mountpoint);
                Err(e)
            }
        }
    }

    /// Starts the linger timer of a slot whose last viewer left.
    fn linger(self: &Arc<Self>, slot: Arc<Slot>) {
        let registry = Arc::clone(self);
        let releases = slot.releases.load(Ordering::Acquire);
        let linger = self.linger;
        let shutdown = self.shutdown.clone();
        self.monitor
            .spawn("sfu-linger", Owner::Gateway, async move {
                tokio::select! {
                    () = tokio::time::sleep(linger) => {}
                    () = shutdown.cancelled() => {}
                }
                let mut live = slot.live.lock().await;
                let idle = slot.viewers.load(Ordering::Acquire) == 0
                    && slot.releases.load(Ordering::Acquire) == releases;
                if idle && let Some(l) = live.take() {
                    drop(live);
                    registry
                        .teardown(&slot.key, l, "nobody watches", true)
                        .await;
                }
            });
    }

    /// Stops every publication of `instance` (it is down, or the gateway stops): the RTP senders stop and the
    /// mountpoints are destroyed if Janus still answers, in the background unless `wait`. Viewers holding leases
    /// learn it from their own watch.
    pub async fn stop_instance(&self, instance: usize, why: &str, wait: bool) {
        let slots = self.slots_of(instance);
        for slot in slots {
            let taken = slot.live.lock().await.take();
            if let Some(l) = taken {
                self.teardown(&slot.key, l, why, wait).await;
            }
        }
    }

    /// Forgets the publication a viewer found gone on Janus (Janus restarted between two health checks), so
    /// the next viewer creates it again.
    pub async fn invalidate(&self, lease: &Lease, why: &str) {
        let mut live = lease.slot.live.lock().await;
        if live
            .as_ref()
            .is_some_and(|l| l.mountpoint.id == lease.mountpoint)
            && let Some(l) = live.take()
        {
            drop(live);
            self.teardown(&lease.slot.key, l, why, false).await;
        }
    }

    /// Asks Janus how many viewers each live publication of `instance` has (its own count, which the monitor
    /// shows) and returns how many publications are live.
    pub async fn refresh_viewers(&self, instance: usize) -> usize {
        let slots = self.slots_of(instance);
        let mut live = Vec::new();
        for slot in slots {
            if let Some(l) = slot.live.lock().await.as_ref() {
                live.push((l.api.clone(), l.mountpoint.clone(), l.stats.clone()));
            }
        }
        for (api, mountpoint, stats) in &live {
            let asked = janus::mountpoint_viewers(api, mountpoint);
            if let Ok(Ok(n)) = tokio::time::timeout(VIEWERS_TIMEOUT, asked).await {
                stats.set_viewers(n);
            }
        }
        live.len()
    }

    /// The slots of `instance`'s publications.
    fn slots_of(&self, instance: usize) -> Vec<Arc<Slot>> {
        self.slots
            .lock()
            .values()
            .filter(|s| s.key.instance == instance)
            .cloned()
            .collect()
    }

    async fn teardown(&self, key: &Key, live: Live, why: &str, wait: bool) {
        tracing::info!(screen = %key.screen, mountpoint = live.mountpoint.id, why, "sfu publication stopped");
        live.publisher.stop().await;
        live.conn.close(why);
        if wait {
            destroy(live.api, live.mountpoint).await;
        } else {
            self.destroy_later(live.api, live.mountpoint);
        }
    }

    fn destroy_later(&self, api: janus::JanusApi, mountpoint: Mountpoint) {
        self.monitor.spawn(
            "sfu-destroy-mountpoint",
            Owner::Gateway,
            destroy(api, mountpoint),
        );
    }
}

/// Destroys a mountpoint, giving Janus [`DESTROY_TIMEOUT`]; a failure is only logged (Janus drops non-permanent
/// mountpoints when it restarts).
async fn destroy(api: janus::JanusApi, mountpoint: Mountpoint) {
    match tokio::time::timeout(
        DESTROY_TIMEOUT,
        janus::destroy_mountpoint(&api, &mountpoint),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!(mountpoint = mountpoint.id, error = %e, "mountpoint not destroyed")
        }
        Err(_) => tracing::debug!(
            mountpoint = mountpoint.id,
            "destroying the mountpoint timed out"
        ),
    }
}
