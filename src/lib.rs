//! sightline
