//! Keeping `[devices] allowed` in the configuration file the gateway was started with ([`Config::path`]), so an
//! enrolled or approved device is still accepted after a restart.
//!
//! The file is edited with `toml_edit`: only the `allowed` array of `[devices]` changes (created when missing);
//! comments, key order and formatting of everything else are kept byte for byte. The new text is written to a
//! temporary file beside the original and renamed over it, so a crash never leaves half a file. A gateway started
//! without a file keeps its list in memory and says so in the log (once).
//!
//! These are blocking file operations: callers run them on the blocking pool.
//!
//! [`Config::path`]: crate::config::Config::path

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use toml_edit::{Array, DocumentMut, Item, Table, Value};

use crate::config::parse_allowed;

/// The configuration file's `[devices] allowed`.
#[derive(Debug)]
pub(super) struct Persist {
    path: Option<PathBuf>,
    /// One rewrite at a time: each reads, edits and replaces the whole file.
    lock: Mutex<()>,
    warned: AtomicBool,
}

/// One change to the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// Adds (or renames) a device: any entry with its id is replaced by `"<id> <name>"` (`"<id>"` without a name).
    Set { id: String, name: String },
    /// Removes every entry of the id.
    Remove { id: String },
}

impl Persist {
    pub(super) fn new(path: Option<PathBuf>) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
            warned: AtomicBool::new(false),
        }
    }

    /// Applies `change` to the file. `Ok(false)`: there is no file (the list lives in memory; logged once).
    pub(super) fn apply(&self, change: &Change) -> Result<bool, String> {
        let Some(path) = &self.path else {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "the gateway was started without a configuration file: [devices] allowed changes are kept \
                     in memory only and lost at exit"
                );
            }
            return Ok(false);
        };
        let _one = self.lock.lock();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        path = %path.display(),
                        "the configuration file is gone: [devices] allowed changes are kept in memory only"
                    );
                }
                return Ok(false);
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let edited = edit(&text, change).map_err(|e| format!("{}: {e}", path.display()))?;
        write_atomically(path, &edited)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        tracing::info!(path = %path.display(), ?change, "[devices] allowed saved");
        Ok(true)
    }
}

/// The allowed-list entry of a device.
pub(super) fn entry(id: &str, name: &str) -> String {
    if name.is_empty() {
        id.to_owned()
    } else {
        format!("{id} {name}")
    }
}

/// `text` with `change` applied to `[devices] allowed`; everything else untouched.
pub(super) fn edit(text: &str, change: &Change) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("not valid TOML any more: {e}"))?;
    if !doc.contains_key("devices") {
        doc.insert("devices", Item::Table(Table::new()));
    }
    let devices = doc["devices"]
        .as_table_like_mut()
        .ok_or("devices is not a table")?;
    if !devices.contains_key("allowed") {
        devices.insert("allowed", Item::Value(Value::Array(Array::new())));
    }
    let allowed = devices
        .get_mut("allowed")
        .and_then(Item::as_array_mut)
        .ok_or("devices.allowed is not an array")?;
    let id = match change {
        Change::Set { id, .. } | Change::Remove { id } => id.as_str(),
    };
    allowed.retain(|v| {
        v.as_str()
            .and_then(|s| parse_allowed(s).ok())
            .is_none_or(|(other, _)| other != id)
    });
    if let Change::Set { id, name } = change {
        allowed.push(entry(id, name));
    }
    Ok(doc.to_string())
}

/// Writes `text` to a temporary file beside `path` (same permissions) and renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.toml".into());
    let tmp_name = format!(".{file_name}.{}.tmp", std::process::id());
    let tmp = dir.map_or_else(|| PathBuf::from(&tmp_name), |d| d.join(&tmp_name));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# the gateway
[server]
listen = "127.0.0.1:8080" # local only

[devices]
# who may dial in
allowed = ["0123456789abcdef kiosk"]
heartbeat_ms = 1000
"#;

    #[test]
    fn edits_keep_the_rest_of_the_file() {
        let set = Change::Set {
            id: "fedcba9876543210".into(),
            name: "lab pc".into(),
        };
        let out = edit(FILE, &set).unwrap();
        assert!(
            out.starts_with("# the gateway\n[server]\nlisten = \"127.0.0.1:8080\" # local only\n")
        );
        assert!(out.contains("# who may dial in\n"));
        assert!(out.contains("heartbeat_ms = 1000"));
        assert!(
            out.contains(r#""0123456789abcdef kiosk", "fedcba9876543210 lab pc""#),
            "{out}"
        );
        let out = edit(
            &out,
            &Change::Remove {
                id: "0123456789abcdef".into(),
            },
        )
        .unwrap();
        assert!(!out.contains("kiosk"), "{out}");
        assert!(out.contains("fedcba9876543210 lab pc"));
        // Renaming replaces the entry, never duplicates it.
        let out = edit(
            &out,
            &Change::Set {
                id: "fedcba9876543210".into(),
                name: String::new(),
            },
        )
        .unwrap();
        assert_eq!(out.matches("fedcba9876543210").count(), 1, "{out}");
    }

    #[test]
    fn creates_the_table_and_refuses_garbage() {
        let out = edit(
            "[server]\nlisten = \"x\"\n",
            &Change::Set {
                id: "0123456789abcdef".into(),
                name: "a".into(),
            },
        )
        .unwrap();
        let parsed: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(
            parsed["devices"]["allowed"][0].as_str(),
            Some("0123456789abcdef a")
        );
        assert!(edit("[devices\n", &Change::Remove { id: "x".into() }).is_err());
        assert!(edit("devices = 3\n", &Change::Remove { id: "x".into() }).is_err());
    }

    #[test]
    fn writes_the_file_atomically() {
        let dir = std::env::temp_dir().join(format!("sightline-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sightline.toml");
        std::fs::write(&path, FILE).unwrap();
        let p = Persist::new(Some(path.clone()));
        assert!(
            p.apply(&Change::Set {
                id: "fedcba9876543210".into(),
                name: "lab".into()
            })
            .unwrap()
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("fedcba9876543210 lab"));
        assert!(text.contains("# who may dial in"));
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            !Persist::new(None)
                .apply(&Change::Remove { id: "x".into() })
                .unwrap()
        );
    }
}
