//! Who the device is: its stable id (generated once from OS randomness, kept in `[hub] id_file`) and its name
//! (`[hub] name`, else the host name made presentable).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::TryRngCore as _;
use sightline_signaling::fleet::{
    GENERATED_ID_DIGITS, MAX_NAME_CHARS, check_device_id, check_name,
};

use crate::config::HubConfig;

/// The name of a device whose host name is unusable.
const FALLBACK_NAME: &str = "sightline device";

/// The device's id and name, as it introduces itself in its hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Lowercase hex ([`check_device_id`]), the same across restarts.
    pub id: String,
    /// For people ([`check_name`]).
    pub name: String,
}

impl Identity {
    /// Reads (or creates) the id file named by `[hub] id_file` (or its default) and picks the name. Blocking file
    /// I/O: call at start-up.
    pub fn resolve(hub: &HubConfig) -> Result<Self, String> {
        let path = if hub.id_file.is_empty() {
            default_id_file(
                std::env::var_os("XDG_STATE_HOME").as_deref(),
                std::env::var_os("HOME").as_deref(),
            )?
        } else {
            PathBuf::from(&hub.id_file)
        };
        let id = load_or_create_id(&path)?;
        let name = if hub.name.is_empty() {
            host_name()
        } else {
            hub.name.clone()
        };
        check_name(&name).map_err(|why| format!("[hub] name / --name: {why}"))?;
        Ok(Self { id, name })
    }
}

/// `$XDG_STATE_HOME/sightline/device-id`, else `$HOME/.local/state/sightline/device-id` (empty variables count as
/// unset, as the XDG spec says; a relative `XDG_STATE_HOME` is ignored).
pub fn default_id_file(
    xdg_state_home: Option<&std::ffi::OsStr>,
    home: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, String> {
    if let Some(x) = xdg_state_home.filter(|x| Path::new(x).is_absolute()) {
        return Ok(Path::new(x).join("sightline").join("device-id"));
    }
    match home.filter(|h| !h.is_empty()) {
        Some(h) => Ok(Path::new(h).join(".local/state/sightline/device-id")),
        None => Err(
            "neither XDG_STATE_HOME nor HOME is set: set [hub] id_file to where the device id is kept".into(),
        ),
    }
}

/// The id in `path` (one line of lowercase hex), or a new one written there (parent directories created, mode
/// 0600) when the file does not exist. A file that exists but holds no valid id is an error, never overwritten:
/// the hub knows the device by it.
pub fn load_or_create_id(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let id = text.trim();
            check_device_id(id).map_err(|why| {
                format!(
                    "{}: not a device id ({why}); fix or delete the file",
                    path.display()
                )
            })?;
            Ok(id.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = generate_id()?;
            write_new(path, &id)?;
            tracing::info!(id, file = %path.display(), "generated a device id");
            Ok(id)
        }
        Err(e) => Err(format!(
            "cannot read the device id from {}: {e}",
            path.display()
        )),
    }
}

/// [`GENERATED_ID_DIGITS`] lowercase hex digits from the operating system's random source.
pub fn generate_id() -> Result<String, String> {
    let mut bytes = [0u8; GENERATED_ID_DIGITS / 2];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| format!("the OS random source failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_new(path: &Path, id: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write the device id to {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    // `create_new`: two devices started at once never both write; the loser reads the winner's id next start.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(format!("{id}\n").as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// The host name as a device name: control characters and surrounding spaces removed, cut to [`MAX_NAME_CHARS`];
/// [`FALLBACK_NAME`] when nothing usable is left.
pub fn host_name() -> String {
    sanitise_name(&gethostname::gethostname().to_string_lossy())
}

/// `raw` made to pass [`check_name`].
pub fn sanitise_name(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let name = cleaned.trim();
    if name.is_empty() {
        FALLBACK_NAME.to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sightline-device-id-{tag}-{}-{}",
            std::process::id(),
            generate_id().unwrap()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn an_id_is_generated_once_private_and_reused() {
        let dir = scratch("reuse");
        let path = dir.join("deep/er/device-id");
        let id = load_or_create_id(&path).unwrap();
        assert_eq!(id.len(), GENERATED_ID_DIGITS);
        check_device_id(&id).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        assert_eq!(load_or_create_id(&path).unwrap(), id);
        assert_ne!(generate_id().unwrap(), id);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_bad_id_file_is_an_error_and_kept() {
        let dir = scratch("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("device-id");
        std::fs::write(&path, "NOT-HEX\n").unwrap();
        let err = load_or_create_id(&path).unwrap_err();
        assert!(err.contains("not a device id"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "NOT-HEX\n");
        std::fs::write(&path, "  0123456789abcdef  \n").unwrap();
        assert_eq!(load_or_create_id(&path).unwrap(), "0123456789abcdef");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_default_file_follows_xdg() {
        assert_eq!(
            default_id_file(Some(OsStr::new("/state")), Some(OsStr::new("/home/u"))).unwrap(),
            PathBuf::from("/state/sightline/device-id")
        );
        assert_eq!(
            default_id_file(Some(OsStr::new("")), Some(OsStr::new("/home/u"))).unwrap(),
            PathBuf::from("/home/u/.local/state/sightline/device-id")
        );
        assert_eq!(
            default_id_file(Some(OsStr::new("rel")), Some(OsStr::new("/home/u"))).unwrap(),
            PathBuf::from("/home/u/.local/state/sightline/device-id")
        );
        assert!(default_id_file(None, None).unwrap_err().contains("id_file"));
    }

    #[test]
    fn host_names_become_valid_names() {
        assert_eq!(sanitise_name("kiosk-1"), "kiosk-1");
        assert_eq!(sanitise_name(" a\u{7}b \n"), "ab");
        assert_eq!(sanitise_name("\n\t "), FALLBACK_NAME);
        let long = sanitise_name(&"x".repeat(500));
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        for raw in ["kiosk", " ", &"é ".repeat(40)] {
            check_name(&sanitise_name(raw)).unwrap();
        }
        check_name(&host_name()).unwrap();
    }
}
