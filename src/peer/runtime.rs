//! The webrtc-rs [`Runtime`] every peer runs on: tokio, with task spawning routed through the monitor.
//!
//! webrtc-rs spawns one background driver per peer connection (sockets, timers, DTLS/SRTP, SCTP) through
//! `Runtime::spawn`. Routing that call through [`Monitor::spawn`] registers the driver as a task owned by the
//! viewer's connection, so it appears in the monitor's task list and in leak detection like every other task
//! the gateway starts. Everything else is tokio's implementation, unchanged.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sightline_monitor::{Monitor, Owner};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// Tokio runtime whose spawned tasks are tracked by the monitor under one owner.
pub(crate) struct MonitoredRuntime {
    tokio: TokioRuntime,
    monitor: Monitor,
    owner: Owner,
}

impl MonitoredRuntime {
    pub(crate) fn new(monitor: Monitor, owner: Owner) -> Self {
        Self {
            tokio: TokioRuntime,
            monitor,
            owner,
        }
    }
}

impl std::fmt::Debug for MonitoredRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoredRuntime")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// A monitored tokio task. Dropping it detaches the task, as webrtc-rs's contract requires.
struct MonitoredJoinHandle(tokio::task::JoinHandle<()>);

impl JoinHandle for MonitoredJoinHandle {
    fn detach(&self) {}

    fn abort(&self) {
        self.0.abort();
    }

    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Runtime for MonitoredRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        let handle = self
            .monitor
            .spawn("webrtc-driver", self.owner.clone(), future);
        Box::new(MonitoredJoinHandle(handle))
    }

    // `spawn_reactor` keeps its default (= `spawn`): we never ask for a dedicated reactor pool.

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        self.tokio.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.tokio.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.tokio.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.tokio.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.tokio.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.tokio.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.tokio.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.tokio.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.tokio.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio+monitor"
    }
}
