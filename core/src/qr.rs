//! The share link as a QR code, drawn as SVG: one path of dark modules inside the quiet zone
//! the standard asks for. Encoded by `qrcodegen` (Project Nayuki's reference implementation).

use std::fmt::Write;

use qrcodegen::{QrCode, QrCodeEcc};

use crate::html::Html;

/// Modules of light margin on each side [ISO/IEC 18004: four].
const QUIET_ZONE: i32 = 4;

/// The QR code of `text`: the smallest code that holds it at error correction Low, raised to a
/// stronger level where that still fits the same size (a long link stays coarse enough to scan
/// off a projector); `None` when `text` is too long for any QR code.
pub fn encode(text: &str) -> Option<QrCode> {
    QrCode::encode_text(text, QrCodeEcc::Low).ok()
}

/// `code` as an SVG image labelled `label`, scaled to fill its box.
pub fn svg(code: &QrCode, label: &str) -> String {
    let size = code.size();
    let full = size + 2 * QUIET_ZONE;
    let mut out = Html::new();
    out.raw("<svg")
        .attr("viewBox", &format_args!("0 0 {full} {full}"))
        .raw(" role=\"img\" shape-rendering=\"crispEdges\">")
        .wrap("<title>", &label, "</title><rect")
        .attr("width", &full)
        .attr("height", &full)
        .raw(" fill=\"#fff\"/><path fill=\"#000\" d=\"");
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                let _ = write!(out, "M{} {}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE);
            }
        }
    }
    out.raw("\"/></svg>");
    out.into_string()
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

    /// Reads `svg` back with an independent decoder (rqrr), as a phone's camera would.
    fn scan(svg: &str) -> String {
        let dark: std::collections::HashSet<(i32, i32)> = drawn(svg).into_iter().collect();
        let full = dark.iter().map(|(x, y)| x.max(y)).max().unwrap() + 1 + 2 * QUIET_ZONE;
        let scale = 4;
        let side = (full * scale) as usize;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            let module = (x as i32 / scale - QUIET_ZONE, y as i32 / scale - QUIET_ZONE);
            if dark.contains(&module) { 0 } else { 255 }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the picture");
        grids[0].decode().unwrap().1
    }

    #[test]
    fn a_phone_reads_the_share_link_back_from_the_svg() {
        for link in [
            "http://127.0.0.1:8080/?device_id=lab",
            "https://example.org/courses/iot/sim/?broker=wss%3A%2F%2Fbroker.hivemq.com%3A8884%2Fmqtt&device_id=room-42&topic=device%2F%7Bdevice_id%7D%2Ftelemetry&interval=1.0&devices=30&connection=shared&seed=12345678901234567890&tz=%2B01%3A00&anomaly_kinds=spike%2Cstep",
        ] {
            assert_eq!(scan(&svg(&encode(link).unwrap(), "")), link);
        }
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

    /// The README's figures: the default room link on a LAN address, and its code's size.
    #[test]
    fn the_default_room_link_on_a_lan_is_a_37_module_code() {
        let mut form = crate::settings::SettingsForm::defaults("ab12");
        form.set(crate::settings::Field::BrokerUrl, "ws://192.168.1.20:9001");
        let link = format!("http://192.168.1.20:8080/{}", form.room_query(false));
        assert_eq!(
            link,
            "http://192.168.1.20:8080/?broker=ws%3A%2F%2F192.168.1.20%3A9001&room=infineon-sensor-01"
        );
        assert_eq!(link.len(), 87);
        assert_eq!(encode(&link).unwrap().size(), 37);
    }
}
