//! `[congestion]`: per-viewer bandwidth estimation and the quality ladder (docs/CONGESTION.md).

use serde::{Deserialize, Serialize};
use sightline_limits as limits;

use super::error::{ConfigError, invalid};

fn range(r: &std::ops::RangeInclusive<u32>) -> String {
    format!("must be from {} to {}", r.start(), r.end())
}

/// `[congestion]`: per-viewer bandwidth estimation and the quality ladder (docs/CONGESTION.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CongestionConfig {
    /// Estimate each viewer's path (TWCC + GCC), move it between tiers and let its encoder follow the estimate.
    /// `false`: a fixed-rate pacer, no estimate, openh264 frame skipping off, every viewer on the top tier
    /// unless its `quality` cap moves it (the behaviour before congestion control existed).
    pub enabled: bool,
    /// The estimate a viewer starts with, kbit/s.
    pub start_kbps: u32,
    /// What a viewer on a constrained path keeps when its tier's encoder cannot hold full motion at the bitrate
    /// the path allows: `motion` (the frame rate: the viewer moves to a smaller tier, where the same bitrate
    /// buys full motion; libwebrtc's "balanced") or `detail` (the resolution: the encoder skips pictures; what
    /// libwebrtc does for screen content). On a path that carries the tier's whole bitrate nothing moves.
    pub prefer: Prefer,
    /// The ladder, best first; empty = the default ladder derived from `[video] bitrate_kbps`.
    pub tiers: Vec<TierConfig>,
}

impl Default for CongestionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            start_kbps: crate::peer::CongestionSettings::default().start_kbps,
            prefer: Prefer::Motion,
            tiers: Vec::new(),
        }
    }
}

impl CongestionConfig {
    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = self;
        if !limits::BITRATE_KBPS.contains(&c.start_kbps) {
            return Err(invalid(
                "congestion.start_kbps",
                range(&limits::BITRATE_KBPS),
            ));
        }
        if c.tiers.len() > MAX_TIERS {
            return Err(invalid(
                "congestion.tiers",
                format!("at most {MAX_TIERS} tiers (each one in use is an encoder)"),
            ));
        }
        let mut above: Option<&TierConfig> = None;
        for (i, t) in c.tiers.iter().enumerate() {
            let key = |field: &str| format!("congestion.tiers[{i}].{field}");
            if !(MIN_TIER_SCALE..=1.0).contains(&t.scale) {
                return Err(invalid(
                    &key("scale"),
                    format!("must be between {MIN_TIER_SCALE} and 1"),
                ));
            }
            if !limits::BITRATE_KBPS.contains(&t.bitrate_kbps) {
                return Err(invalid(&key("bitrate_kbps"), range(&limits::BITRATE_KBPS)));
            }
            if let Some(a) = above {
                if t.bitrate_kbps >= a.bitrate_kbps {
                    return Err(invalid(
                        &key("bitrate_kbps"),
                        "must be below the tier above it (tiers are listed best first)",
                    ));
                }
                if t.scale > a.scale {
                    return Err(invalid(
                        &key("scale"),
                        "must not be above the tier above it (tiers are listed best first)",
                    ));
                }
            } else if t.scale != 1.0 {
                return Err(invalid(
                    &key("scale"),
                    "the first (top) tier must have scale 1",
                ));
            }
            above = Some(t);
        }
        Ok(())
    }
}

/// `[congestion] prefer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefer {
    /// Keep the resolution.
    Detail,
    /// Keep the frame rate.
    Motion,
}

/// One `[[congestion.tiers]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// Width as a fraction of the top tier's (0 < scale <= 1).
    pub scale: f64,
    /// The tier's bitrate ceiling, kbit/s.
    pub bitrate_kbps: u32,
}

/// Most tiers a ladder may have: each one in use is an encoder per screen.
pub const MAX_TIERS: usize = 6;
/// Smallest tier scale: below it a 1080p screen is under 100 pixels wide.
pub const MIN_TIER_SCALE: f64 = 0.05;

/// The default ladder under a `[video]` ceiling of `top_kbps`: full size at the ceiling, half width at
/// 1.2 Mbit/s, quarter width at 450 kbit/s and a quarter-width floor at 200 kbit/s (each at most half the
/// tier above, so a small ceiling still gives a descending ladder).
pub fn default_tiers(top_kbps: u32) -> Vec<TierConfig> {
    let floor = *limits::BITRATE_KBPS.start();
    let mut tiers = vec![TierConfig {
        scale: 1.0,
        bitrate_kbps: top_kbps,
    }];
    for (scale, kbps) in [(0.5, 1200), (0.25, 450), (0.25, 200)] {
        let below = tiers.last().map_or(top_kbps, |t| t.bitrate_kbps) / 2;
        let kbps = u32::min(kbps, below);
        if kbps < floor {
            break;
        }
        tiers.push(TierConfig {
            scale,
            bitrate_kbps: kbps,
        });
    }
    tiers
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    #[test]
    fn the_default_ladder_descends_to_a_floor_near_200_kbps() {
        let t = default_tiers(4000);
        let kbps: Vec<u32> = t.iter().map(|t| t.bitrate_kbps).collect();
        assert_eq!(kbps, vec![4000, 1200, 450, 200]);
        assert_eq!(t[0].scale, 1.0);
        // A small ceiling still gives a strictly descending ladder, never under the shared minimum.
        let kbps: Vec<u32> = default_tiers(500).iter().map(|t| t.bitrate_kbps).collect();
        assert_eq!(kbps, vec![500, 250, 125]);
        let c = CongestionConfig {
            tiers: default_tiers(300),
            ..CongestionConfig::default()
        };
        c.validate().unwrap();
    }

    #[test]
    fn bad_ladders_name_the_key() {
        let key = |toml: &str| match Config::parse(toml).unwrap().validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{toml}: {other:?}"),
        };
        assert_eq!(
            key("[congestion]\nstart_kbps = 1\n"),
            "congestion.start_kbps"
        );
        assert_eq!(
            key("[[congestion.tiers]]\nscale = 0.5\nbitrate_kbps = 1000\n"),
            "congestion.tiers[0].scale"
        );
        assert_eq!(
            key(
                "[[congestion.tiers]]\nscale = 1.0\nbitrate_kbps = 1000\n[[congestion.tiers]]\nscale = 0.5\nbitrate_kbps = 1000\n"
            ),
            "congestion.tiers[1].bitrate_kbps"
        );
        assert_eq!(
            key(
                "[[congestion.tiers]]\nscale = 1.0\nbitrate_kbps = 1000\n[[congestion.tiers]]\nscale = 0.01\nbitrate_kbps = 500\n"
            ),
            "congestion.tiers[1].scale"
        );
        let many: String = (0..=MAX_TIERS)
            .map(|i| {
                format!(
                    "[[congestion.tiers]]\nscale = 1.0\nbitrate_kbps = {}\n",
                    5000 - i * 100
                )
            })
            .collect();
        assert_eq!(key(&many), "congestion.tiers");
        assert!(Config::parse("[congestion]\nenabled = true\nbogus = 1\n").is_err());
    }

    #[test]
    fn tiers_scale_the_top_profile_and_the_top_is_the_shared_one() {
        let screen = sightline_media::ScreenInfo {
            id: "s".into(),
            name: "s".into(),
            width: 1280,
            height: 720,
            primary: true,
            source: sightline_media::SourceKind::Synthetic,
        };
        let config = Config::default();
        let tiers = config.tiers(&screen, None);
        assert_eq!(tiers.len(), 4);
        assert_eq!(tiers[0].profile, config.video_profile(None));
        let widths: Vec<Option<u32>> = tiers.iter().map(|t| t.profile.max_width).collect();
        assert_eq!(widths, vec![Some(1920), Some(640), Some(320), Some(320)]);
        assert_eq!(tiers[1].name, "t1 640w 1200k");
        assert_eq!(
            tiers[0].name, "t0 1280w 4000k",
            "named after what it encodes"
        );
        // A viewer asking for a narrower picture scales from there.
        let tiers = config.tiers(&screen, Some(800));
        assert_eq!(tiers[1].profile.max_width, Some(400));
        // Without congestion control the ladder still exists (the manual cap moves along it).
        let off = Config::parse("[congestion]\nenabled = false\n").unwrap();
        assert!(!off.peer_settings().congestion.enabled);
        assert!(!off.engine_settings().frame_skip);
        assert_eq!(off.tiers(&screen, None).len(), 4);
    }
}
