//! [`Role`]: what a token allows (view < control < admin).

use serde::{Deserialize, Serialize};

/// What a token allows. Ordered: `View < Control < Admin`; each role can do everything the lower ones can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Watch screens.
    View,
    /// Watch and send input and stream commands.
    Control,
    /// Everything, including the monitor and kicking sessions.
    Admin,
}

impl Role {
    /// The wire name (`"view"`, `"control"`, `"admin"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Control => "control",
            Self::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
