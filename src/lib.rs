//! sightline: watch and drive a computer's screens from a browser, a phone or an MCP client.

pub mod peer;
