//! A minimal baseline JPEG writer for the camera's synthetic frames, without a dependency
//! (the pure-Rust encoder crates carry the IJG licence, which `deny.toml` does not allow).
//!
//! Each 8×8 block is coded by its mean colour alone: the DC coefficient, every AC
//! coefficient zero (one end-of-block code). That is a valid baseline JFIF any decoder
//! shows, as a 40×30 mosaic at 320×240: enough for frames of flat shapes, and cheap enough
//! for a farm of cameras at 10 fps.

/// The standard luminance DC table (ITU T.81 Annex K.3): code lengths, then symbols 0–11.
const DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_VALS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/// An AC table with the end-of-block symbol alone (code `0`).
const AC_BITS: [u8; 16] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const AC_VALS: [u8; 1] = [0x00];
/// The DC quantiser: a block mean `m` codes as `m - 128`.
const DC_Q: u8 = 8;

struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((code >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                let b = self.acc as u8;
                self.out.push(b);
                if b == 0xFF {
                    self.out.push(0); // byte stuffing
                }
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn flush(&mut self) {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.put((1 << pad) - 1, pad);
        }
    }
}

/// Canonical Huffman codes `(code, length)` for the symbols 0–11 of the DC table.
fn dc_codes() -> [(u32, u32); 12] {
    let mut codes = [(0, 0); 12];
    let (mut code, mut k) = (0u32, 0usize);
    for (i, &count) in DC_BITS.iter().enumerate() {
        for _ in 0..count {
            codes[usize::from(DC_VALS[k])] = (code, i as u32 + 1);
            code += 1;
            k += 1;
        }
        code <<= 1;
    }
    codes
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// A JPEG of `width`×`height` RGB pixels (`rgb.len() >= width * height * 3`); the last
/// partial block row and column repeat the edge.
pub(crate) fn encode(rgb: &[u8], width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    if w == 0 || h == 0 || rgb.len() < w * h * 3 {
        return Vec::new();
    }
    let mut out = vec![0xFF, 0xD8];
    segment(
        &mut out,
        0xE0,
        &[b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0],
    );
    for table in 0..2u8 {
        let mut q = vec![table];
        q.push(DC_Q);
        q.extend_from_slice(&[1; 63]);
        segment(&mut out, 0xDB, &q);
    }
    let mut sof = vec![8];
    sof.extend_from_slice(&height.to_be_bytes());
    sof.extend_from_slice(&width.to_be_bytes());
    sof.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]);
    segment(&mut out, 0xC0, &sof);
    for (class_id, bits, vals) in [
        (0x00, &DC_BITS, &DC_VALS[..]),
        (0x10, &AC_BITS, &AC_VALS[..]),
        (0x01, &DC_BITS, &DC_VALS[..]),
        (0x11, &AC_BITS, &AC_VALS[..]),
    ] {
        let mut t = vec![class_id];
        t.extend_from_slice(bits);
        t.extend_from_slice(vals);
        segment(&mut out, 0xC4, &t);
    }
    segment(&mut out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);

    let codes = dc_codes();
    let mut bits = Bits { out, acc: 0, n: 0 };
    let mut pred = [0i32; 3];
    for by in (0..h).step_by(8) {
        for bx in (0..w).step_by(8) {
            let mut sum = [0f64; 3];
            for y in 0..8 {
                for x in 0..8 {
                    let i = ((by + y).min(h - 1) * w + (bx + x).min(w - 1)) * 3;
                    let (r, g, b) = (
                        f64::from(rgb[i]),
                        f64::from(rgb[i + 1]),
                        f64::from(rgb[i + 2]),
                    );
                    sum[0] += 0.299 * r + 0.587 * g + 0.114 * b;
                    sum[1] += 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
                    sum[2] += 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
                }
            }
            for c in 0..3 {
                let dc = ((sum[c] / 64.0).round() as i32).clamp(0, 255) - 128;
                let diff = dc - pred[c];
                pred[c] = dc;
                let cat = 32 - diff.unsigned_abs().leading_zeros();
                let (code, len) = codes[cat as usize];
                bits.put(code, len);
                if cat > 0 {
                    let v = if diff < 0 {
                        diff + (1 << cat) - 1
                    } else {
                        diff
                    };
                    bits.put(v as u32, cat);
                }
                bits.put(0, 1); // end of block (every AC coefficient zero)
            }
        }
    }
    bits.flush();
    let mut out = bits.out;
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markers_and_stuffing() {
        // A white, a black and a red block: every DC category the frames use.
        let mut rgb = vec![255u8; 24 * 8 * 3];
        for y in 0..8 {
            for x in 8..16 {
                let i = (y * 24 + x) * 3;
                rgb[i..i + 3].copy_from_slice(&[0, 0, 0]);
            }
            for x in 16..24 {
                let i = (y * 24 + x) * 3;
                rgb[i..i + 3].copy_from_slice(&[255, 0, 0]);
            }
        }
        let j = super::encode(&rgb, 24, 8);
        assert_eq!(&j[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
        assert_eq!(&j[j.len() - 2..], &[0xFF, 0xD9]);
        // Inside the entropy-coded data every 0xFF is followed by 0x00.
        let sos = j.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let data = &j[sos + 2 + 12..j.len() - 2];
        for (i, w) in data.windows(2).enumerate() {
            if w[0] == 0xFF {
                assert_eq!(w[1], 0, "unstuffed 0xFF at {i}");
            }
        }
        assert!(super::encode(&rgb, 0, 8).is_empty());
        assert!(super::encode(&rgb[..10], 24, 8).is_empty());
    }

    /// A real decoder reads the frames back: size, three components, and each block's colour
    /// within rounding of its mean.
    #[test]
    fn a_decoder_reads_back_the_block_colours() {
        let (w, h) = (20usize, 12usize); // partial blocks on both edges
        let mut rgb = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let px: [u8; 3] = match (x / 8, y / 8) {
                    (0, 0) => [255, 255, 255],
                    (1, 0) => [240, 140, 20],
                    (2, 0) => [40, 200, 60],
                    (0, 1) => [0, 0, 0],
                    (1, 1) => [30, 30, 220],
                    _ => [120, 120, 120],
                };
                rgb[(y * w + x) * 3..][..3].copy_from_slice(&px);
            }
        }
        let j = super::encode(&rgb, w as u16, h as u16);
        let mut d = jpeg_decoder::Decoder::new(&j[..]);
        let pixels = d.decode().expect("a valid baseline JPEG");
        let info = d.info().unwrap();
        assert_eq!((info.width, info.height), (w as u16, h as u16));
        assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
        for (x, y) in [(3, 3), (11, 3), (18, 2), (2, 10), (12, 10), (19, 11)] {
            let i = (y * w + x) * 3;
            for c in 0..3 {
                let (got, want) = (i32::from(pixels[i + c]), i32::from(rgb[i + c]));
                assert!((got - want).abs() <= 6, "({x},{y})[{c}]: {got} vs {want}");
            }
        }
    }
}
