//! The JSON telemetry payload, field for field as the seed program publishes it plus the
//! anomaly labels, and the rows of the dataset exports.
//!
//! Written by hand rather than with serde_json: the shapes are fixed, and leaving a JSON library
//! and float printing out of the page keeps the bundle within its size budget.

use std::fmt::Write;

use super::{Difficulty, Label, Profile, Sample};

/// One PUBLISH payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Telemetry<'a> {
    pub device_id: &'a str,
    pub profile: Profile,
    pub sample: Sample,
}

impl<'a> Telemetry<'a> {
    pub fn new(device_id: &'a str, profile: Profile, sample: &Sample) -> Self {
        Self {
            device_id,
            profile,
            sample: *sample,
        }
    }

    /// `{"timestamp":…,"device_id":…,"sensor_type":"DPS368","sequence":…,"anomaly":…,
    /// "anomaly_kind":…,"anomaly_id":…,"data":{"pressure":…,"temperature":…}}`, in that order.
    pub fn to_json(&self) -> String {
        self.json_with_status(None)
    }

    /// The payload without its answer: no `anomaly`, `anomaly_kind` or `anomaly_id` (blind
    /// mode, where the labels go to a topic of their own).
    pub fn to_blind_json(&self) -> String {
        self.json(None, false)
    }

    /// The payload with a trailing `"status"` field: one JSONL export line.
    pub fn json_with_status(&self, status: Option<&str>) -> String {
        self.json(status, true)
    }

    fn json(&self, status: Option<&str>, labelled: bool) -> String {
        let s = &self.sample;
        let (p_decimals, t_decimals) = self.profile.decimals();
        let mut out = String::with_capacity(200 + self.device_id.len());
        out.push_str("{\"timestamp\":\"");
        out.push_str(&super::format_rfc3339_millis(s.timestamp_ms));
        out.push_str("\",\"device_id\":");
        push_json_string(&mut out, self.device_id);
        let _ = write!(
            out,
            ",\"sensor_type\":\"DPS368\",\"sequence\":{},",
            s.sequence
        );
        match (labelled, s.label) {
            (false, _) => {}
            (true, Some(label)) => {
                let _ = write!(
                    out,
                    "\"anomaly\":true,\"anomaly_kind\":\"{}\",\"anomaly_id\":{},",
                    label.kind, label.id
                );
            }
            (true, None) => {
                out.push_str("\"anomaly\":false,\"anomaly_kind\":null,\"anomaly_id\":null,")
            }
        }
        let _ = write!(
            out,
            "\"data\":{{\"pressure\":{},\"temperature\":{}}}",
            Decimal(s.pressure_hpa, p_decimals, self.profile == Profile::Seed),
            Decimal(s.temperature_c, t_decimals, self.profile == Profile::Seed),
        );
        if let Some(status) = status {
            let _ = write!(out, ",\"status\":\"{status}\"");
        }
        out.push('}');
        out
    }
}

/// One anomaly event's ground truth: what blind mode publishes to `device/{id}/labels` when
/// the event ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundTruth {
    pub label: Label,
    pub first_sequence: u64,
    pub last_sequence: u64,
    /// The timestamps of its first and last samples.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Its magnitude (the difficulty's scale, or its own in a benchmark).
    pub scale: f64,
    /// Its signal to noise ([`super::Generator::noise_hpa`]); none for a dropout.
    pub snr: Option<f64>,
}

impl GroundTruth {
    /// `{"device_id":…,"anomaly_id":N,"kind":…,"first_sequence":F,"last_sequence":L,
    /// "start":…,"end":…,"anomaly_scale":…,"anomaly_duration":…,"snr":…}`: the difficulty it
    /// was made at goes with it, so a score says what it was measured on (`snr` null for a
    /// dropout, two decimals otherwise).
    pub fn to_json(&self, device_id: &str, difficulty: Difficulty) -> String {
        let mut out = String::with_capacity(220 + device_id.len());
        out.push_str("{\"device_id\":");
        push_json_string(&mut out, device_id);
        let _ = write!(
            out,
            ",\"anomaly_id\":{},\"kind\":\"{}\",\"first_sequence\":{},\"last_sequence\":{},\"start\":\"{}\",\"end\":\"{}\",\"anomaly_scale\":{},\"anomaly_duration\":{}}}",
            self.label.id,
            self.label.kind,
            self.first_sequence,
            self.last_sequence,
            super::format_rfc3339_millis(self.start_ms),
            super::format_rfc3339_millis(self.end_ms),
            Decimal(self.scale, 6, true),
            Decimal(difficulty.duration, 6, true),
        );
        out.pop();
        match self.snr {
            Some(snr) => {
                let _ = write!(out, ",\"snr\":{}}}", Decimal(snr, 2, true));
            }
            None => out.push_str(",\"snr\":null}"),
        }
        out
    }
}

/// The CSV export's header line.
pub fn csv_header() -> &'static str {
    "sequence,timestamp,device_id,sensor_type,pressure_hpa,temperature_c,anomaly,anomaly_kind,anomaly_id,status"
}

/// Writes a CSV text cell: quoted when it needs it (RFC 4180); a cell starting with = + - @ tab
/// or CR is a formula to a spreadsheet, so it gets a leading ' and quotes, as OWASP recommends
/// against CSV injection.
pub fn csv_text(out: &mut String, text: &str) {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula || text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if formula {
            out.push('\'');
        }
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// One CSV export line (no newline). Text fields are quoted when they need it (RFC 4180), and
/// neutralised when a spreadsheet would read them as a formula.
pub fn csv_row(device_id: &str, profile: Profile, sample: &Sample, status: &str) -> String {
    let (p_decimals, t_decimals) = profile.decimals();
    let mut out = String::with_capacity(120);
    let _ = write!(
        out,
        "{},{},",
        sample.sequence,
        super::format_rfc3339_millis(sample.timestamp_ms)
    );
    csv_text(&mut out, device_id);
    let _ = write!(
        out,
        ",DPS368,{},{},{},",
        Decimal(sample.pressure_hpa, p_decimals, profile == Profile::Seed),
        Decimal(sample.temperature_c, t_decimals, profile == Profile::Seed),
        sample.is_anomaly()
    );
    if let Some(label) = sample.label {
        let _ = write!(out, "{},{}", label.kind, label.id);
    } else {
        out.push(',');
    }
    let _ = write!(out, ",{status}");
    out
}

/// A reading as JSON: rounded to `.1` decimals. With `.2` set, trailing zeros are dropped but
/// one digit is kept after the point (`85.0`, `1003.5`, as Python's json writes the seed's
/// values); without, all decimals are shown, to the part's resolution.
///
/// Integer arithmetic rather than float formatting: it leaves core's float printing out of the
/// page.
pub struct Decimal(pub f64, pub u32, pub bool);

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Decimal(value, decimals, trim) = *self;
        let scale = 10i64.pow(decimals);
        if !value.is_finite() || value.abs() >= (i64::MAX / scale) as f64 {
            return f.write_str("null");
        }
        let scaled = (value * scale as f64).round() as i64;
        let sign = if scaled < 0 { "-" } else { "" };
        let (whole, mut frac) = (scaled.abs() / scale, scaled.abs() % scale);
        let mut digits = decimals;
        while trim && digits > 1 && frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(f, "{sign}{whole}.{frac:0width$}", width = digits as usize)
    }
}

/// Appends `text` as a JSON string literal.
pub fn push_json_string(out: &mut String, text: &str) {
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
