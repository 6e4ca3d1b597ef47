//! The share link as a QR code, drawn as SVG: one path of dark modules inside the quiet zone
//! the standard asks for. Encoded by `qrcodegen` (Project Nayuki's reference implementation).

use std::fmt::Write;

use qrcodegen::{QrCode, QrCodeEcc};

/// Modules of light margin on each side [ISO/IEC 18004: four].
const QUIET_ZONE: i32 = 4;

/// The QR code of `text` at the lowest error correction that fits (a long link is dense; a
/// projected code is clean), or `None` when `text` is too long for any QR code.
pub fn encode(text: &str) -> Option<QrCode> {
    QrCode::encode_text(text, QrCodeEcc::Low).ok()
}

/// `code` as an SVG image labelled `label`, scaled to fill its box.
pub fn svg(code: &QrCode, label: &str) -> String {
    let size = code.size();
    let full = size + 2 * QUIET_ZONE;
    let mut out = format!(
        "<svg viewBox=\"0 0 {full} {full}\" role=\"img\" shape-rendering=\"crispEdges\"><title>"
    );
    crate::fleet::table::escape(&mut out, label);
    let _ = write!(
        out,
        "</title><rect width=\"{full}\" height=\"{full}\" fill=\"#fff\"/><path fill=\"#000\" d=\""
    );
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                let _ = write!(out, "M{} {}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE);
            }
        }
    }
    out.push_str("\"/></svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dark modules the SVG path draws, read back from its `M x y` moves.
    fn drawn(svg: &str) -> Vec<(i32, i32)> {
        let path = &svg[svg.find(" d=\"").unwrap() + 4..];
        let path = &path[..path.find('"').unwrap()];
        path.split('M')
            .filter(|m| !m.is_empty())
            .map(|m| {
                let mut numbers = m
                    .split(['h', ' '])
                    .take(2)
                    .map(|n| n.parse::<i32>().unwrap());
                (
                    numbers.next().unwrap() - QUIET_ZONE,
                    numbers.next().unwrap() - QUIET_ZONE,
                )
            })
            .collect()
    }

    #[test]
    fn the_svg_draws_exactly_the_dark_modules_of_the_code_inside_a_quiet_zone() {
        let link = "http://127.0.0.1:8080/?broker=ws%3A%2F%2Flocalhost%3A9001&device_id=lab&seed=42&tz=%2B01%3A00";
        let code = encode(link).unwrap();
        let svg = svg(&code, "QR <code>");
        let size = code.size();
        let mut expected = vec![];
        for y in 0..size {
            for x in 0..size {
                if code.get_module(x, y) {
                    expected.push((x, y));
                }
            }
        }
        assert_eq!(drawn(&svg), expected);
        let full = size + 2 * QUIET_ZONE;
        assert!(svg.contains(&format!("viewBox=\"0 0 {full} {full}\"")));
        assert!(svg.contains("<title>QR &lt;code&gt;</title>"));
    }

    #[test]
    fn a_long_share_link_still_fits_and_an_impossible_one_is_refused() {
        let long = format!("https://example.org/sim/?{}", "a=b&".repeat(200));
        assert!(encode(&long).is_some());
        assert!(encode(&"x".repeat(8000)).is_none());
    }
}
