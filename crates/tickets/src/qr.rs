//! A ticket code as a QR image: SVG (for pages) and PNG (for saving to a phone's photos).
//! Error correction level M (15 %), a quiet zone of four modules, as scanners expect.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the code cannot be drawn as a QR code: {0}")]
pub struct QrError(String);

fn qr(code: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)
        .map_err(|e| QrError(e.to_string()))
}

/// An SVG document of the code's QR.
pub fn svg(code: &str) -> Result<String, QrError> {
    Ok(qr(code)?
        .render()
        .min_dimensions(240, 240)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

/// A greyscale PNG of the code's QR, `scale` pixels per module.
pub fn png(code: &str, scale: u32) -> Result<Vec<u8>, QrError> {
    let q = qr(code)?;
    let modules = u32::try_from(q.width()).map_err(|_| QrError("too wide".into()))?;
    let quiet = 4;
    let side = (modules + 2 * quiet) * scale;
    let colors = q.to_colors();
    let mut pixels =
        vec![255u8; usize::try_from(side * side).map_err(|_| QrError("too large".into()))?];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let i = u32::try_from(i).map_err(|_| QrError("too large".into()))?;
        let (mx, my) = (i % modules + quiet, i / modules + quiet);
        for y in my * scale..(my + 1) * scale {
            for x in mx * scale..(mx + 1) * scale {
                if let Some(p) = usize::try_from(y * side + x)
                    .ok()
                    .and_then(|at| pixels.get_mut(at))
                {
                    *p = 0;
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| QrError(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| QrError(e.to_string()))?;
    writer.finish().map_err(|e| QrError(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_draw_as_svg_and_png() {
        let code = format!("GH1{}", "A".repeat(159));
        let s = svg(&code).unwrap();
        assert!(s.contains("<svg") && s.contains("#000000"), "{s}");
        let p = png(&code, 4).unwrap();
        assert_eq!(p.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
        // The image decodes to the size the code needs: modules plus the quiet zone, scaled.
        let decoder = png::Decoder::new(std::io::Cursor::new(p));
        let reader = decoder.read_info().unwrap();
        let width = reader.info().width;
        assert_eq!(width % 4, 0);
        assert!(width >= (41 + 8) * 4, "{width}");
    }
}
