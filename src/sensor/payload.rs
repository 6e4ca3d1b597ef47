//! The JSON telemetry payload, field for field as the seed program publishes it.

use serde::Serialize;

use super::Sample;

/// One PUBLISH payload. Field order is the wire order.
#[derive(Debug, Serialize)]
pub struct Telemetry<'a> {
    pub timestamp: String,
    pub device_id: &'a str,
    pub sensor_type: &'static str,
    pub sequence: u64,
    pub anomaly: bool,
    pub data: Readings,
}

#[derive(Debug, Serialize)]
pub struct Readings {
    /// hPa.
    pub pressure: f64,
    /// Degrees C.
    pub temperature: f64,
}

impl<'a> Telemetry<'a> {
    pub fn new(device_id: &'a str, sample: &Sample) -> Self {
        Self {
            timestamp: format_rfc3339_millis(sample.timestamp_ms),
            device_id,
            sensor_type: "DPS368",
            sequence: sample.sequence,
            anomaly: sample.anomaly,
            data: Readings {
                pressure: sample.pressure_hpa,
                temperature: sample.temperature_c,
            },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("telemetry has only plain fields")
    }
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
