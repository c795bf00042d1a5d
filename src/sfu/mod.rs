//! Serving viewers through SFUs (Janus): the router the session manager asks where a `/ws` WebRTC viewer goes.
//!
//! The gateway still encodes each screen once per quality tier. For every (instance, screen, tier) somebody
//! watches through Janus it creates a Streaming mountpoint through Janus's API and sends that tier's H.264 to it
//! as plain RTP ([`publication`], [`publisher`], [`rtp`]); a PLI or FIR Janus sends back becomes a coalesced
//! keyframe request. The viewer's `/ws` socket stays with the gateway, which brokers the Janus session for it
//! ([`broker`]): Janus's offer, the viewer's answer and candidates travel as the usual `/ws` messages, and
//! commands keep flowing to the gateway over the socket. Health checks ([`health`]) mark an instance down; its
//! viewers are then moved (a new `offer`) to another instance or to the gateway itself.
//!
//! ```text
//!   encoder (shared) ──► local peers (direct viewers)
//!          └─────────► RtpPublisher ──RTP──► Janus mountpoint ──SRTP──► viewers routed to Janus
//!                            ▲ PLI/FIR ◄──RTCP──┘        ▲ watch/start/trickle (brokered, HTTP API)
//!   /ws viewer ──offer/answer/candidates──► gateway ─────┘
//! ```

pub mod broker;
pub mod health;
pub mod instance;
pub mod janus;
pub mod publication;
pub mod publisher;
pub mod rtp;
pub mod viewer;

use std::sync::Arc;
use std::time::Duration;

use sightline_media::ScreenInfo;
use sightline_media::engine::Engine;
use sightline_monitor::{Connection, InstanceState, Monitor, Owner};
use tokio_util::sync::CancellationToken;

use crate::config::{SfuConfig, SfuPolicy};
use crate::peer::Tier;
use instance::Instance;
use janus::{JanusApi, JanusError};
use publication::{Publications, PublishError};
pub use viewer::{SfuEvent, SfuViewer};

/// How often each instance's state is copied to the monitor.
const REPORT_PERIOD: Duration = Duration::from_secs(1);

/// Why a viewer could not be served through an SFU (it is then served by the gateway itself).
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// The stream could not be published to the instance.
    #[error("publishing to SFU {instance} failed: {source}")]
    Publish {
        /// Instance name.
        instance: String,
        /// What failed.
        source: PublishError,
    },
    /// Janus did not set up the viewer's session.
    #[error("SFU {instance} could not serve the viewer: {source}")]
    Broker {
        /// Instance name.
        instance: String,
        /// What failed.
        source: JanusError,
    },
}

/// The SFU router. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Inner>,
}

struct Inner {
    policy: SfuPolicy,
    overflow_after: usize,
    instances: Vec<Arc<Instance>>,
    publications: Arc<Publications>,
    monitor: Monitor,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Sfu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sfu")
            .field("policy", &self.inner.policy)
            .field("instances", &self.inner.instances.len())
            .finish_non_exhaustive()
    }
}

impl Sfu {
    /// Starts health checks of every configured instance; `None` when `[sfu]` routes nobody.
    pub fn start(
        config: &SfuConfig,
        engine: Engine,
        monitor: &Monitor,
        shutdown: CancellationToken,
    ) -> Option<Self> {
        if !config.enabled() {
            return None;
        }
        let publications = Arc::new(Publications::new(
            engine,
            monitor.clone(),
            config.linger(),
            shutdown.clone(),
        ));
        let instances: Vec<Arc<Instance>> = config
            .janus
            .iter()
            .enumerate()
            .map(|(index, cfg)| {
                let api = JanusApi::new(cfg);
                let health = health::spawn_health(
                    api.clone(),
                    cfg.name.clone(),
                    config.health_interval(),
                    config.health_failures,
                    monitor,
                    shutdown.clone(),
                );
                Arc::new(Instance::new(index, cfg.clone(), api, health))
            })
            .collect();
        for instance in &instances {
            monitor.spawn(
                format!("sfu-instance {}", instance.name()),
                Owner::Gateway,
                watch_instance(
                    Arc::clone(instance),
                    Arc::clone(&publications),
                    monitor.clone(),
                    shutdown.clone(),
                ),
            );
        }
        tracing::info!(
            policy = config.policy.as_str(),
            instances = instances.len(),
            "SFU routing on"
        );
        Some(Self {
            inner: Arc::new(Inner {
                policy: config.policy,
                overflow_after: config.overflow_after,
                instances,
                publications,
                monitor: monitor.clone(),
                shutdown,
            }),
        })
    }

    /// Stops every publication and destroys its mountpoint (gateway shutdown; each Janus gets
    /// [`publication::DESTROY_TIMEOUT`] to answer).
    pub async fn shut_down(&self) {
        for instance in &self.inner.instances {
            self.inner
                .publications
                .stop_instance(instance.index, "the gateway is shutting down", true)
                .await;
        }
    }

    /// The routing policy.
    pub fn policy(&self) -> SfuPolicy {
        self.inner.policy
    }

    /// Where the next WebRTC viewer of a screen with `local_viewers` viewers served by the gateway goes: the
    /// healthy instance serving the fewest viewers, or `None` (the gateway itself).
    pub fn route(&self, local_viewers: usize) -> Option<usize> {
        let inner = &self.inner;
        if !wants_sfu(inner.policy, inner.overflow_after, local_viewers) {
            return None;
        }
        inner
            .instances
            .iter()
            .filter(|i| i.health.is_up())
            .min_by_key(|i| (i.viewers(), i.index))
            .map(|i| i.index)
    }

    /// The name of instance `index`.
    pub fn instance_name(&self, index: usize) -> &str {
        self.inner.instances[index].name()
    }

    /// Serves a viewer of `screen` at `tier` through instance `index`: publishes the stream there if it is not
    /// yet, and opens the viewer's Janus session. Returns the viewer and Janus's offer. A failure is reported to
    /// the instance's health check.
    pub async fn open_viewer(
        &self,
        index: usize,
        screen: &ScreenInfo,
        tier: &Tier,
        conn: &Connection,
    ) -> Result<(SfuViewer, String), SfuError> {
        let instance = &self.inner.instances[index];
        let name = instance.name().to_owned();
        let mut retried = false;
        loop {
            let lease = match self
                .inner
                .publications
                .acquire(instance, screen, tier)
                .await
            {
                Ok(l) => l,
                Err(e) => {
                    instance.health.report_failure(&e.to_string());
                    return Err(SfuError::Publish {
                        instance: name,
                        source: e,
                    });
                }
            };
            conn.event(format!(
                "served by SFU {name}: mountpoint {} ({})",
                lease.mountpoint, tier.name
            ));
            let opened = broker::Brokered::open(
                instance.api.clone(),
                lease.mountpoint,
                conn.clone(),
                &self.inner.monitor,
                self.inner.shutdown.child_token(),
            )
            .await;
            match opened {
                Ok((brokered, events, offer)) => {
                    let viewer =
                        SfuViewer::new(brokered, events, Arc::clone(instance), lease, conn.clone());
                    return Ok((viewer, offer));
                }
                // Janus lost the mountpoint (it restarted between two health checks): publish again, once.
                Err(e) if e.is_no_such_mountpoint() && !retried => {
                    retried = true;
                    self.inner
                        .publications
                        .invalidate(&lease, "Janus no longer has the mountpoint")
                        .await;
                }
                Err(e) => {
                    instance.health.report_failure(&e.to_string());
                    return Err(SfuError::Broker {
                        instance: name,
                        source: e,
                    });
                }
            }
        }
    }
}

/// Whether the policy sends the next viewer of a screen with `local_viewers` gateway-served viewers to an SFU.
fn wants_sfu(policy: SfuPolicy, overflow_after: usize, local_viewers: usize) -> bool {
    match policy {
        SfuPolicy::Off => false,
        SfuPolicy::Always => true,
        SfuPolicy::Overflow => local_viewers >= overflow_after,
    }
}

/// Follows one instance for the gateway's life: stops its publications when it goes down and copies its state to
/// the monitor.
async fn watch_instance(
    instance: Arc<Instance>,
    publications: Arc<Publications>,
    monitor: Monitor,
    shutdown: CancellationToken,
) {
    let mut health = instance.health.subscribe();
    let mut was_up = *health.borrow();
    let mut tick = tokio::time::interval(REPORT_PERIOD);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = health.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        let up = *health.borrow_and_update();
        if was_up && !up {
            let why = format!("SFU {} is down", instance.name());
            publications
                .stop_instance(instance.index, &why, false)
                .await;
        }
        was_up = up;
        let published = if up {
            publications.refresh_viewers(instance.index).await
        } else {
            0
        };
        monitor.sfu().set_instance(
            instance.name(),
            InstanceState {
                url: instance.cfg.url.clone(),
                up,
                viewers: instance.viewers() as u64,
                publications: published as u64,
                failures_total: instance.health.failures_total(),
                last_error: instance.health.last_error(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_decides_who_goes_to_an_sfu() {
        assert!(!wants_sfu(SfuPolicy::Off, 0, 100));
        assert!(wants_sfu(SfuPolicy::Always, 10, 0));
        // overflow_after = 2: the first two viewers stay on the gateway, the third goes out.
        assert!(!wants_sfu(SfuPolicy::Overflow, 2, 0));
        assert!(!wants_sfu(SfuPolicy::Overflow, 2, 1));
        assert!(wants_sfu(SfuPolicy::Overflow, 2, 2));
        assert!(wants_sfu(SfuPolicy::Overflow, 0, 0));
    }
}
