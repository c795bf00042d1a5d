//! `[turn]`: TURN with ephemeral credentials (owned by the TURN work; a stub until then).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[turn]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {}

impl TurnConfig {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
