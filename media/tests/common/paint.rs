//! Known pixels on an X screen: solid override-redirect windows at chosen places, drawn by the server itself.

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, CreateWindowAux, Window, WindowClass};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// A client that owns solid windows; they disappear with it.
pub struct Painter {
    conn: RustConnection,
}

impl Painter {
    /// Connects to `display` (any screen of it).
    pub fn connect(display: &str) -> Self {
        let (conn, _) = x11rb::connect(Some(display)).expect("the test display accepts clients");
        Self { conn }
    }

    /// Shows a `width × height` rectangle of colour `rgb` (0xRRGGBB) at (`x`, `y`) of X screen `screen`, above
    /// everything painted before, and waits until the server has drawn it.
    pub fn fill(&self, screen: usize, x: i16, y: i16, width: u16, height: u16, rgb: u32) -> Window {
        let root = self.conn.setup().roots[screen].root;
        let window = self.conn.generate_id().expect("ids available");
        let aux = CreateWindowAux::new()
            .background_pixel(rgb)
            .override_redirect(1);
        self.conn
            .create_window(
                0,
                window,
                root,
                x,
                y,
                width,
                height,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &aux,
            )
            .expect("request sent");
        self.conn.map_window(window).expect("request sent");
        self.sync();
        window
    }

    /// Removes a rectangle painted by [`Painter::fill`].
    pub fn remove(&self, window: Window) {
        self.conn.destroy_window(window).expect("request sent");
        self.sync();
    }

    /// Moves a painted rectangle.
    pub fn move_to(&self, window: Window, x: i32, y: i32) {
        let aux = x11rb::protocol::xproto::ConfigureWindowAux::new().x(x).y(y);
        self.conn
            .configure_window(window, &aux)
            .expect("request sent");
        self.sync();
    }

    /// Waits until the server has processed (and drawn) everything sent so far.
    pub fn sync(&self) {
        self.conn.sync().expect("display alive");
    }
}
