//! WHIP egress (RFC 9725): publishing a screen, at one tier of its quality ladder, to any WHIP endpoint (LiveKit,
//! MediaMTX, Cloudflare-style ingest, Janus's WHIP front-end, …) — from `[[whip]]` at start-up
//! ([`WhipPublications::start_configured`]) or from the REST API (`/api/v1/screens/{id}/publish`).
//!
//! A publication subscribes to the tier's shared encoder (publishing adds no encoder), offers one sendonly H.264
//! video section with every candidate inside ([`crate::peer::Peer::publish`]), `POST`s it with `Content-Type:
//! application/sdp` and `Authorization: Bearer <token>`, keeps the resource URL from the `201`'s `Location`, and
//! `DELETE`s it when stopped. A connection that stays disconnected gets an ICE restart (`PATCH` with
//! `application/trickle-ice-sdpfrag`, §4.4); when the server refuses it (`405`/`501`/…) or the connection is lost
//! anyway, the publication is re-published (`DELETE`, then `POST` again) with a backoff. Each attempt has its own
//! monitor connection whose events say which of these happened ([`client`]).
//!
//! The registry is bounded by [`MAX_WHIP_PUBLICATIONS`]; every publication is one monitor-tracked task that ends
//! (and deletes its resource) when stopped or when the gateway shuts down.

mod client;
mod error;
mod sdp;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sightline_media::engine::Engine;
use sightline_monitor::{Monitor, Owner};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use client::{
    BACKOFF_FIRST, BACKOFF_MAX, CONNECT_TIMEOUT, DELETE_TIMEOUT, HTTP_TIMEOUT, RESTART_AFTER,
    RESTART_TIMEOUT, WhipState,
};
use client::{Gateway, Spec, Status};
pub use error::WhipError;

use crate::config::{Config, WhipTargetConfig, check_url};

/// Most WHIP publications running at once (REST and `[[whip]]` together).
pub const MAX_WHIP_PUBLICATIONS: usize = 16;
/// Longest Bearer token accepted, bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// How long a stop waits for a publication's task (its `DELETE` and the peer's close) before aborting it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One publication as the REST API and the monitor show it. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhipPublicationInfo {
    /// Publication id (`w1`, `w2`, …).
    pub id: String,
    /// Screen id (the primary screen's id for a `[[whip]]` target naming none, once resolved).
    pub screen: String,
    /// The WHIP endpoint.
    pub url: String,
    /// Index in the screen's tier ladder.
    pub tier: usize,
    /// The resource URL the server created (absent between attempts).
    pub resource: Option<String>,
    /// Where it stands.
    pub state: WhipState,
    /// Why the last attempt failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The current attempt's monitor connection (`c42`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// ICE restarts accepted by the server.
    pub ice_restarts: u64,
    /// Times the publication was re-published after being lost.
    pub republishes: u64,
}

struct Entry {
    spec_screen: String,
    url: String,
    tier: usize,
    status: Arc<Mutex<Status>>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Entry {
    fn info(&self, id: &str) -> WhipPublicationInfo {
        let s = self.status.lock().clone();
        WhipPublicationInfo {
            id: id.to_owned(),
            screen: s.screen.unwrap_or_else(|| self.spec_screen.clone()),
            url: self.url.clone(),
            tier: self.tier,
            resource: s.resource,
            state: s.state,
            error: s.error,
            connection: s.connection.map(|c| c.to_string()),
            ice_restarts: s.ice_restarts,
            republishes: s.republishes,
        }
    }

    fn is_on(&self, screen: &str) -> bool {
        self.spec_screen == screen || self.status.lock().screen.as_deref() == Some(screen)
    }
}

/// The running WHIP publications. Cheap to clone; the session manager holds one.
#[derive(Clone)]
pub struct WhipPublications {
    inner: Arc<Inner>,
}

struct Inner {
    gateway: Gateway,
    shutdown: CancellationToken,
    entries: Mutex<BTreeMap<String, Entry>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for WhipPublications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhipPublications")
            .field("running", &self.inner.entries.lock().len())
            .finish_non_exhaustive()
    }
}

impl WhipPublications {
    /// An empty registry. Publications end (and delete their resources) when `shutdown` is cancelled.
    pub fn new(
        config: Config,
        engine: Engine,
        monitor: Monitor,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                gateway: Gateway {
                    config,
                    engine,
                    monitor,
                },
                shutdown,
                entries: Mutex::new(BTreeMap::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Starts every `[[whip]]` target of the configuration in the background. A target that fails to start is
    /// logged as an error and retried with a backoff ([`BACKOFF_FIRST`] doubling to [`BACKOFF_MAX`]); it never
    /// stops the gateway.
    pub fn start_configured(&self) {
        for target in self.inner.gateway.config.whip.clone() {
            let spec = spec_of(&target);
            match self.reserve(&spec) {
                Ok((id, status, stop)) => self.spawn(id, spec, status, stop, None),
                Err(e) => {
                    tracing::error!(url = %target.url, error = %e, "[[whip]] target not started")
                }
            }
        }
    }

    /// Publishes `screen` (an existing screen's id) at `tier` to the WHIP endpoint `url`: returns once the server
    /// has answered `201` and the answer is applied (the connection may still be forming). `token` = "" sends no
    /// `Authorization`.
    pub async fn start(
        &self,
        screen: &str,
        url: &str,
        token: &str,
        tier: usize,
    ) -> Result<WhipPublicationInfo, WhipError> {
        check_url("url", url).map_err(|e| WhipError::BadRequest(e.to_string()))?;
        if token.len() > MAX_TOKEN_LEN
            || token
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(WhipError::BadRequest(format!(
                "the token must be at most {MAX_TOKEN_LEN} printable ASCII characters without spaces"
            )));
        }
        let spec = Spec {
            screen: screen.to_owned(),
            url: url.to_owned(),
            token: token.to_owned(),
            tier,
        };
        let (id, status, stop) = self.reserve(&spec)?;
        // Released if the first attempt fails or the caller goes away meanwhile (the peer, dropped, tears down).
        let mut slot = Slot {
            publications: self,
            id: Some(id.clone()),
        };
        let live = client::publish(&self.inner.gateway, &id, &spec).await?;
        slot.id = None;
        live.record(&status);
        self.spawn(id.clone(), spec, status, stop, Some(live));
        self.info(&id)
            .ok_or_else(|| WhipError::NotFound(id.clone()))
    }

    /// The publications of `screen` (every one with `None`), in start order.
    pub fn list(&self, screen: Option<&str>) -> Vec<WhipPublicationInfo> {
        let entries = self.inner.entries.lock();
        let mut list: Vec<_> = entries
            .iter()
            .filter(|(_, e)| screen.is_none_or(|s| e.is_on(s)))
            .map(|(id, e)| e.info(id))
            .collect();
        list.sort_by_key(|p| p.id[1..].parse::<u64>().unwrap_or(u64::MAX));
        list
    }

    /// One publication.
    pub fn info(&self, id: &str) -> Option<WhipPublicationInfo> {
        self.inner.entries.lock().get(id).map(|e| e.info(id))
    }

    /// Stops `screen`'s publications (only `id` when given: [`WhipError::NotFound`] when it is not one of them):
    /// each deletes its resource and closes its peer; waits for them (at most [`STOP_TIMEOUT`] each). Returns how
    /// many were stopped.
    pub async fn stop(&self, screen: &str, id: Option<&str>) -> Result<usize, WhipError> {
        let stopped: Vec<Entry> = {
            let mut entries = self.inner.entries.lock();
            let ids: Vec<String> = entries
                .iter()
                .filter(|(k, e)| e.is_on(screen) && id.is_none_or(|id| id == k.as_str()))
                .map(|(k, _)| k.clone())
                .collect();
            if let Some(id) = id
                && ids.is_empty()
            {
                return Err(WhipError::NotFound(id.to_owned()));
            }
            ids.iter().filter_map(|k| entries.remove(k)).collect()
        };
        let n = stopped.len();
        for entry in &stopped {
            entry.stop.cancel();
        }
        for mut entry in stopped {
            if let Some(task) = entry.task.take() {
                let abort = task.abort_handle();
                if tokio::time::timeout(STOP_TIMEOUT, task).await.is_err() {
                    abort.abort();
                    tracing::warn!("a WHIP publication did not stop in time; aborted");
                }
            }
        }
        Ok(n)
    }

    /// Stops every publication (shutdown).
    pub async fn stop_all(&self) {
        let screens: Vec<String> = self
            .inner
            .entries
            .lock()
            .values()
            .map(|e| e.spec_screen.clone())
            .collect();
        for screen in screens {
            let _ = self.stop(&screen, None).await;
        }
    }

    /// Takes a slot for a new publication.
    fn reserve(
        &self,
        spec: &Spec,
    ) -> Result<(String, Arc<Mutex<Status>>, CancellationToken), WhipError> {
        let mut entries = self.inner.entries.lock();
        if entries.len() >= MAX_WHIP_PUBLICATIONS {
            return Err(WhipError::Full(MAX_WHIP_PUBLICATIONS));
        }
        let id = format!("w{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let status = Arc::new(Mutex::new(Status::new()));
        let stop = self.inner.shutdown.child_token();
        entries.insert(
            id.clone(),
            Entry {
                spec_screen: spec.screen.clone(),
                url: spec.url.clone(),
                tier: spec.tier,
                status: status.clone(),
                stop: stop.clone(),
                task: None,
            },
        );
        Ok((id, status, stop))
    }

    fn spawn(
        &self,
        id: String,
        spec: Spec,
        status: Arc<Mutex<Status>>,
        stop: CancellationToken,
        first: Option<client::Live>,
    ) {
        let task = self.inner.gateway.monitor.spawn(
            format!("whip-{id}"),
            Owner::Gateway,
            client::run(
                self.inner.gateway.clone(),
                id.clone(),
                spec,
                status,
                stop.clone(),
                first,
            ),
        );
        match self.inner.entries.lock().get_mut(&id) {
            Some(entry) => entry.task = Some(task),
            // Stopped while it was starting: the stop token is cancelled, the task ends on its own.
            None => stop.cancel(),
        }
    }
}

/// A reserved registry slot that is given back on drop unless taken (`id` cleared).
struct Slot<'a> {
    publications: &'a WhipPublications,
    id: Option<String>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.publications.inner.entries.lock().remove(&id);
        }
    }
}

fn spec_of(t: &WhipTargetConfig) -> Spec {
    Spec {
        screen: t.screen.clone(),
        url: t.url.clone(),
        token: t.token.clone(),
        tier: t.tier,
    }
}
