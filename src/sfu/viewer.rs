//! A `/ws` viewer served by an SFU: its Janus session (brokered by the gateway), its hold on the publication it
//! watches and its place in the instance's viewer count, with one event stream that also reports the instance
//! going down.

use std::sync::Arc;

use sightline_monitor::{Connection, Lifecycle};
use tokio::sync::{mpsc, watch};

use super::broker::{BrokerEvent, Brokered};
use super::instance::{Instance, ViewerCount};
use super::janus::JanusError;
use super::publication::Lease;
use crate::peer::CandidateInit;

/// Something that happened to an SFU-served viewer.
#[derive(Debug)]
pub enum SfuEvent {
    /// A candidate Janus trickled (`None`: no more).
    Candidate(Option<CandidateInit>),
    /// Janus reports the viewer's connection up.
    Up,
    /// The viewer lost its SFU (hang-up, session gone, instance down): serve it another way.
    Lost(String),
}

/// One viewer's brokered watch through an SFU instance. Dropping it ends the Janus session in the background and
/// closes the watch's monitor connection.
pub struct SfuViewer {
    brokered: Option<Brokered>,
    conn: Connection,
    events: mpsc::Receiver<BrokerEvent>,
    health: watch::Receiver<bool>,
    instance: Arc<Instance>,
    lost: bool,
    lease: Lease,
    _count: ViewerCount,
}

impl SfuViewer {
    pub(super) fn new(
        brokered: Brokered,
        events: mpsc::Receiver<BrokerEvent>,
        instance: Arc<Instance>,
        lease: Lease,
        conn: Connection,
    ) -> Self {
        Self {
            brokered: Some(brokered),
            conn,
            events,
            health: instance.health.subscribe(),
            _count: instance.count_viewer(),
            instance,
            lost: false,
            lease,
        }
    }

    /// The instance's name.
    pub fn instance(&self) -> &str {
        self.instance.name()
    }

    /// The Janus mountpoint watched.
    pub fn mountpoint(&self) -> u64 {
        self.lease.mountpoint
    }

    /// The next event; after [`SfuEvent::Lost`] it never returns again.
    pub async fn next_event(&mut self) -> SfuEvent {
        if self.lost {
            return std::future::pending().await;
        }
        let name = self.instance.name().to_owned();
        let health = &mut self.health;
        let ev = tokio::select! {
            ev = self.events.recv() => match ev {
                Some(BrokerEvent::Candidate(c)) => SfuEvent::Candidate(c),
                Some(BrokerEvent::Up) => {
                    self.conn.set_lifecycle(Lifecycle::Connected);
                    self.lease.request_keyframe();
                    SfuEvent::Up
                }
                Some(BrokerEvent::Lost(why)) => SfuEvent::Lost(format!("SFU {name}: {why}")),
                None => SfuEvent::Lost(format!("SFU {name}: the session ended")),
            },
            down = health.wait_for(|up| !*up) => SfuEvent::Lost(match down {
                Ok(_) => format!("SFU {name} stopped answering"),
                Err(_) => format!("SFU {name} is shutting down"),
            }),
        };
        if let SfuEvent::Lost(why) = &ev {
            self.lost = true;
            self.conn.event(why.clone());
            self.instance.health.report_failure(why);
        }
        ev
    }

    /// Hands Janus the viewer's answer (Janus starts sending).
    pub async fn set_answer(&self, sdp: &str) -> Result<(), JanusError> {
        match &self.brokered {
            Some(b) => b.set_answer(sdp).await,
            None => Ok(()),
        }
    }

    /// Trickles one of the viewer's candidates to Janus (`None`: no more).
    pub async fn add_candidate(&self, c: Option<CandidateInit>) -> Result<(), JanusError> {
        match &self.brokered {
            Some(b) => b.add_candidate(c).await,
            None => Ok(()),
        }
    }

    /// Ends the Janus session, waits for its task and closes the watch's connection.
    pub async fn close(mut self) {
        if let Some(b) = self.brokered.take() {
            b.close().await;
        }
    }
}

impl Drop for SfuViewer {
    fn drop(&mut self) {
        self.conn
            .close(if self.lost { "SFU lost" } else { "watch ended" });
    }
}
