//! `[tls]`: HTTPS and WSS (owned by the TLS work; a stub until then).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[tls]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {}

impl TlsConfig {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
