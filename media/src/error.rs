//! The media crate's error type: one variant per cause, each message fit to show an operator.

use std::fmt;
use std::ops::RangeInclusive;

/// Everything that can go wrong in capture, input injection or encoding.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The requested backend cannot run here (no display, wrong platform, missing extension).
    #[error("{0}")]
    Unavailable(String),
    /// No screen has this id.
    #[error("unknown screen {0:?}")]
    UnknownScreen(String),
    /// The display went away or refused a request.
    #[error("display error: {0}")]
    Display(String),
    /// A capture failed for a reason other than the display going away.
    #[error("capture failed: {0}")]
    Capture(String),
    /// Input could not be injected (unknown key code, display error).
    #[error("input failed: {0}")]
    Input(String),
    /// The encoder failed to start or to encode.
    #[error("encoder error: {0}")]
    Encoder(String),
    /// A value given by a caller is out of range.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// Which value.
        what: &'static str,
        /// Why it was refused.
        why: String,
    },
    /// Content over a size limit (a clipboard larger than the caller accepts); nothing of it was kept.
    #[error("{what} of {size} bytes is over the limit of {max} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size in bytes, as announced or measured.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A bounded queue is full (the input thread is behind); the caller may retry shortly.
    #[error("{0}")]
    Busy(String),
    /// The pipeline or engine was shut down.
    #[error("stopped")]
    Stopped,
}

impl MediaError {
    /// Builds [`MediaError::Invalid`].
    pub fn invalid(what: &'static str, why: impl fmt::Display) -> Self {
        Self::Invalid {
            what,
            why: why.to_string(),
        }
    }

    /// Checks `value` against one of the bounds in [`sightline_limits`]; out of range → [`MediaError::Invalid`]
    /// naming `what` and the range (`invalid fps: 0 (1..=120)`).
    pub fn check_range<T>(
        what: &'static str,
        value: T,
        range: &RangeInclusive<T>,
    ) -> Result<T, Self>
    where
        T: PartialOrd + fmt::Display + Copy,
    {
        sightline_limits::check(what, value, range).map_err(|_| {
            Self::invalid(
                what,
                format!("{value} ({}..={})", range.start(), range.end()),
            )
        })
    }
}
