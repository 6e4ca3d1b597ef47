//! A recording to replay: someone's own measured air, one reading per row, which the `replay`
//! profile publishes in order at the publish interval, anomalies laid on top.
//!
//! Two formats, told apart by the first character:
//! - **CSV** with a header naming at least `timestamp` and `pressure` (hPa), and optionally
//!   `temperature` (C); `pressure_hpa` and `temperature_c` name them too, so our own CSV export
//!   replays. Cells may be quoted (RFC 4180); other columns are ignored.
//! - **JSON lines**, one object per line with the same names; a `data` object holding
//!   `pressure` and `temperature` works too, so our own JSONL export replays.
//!
//! Readings are kept as fixed-point integers (0.0001 hPa, 0.001 C: the payload's resolution),
//! parsed digit by digit, so a replayed reading is the recorded one exactly and the page carries
//! no float parser. Limits: [`MAX_BYTES`] and [`MAX_ROWS`]; readings within the part's range.
//! Every problem names the row (counted from 1, the header being row 1 of a CSV) and the column.

/// The largest recording read: 64 MiB.
pub const MAX_BYTES: usize = 64 << 20;
/// The most rows kept: a million readings, about 8 MB of memory whatever the fleet's size
/// (every sensor replays the one shared copy), and 25 MB more for their timestamps.
pub const MAX_ROWS: usize = 1_000_000;

/// The readings of one recording, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Pressure in units of 0.0001 hPa.
    pressure: Vec<i32>,
    /// Temperature in units of 0.001 C, when the recording has a temperature column.
    temperature: Option<Vec<i32>>,
    /// Each row's own timestamp text, end to end, and where each ends.
    stamps: String,
    stamp_ends: Vec<u32>,
}

impl Recording {
    /// Reads a CSV or JSON-lines recording.
    pub fn parse(bytes: &[u8]) -> Result<Recording, String> {
        if bytes.len() > MAX_BYTES {
            return Err(format!(
                "the file is over the {MAX_BYTES} bytes (64 MiB) a recording may have"
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            format!(
                "the file is not UTF-8 text (at byte {})",
                e.valid_up_to() + 1
            )
        })?;
        // The page reads a file as text, a bad byte becoming U+FFFD: refused alike.
        if let Some(at) = text.find('\u{fffd}') {
            return Err(format!("the file is not UTF-8 text (at byte {})", at + 1));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let recording = match text.trim_start().as_bytes().first() {
            None => return Err("the file is empty".into()),
            Some(b'{') => json_lines(text)?,
            Some(_) => csv(text)?,
        };
        if recording.is_empty() {
            return Err("the file has a header but no readings".into());
        }
        Ok(recording)
    }

    fn new(with_temperature: bool) -> Self {
        Self {
            pressure: vec![],
            temperature: with_temperature.then(Vec::new),
            stamps: String::new(),
            stamp_ends: vec![],
        }
    }

    pub fn len(&self) -> usize {
        self.pressure.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pressure.is_empty()
    }

    pub fn has_temperature(&self) -> bool {
        self.temperature.is_some()
    }

    /// Row `index`'s pressure (hPa) and temperature (C), if it has one.
    pub fn reading(&self, index: usize) -> (f64, Option<f64>) {
        let pressure = f64::from(self.pressure[index]) / 10_000.0;
        let temperature = self
            .temperature
            .as_ref()
            .map(|t| f64::from(t[index]) / 1000.0);
        (pressure, temperature)
    }

    /// Row `index`'s own timestamp, as recorded.
    pub fn timestamp(&self, index: usize) -> &str {
        let start = match index {
            0 => 0,
            _ => self.stamp_ends[index - 1] as usize,
        };
        &self.stamps[start..self.stamp_ends[index] as usize]
    }

    fn push(
        &mut self,
        row: usize,
        stamp: &str,
        pressure: &str,
        temperature: Option<&str>,
    ) -> Result<(), String> {
        if self.pressure.len() >= MAX_ROWS {
            return Err(format!(
                "row {row}: recordings of up to {MAX_ROWS} readings are read"
            ));
        }
        let at = |column: &str, problem: String| format!("row {row}, column {column}: {problem}");
        if stamp.trim().is_empty() {
            return Err(at("timestamp", "is empty".into()));
        }
        let pressure = reading(pressure, 4, (3_000_000, 12_000_000), "hPa", "300 to 1200")
            .map_err(|p| at("pressure", p))?;
        let temperature = match (temperature, &self.temperature) {
            (Some(text), Some(_)) => Some(
                reading(text, 3, (-40_000, 85_000), "C", "-40 to 85")
                    .map_err(|p| at("temperature", p))?,
            ),
            _ => None,
        };
        self.pressure.push(pressure);
        if let (Some(column), Some(value)) = (&mut self.temperature, temperature) {
            column.push(value);
        }
        self.stamps.push_str(stamp.trim());
        self.stamp_ends.push(self.stamps.len() as u32);
        Ok(())
    }
}

/// A cell as a message shows it: at most 40 characters.
fn shown(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A decimal reading as an integer of `decimals` places, within `range` (in those units).
fn reading(
    text: &str,
    decimals: u32,
    range: (i32, i32),
    unit: &str,
    span: &str,
) -> Result<i32, String> {
    let text = text.trim();
    let value =
        fixed(text, decimals).ok_or_else(|| format!("\"{}\" is not a number", shown(text)))?;
    if value < i64::from(range.0) || value > i64::from(range.1) {
        return Err(format!(
            "{} is outside the part's {span} {unit} (is the unit {unit}?)",
            shown(text)
        ));
    }
    Ok(value as i32)
}

/// `text` (`-12.345`, `1013`, `+.5`) times 10^`decimals`, rounded half away from zero; no
/// exponents, nothing else.
fn fixed(text: &str, decimals: u32) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !is_digits(whole) || !is_digits(fraction) {
        return None;
    }
    if whole.len() > 12 {
        return None;
    }
    let mut value: i64 = 0;
    for b in whole.bytes() {
        value = value * 10 + i64::from(b - b'0');
    }
    let mut places = fraction.bytes();
    for _ in 0..decimals {
        value = value * 10 + places.next().map_or(0, |b| i64::from(b - b'0'));
    }
    if places.next().is_some_and(|b| b >= b'5') {
        value += 1;
    }
    Some(if negative { -value } else { value })
}

/// The names a column goes by.
const TIMESTAMP: [&str; 1] = ["timestamp"];
const PRESSURE: [&str; 2] = ["pressure", "pressure_hpa"];
const TEMPERATURE: [&str; 2] = ["temperature", "temperature_c"];

fn csv(text: &str) -> Result<Recording, String> {
    // The header is the first line with anything on it.
    let mut lines = text
        .lines()
        .enumerate()
        .skip_while(|(_, l)| l.trim().is_empty());
    let (header_index, header) = lines.next().ok_or("the file is empty")?;
    let names: Vec<String> = cells(header)
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
    let missing = |column: &str| {
        format!(
            "row {}: the header has no {column} column (it names: {}); a recording's header names at least timestamp and pressure (hPa)",
            header_index + 1,
            shown(&names.join(", "))
        )
    };
    let timestamp = find(&TIMESTAMP).ok_or_else(|| missing("timestamp"))?;
    let pressure = find(&PRESSURE).ok_or_else(|| missing("pressure"))?;
    let temperature = find(&TEMPERATURE);
    let mut recording = Recording::new(temperature.is_some());
    let mut row_cells: Vec<String> = Vec::with_capacity(names.len());
    for (index, line) in lines {
        let row = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        row_cells.clear();
        row_cells.extend(cells(line));
        let cell = |column: usize, name: &str| {
            row_cells.get(column).map(String::as_str).ok_or_else(|| {
                format!(
                    "row {row}, column {name}: missing (the row has {} cells, the header {})",
                    row_cells.len(),
                    names.len()
                )
            })
        };
        let stamp = cell(timestamp, "timestamp")?;
        let p = cell(pressure, "pressure")?;
        let t = match temperature {
            Some(column) => Some(cell(column, "temperature")?),
            None => None,
        };
        recording.push(row, stamp, p, t)?;
    }
    Ok(recording)
}

/// The cells of one CSV line, quotes removed (a quote inside a quoted cell is doubled).
fn cells(line: &str) -> impl Iterator<Item = String> + '_ {
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut cell = String::new();
        let mut quoted = false;
        loop {
            match chars.next() {
                None => {
                    done = true;
                    return Some(cell);
                }
                Some('"') if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                Some('"') if quoted || cell.trim().is_empty() => quoted = !quoted,
                Some(',') if !quoted => return Some(cell),
                Some(c) => cell.push(c),
            }
        }
    })
}

fn json_lines(text: &str) -> Result<Recording, String> {
    let mut recording: Option<Recording> = None;
    for (index, line) in text.lines().enumerate() {
        let row = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields = flat_fields(line).map_err(|problem| format!("row {row}: {problem}"))?;
        let get = |names: &[&str]| {
            fields
                .iter()
                .find(|(key, _)| names.contains(&key.as_str()))
                .map(|(_, value)| value.as_str())
        };
        let missing = |column: &str| {
            format!("row {row}: no \"{column}\" (each line needs at least timestamp and pressure)")
        };
        let stamp = get(&TIMESTAMP).ok_or_else(|| missing("timestamp"))?;
        let pressure = get(&PRESSURE).ok_or_else(|| missing("pressure"))?;
        let temperature = get(&TEMPERATURE);
        // The first line decides whether the recording has temperatures; later lines must
        // agree.
        let recording = recording.get_or_insert_with(|| Recording::new(temperature.is_some()));
        if recording.has_temperature() && temperature.is_none() {
            return Err(missing("temperature"));
        }
        recording.push(row, stamp, pressure, temperature)?;
    }
    recording.ok_or_else(|| "the file is empty".into())
}

/// The `"key": value` pairs of one JSON object line, at any depth (a nested `data` object's
/// too), strings unquoted, numbers as written; `null` values left out. Enough JSON for a
/// recording without a JSON library in the page: objects, arrays, strings with escapes,
/// numbers, true, false, null.
fn flat_fields(line: &str) -> Result<Vec<(String, String)>, String> {
    let bytes = line.trim().as_bytes();
    if bytes.first() != Some(&b'{') || bytes.last() != Some(&b'}') {
        return Err("is not a JSON object".into());
    }
    let mut fields = vec![];
    let mut key: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let (text, end) = json_string(bytes, i)?;
                i = end;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) == Some(&b':') {
                    key = Some(text);
                    i += 1;
                    continue;
                }
                if let Some(k) = key.take() {
                    fields.push((k, text));
                }
                continue;
            }
            b'-' | b'+' | b'.' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b',' | b'}' | b']') {
                    i += 1;
                }
                let word = line.trim()[start..i].trim();
                if let Some(k) = key.take()
                    && word != "null"
                {
                    fields.push((k, word.to_owned()));
                }
                continue;
            }
            b'{' | b'[' => key = None,
            b' ' | b'\t' | b',' | b'}' | b']' | b':' => {}
            other => return Err(format!("unexpected byte {other} in the JSON")),
        }
        i += 1;
    }
    Ok(fields)
}

/// The string starting at `bytes[start]` (a quote), unescaped, and the index after it.
fn json_string(bytes: &[u8], start: usize) -> Result<(String, usize), String> {
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let text = String::from_utf8(out).map_err(|_| "a string is not UTF-8")?;
                return Ok((text, i + 1));
            }
            b'\\' => {
                i += 1;
                match bytes.get(i) {
                    Some(b'n') => out.push(b'\n'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'u') => {
                        // Kept as written: no recording field needs one decoded.
                        out.extend_from_slice(b"\\u");
                    }
                    Some(&c) => out.push(c),
                    None => break,
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    Err("a string is not closed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_the_plain_names_and_extra_quoted_columns() {
        let text = "station,timestamp,pressure,temperature\n\
                    \"Payerne, CH\",2016-06-01T00:00:00Z,958.4,12.5\n\
                    \"Payerne, CH\",2016-06-01T00:01:00Z,958.41,-0.0005\n";
        let r = Recording::parse(text.as_bytes()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.reading(0), (958.4, Some(12.5)));
        assert_eq!(r.reading(1), (958.41, Some(-0.001)));
        assert_eq!(r.timestamp(1), "2016-06-01T00:01:00Z");
    }

    #[test]
    fn our_own_csv_and_jsonl_exports_replay() {
        let csv = "sequence,timestamp,device_id,sensor_type,pressure_hpa,temperature_c,anomaly,anomaly_kind,anomaly_id,status\n\
                   1,2026-11-27T00:00:00.000Z,\"=lab\",DPS368,1013.2512,24.125,false,,,acknowledged\n";
        let r = Recording::parse(csv.as_bytes()).unwrap();
        assert_eq!(r.reading(0), (1013.2512, Some(24.125)));
        let jsonl = "{\"timestamp\":\"2026-11-27T00:00:00.000Z\",\"device_id\":\"a \\\"b\\\"\",\"sensor_type\":\"DPS368\",\"sequence\":1,\"anomaly\":false,\"anomaly_kind\":null,\"anomaly_id\":null,\"data\":{\"pressure\":1013.2512,\"temperature\":24.125},\"status\":\"acknowledged\"}\n";
        let r = Recording::parse(jsonl.as_bytes()).unwrap();
        assert_eq!(r.reading(0), (1013.2512, Some(24.125)));
        assert_eq!(r.timestamp(0), "2026-11-27T00:00:00.000Z");
    }

    #[test]
    fn pressure_alone_is_enough() {
        let r = Recording::parse(b"timestamp,pressure\n1,1000\n2,1000.00005\n").unwrap();
        assert!(!r.has_temperature());
        assert_eq!(
            r.reading(1),
            (1000.0001, None),
            "rounded half away from zero"
        );
    }

    #[test]
    fn bad_recordings_name_the_row_and_the_column() {
        for (text, problem) in [
            ("", "the file is empty"),
            ("   \n", "the file is empty"),
            ("timestamp,pressure\n", "a header but no readings"),
            (
                "time,p\n1,1000\n",
                "row 1: the header has no timestamp column (it names: time, p)",
            ),
            (
                "timestamp,temperature\n1,20\n",
                "row 1: the header has no pressure column",
            ),
            (
                "timestamp,pressure\n1,1000\n2,abc\n",
                "row 3, column pressure: \"abc\" is not a number",
            ),
            (
                "timestamp,pressure\n1,1e3\n",
                "row 2, column pressure: \"1e3\" is not a number",
            ),
            (
                "timestamp,pressure\n1,101325\n",
                "row 2, column pressure: 101325 is outside the part's 300 to 1200 hPa (is the unit hPa?)",
            ),
            (
                "timestamp,pressure,temperature\n1,1000,90\n",
                "row 2, column temperature: 90 is outside the part's -40 to 85 C",
            ),
            (
                "timestamp,pressure,temperature\n1,1000\n",
                "row 2, column temperature: missing (the row has 2 cells, the header 3)",
            ),
            (
                "timestamp,pressure\n,1000\n",
                "row 2, column timestamp: is empty",
            ),
            (
                "{\"timestamp\":1,\"pressure\":1000}\n{\"timestamp\":2}\n",
                "row 2: no \"pressure\"",
            ),
            (
                "{\"timestamp\":1,\"pressure\":\"x\"}\n",
                "row 1, column pressure: \"x\" is not a number",
            ),
            (
                "{\"timestamp\":1,\"pressure\":1000\n",
                "row 1: is not a JSON object",
            ),
        ] {
            let error = Recording::parse(text.as_bytes()).unwrap_err();
            assert!(error.contains(problem), "{text:?}: {error}");
        }
        assert!(
            Recording::parse(&[0xff, 0xfe])
                .unwrap_err()
                .contains("not UTF-8")
        );
    }

    #[test]
    fn leading_blank_lines_a_bom_and_long_cells_are_handled() {
        let r = Recording::parse("\u{feff}\n\ntimestamp,pressure\n1,1000\n".as_bytes()).unwrap();
        assert_eq!(r.len(), 1);
        let error = Recording::parse(b"\n\ntime,p\n").unwrap_err();
        assert!(
            error.starts_with("row 3: the header has no timestamp column"),
            "{error}"
        );
        let long = format!("timestamp,pressure\n1,{}\n", "9".repeat(5000));
        let error = Recording::parse(long.as_bytes()).unwrap_err();
        assert!(
            error.len() < 200 && error.contains("…\" is not a number"),
            "{error}"
        );
        // What the page gets from a file that is not UTF-8: refused as the runner refuses it.
        let error = Recording::parse("timestamp,pressure\n\u{fffd},1000\n".as_bytes()).unwrap_err();
        assert!(error.contains("not UTF-8"), "{error}");
    }

    #[test]
    fn the_limits_are_the_stated_ones() {
        let big = vec![b' '; MAX_BYTES + 1];
        assert!(
            Recording::parse(&big)
                .unwrap_err()
                .contains("over the 67108864 bytes (64 MiB)")
        );
        let mut rows = String::from("timestamp,pressure\n");
        for k in 0..=MAX_ROWS {
            rows.push_str(&format!("{k},1000\n"));
        }
        let error = Recording::parse(rows.as_bytes()).unwrap_err();
        assert!(
            error.contains("row 1000002: recordings of up to 1000000 readings"),
            "{error}"
        );
    }
}
