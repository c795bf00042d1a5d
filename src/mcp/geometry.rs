//! Screen geometry of the MCP tools, all pure functions.
//!
//! **One coordinate space.** Every tool speaks in whole pixels of the named screen, origin at its top-left corner,
//! exactly the pixels `list_screens` reports and the viewer page shows (a viewer's normalised `(x, y)` maps to
//! pixel `floor(x × width)`). A screenshot may be a cropped and scaled picture of the screen; it states the
//! mapping back: `screen_x = region.x + image_x × scale_x` (same for y).

use std::sync::Arc;

use rmcp::schemars::{self, JsonSchema};
use serde::{Deserialize, Serialize};
use sightline_media::Frame;
use sightline_media::convert::scaled_size;

use super::error::ToolError;

/// Longest image edge a screenshot gets unless the caller asks for a width. Vision models shrink larger images
/// themselves before looking at them (Anthropic's guidance: at most 1568 px on the long edge and about
/// 1.15 megapixels), so sending more costs bandwidth and latency and buys no detail.
pub const DEFAULT_MAX_EDGE: u32 = 1568;
/// Most pixels of a screenshot unless the caller asks for a width (see [`DEFAULT_MAX_EDGE`]).
pub const DEFAULT_MAX_PIXELS: u64 = 1_150_000;
/// Accepted `max_width` values: the JPEG encoder's lower bound to the largest screens that exist.
pub const MAX_WIDTH_RANGE: std::ops::RangeInclusive<u32> = sightline_limits::MAX_WIDTH;

/// A point in pixels of a screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Point {
    /// Horizontal pixel, 0 = left edge.
    pub x: u32,
    /// Vertical pixel, 0 = top edge.
    pub y: u32,
}

/// A rectangle in pixels of a screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Region {
    /// Left edge, in screen pixels.
    pub x: u32,
    /// Top edge, in screen pixels.
    pub y: u32,
    /// Width in pixels, at least 1.
    #[schemars(range(min = 1))]
    pub width: u32,
    /// Height in pixels, at least 1.
    #[schemars(range(min = 1))]
    pub height: u32,
}

impl Region {
    /// The whole of a `width × height` screen.
    pub fn full(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            width,
            height,
        }
    }

    /// Whether the region is the whole `width × height` screen.
    pub fn is_full(&self, width: u32, height: u32) -> bool {
        *self == Self::full(width, height)
    }

    /// Checks the region lies inside a `width × height` screen.
    pub fn check(self, screen: &str, width: u32, height: u32) -> Result<Self, ToolError> {
        let fits = self.width >= 1
            && self.height >= 1
            && u64::from(self.x) + u64::from(self.width) <= u64::from(width)
            && u64::from(self.y) + u64::from(self.height) <= u64::from(height);
        if fits {
            Ok(self)
        } else {
            Err(ToolError::invalid(format!(
                "region x={} y={} width={} height={} does not fit screen {screen} ({width}x{height} px); \
                 it needs width and height of at least 1 and x + width <= {width}, y + height <= {height}",
                self.x, self.y, self.width, self.height
            )))
        }
    }
}

/// Checks a point lies on a `width × height` screen.
pub fn check_point(screen: &str, p: Point, width: u32, height: u32) -> Result<Point, ToolError> {
    if p.x < width && p.y < height {
        Ok(p)
    } else {
        Err(ToolError::invalid(format!(
            "({}, {}) is outside screen {screen} ({width}x{height} px: x 0..={}, y 0..={})",
            p.x,
            p.y,
            width.saturating_sub(1),
            height.saturating_sub(1)
        )))
    }
}

/// The `max_width` to encode a `width × height` picture with: the caller's when given (never wider than the
/// picture), otherwise the largest width that keeps both [`DEFAULT_MAX_EDGE`] and [`DEFAULT_MAX_PIXELS`].
/// `None` = full size.
pub fn target_width(width: u32, height: u32, asked: Option<u32>) -> Result<Option<u32>, ToolError> {
    if let Some(w) = asked {
        if !MAX_WIDTH_RANGE.contains(&w) {
            return Err(ToolError::invalid(format!(
                "max_width {w} is out of range ({}..={})",
                MAX_WIDTH_RANGE.start(),
                MAX_WIDTH_RANGE.end()
            )));
        }
        return Ok((w < width).then_some(w));
    }
    let pixels = u64::from(width) * u64::from(height);
    if width.max(height) <= DEFAULT_MAX_EDGE && pixels <= DEFAULT_MAX_PIXELS {
        return Ok(None);
    }
    let by_edge = f64::from(DEFAULT_MAX_EDGE) / f64::from(width.max(height));
    let by_pixels = (DEFAULT_MAX_PIXELS as f64 / pixels as f64).sqrt();
    let w = (f64::from(width) * by_edge.min(by_pixels)).floor() as u32;
    Ok(Some(w.max(*MAX_WIDTH_RANGE.start())))
}

/// The size an encoder produces for a `width × height` picture limited to `max_width` (the media crate's rule:
/// downscaled sizes are even).
pub fn image_size(width: u32, height: u32, max_width: Option<u32>) -> (u32, u32) {
    match max_width {
        Some(_) => scaled_size(width, height, max_width),
        None => (width, height),
    }
}

/// How a screenshot maps to its screen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Mapping {
    /// The picture's size in pixels.
    pub image_width: u32,
    /// The picture's size in pixels.
    pub image_height: u32,
    /// The part of the screen shown, in screen pixels.
    pub region: Region,
    /// Screen pixels per image pixel, horizontally.
    pub scale_x: f64,
    /// Screen pixels per image pixel, vertically.
    pub scale_y: f64,
}

impl Mapping {
    /// The mapping of a `image_width × image_height` picture of `region`.
    pub fn new(region: Region, image_width: u32, image_height: u32) -> Self {
        Self {
            image_width,
            image_height,
            region,
            scale_x: f64::from(region.width) / f64::from(image_width.max(1)),
            scale_y: f64::from(region.height) / f64::from(image_height.max(1)),
        }
    }

    /// The screen pixel under an image pixel's centre.
    pub fn to_screen(&self, image_x: u32, image_y: u32) -> Point {
        let map = |i: u32, scale: f64, origin: u32, size: u32| {
            let v = ((f64::from(i) + 0.5) * scale).floor() as u32;
            origin + v.min(size.saturating_sub(1))
        };
        Point {
            x: map(image_x, self.scale_x, self.region.x, self.region.width),
            y: map(image_y, self.scale_y, self.region.y, self.region.height),
        }
    }
}

/// The part of `frame` inside `region` (already checked to fit), sharing the pixels when it is the whole frame.
pub fn crop(frame: &Arc<Frame>, region: Region) -> Arc<Frame> {
    if region.is_full(frame.width, frame.height) {
        return Arc::clone(frame);
    }
    let row_bytes = region.width as usize * 4;
    let mut data = Vec::with_capacity(row_bytes * region.height as usize);
    for y in region.y..region.y + region.height {
        let start = y as usize * frame.stride + region.x as usize * 4;
        data.extend_from_slice(&frame.data[start..start + row_bytes]);
    }
    Arc::new(Frame {
        width: region.width,
        height: region.height,
        stride: row_bytes,
        data: data.into(),
        captured_at: frame.captured_at,
        seq: frame.seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::intent::{normalised, to_pixel};

    fn frame(width: u32, height: u32) -> Arc<Frame> {
        let mut data = vec![0u8; (width * height * 4) as usize];
        for (i, px) in data.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % width, i as u32 / width);
            px.copy_from_slice(&[x as u8, y as u8, 7, 255]);
        }
        Arc::new(Frame {
            width,
            height,
            stride: width as usize * 4,
            data: data.into(),
            captured_at: std::time::SystemTime::UNIX_EPOCH,
            seq: 3,
        })
    }

    #[test]
    fn large_screens_default_to_a_size_vision_models_use_as_is() {
        let w = target_width(1920, 1080, None).unwrap().unwrap();
        let (iw, ih) = image_size(1920, 1080, Some(w));
        assert!(iw.max(ih) <= DEFAULT_MAX_EDGE, "{iw}x{ih}");
        assert!(
            u64::from(iw) * u64::from(ih) <= DEFAULT_MAX_PIXELS,
            "{iw}x{ih}"
        );
        assert!(
            u64::from(iw) * u64::from(ih) > DEFAULT_MAX_PIXELS * 98 / 100,
            "{iw}x{ih}"
        );
        // Portrait: the long edge is the height.
        let w = target_width(1080, 2400, None).unwrap().unwrap();
        let (iw, ih) = image_size(1080, 2400, Some(w));
        assert!(ih <= DEFAULT_MAX_EDGE && u64::from(iw) * u64::from(ih) <= DEFAULT_MAX_PIXELS);
        // Small screens and regions keep every pixel.
        assert_eq!(target_width(1280, 720, None).unwrap(), None);
        assert_eq!(target_width(300, 200, None).unwrap(), None);
    }

    #[test]
    fn an_asked_width_is_honoured_but_never_upscales() {
        assert_eq!(target_width(1920, 1080, Some(1920)).unwrap(), None);
        assert_eq!(target_width(1920, 1080, Some(4000)).unwrap(), None);
        assert_eq!(target_width(1920, 1080, Some(960)).unwrap(), Some(960));
        assert_eq!(image_size(1920, 1080, Some(960)), (960, 540));
        assert!(target_width(1920, 1080, Some(8)).is_err());
        assert!(target_width(1920, 1080, Some(9000)).is_err());
    }

    #[test]
    fn regions_must_fit_the_screen() {
        let r = Region {
            x: 1900,
            y: 1000,
            width: 20,
            height: 80,
        };
        assert_eq!(r.check("0", 1920, 1080), Ok(r));
        let e = Region { width: 21, ..r }
            .check("0", 1920, 1080)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("does not fit screen 0 (1920x1080 px)"),
            "{e}"
        );
        assert!(Region { height: 0, ..r }.check("0", 1920, 1080).is_err());
        let huge = Region {
            x: u32::MAX,
            y: 0,
            width: u32::MAX,
            height: 1,
        };
        assert!(huge.check("0", 1920, 1080).is_err(), "no overflow");
    }

    #[test]
    fn points_must_lie_on_the_screen() {
        assert!(check_point("1", Point { x: 1279, y: 719 }, 1280, 720).is_ok());
        let e = check_point("1", Point { x: 1280, y: 0 }, 1280, 720).unwrap_err();
        assert!(e.to_string().contains("x 0..=1279, y 0..=719"), "{e}");
    }

    #[test]
    fn normalised_positions_map_back_to_the_same_pixel() {
        for (p, size) in [(0, 1920), (1919, 1920), (777, 1080), (0, 1)] {
            assert_eq!(to_pixel(normalised(p, size), size), p);
        }
    }

    #[test]
    fn mapping_scales_image_pixels_back_to_screen_pixels() {
        let region = Region {
            x: 100,
            y: 50,
            width: 1000,
            height: 500,
        };
        let m = Mapping::new(region, 500, 250);
        assert_eq!((m.scale_x, m.scale_y), (2.0, 2.0));
        assert_eq!(m.to_screen(0, 0), Point { x: 101, y: 51 });
        assert_eq!(m.to_screen(499, 249), Point { x: 1099, y: 549 });
        let identity = Mapping::new(Region::full(1920, 1080), 1920, 1080);
        assert_eq!(identity.to_screen(640, 480), Point { x: 640, y: 480 });
    }

    #[test]
    fn crop_copies_exactly_the_region() {
        let f = frame(64, 32);
        assert!(Arc::ptr_eq(&crop(&f, Region::full(64, 32)), &f));
        let c = crop(
            &f,
            Region {
                x: 10,
                y: 5,
                width: 7,
                height: 3,
            },
        );
        assert_eq!((c.width, c.height, c.stride, c.seq), (7, 3, 28, 3));
        assert_eq!(c.pixel(0, 0), Some([10, 5, 7, 255]));
        assert_eq!(c.pixel(6, 2), Some([16, 7, 7, 255]));
    }
}
