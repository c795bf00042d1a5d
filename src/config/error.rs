//! The one error type of the configuration: which key, and why.

use std::path::PathBuf;

/// A configuration error: the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a wrongly typed value.
    #[error("config file {path}: {message}")]
    Parse {
        /// The path.
        path: PathBuf,
        /// What the TOML parser said (names the key and line).
        message: String,
    },
    /// A value is out of range.
    #[error("config key {key}: {why}")]
    Invalid {
        /// Dotted key, e.g. `video.bitrate_kbps`.
        key: String,
        /// Why it was refused.
        why: String,
    },
}

pub(crate) fn invalid(key: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        why: why.into(),
    }
}
