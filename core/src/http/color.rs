//! Filament colours: `#RRGGBB` values and the printers' 24-colour palettes (http.md §5.4).
//!
//! A slot shows a colour icon only when its `rgb` matches a palette entry byte for byte, so
//! [`Palette::snap`] maps any colour to the perceptually nearest entry (CIEDE2000 in CIE L\*a\*b\*,
//! sRGB D65), as the reference clients do.

use std::fmt;
use std::str::FromStr;

use crate::error::UsageError;
use crate::model::{Model, Palette};

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    /// White, the printers' fallback.
    pub const WHITE: Self = Self([0xFF, 0xFF, 0xFF]);

    /// Parse `#RRGGBB`, `RRGGBB` or `#RGB` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        let hex = t.strip_prefix('#').unwrap_or(t);
        let nib = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let b = hex.as_bytes();
        match b.len() {
            6 => {
                let mut out = [0u8; 3];
                for (i, o) in out.iter_mut().enumerate() {
                    *o = nib(b[2 * i])? << 4 | nib(b[2 * i + 1])?;
                }
                Some(Self(out))
            }
            3 if t.starts_with('#') => {
                let mut out = [0u8; 3];
                for (i, o) in out.iter_mut().enumerate() {
                    *o = nib(b[i])? * 17;
                }
                Some(Self(out))
            }
            _ => None,
        }
    }
}

impl FromStr for Rgb {
    type Err = UsageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or(UsageError::OutOfRange { what: "colour" })
    }
}

/// Upper-case `#RRGGBB`.
impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02X}{g:02X}{b:02X}")
    }
}

/// The colour names shared by both palettes, by index.
pub const COLOR_NAMES: [&str; 24] = [
    "White",
    "Yellow",
    "Light Green",
    "Green",
    "Dark Green",
    "Teal",
    "Cyan",
    "Light Blue",
    "Blue",
    "Dark Blue",
    "Purple",
    "Violet",
    "Magenta",
    "Pink",
    "Coral",
    "Red",
    "Brown",
    "Orange",
    "Cream",
    "Tan",
    "Dark Brown",
    "Gray",
    "Light Gray",
    "Black",
];

const AD5X: [u32; 24] = [
    0xFFFFFF, 0xFEF043, 0xDCF478, 0x0ACC38, 0x067749, 0x0C6283, 0x0DE2A0, 0x75D9F3, 0x45A8F9,
    0x2750E0, 0x46328E, 0xA03CF7, 0xF330F9, 0xD4B0DC, 0xF95D73, 0xF72224, 0x7C4B00, 0xF98D33,
    0xFDEBD5, 0xD3C4A3, 0xAF7836, 0x898989, 0xBCBCBC, 0x161616,
];

const CREATOR5: [u32; 24] = [
    0xFFFFFF, 0xFFF245, 0xDEF578, 0x21CC3D, 0x167A4B, 0x156682, 0x24E4A0, 0x7BD9F0, 0x4CAAF8,
    0x2E54DD, 0x48358C, 0xA341F7, 0xF435F6, 0xD5B4DE, 0xFA6173, 0xF82D29, 0x805003, 0xF9903B,
    0xFCEBD7, 0xD5C5A1, 0xB17C38, 0x8C8C89, 0xBEBEBE, 0x1B1B1B,
];

impl Palette {
    /// The palette of a model (its row of the model table; the AD5X's where it names none).
    pub fn for_model(model: Model) -> Self {
        model.palette()
    }

    /// Entry `i` (0..24).
    pub fn color(self, i: usize) -> Option<Rgb> {
        let table = match self {
            Self::Ad5x => &AD5X,
            Self::Creator5 => &CREATOR5,
        };
        table
            .get(i)
            .map(|v| Rgb([(v >> 16) as u8, (v >> 8) as u8, *v as u8]))
    }

    /// The index, name and value of the nearest palette entry (CIEDE2000).
    pub fn snap(self, c: Rgb) -> (usize, &'static str, Rgb) {
        let lab = to_lab(c);
        let mut best = (0, f64::INFINITY);
        for (i, name) in COLOR_NAMES.iter().enumerate() {
            let p = self.color(i).unwrap_or(Rgb::WHITE);
            if p == c {
                return (i, name, p);
            }
            let d = ciede2000(lab, to_lab(p));
            if d < best.1 {
                best = (i, d);
            }
        }
        (
            best.0,
            COLOR_NAMES[best.0],
            self.color(best.0).unwrap_or(Rgb::WHITE),
        )
    }

    /// Snap a colour given as text; unparseable text falls back to White, as the clients do.
    pub fn snap_str(self, s: &str) -> Rgb {
        Rgb::parse(s).map_or(Rgb::WHITE, |c| self.snap(c).2)
    }
}

fn to_lab(c: Rgb) -> [f64; 3] {
    let lin = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(c.0[0]), lin(c.0[1]), lin(c.0[2]));
    let x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    let y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    let z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
    let f = |t: f64| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// CIEDE2000 colour difference (Sharma, Wu, Dalal 2005).
fn ciede2000(a: [f64; 3], b: [f64; 3]) -> f64 {
    use std::f64::consts::PI;
    let deg = |r: f64| r * 180.0 / PI;
    let rad = |d: f64| d * PI / 180.0;
    let [l1, a1, b1] = a;
    let [l2, a2, b2] = b;
    let c1 = a1.hypot(b1);
    let c2 = a2.hypot(b2);
    let cm = (c1 + c2) / 2.0;
    let g = 0.5 * (1.0 - (cm.powi(7) / (cm.powi(7) + 25f64.powi(7))).sqrt());
    let a1p = a1 * (1.0 + g);
    let a2p = a2 * (1.0 + g);
    let c1p = a1p.hypot(b1);
    let c2p = a2p.hypot(b2);
    let hp = |bb: f64, ap: f64| {
        if bb == 0.0 && ap == 0.0 {
            0.0
        } else {
            let h = deg(bb.atan2(ap));
            if h < 0.0 {
                h + 360.0
            } else {
                h
            }
        }
    };
    let h1p = hp(b1, a1p);
    let h2p = hp(b2, a2p);
    let dl = l2 - l1;
    let dc = c2p - c1p;
    let dh = if c1p * c2p == 0.0 {
        0.0
    } else if (h2p - h1p).abs() <= 180.0 {
        h2p - h1p
    } else if h2p - h1p > 180.0 {
        h2p - h1p - 360.0
    } else {
        h2p - h1p + 360.0
    };
    let dhh = 2.0 * (c1p * c2p).sqrt() * rad(dh / 2.0).sin();
    let lm = (l1 + l2) / 2.0;
    let cmp = (c1p + c2p) / 2.0;
    let hm = if c1p * c2p == 0.0 {
        h1p + h2p
    } else if (h1p - h2p).abs() <= 180.0 {
        (h1p + h2p) / 2.0
    } else if h1p + h2p < 360.0 {
        (h1p + h2p + 360.0) / 2.0
    } else {
        (h1p + h2p - 360.0) / 2.0
    };
    let t = 1.0 - 0.17 * rad(hm - 30.0).cos()
        + 0.24 * rad(2.0 * hm).cos()
        + 0.32 * rad(3.0 * hm + 6.0).cos()
        - 0.20 * rad(4.0 * hm - 63.0).cos();
    let d_theta = 30.0 * (-((hm - 275.0) / 25.0).powi(2)).exp();
    let rc = 2.0 * (cmp.powi(7) / (cmp.powi(7) + 25f64.powi(7))).sqrt();
    let sl = 1.0 + 0.015 * (lm - 50.0).powi(2) / (20.0 + (lm - 50.0).powi(2)).sqrt();
    let sc = 1.0 + 0.045 * cmp;
    let sh = 1.0 + 0.015 * cmp * t;
    let rt = -rad(2.0 * d_theta).sin() * rc;
    ((dl / sl).powi(2) + (dc / sc).powi(2) + (dhh / sh).powi(2) + rt * (dc / sc) * (dhh / sh))
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!(Rgb::parse("#2750e0").unwrap().to_string(), "#2750E0");
        assert_eq!(Rgb::parse("2750E0").unwrap().to_string(), "#2750E0");
        assert_eq!(Rgb::parse("#f0a").unwrap().to_string(), "#FF00AA");
        assert!(Rgb::parse("f0a").is_none());
        assert!(Rgb::parse("rgb(1,2,3)").is_none());
    }

    #[test]
    fn ciede2000_reference_pair() {
        // Sharma et al. test data, pair 1: ΔE00 = 2.0425.
        let d = ciede2000([50.0, 2.6772, -79.7751], [50.0, 0.0, -82.7485]);
        assert!((d - 2.0425).abs() < 1e-4, "{d}");
        // Pair 17: ΔE00 = 27.1492.
        let d = ciede2000([50.0, 2.5, 0.0], [73.0, 25.0, -18.0]);
        assert!((d - 27.1492).abs() < 1e-4, "{d}");
    }

    #[test]
    fn snapping() {
        let p = Palette::Ad5x;
        assert_eq!(p.snap(Rgb([0xFF, 0, 0])).1, "Red");
        assert_eq!(p.snap(Rgb([0, 0, 0])).1, "Black");
        assert_eq!(
            p.snap(Rgb([0x27, 0x50, 0xE0])),
            (9, "Dark Blue", Rgb([0x27, 0x50, 0xE0]))
        );
        assert_eq!(Palette::Creator5.snap_str("#FF0000").to_string(), "#F82D29");
        assert_eq!(Palette::Creator5.snap_str("nonsense"), Rgb::WHITE);
        for i in 0..24 {
            let c = Palette::Creator5.color(i).unwrap();
            assert_eq!(Palette::Creator5.snap(c).0, i);
        }
    }
}
