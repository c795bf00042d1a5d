//! The connection to the accessibility bus: found and opened on first use, kept for later calls, dropped when it
//! breaks so the next call opens a fresh one.
//!
//! Where the bus is, in libatspi's order minus the X root property (Debian 12's launcher does not set it):
//! `AT_SPI_BUS_ADDRESS`, else `org.a11y.Bus.GetAddress` on the D-Bus session bus (`DBUS_SESSION_BUS_ADDRESS`, else
//! `$XDG_RUNTIME_DIR/bus`), which also starts `at-spi-bus-launcher` by D-Bus activation where it is installed.

use std::sync::{Arc, OnceLock};

use atspi::proxy::bus::BusProxy;
use atspi::zbus;
use zbus::DBusError as _;

use super::types::{A11yError, CALL_TIMEOUT, CONNECT_TIMEOUT};

/// A cheap handle to the accessibility bus connection, shared by every MCP session of the gateway.
#[derive(Clone, Debug, Default)]
pub struct A11y {
    /// The open connection, `None` until first use and after it broke. A tokio mutex because connecting awaits:
    /// concurrent first calls wait for one connect instead of racing several.
    conn: Arc<tokio::sync::Mutex<Option<zbus::Connection>>>,
}

/// How a failed D-Bus call reads for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The object or its application is gone.
    Gone,
    /// The object does not implement that interface or method.
    Unsupported,
    /// No answer in time.
    Timeout,
    /// The connection itself failed: drop it.
    Broken,
    /// Anything else (the application's own error).
    Other,
}

/// What a failed call means.
pub fn fault(e: &zbus::Error) -> Fault {
    let name = match e {
        zbus::Error::MethodError(name, _, _) => name.as_str().to_owned(),
        zbus::Error::FDO(f) => f.name().as_str().to_owned(),
        zbus::Error::InputOutput(_) | zbus::Error::Connection(..) => return Fault::Broken,
        _ => return Fault::Other,
    };
    match name.strip_prefix("org.freedesktop.DBus.Error.") {
        Some("UnknownObject" | "ServiceUnknown" | "NameHasNoOwner") => Fault::Gone,
        Some("UnknownMethod" | "UnknownInterface" | "UnknownProperty" | "NotSupported") => {
            Fault::Unsupported
        }
        Some("NoReply" | "TimedOut" | "Timeout") => Fault::Timeout,
        _ => Fault::Other,
    }
}

/// The result of a call that may be unsupported: `Ok(None)` when the element lacks the interface or method.
pub fn optional<T>(r: zbus::Result<T>) -> zbus::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if fault(&e) == Fault::Unsupported => Ok(None),
        Err(e) => Err(e),
    }
}

impl A11y {
    /// The gateway's one handle (the connection is opened on first use, not here).
    pub fn shared() -> &'static A11y {
        static SHARED: OnceLock<A11y> = OnceLock::new();
        SHARED.get_or_init(A11y::default)
    }

    /// The open connection, connecting first when there is none.
    pub async fn connection(&self) -> Result<zbus::Connection, A11yError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(CONNECT_TIMEOUT, connect())
            .await
            .map_err(|_| {
                A11yError::NoBus(format!(
                    "the bus did not answer within {} ms",
                    CONNECT_TIMEOUT.as_millis()
                ))
            })??;
        tracing::debug!(unique_name = ?c.unique_name(), "accessibility bus connected");
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The error of a failed call on `id` (an element id, or what was being read), dropping the connection when
    /// the call broke it.
    pub async fn error(&self, id: &str, e: zbus::Error) -> A11yError {
        match fault(&e) {
            Fault::Gone => A11yError::Gone(id.to_owned()),
            Fault::Timeout => A11yError::Timeout(CALL_TIMEOUT),
            Fault::Broken => {
                tracing::info!(error = %e, "accessibility bus connection broke; reconnecting on next use");
                self.conn.lock().await.take();
                A11yError::Failed(format!(
                    "the accessibility bus connection broke ({e}); retry"
                ))
            }
            Fault::Unsupported | Fault::Other => A11yError::Failed(e.to_string()),
        }
    }
}

/// Finds the bus and opens a connection to it.
async fn connect() -> Result<zbus::Connection, A11yError> {
    let address = match std::env::var("AT_SPI_BUS_ADDRESS") {
        Ok(a) if !a.trim().is_empty() => a,
        _ => {
            let session = zbus::Connection::session().await.map_err(|e| {
                A11yError::NoBus(format!(
                    "AT_SPI_BUS_ADDRESS is not set and there is no D-Bus session bus to ask \
                     (DBUS_SESSION_BUS_ADDRESS: {e})"
                ))
            })?;
            let asked = async { BusProxy::new(&session).await?.get_address().await };
            asked.await.map_err(|e| {
                A11yError::NoBus(format!(
                    "the D-Bus session bus has no org.a11y.Bus ({})",
                    short(&e)
                ))
            })?
        }
    };
    zbus::connection::Builder::address(address.as_str())
        .map_err(|e| A11yError::NoBus(format!("bad bus address {address:?}: {e}")))?
        .method_timeout(CALL_TIMEOUT)
        .build()
        .await
        .map_err(|e| A11yError::NoBus(format!("cannot connect to {address}: {e}")))
}

/// A D-Bus error without its message dump.
fn short(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, Some(text), _) => format!("{name}: {text}"),
        zbus::Error::MethodError(name, None, _) => name.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbus_errors_map_to_what_the_agent_should_do() {
        let fdo = |e: zbus::fdo::Error| zbus::Error::FDO(Box::new(e));
        assert_eq!(
            fault(&fdo(zbus::fdo::Error::UnknownObject("x".into()))),
            Fault::Gone
        );
        assert_eq!(
            fault(&fdo(zbus::fdo::Error::ServiceUnknown("x".into()))),
            Fault::Gone
        );
        assert_eq!(
            fault(&fdo(zbus::fdo::Error::UnknownMethod("x".into()))),
            Fault::Unsupported
        );
        assert_eq!(
            fault(&fdo(zbus::fdo::Error::NoReply("x".into()))),
            Fault::Timeout
        );
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone");
        assert_eq!(
            fault(&zbus::Error::InputOutput(Arc::new(io))),
            Fault::Broken
        );
        assert_eq!(fault(&zbus::Error::Failure("x".into())), Fault::Other);
    }
}
