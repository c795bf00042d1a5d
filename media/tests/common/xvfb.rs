//! A private Xvfb for one test: two screens (`:N.0` 1920x1080 and `:N.1` 1280x720), a free display number, gone
//! when dropped.
//!
//! Self-contained (std only) so other test crates can include it with
//! `#[path = "../media/tests/common/xvfb.rs"] mod xvfb;`. A missing Xvfb or xdpyinfo fails the test loudly with
//! the command that installs them; nothing is skipped.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Display numbers tried, wrapping: high enough to stay clear of real desktops (:0, :1) and SSH forwarding (:10+).
const DISPLAY_RANGE: std::ops::Range<u32> = 90..200;
/// How long a started server may take to answer (it usually needs ~0.4 s; the machine may be busy building).
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The two screens every test display has.
pub const SCREENS: [(u32, u32); 2] = [(1920, 1080), (1280, 720)];

/// Tests in one binary start servers concurrently; each takes the next offset so they do not race for a number.
static NEXT_OFFSET: AtomicU32 = AtomicU32::new(0);

/// A running Xvfb, killed (and its lock file and socket removed) on drop.
pub struct Xvfb {
    number: u32,
    child: Child,
    log: PathBuf,
    extra_args: Vec<String>,
}

impl Xvfb {
    /// Starts Xvfb with the two standard screens.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts Xvfb with the two standard screens and extra server arguments (e.g. `["-extension", "DAMAGE"]` to
    /// disable an extension).
    ///
    /// # Panics
    /// If Xvfb or xdpyinfo is not installed, or no display number in 90..200 could be started.
    pub fn start_with(extra_args: &[&str]) -> Self {
        require_tool("Xvfb");
        require_tool("xdpyinfo");
        let len = DISPLAY_RANGE.end - DISPLAY_RANGE.start;
        let offset =
            std::process::id().wrapping_mul(7) + NEXT_OFFSET.fetch_add(13, Ordering::Relaxed);
        for i in 0..len {
            let number = DISPLAY_RANGE.start + (offset + i) % len;
            if display_in_use(number) {
                continue;
            }
            if let Some(xvfb) = Self::try_start(number, extra_args) {
                return xvfb;
            }
        }
        panic!("could not start Xvfb on any display in {DISPLAY_RANGE:?}");
    }

    fn try_start(number: u32, extra_args: &[&str]) -> Option<Self> {
        let log = std::env::temp_dir().join(format!(
            "sightline-xvfb-{number}-{}.log",
            std::process::id()
        ));
        let log_file = File::create(&log).expect("temp dir is writable");
        let mut cmd = Command::new("Xvfb");
        cmd.arg(format!(":{number}"));
        for (i, (w, h)) in SCREENS.iter().enumerate() {
            cmd.args(["-screen", &i.to_string(), &format!("{w}x{h}x24")]);
        }
        cmd.args(["-nolisten", "tcp", "-noreset"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = cmd.spawn().expect("Xvfb is on PATH (checked above)");
        let extra_args = extra_args.iter().map(|a| a.to_string()).collect();
        let mut xvfb = Self {
            number,
            child,
            log,
            extra_args,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = xvfb.child.try_wait() {
                // Usually "server is already active": another test took this number first. Try the next.
                return None;
            }
            let answered = Command::new("xdpyinfo")
                .args(["-display", &xvfb.display()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if answered {
                return Some(xvfb);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(&xvfb.log).unwrap_or_default();
        panic!("Xvfb :{number} did not answer within {READY_TIMEOUT:?}; its log:\n{log}");
    }

    /// Kills the server and starts a fresh one on the same display number, as when a desktop session restarts.
    /// Clients of the old server lose their connections.
    ///
    /// # Panics
    /// If the new server does not come up (another test took the number in between: practically never).
    pub fn restart(&mut self) {
        self.stop();
        let args: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        let fresh = Self::try_start(self.number, &args)
            .unwrap_or_else(|| panic!("Xvfb :{} could not be restarted", self.number));
        // The old value's server is reaped and its files are gone; its Drop would delete the lock file and
        // socket the new server just created under the same number, so it must not run.
        std::mem::forget(std::mem::replace(self, fresh));
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // SIGKILL leaves the lock file and socket behind; they are ours, so tidy them.
        let _ = std::fs::remove_file(format!("/tmp/.X{}-lock", self.number));
        let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{}", self.number));
        let _ = std::fs::remove_file(&self.log);
    }

    /// The server's process id (benchmarks read its CPU time from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The display string, e.g. `":93"`.
    pub fn display(&self) -> String {
        format!(":{}", self.number)
    }

    /// The display string of one screen, e.g. `":93.1"`.
    pub fn screen(&self, screen: usize) -> String {
        format!(":{}.{screen}", self.number)
    }

    /// Runs an X client command against screen `screen` of this display and returns its stdout.
    ///
    /// # Panics
    /// If the command is missing or fails.
    pub fn run(&self, screen: usize, program: &str, args: &[&str]) -> String {
        require_tool(program);
        let out = Command::new(program)
            .args(args)
            .env("DISPLAY", self.screen(screen))
            .output()
            .unwrap_or_else(|e| panic!("{program} failed to start: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a live server holds display `number` (its lock file names a running process).
fn display_in_use(number: u32) -> bool {
    let Ok(lock) = std::fs::read_to_string(format!("/tmp/.X{number}-lock")) else {
        return false;
    };
    match lock.trim().parse::<u32>() {
        Ok(pid) => PathBuf::from(format!("/proc/{pid}")).exists(),
        Err(_) => true, // being written right now
    }
}

/// Panics with the install command when `program` is not on PATH.
pub fn require_tool(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{program} is not installed; run `scripts/install-deps.sh --test` (it installs xvfb, x11-utils, \
         x11-xserver-utils and xdotool)"
    );
}
