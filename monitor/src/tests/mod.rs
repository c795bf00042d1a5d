//! Tests that need a real [`Monitor`](crate::Monitor), one file per module they exercise. They live here,
//! declared only by `lib.rs`, because `registry.rs` imports `connection.rs`, `logfiles.rs`, `operation.rs`,
//! `pipeline.rs` and `task.rs`: a test module inside one of those files that built a `Monitor` would import
//! `registry.rs` back and tie them into an import circle. Tests that need no `Monitor` (a table, a ring, a
//! writer) stay beside their code.

mod connection;
mod logfiles;
mod operation;
mod pipeline;
mod task;

/// The `.json` files of a log directory, sorted (the writer's own tests use it too).
pub(crate) fn json_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}
