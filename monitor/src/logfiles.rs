//! JSON log files: one per closed connection (`connections/<timestamp>_<id>.json`) and one per failed or slow
//! operation (`operations/<timestamp>_<kind>_<id>.json`) under `[monitor] log_dir`.
//!
//! Writing stays off the hot path: callers hand an owned record to [`LogWriter::submit`], which only tries to
//! put it in a bounded queue ([`LOG_QUEUE_CAPACITY`]; full → the record is dropped and counted). One dedicated
//! thread serialises and writes each record (to a `.tmp` file renamed into place, so a reader never sees half a
//! file), then prunes: oldest files first while the total exceeds `log_max_bytes`, and every file older than
//! `log_max_age` (checked after each write and every [`LOG_PRUNE_INTERVAL`]). The thread keeps an index of the
//! files (built once by scanning the directories at start) so pruning never rescans.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::clock::file_timestamp;
use crate::snapshot::{ConnectionDetail, OperationSnapshot};

/// Records waiting for the writer thread. A burst of 256 closes or failures is far beyond normal; past it the
/// newest record is dropped and counted (`log_records_dropped`) rather than blocking whoever closes.
pub const LOG_QUEUE_CAPACITY: usize = 256;

/// How often the writer prunes by age when no record arrives.
pub const LOG_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) const CONNECTIONS_DIR: &str = "connections";
pub(crate) const OPERATIONS_DIR: &str = "operations";

/// One record to write.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum LogBody {
    Connection(Box<ConnectionDetail>),
    Operation(OperationSnapshot),
}

impl LogBody {
    /// Sub-directory and file name.
    fn file_name(&self) -> (&'static str, String) {
        match self {
            LogBody::Connection(d) => (
                CONNECTIONS_DIR,
                format!(
                    "{}_{}.json",
                    file_timestamp(d.summary.closed_ms.unwrap_or(d.summary.opened_ms)),
                    d.summary.id
                ),
            ),
            LogBody::Operation(o) => {
                let kind: String = o
                    .kind
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                (
                    OPERATIONS_DIR,
                    format!("{}_{}_{}.json", file_timestamp(o.started_ms), kind, o.id),
                )
            }
        }
    }
}

enum Msg {
    Write(LogBody),
    Flush(SyncSender<()>),
}

pub(crate) struct LogSettings {
    pub(crate) dir: PathBuf,
    pub(crate) max_bytes: u64,
    pub(crate) max_age: Duration,
}

#[derive(Default)]
struct LogCounts {
    written: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
}

/// The submitting side. Dropping it (with the monitor) lets the thread finish the queue and exit.
pub(crate) struct LogWriter {
    tx: Option<SyncSender<Msg>>,
    counts: Arc<LogCounts>,
}

impl LogWriter {
    pub(crate) fn start(settings: LogSettings) -> Self {
        let (tx, rx) = sync_channel(LOG_QUEUE_CAPACITY);
        let counts = Arc::new(LogCounts::default());
        let thread_counts = counts.clone();
        // Not a monitor-tracked task: it lives exactly as long as the monitor, which tracking would keep alive.
        let spawned = std::thread::Builder::new()
            .name("sightline-log-writer".into())
            .spawn(move || run(settings, rx, thread_counts));
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::error!(
                    "monitor log writer thread not started, no log files will be written: {e}"
                );
                None
            }
        };
        Self { tx, counts }
    }

    /// Queues a record without blocking; drops and counts it when the queue is full.
    pub(crate) fn submit(&self, body: LogBody) {
        let sent = match &self.tx {
            Some(tx) => match tx.try_send(Msg::Write(body)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            let n = self.counts.dropped.fetch_add(1, Relaxed) + 1;
            if n == 1 || n.is_multiple_of(1000) {
                tracing::warn!(
                    dropped_total = n,
                    "monitor log records dropped: writer queue full or writer gone"
                );
            }
        }
    }

    /// Waits until the writer has handled everything queued before this call.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let Some(tx) = &self.tx else { return false };
        let deadline = Instant::now() + timeout;
        let (ack_tx, ack_rx) = sync_channel(1);
        let mut msg = Msg::Flush(ack_tx);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        ack_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }

    /// (files written, records dropped, write errors).
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        (
            self.counts.written.load(Relaxed),
            self.counts.dropped.load(Relaxed),
            self.counts.errors.load(Relaxed),
        )
    }
}

fn run(settings: LogSettings, rx: Receiver<Msg>, counts: Arc<LogCounts>) {
    let mut store = LogStore::open(settings, counts, SystemTime::now());
    loop {
        match rx.recv_timeout(LOG_PRUNE_INTERVAL) {
            Ok(Msg::Write(body)) => store.write(&body, SystemTime::now()),
            Ok(Msg::Flush(ack)) => {
                let _ = ack.try_send(());
            }
            Err(RecvTimeoutError::Timeout) => store.prune(SystemTime::now()),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

struct FileEntry {
    modified: SystemTime,
    path: PathBuf,
    size: u64,
}

/// The log directory and its file index, owned by the writer thread. Time is passed in (`now`) so pruning by
/// age is testable.
struct LogStore {
    dir: PathBuf,
    max_bytes: u64,
    max_age: Duration,
    /// Oldest first.
    files: VecDeque<FileEntry>,
    total: u64,
    counts: Arc<LogCounts>,
}

impl LogStore {
    fn open(settings: LogSettings, counts: Arc<LogCounts>, now: SystemTime) -> Self {
        let mut store = LogStore {
            dir: settings.dir,
            max_bytes: settings.max_bytes,
            max_age: settings.max_age,
            files: VecDeque::new(),
            total: 0,
            counts,
        };
        let mut found = Vec::new();
        for sub in [CONNECTIONS_DIR, OPERATIONS_DIR] {
            let dir = store.dir.join(sub);
            if let Err(e) = std::fs::create_dir_all(&dir) {
                store.error(&dir, &e);
                continue;
            }
            match scan(&dir, &mut found) {
                Ok(()) => {}
                Err(e) => store.error(&dir, &e),
            }
        }
        found.sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path)));
        store.total = found.iter().map(|f| f.size).sum();
        store.files = found.into();
        store.prune(now);
        store
    }

    fn error(&self, path: &Path, e: &dyn std::fmt::Display) {
        let n = self.counts.errors.fetch_add(1, Relaxed) + 1;
        if n == 1 || n.is_multiple_of(100) {
            tracing::warn!(path = %path.display(), errors_total = n, "monitor log file error: {e}");
        }
    }

    fn write(&mut self, body: &LogBody, now: SystemTime) {
        let (sub, name) = body.file_name();
        let path = self.dir.join(sub).join(&name);
        let tmp = self.dir.join(sub).join(format!("{name}.tmp"));
        let json = match serde_json::to_vec_pretty(body) {
            Ok(j) => j,
            Err(e) => return self.error(&path, &e),
        };
        if let Err(e) = std::fs::write(&tmp, &json).and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return self.error(&path, &e);
        }
        self.counts.written.fetch_add(1, Relaxed);
        let size = json.len() as u64;
        self.total += size;
        self.files.push_back(FileEntry {
            modified: now,
            path,
            size,
        });
        self.prune(now);
    }

    /// Deletes the oldest files while over the size limit, and every file older than the age limit.
    fn prune(&mut self, now: SystemTime) {
        while let Some(f) = self.files.front() {
            let too_old = now
                .duration_since(f.modified)
                .is_ok_and(|age| age > self.max_age);
            if !too_old && self.total <= self.max_bytes {
                break;
            }
            match std::fs::remove_file(&f.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => self.error(&f.path, &e),
            }
            self.total -= f.size;
            self.files.pop_front();
        }
    }
}

/// Indexes the `.json` files of `dir`; removes `.tmp` leftovers of an interrupted write.
fn scan(dir: &Path, out: &mut Vec<FileEntry>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("tmp") => {
                let _ = std::fs::remove_file(&path);
            }
            Some("json") => out.push(FileEntry {
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                path,
                size: meta.len(),
            }),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::OperationResult;
    use crate::tests::json_files;

    fn op(id: u64, kind: &str) -> LogBody {
        LogBody::Operation(OperationSnapshot {
            id,
            kind: kind.into(),
            connection: None,
            started_ms: 1_700_000_000_000 + id,
            duration_ms: 1.0,
            result: OperationResult::Error,
            error: Some("x".repeat(100)),
            detail: None,
        })
    }

    #[test]
    fn prunes_oldest_beyond_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let counts = Arc::new(LogCounts::default());
        let settings = LogSettings {
            dir: dir.path().to_owned(),
            max_bytes: 1000,
            max_age: Duration::from_secs(3600),
        };
        let now = SystemTime::now();
        let mut store = LogStore::open(settings, counts.clone(), now);
        for i in 0..20 {
            store.write(&op(i, "k"), now + Duration::from_millis(i));
        }
        let files = json_files(&dir.path().join(OPERATIONS_DIR));
        let total: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
        assert!(total <= 1000, "{total}");
        assert!(files.len() >= 2 && files.len() < 20, "{}", files.len());
        assert_eq!(store.total, total);
        // The newest survive.
        let last: OperationSnapshot =
            serde_json::from_slice(&std::fs::read(files.last().unwrap()).unwrap()).unwrap();
        assert_eq!(last.id, 19);
        assert_eq!(counts.written.load(Relaxed), 20);
        assert_eq!(counts.errors.load(Relaxed), 0);
    }

    #[test]
    fn prunes_by_age_including_files_found_at_start_and_tmp_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let ops_dir = dir.path().join(OPERATIONS_DIR);
        std::fs::create_dir_all(&ops_dir).unwrap();
        let now = SystemTime::now();
        let old = ops_dir.join("old.json");
        std::fs::write(&old, "{}").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(now - Duration::from_secs(30 * 86_400))
            .unwrap();
        let recent = ops_dir.join("recent.json");
        std::fs::write(&recent, "{}").unwrap();
        let leftover = ops_dir.join("half.json.tmp");
        std::fs::write(&leftover, "{").unwrap();
        let unrelated = ops_dir.join("notes.txt");
        std::fs::write(&unrelated, "keep me").unwrap();

        let settings = LogSettings {
            dir: dir.path().to_owned(),
            max_bytes: 1 << 20,
            max_age: Duration::from_secs(7 * 86_400),
        };
        let mut store = LogStore::open(settings, Arc::new(LogCounts::default()), now);
        assert!(!old.exists(), "older than max_age at start");
        assert!(recent.exists());
        assert!(!leftover.exists());
        assert!(unrelated.exists(), "only our .json files are managed");
        store.write(&op(1, "k"), now);
        assert_eq!(json_files(&ops_dir).len(), 2);
        store.prune(now + Duration::from_secs(8 * 86_400));
        assert!(json_files(&ops_dir).is_empty());
        assert_eq!(store.total, 0);
    }

    #[test]
    fn full_queue_drops_and_counts_instead_of_blocking() {
        // A writer whose thread never drains: build it by hand around a receiver we hold.
        let (tx, _rx) = sync_channel(LOG_QUEUE_CAPACITY);
        let w = LogWriter {
            tx: Some(tx),
            counts: Arc::new(LogCounts::default()),
        };
        for i in 0..(LOG_QUEUE_CAPACITY as u64 + 10) {
            w.submit(op(i, "k"));
        }
        assert_eq!(w.counts(), (0, 10, 0));
        assert!(!w.flush(Duration::from_millis(20)), "nobody acknowledges");
    }
}
