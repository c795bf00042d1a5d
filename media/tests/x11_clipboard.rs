//! The X11 clipboard against real X clients on a private Xvfb: `xclip` sets and reads CLIPBOARD and PRIMARY
//! (text, PNG, content large enough for INCR transfers), the clipboard's change counters follow every owner
//! change, size limits refuse content without reading it, and the clipboard survives a display restart.
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::xvfb::{Xvfb, require_tool};
use sightline_media::clipboard::too_large_bytes;
use sightline_media::x11::X11Desktop;
use sightline_media::{Clipboard, ClipboardData, ClipboardKind, Desktop, MediaError, Selection};

const MB: usize = 1024 * 1024;

fn open(xvfb: &Xvfb) -> (X11Desktop, Arc<dyn Clipboard>) {
    require_tool("xclip");
    let desktop = X11Desktop::open(Some(&xvfb.display())).expect("the display opens");
    let clipboard = desktop.clipboard().expect("X11 desktops have a clipboard");
    (desktop, clipboard)
}

fn sel_arg(selection: Selection) -> &'static str {
    selection.as_str()
}

/// An `xclip -i` holding a selection in the foreground (`-quiet`), killed on drop.
struct XclipOwner(Child);

impl XclipOwner {
    fn start(xvfb: &Xvfb, selection: Selection, mime: Option<&str>, data: &[u8]) -> Self {
        let mut cmd = Command::new("xclip");
        cmd.args(["-quiet", "-selection", sel_arg(selection), "-i"]);
        if let Some(mime) = mime {
            cmd.args(["-t", mime]);
        }
        let mut child = cmd
            .env("DISPLAY", xvfb.display())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xclip starts");
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(data).expect("xclip reads its input");
        drop(stdin);
        Self(child)
    }
}

impl Drop for XclipOwner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `xclip -o` of `selection` as `mime`: its stdout, or `None` when it fails; killed after 10 s.
fn xclip_out(xvfb: &Xvfb, selection: Selection, mime: Option<&str>) -> Option<Vec<u8>> {
    let mut cmd = Command::new("xclip");
    cmd.args(["-o", "-selection", sel_arg(selection)]);
    if let Some(mime) = mime {
        cmd.args(["-t", mime]);
    }
    let mut child = cmd
        .env("DISPLAY", xvfb.display())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("xclip starts");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).map(|_| out)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("xclip -o {mime:?} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = reader.join().expect("reader").expect("stdout readable");
    status.success().then_some(out)
}

/// Waits until `selection`'s counter passes `before`; returns the new value.
fn changed(clipboard: &Arc<dyn Clipboard>, selection: Selection, before: u64) -> u64 {
    let changes = clipboard.changes();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = changes.borrow().of(selection);
        if now > before {
            return now;
        }
        assert!(Instant::now() < deadline, "{selection:?} never changed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn serial(clipboard: &Arc<dyn Clipboard>, selection: Selection) -> u64 {
    clipboard.changes().borrow().of(selection)
}

fn text(s: &str) -> Option<ClipboardData> {
    Some(ClipboardData::Text(s.into()))
}

/// A small valid PNG (the bytes only need to survive unchanged).
fn png() -> Vec<u8> {
    let mut out = Vec::new();
    let img = image::RgbaImage::from_fn(7, 5, |x, y| {
        image::Rgba([x as u8 * 30, y as u8 * 40, 99, 255])
    });
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("PNG encodes");
    out
}

#[test]
fn text_copied_by_an_x_client_is_read_and_counted() {
    let xvfb = Xvfb::start();
    let (_desktop, clipboard) = open(&xvfb);
    assert_eq!(
        clipboard
            .get(Selection::Clipboard, ClipboardKind::Text, MB)
            .unwrap(),
        None
    );
    let before = serial(&clipboard, Selection::Clipboard);
    let primary = serial(&clipboard, Selection::Primary);
    let _owner = XclipOwner::start(&xvfb, Selection::Clipboard, None, "héllo".as_bytes());
    changed(&clipboard, Selection::Clipboard, before);
    let t = Instant::now();
    let got = clipboard
        .get(Selection::Clipboard, ClipboardKind::Text, MB)
        .unwrap();
    eprintln!("get from xclip: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    assert_eq!(got, text("héllo"));
    // xclip offers text only; PRIMARY is untouched.
    assert_eq!(
        clipboard
            .get(Selection::Clipboard, ClipboardKind::Image, MB)
            .unwrap(),
        None
    );
    assert_eq!(serial(&clipboard, Selection::Primary), primary);
    assert_eq!(
        clipboard
            .get(Selection::Primary, ClipboardKind::Text, MB)
            .unwrap(),
        None
    );
}

#[test]
fn text_set_here_is_pasted_by_x_clients() {
    let xvfb = Xvfb::start();
    let (_desktop, clipboard) = open(&xvfb);
    let before = serial(&clipboard, Selection::Clipboard);
    let t = Instant::now();
    clipboard
        .set(Selection::Clipboard, ClipboardData::Text("wörld".into()))
        .unwrap();
    eprintln!("set: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    // Our own change is counted before `set` returns.
    assert!(serial(&clipboard, Selection::Clipboard) > before);
    let t = Instant::now();
    let out = xclip_out(&xvfb, Selection::Clipboard, None).expect("xclip pastes");
    eprintln!(
        "xclip -o round trip: {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(String::from_utf8(out).unwrap(), "wörld");
    let targets = xclip_out(&xvfb, Selection::Clipboard, Some("TARGETS")).expect("targets");
    let targets = String::from_utf8(targets).unwrap();
    let targets: Vec<&str> = targets.lines().collect();
    for t in [
        "TARGETS",
        "TIMESTAMP",
        "UTF8_STRING",
        "STRING",
        "TEXT",
        "text/plain",
    ] {
        assert!(targets.contains(&t), "{t} missing from {targets:?}");
    }
    assert!(!targets.contains(&"image/png"), "{targets:?}");
    let latin1 = xclip_out(&xvfb, Selection::Clipboard, Some("STRING")).expect("STRING");
    assert_eq!(latin1, b"w\xf6rld");
    assert_eq!(
        xclip_out(
            &xvfb,
            Selection::Clipboard,
            Some("text/plain;charset=utf-8")
        )
        .unwrap(),
        "wörld".as_bytes()
    );
    // Unsupported targets are refused, and text outside Latin-1 is not offered as STRING.
    assert_eq!(
        xclip_out(&xvfb, Selection::Clipboard, Some("image/png")),
        None
    );
    clipboard
        .set(Selection::Clipboard, ClipboardData::Text("1 €".into()))
        .unwrap();
    assert_eq!(xclip_out(&xvfb, Selection::Clipboard, Some("STRING")), None);
    assert_eq!(
        xclip_out(&xvfb, Selection::Clipboard, None).unwrap(),
        "1 €".as_bytes()
    );
    // Reading back our own content is answered from memory.
    let t = Instant::now();
    let own = clipboard
        .get(Selection::Clipboard, ClipboardKind::Text, MB)
        .unwrap();
    eprintln!(
        "get of own content: {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(own, text("1 €"));
    let e = clipboard
        .get(Selection::Clipboard, ClipboardKind::Text, 2)
        .unwrap_err();
    assert_eq!(too_large_bytes(&e), Some("1 €".len()), "{e}");
}

#[test]
fn primary_is_a_selection_of_its_own() {
    let xvfb = Xvfb::start();
    let (_desktop, clipboard) = open(&xvfb);
    let (c0, p0) = (
        serial(&clipboard, Selection::Clipboard),
        serial(&clipboard, Selection::Primary),
    );
    clipboard
        .set(Selection::Primary, ClipboardData::Text("prïmary".into()))
        .unwrap();
    assert!(serial(&clipboard, Selection::Primary) > p0);
    assert_eq!(serial(&clipboard, Selection::Clipboard), c0);
    assert_eq!(
        xclip_out(&xvfb, Selection::Primary, None).unwrap(),
        "prïmary".as_bytes()
    );
    assert_eq!(xclip_out(&xvfb, Selection::Clipboard, None), None);
    let p1 = serial(&clipboard, Selection::Primary);
    let _owner = XclipOwner::start(&xvfb, Selection::Primary, None, b"from xclip");
    changed(&clipboard, Selection::Primary, p1);
    assert_eq!(
        clipboard
            .get(Selection::Primary, ClipboardKind::Text, MB)
            .unwrap(),
        text("from xclip")
    );
    assert_eq!(
        clipboard
            .get(Selection::Clipboard, ClipboardKind::Text, MB)
            .unwrap(),
        None
    );
}

#[test]
fn png_images_travel_both_ways_unchanged() {
    let xvfb = Xvfb::start();
    let (_desktop, clipboard) = open(&xvfb);
    let image = png();
    clipboard
        .set(Selection::Clipboard, ClipboardData::Png(image.clone()))
        .unwrap();
    let targets = xclip_out(&xvfb, Selection::Clipboard, Some("TARGETS")).unwrap();
    assert!(
        String::from_utf8_lossy(&targets)
            .lines()
            .any(|l| l == "image/png")
    );
    assert_eq!(
        xclip_out(&xvfb, Selection::Clipboard, Some("image/png")).unwrap(),
        image
    );
    assert_eq!(
        xclip_out(&xvfb, Selection::Clipboard, Some("UTF8_STRING")),
        None
    );
    assert_eq!(
        clipboard
            .get(Selection::Clipboard, ClipboardKind::Text, MB)
            .unwrap(),
        None
    );

    let mut other = image.clone();
    other.extend_from_slice(b"trailing bytes a PNG reader ignores");
    let before = serial(&clipboard, Selection::Clipboard);
    let _owner = XclipOwner::start(&xvfb, Selection::Clipboard, Some("image/png"), &other);
    changed(&clipboard, Selection::Clipboard, before);
    assert_eq!(
        clipboard
            .get(Selection::Clipboard, ClipboardKind::Image, MB)
            .unwrap(),
        Some(ClipboardData::Png(other))
    );
    // xclip offers only the type it was given.
    assert_eq!(
        clipboard
            .get(Selection::Clipboard, ClipboardKind::Text, MB)
            .unwrap(),
        None
    );
}

fn big_text(len: usize) -> String {
    "sightline clipboard "
        .chars()
        .cycle()
        .take(len - 1)
        .chain(['é'])
        .collect::<String>()
}

#[test]
fn large_content_is_read_whole_or_refused_by_size() {
    let xvfb = Xvfb::start();
    let (_desktop, clipboard) = open(&xvfb);
    // 600 KB fits one xclip property; 1.5 MB makes xclip use INCR (its chunk is a quarter of the request limit).
    for len in [600_000, 1_500_000] {
        let big = big_text(len);
        let before = serial(&clipboard, Selection::Clipboard);
        let owner = XclipOwner::start(&xvfb, Selection::Clipboard, None, big.as_bytes());
        changed(&clipboard, Selection::Clipboard, before);
        let t = Instant::now();
        let got = clipboard
            .get(Selection::Clipboard, ClipboardKind::Text, 2 * MB)
            .unwrap();
        eprintln!(
            "get of {len} bytes from xclip: {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(got.as_ref().map(ClipboardData::len), Some(big.len()));
        assert!(got == Some(ClipboardData::Text(big.clone())));
        let t = Instant::now();
        let e = clipboard
            .get(Selection::Clipboard, ClipboardKind::Text, 100_000)
            .unwrap_err();
        eprintln!(
            "refusal of {len} bytes: {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(too_large_bytes(&e), Some(big.len()), "{e}");
        // The owner is still served normally after a refusal.
        let again = clipboard
            .get(Selection::Clipboard, ClipboardKind::Text, 2 * MB)
            .unwrap();
        assert!(again == Some(ClipboardData::Text(big.clone())));
        drop(owner);
    }
    // 600 KB set here goes to xclip in INCR chunks.
    let big = big_text(600_000);
    clipboard
        .set(Selection::Clipboard, ClipboardData::Text(big.clone()))
        .unwrap();
    let t = Instant::now();
    let out = xclip_out(&xvfb, Selection::Clipboard, None).expect("xclip reads INCR");
    eprintln!(
        "xclip -o of 600000 bytes (INCR): {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert!(out == big.as_bytes(), "{} bytes", out.len());
}

#[test]
fn another_owner_replaces_our_content() {
    let xvfb = Xvfb::start();
    let (_desktop, clipboard) = open(&xvfb);
    clipboard
        .set(Selection::Clipboard, ClipboardData::Text("ours".into()))
        .unwrap();
    let before = serial(&clipboard, Selection::Clipboard);
    let owner = XclipOwner::start(&xvfb, Selection::Clipboard, None, b"theirs");
    changed(&clipboard, Selection::Clipboard, before);
    assert_eq!(
        clipboard
            .get(Selection::Clipboard, ClipboardKind::Text, MB)
            .unwrap(),
        text("theirs")
    );
    // When that owner exits the selection is empty: our old content is gone, not resurrected.
    let before = serial(&clipboard, Selection::Clipboard);
    drop(owner);
    changed(&clipboard, Selection::Clipboard, before);
    assert_eq!(
        clipboard
            .get(Selection::Clipboard, ClipboardKind::Text, MB)
            .unwrap(),
        None
    );
    assert_eq!(xclip_out(&xvfb, Selection::Clipboard, None), None);
    // And setting again works.
    clipboard
        .set(
            Selection::Clipboard,
            ClipboardData::Text("ours again".into()),
        )
        .unwrap();
    assert_eq!(
        xclip_out(&xvfb, Selection::Clipboard, None).unwrap(),
        b"ours again"
    );
}

#[test]
fn the_clipboard_survives_a_display_restart_and_stops_with_its_desktop() {
    let mut xvfb = Xvfb::start();
    let (desktop, clipboard) = open(&xvfb);
    clipboard
        .set(Selection::Clipboard, ClipboardData::Text("before".into()))
        .unwrap();
    let before = serial(&clipboard, Selection::Clipboard);
    xvfb.restart();
    // The first request after the restart may fail (the old connection just broke); within a few seconds the
    // clipboard works again, empty.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match clipboard.get(Selection::Clipboard, ClipboardKind::Text, MB) {
            Ok(got) => {
                assert_eq!(got, None);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "still failing: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(serial(&clipboard, Selection::Clipboard) > before);
    clipboard
        .set(Selection::Clipboard, ClipboardData::Text("after".into()))
        .unwrap();
    assert_eq!(
        xclip_out(&xvfb, Selection::Clipboard, None).unwrap(),
        b"after"
    );
    // The same desktop hands out the same clipboard; dropping the desktop ends its thread.
    let again = desktop.clipboard().unwrap();
    assert!(Arc::ptr_eq(&again, &clipboard));
    drop(desktop);
    let e = clipboard
        .get(Selection::Clipboard, ClipboardKind::Text, MB)
        .unwrap_err();
    assert!(matches!(e, MediaError::Stopped), "{e}");
    assert_eq!(xclip_out(&xvfb, Selection::Clipboard, None), None);
}
