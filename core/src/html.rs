//! Markup built as one string (the page sets it as an `innerHTML`; the runner writes JUnit XML
//! with it), with text escaped by default. Markup goes in only as a `&'static str` this code
//! wrote ([`Html::raw`]); everything else (a device id, a broker's reason, a number) goes in
//! through [`Html::text`], [`Html::show`], [`Html::attr`] or `write!`, which escape it. No
//! builder calls an escape function by hand, so none can forget to.

use std::fmt::{self, Write};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(bytes: usize) -> Self {
        Self(String::with_capacity(bytes))
    }

    /// Markup written in this code: a `&'static str`, so no text from outside reaches the
    /// markup unescaped.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Markup another builder made: an [`Html`] (so built by these same rules).
    pub fn markup(&mut self, built: Html) -> &mut Self {
        self.0.push_str(&built.0);
        self
    }

    /// Text, with the five characters that mean something in HTML and XML escaped, and the
    /// control characters XML 1.0 has no place for (all but tab and line ends) left out.
    pub fn text(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            match c {
                '\t' | '\n' | '\r' => self.0.push(c),
                c if c < ' ' => {}
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '&' => self.0.push_str("&amp;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        self
    }

    /// A value as text (a number, a status), escaped.
    pub fn show(&mut self, value: &dyn fmt::Display) -> &mut Self {
        let _ = write!(self, "{value}");
        self
    }

    /// ` name="value"`, the value escaped.
    pub fn attr(&mut self, name: &'static str, value: &dyn fmt::Display) -> &mut Self {
        self.0.push(' ');
        self.0.push_str(name);
        self.0.push_str("=\"");
        self.show(value);
        self.0.push('"');
        self
    }

    /// `open`, the value as text, `close`: a cell, an option, a title.
    pub fn wrap(
        &mut self,
        open: &'static str,
        value: &dyn fmt::Display,
        close: &'static str,
    ) -> &mut Self {
        self.raw(open).show(value).raw(close)
    }

    /// `<td>value</td>` for each value.
    pub fn cells(&mut self, values: &[&dyn fmt::Display]) -> &mut Self {
        for value in values {
            self.wrap("<td>", value, "</td>");
        }
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// `write!(html, "{n} bytes")` writes text: what it formats is escaped.
impl Write for Html {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.text(text);
        Ok(())
    }
}

impl From<Html> for String {
    fn from(html: Html) -> String {
        html.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_attributes_and_formatted_values_are_escaped_and_only_static_markup_is_not() {
        let hostile = "<img src=x onerror=\"alert('1')\">&\u{1}";
        let mut html = Html::new();
        html.raw("<td")
            .attr("title", &hostile)
            .raw(">")
            .text(hostile)
            .wrap("<b>", &hostile, "</b>");
        let _ = write!(html, "{hostile} {}", 7);
        html.raw("</td>");
        let escaped = "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;";
        assert_eq!(
            html.into_string(),
            format!("<td title=\"{escaped}\">{escaped}<b>{escaped}</b>{escaped} 7</td>")
        );
    }
}
