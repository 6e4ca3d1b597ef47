//! The JSON telemetry payload, field for field as the seed program publishes it.
//!
//! Written by hand rather than with serde_json: the payload is one fixed shape, and leaving a
//! JSON library out of the page keeps the bundle within its size budget.

use std::fmt::Write;

use super::Sample;

/// One PUBLISH payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Telemetry<'a> {
    pub device_id: &'a str,
    pub sample: Sample,
}

impl<'a> Telemetry<'a> {
    pub fn new(device_id: &'a str, sample: &Sample) -> Self {
        Self {
            device_id,
            sample: *sample,
        }
    }

    /// `{"timestamp":…,"device_id":…,"sensor_type":"DPS368","sequence":…,"anomaly":…,
    /// "data":{"pressure":…,"temperature":…}}`, in that order. Pressure in hPa, temperature in
    /// degrees C.
    pub fn to_json(&self) -> String {
        let s = &self.sample;
        let mut out = String::with_capacity(160 + self.device_id.len());
        out.push_str("{\"timestamp\":\"");
        out.push_str(&format_rfc3339_millis(s.timestamp_ms));
        out.push_str("\",\"device_id\":");
        push_json_string(&mut out, self.device_id);
        let _ = write!(
            out,
            ",\"sensor_type\":\"DPS368\",\"sequence\":{},\"anomaly\":{},\"data\":{{\"pressure\":{},\"temperature\":{}}}}}",
            s.sequence,
            s.anomaly,
            JsonNumber(s.pressure_hpa),
            JsonNumber(s.temperature_c),
        );
        out
    }
}

/// How many decimals the payload carries: the seed's two.
const DECIMALS: u32 = 2;

/// A reading as JSON: rounded to [`DECIMALS`], trailing zeros dropped but one digit kept after
/// the point (`85.0`, `1003.5`, `1003.52`, as Python's json writes the seed's rounded values).
///
/// Integer arithmetic rather than float formatting: it leaves core's float printing (about
/// 7 KB gzip of wasm) out of the page.
pub(super) struct JsonNumber(pub(super) f64);

impl std::fmt::Display for JsonNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scale = 10i64.pow(DECIMALS);
        if !self.0.is_finite() || self.0.abs() >= (i64::MAX / scale) as f64 {
            return f.write_str("null");
        }
        let scaled = (self.0 * scale as f64).round() as i64;
        let sign = if scaled < 0 { "-" } else { "" };
        let (whole, mut frac) = (scaled.abs() / scale, scaled.abs() % scale);
        let mut digits = DECIMALS;
        while digits > 1 && frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(f, "{sign}{whole}.{frac:0width$}", width = digits as usize)
    }
}

/// Appends `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds:
/// `2026-11-26T17:00:00.123Z`.
pub fn format_rfc3339_millis(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(86_400_000);
    let ms_of_day = epoch_ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (second, millis) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
