//! A small JSON reader for scenario files: objects keep their keys in order, numbers stay the
//! text they were written as (the settings' own parsers read them, so a scenario's `1.5` and a
//! link's `1.5` are one value, and the page carries no float parser), and an error says where
//! (line and column). serde_json would do the same and cost the page tens of kilobytes.

/// A JSON value, numbers as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// What kind of value it is, for messages ("a string", "an object").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "true or false",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        }
    }

    /// The value as the text a URL parameter would carry: a string's contents, a number as
    /// written, `true`/`false`; none for null, lists and objects.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::String(text) | Value::Number(text) => Some(text),
            Value::Bool(true) => Some("true"),
            Value::Bool(false) => Some("false"),
            _ => None,
        }
    }
}

/// How deep lists and objects may nest: a scenario needs three levels; a hostile file of a
/// million `[` must not overflow the stack.
const MAX_DEPTH: usize = 32;

/// Reads one JSON document (and nothing after it but white space).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut reader = Reader {
        text: text.as_bytes(),
        at: 0,
    };
    let value = reader.value(0)?;
    reader.space();
    if reader.at < reader.text.len() {
        return Err(reader.error("more after the end of the JSON"));
    }
    Ok(value)
}

struct Reader<'a> {
    text: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error(&self, problem: &str) -> String {
        let before = &self.text[..self.at.min(self.text.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        // Characters, not bytes: a UTF-8 byte that continues a character is not counted.
        let column = before
            .iter()
            .rev()
            .take_while(|&&b| b != b'\n')
            .filter(|&&b| b & 0xc0 != 0x80)
            .count()
            + 1;
        format!("not valid JSON at line {line}, column {column}: {problem}")
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.space();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deep"));
        }
        self.space();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("it ends where a value should be")),
        }
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, String> {
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        self.at += 1;
        let mut members: Vec<(String, Value)> = vec![];
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.space();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key in double quotes"));
            }
            let key_at = self.at;
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                self.at = key_at;
                return Err(self.error(&format!("\"{key}\" is given twice")));
            }
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        self.at += 1;
        let mut items = vec![];
        self.space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = |reader: &mut Self| {
            let from = reader.at;
            while let Some(b'0'..=b'9') = reader.peek() {
                reader.at += 1;
            }
            reader.at > from
        };
        let whole = self.at;
        if !digits(self) {
            return Err(self.error("expected a digit"));
        }
        if self.text[whole] == b'0' && self.at - whole > 1 {
            self.at = whole;
            return Err(self.error("a number with a leading zero"));
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !digits(self) {
                return Err(self.error("expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            return Err(self.error("write numbers without an exponent (e.g. 0.001, not 1e-3)"));
        }
        let text = std::str::from_utf8(&self.text[start..self.at]).unwrap_or_default();
        Ok(Value::Number(text.to_owned()))
    }

    fn string(&mut self) -> Result<String, String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error("a string is not closed"));
            };
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = self
                        .peek()
                        .ok_or_else(|| self.error("a string is not closed"))?;
                    self.at += 1;
                    let plain = match escaped {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let c = self.unicode()?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                            continue;
                        }
                        _ => return Err(self.error("an unknown escape")),
                    };
                    out.push(plain);
                }
                0..0x20 => {
                    self.at -= 1;
                    return Err(self.error("a control character in a string (write \\n)"));
                }
                _ => out.push(byte),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("not UTF-8"))
    }

    /// The four hex digits after `\u` (and a low surrogate's after a high one).
    fn unicode(&mut self) -> Result<char, String> {
        let hex = |reader: &mut Self| {
            let digits = reader.text.get(reader.at..reader.at + 4);
            let value = digits
                .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u32::from_str_radix(d, 16).ok())
                .ok_or_else(|| reader.error("\\u needs four hex digits"))?;
            reader.at += 4;
            Ok::<u32, String>(value)
        };
        let high = hex(self)?;
        let code = if (0xd800..0xdc00).contains(&high) {
            if !self.text[self.at..].starts_with(b"\\u") {
                return Err(self.error("a lone surrogate"));
            }
            self.at += 2;
            let low = hex(self)?;
            if !(0xdc00..0xe000).contains(&low) {
                return Err(self.error("a lone surrogate"));
            }
            0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| self.error("a lone surrogate"))
    }
}
