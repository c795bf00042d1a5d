//! The `sightline` binary: see the library for everything.
//!
//! The one decision made here is the process's memory allocator. On Linux it is jemalloc, for Rust and, through
//! the `override_allocator_on_supported_platforms` feature, as the `malloc` of the C and C++ code linked in
//! (openh264's and libjpeg-turbo's buffers are most of an encoder's memory), with a background thread that hands
//! freed pages back to the kernel. With glibc's malloc, encoder threads started and stopped per profile left their
//! buffers fragmented over per-thread arenas: after three rounds of 68 profiles the gateway kept 700 MB with
//! everything closed (baseline 13 MB); with jemalloc as set below it is back at ~30 MB a second later, at the
//! same CPU cost per frame. Measurements: docs/MEMORY.md; the guard: tests/memory_return.rs.

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once when it initialises (the `MALLOC_CONF` environment variable, applied after
/// them, overrides them for an experiment):
/// - `background_thread:true`: jemalloc's own thread purges freed memory on a timer. Without it purging happens
///   only while the process allocates, so an idle gateway after a burst kept 100–250 MB.
/// - `dirty_decay_ms:1000`: freed pages go back to the kernel after about a second unused (default 10 s). Short
///   enough that a closed battery's memory is gone before anyone looks; long enough that per-frame buffers are
///   reused rather than faulted in again every frame (0 would purge on every free).
/// - `muzzy_decay_ms:0`: no lazy `MADV_FREE` stage, whose pages still count in RSS until the kernel is short.
#[cfg(target_os = "linux")]
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "malloc_conf")]
pub static malloc_conf: MallocConf =
    MallocConf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// jemalloc's `const char *malloc_conf`: a pointer to a NUL-terminated string.
#[cfg(target_os = "linux")]
#[repr(transparent)]
pub struct MallocConf(*const std::ffi::c_char);

// SAFETY: the pointer is to a `'static` string literal, never written.
#[cfg(target_os = "linux")]
unsafe impl Sync for MallocConf {}

fn main() -> std::process::ExitCode {
    sightline::cli::main()
}
