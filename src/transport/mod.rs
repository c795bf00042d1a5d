//! Viewer transports: the `/ws` socket ([`ws`]) with its WebRTC and JPEG watches, WHEP ([`whep`]), and the
//! latest-frame [`pacer`] that the `/ws` JPEG stream and MJPEG share.

pub mod pacer;
pub mod whep;
pub mod ws;

pub use ws::upgrade;
