//! One configured Janus instance as the router sees it: its API, its health and how many viewers it serves.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::JanusInstanceConfig;

use super::health::Health;
use super::janus::JanusApi;

/// A Janus instance. Shared (`Arc`) by the router, its publications and the viewers it serves.
pub struct Instance {
    /// Position in `[[sfu.janus]]`: the key of its publications.
    pub index: usize,
    /// Its configuration.
    pub cfg: JanusInstanceConfig,
    /// Its HTTP API.
    pub api: JanusApi,
    /// Its health checker.
    pub health: Arc<Health>,
    viewers: AtomicUsize,
}

impl Instance {
    /// An instance with no viewers yet.
    pub fn new(index: usize, cfg: JanusInstanceConfig, api: JanusApi, health: Arc<Health>) -> Self {
        Self {
            index,
            cfg,
            api,
            health,
            viewers: AtomicUsize::new(0),
        }
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Viewers the gateway brokered to it that are still watching.
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }

    /// Counts a viewer in; [`ViewerCount`] counts it out when dropped.
    pub fn count_viewer(self: &Arc<Self>) -> ViewerCount {
        self.viewers.fetch_add(1, Ordering::Relaxed);
        ViewerCount(Arc::clone(self))
    }
}

/// One viewer counted on an instance; dropping it counts the viewer out.
pub struct ViewerCount(Arc<Instance>);

impl Drop for ViewerCount {
    fn drop(&mut self) {
        self.0.viewers.fetch_sub(1, Ordering::Relaxed);
    }
}
