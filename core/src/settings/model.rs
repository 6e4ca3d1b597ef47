//! The sensor-model settings: profile, seed, precision, air and anomalies.

use super::bad;
use crate::sensor::air::OVERSAMPLING;
use crate::sensor::{AnomalyKind, AnomalyMode, Profile, Weather, parse_rfc3339_millis};

pub fn parse_profile(text: &str) -> Result<Profile, String> {
    match text.trim() {
        "seed" => Ok(Profile::Seed),
        "realistic" => Ok(Profile::Realistic),
        "replay" => Ok(Profile::Replay),
        other => Err(bad(other, "must be seed, realistic or replay")),
    }
}

pub fn parse_weather(text: &str) -> Result<Weather, String> {
    let text = text.trim();
    Weather::from_name(text).ok_or_else(|| bad(text, "must be still, calm, typical or stormy"))
}

pub fn parse_seed(text: &str) -> Result<u64, String> {
    let text = text.trim();
    text.parse::<u64>().map_err(|_| {
        bad(
            text,
            "must be a whole number from 0 to 18446744073709551615",
        )
    })
}

/// An oversampling rate the part offers.
pub fn parse_precision(text: &str) -> Result<u32, String> {
    let text = text.trim();
    match text.parse::<u32>() {
        Ok(rate) if OVERSAMPLING.iter().any(|(r, _)| *r == rate) => Ok(rate),
        _ => Err(bad(text, "must be one of 1, 2, 4, 8, 16, 32, 64, 128")),
    }
}

/// The measurement time at `rate`, in tenths of a millisecond, for messages without float
/// printing.
pub fn measurement_tenths_ms(rate: u32) -> u64 {
    OVERSAMPLING
        .iter()
        .find(|(r, _)| *r == rate)
        .map(|(_, ms)| (ms * 10.0).round() as u64)
        .unwrap_or(0)
}

/// A signed decimal within `min..=max` (whole numbers in the message).
pub fn parse_number(text: &str, min: i64, max: i64) -> Result<f64, String> {
    let text = text.trim();
    let (negative, micros) =
        super::parse_signed_micros(text).ok_or_else(|| bad(text, "must be a number"))?;
    let value = micros as f64 / 1e6 * if negative { -1.0 } else { 1.0 };
    if value < min as f64 || value > max as f64 {
        return Err(format!("must be from {min} to {max} (got \"{text}\")"));
    }
    Ok(value)
}

/// A factor from `min` to `max` millionths, written `low` and `high` in the message (`0.05`
/// to `10`).
pub fn parse_factor(
    text: &str,
    (min, low): (u64, &str),
    (max, high): (u64, &str),
) -> Result<f64, String> {
    let text = text.trim();
    match super::parse_decimal_micros(text) {
        Some(micros) if (min..=max).contains(&micros) => Ok(micros as f64 / 1e6),
        _ => Err(bad(
            text,
            &format!("must be a number from {low} to {high} (1 is the catalogue as written)"),
        )),
    }
}

pub fn parse_probability(text: &str) -> Result<f64, String> {
    let text = text.trim();
    match super::parse_decimal_micros(text) {
        Some(micros) if micros <= 1_000_000 => Ok(micros as f64 / 1e6),
        _ => Err(bad(text, "must be a number from 0 to 1")),
    }
}

pub fn parse_mode(text: &str, every: u32, probability: f64) -> Result<AnomalyMode, String> {
    match text.trim() {
        "every" => Ok(AnomalyMode::Every(u64::from(every))),
        "random" => Ok(AnomalyMode::Random(probability)),
        "off" => Ok(AnomalyMode::Off),
        other => Err(bad(other, "must be every, random or off")),
    }
}

/// Comma-separated kind names; empty means the profile's own (the seed's `out_of_range`, or
/// every kind for the realistic profile), `all` every kind.
pub fn parse_kinds(text: &str, profile: Profile) -> Result<Vec<AnomalyKind>, String> {
    let text = text.trim();
    match text {
        "" if profile == Profile::Seed => return Ok(vec![AnomalyKind::OutOfRange]),
        "" | "all" => return Ok(AnomalyKind::ALL.to_vec()),
        _ => {}
    }
    let mut kinds = vec![];
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = AnomalyKind::from_name(name).ok_or_else(|| {
            format!(
                "unknown kind \"{name}\"; the kinds are spike, step, drift, stuck, noise, dropout, out_of_range, compensation"
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// Empty (the real clock) or an RFC 3339 time.
pub fn parse_start(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    parse_rfc3339_millis(text).map(Some).ok_or_else(|| {
        bad(
            text,
            "must be an RFC 3339 time such as 2026-01-01T00:00:00Z",
        )
    })
}

/// A UTC offset, `+HH:MM` or `-HH:MM` (`Z` for UTC), as minutes east of UTC: the zone the
/// model's tide and daily cycle follow. The page fills in its own, and the share link carries
/// it, so a link replays the same stream in any time zone.
pub fn parse_utc_offset(text: &str) -> Result<i32, String> {
    let text = text.trim();
    let problem = || bad(text, "must be a UTC offset such as +01:00 or -05:00");
    if text == "Z" {
        return Ok(0);
    }
    let b = text.as_bytes();
    let sign = match b.first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(problem()),
    };
    if b.len() != 6 || b[3] != b':' || !b[1..3].iter().chain(&b[4..]).all(u8::is_ascii_digit) {
        return Err(problem());
    }
    let hours = i32::from(b[1] - b'0') * 10 + i32::from(b[2] - b'0');
    let minutes = i32::from(b[4] - b'0') * 10 + i32::from(b[5] - b'0');
    let offset = sign * (hours * 60 + minutes);
    if minutes > 59 || !(-12 * 60..=14 * 60).contains(&offset) {
        return Err(problem());
    }
    Ok(offset)
}

/// Minutes east of UTC written as [`parse_utc_offset`] reads them.
pub fn format_utc_offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}
