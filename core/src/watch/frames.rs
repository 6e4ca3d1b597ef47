//! The frame inspector as HTML: the packet list (newest first) and one packet taken apart,
//! each field beside its bytes in a hex dump. Everything from outside is escaped, and a
//! CONNECT's password shows neither its value nor its bytes.

use std::fmt::Write;

use super::{Direction, Frame};
use crate::fleet::table::escape;
use crate::mqtt::{DecodeError, Packet, dissect};
use crate::sensor::format_rfc3339_millis;

/// What the list shows of a packet the codec read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: &'static str,
    pub packet_id: Option<u16>,
    /// `DUP`, `QoS 1`, `RETAIN`, as they are set (a PUBLISH's only).
    pub flags: String,
}

impl Summary {
    pub fn of(bytes: &[u8]) -> Result<Self, DecodeError> {
        let packet = dissect(bytes)?.packet;
        let (packet_id, flags) = match &packet {
            Packet::Publish(publish) => {
                let mut flags = vec![];
                if publish.dup {
                    flags.push("DUP".to_owned());
                }
                flags.push(format!("QoS {}", publish.qos_pid.qos() as u8));
                if publish.retain {
                    flags.push("RETAIN".to_owned());
                }
                (
                    publish.qos_pid.packet_id().map(|id| id.get()),
                    flags.join(" "),
                )
            }
            Packet::PubAck(id) | Packet::UnsubAck(id) => (Some(id.get()), String::new()),
            Packet::Subscribe(subscribe) => (Some(subscribe.pid.get()), String::new()),
            Packet::SubAck(suback) => (Some(suback.pid.get()), String::new()),
            Packet::Unsubscribe(unsubscribe) => (Some(unsubscribe.pid.get()), String::new()),
            _ => (None, String::new()),
        };
        Ok(Self {
            name: packet.name(),
            packet_id,
            flags,
        })
    }
}

/// The time of day of `wall_ms`, to the millisecond (UTC).
fn time_of_day(wall_ms: i64) -> String {
    let stamp = format_rfc3339_millis(wall_ms);
    stamp.get(11..23).unwrap_or(&stamp).to_owned()
}

fn direction_words(direction: Direction) -> &'static str {
    match direction {
        Direction::Sent => "→ sent",
        Direction::Received => "← received",
    }
}

/// The rows of the packet list, newest first; each row's button selects its packet.
pub fn list_html<'a>(frames: impl DoubleEndedIterator<Item = &'a Frame>, selected: u64) -> String {
    let mut html = String::new();
    for frame in frames.rev() {
        let current = if frame.number == selected {
            " aria-current=\"true\""
        } else {
            ""
        };
        let _ = write!(
            html,
            "<tr{current}><td><button class=\"small\" data-frame=\"{}\">{}</button></td><td>{}</td>",
            frame.number,
            time_of_day(frame.wall_ms),
            direction_words(frame.direction)
        );
        match &frame.summary {
            Ok(summary) => {
                let id = summary
                    .packet_id
                    .map(|id| id.to_string())
                    .unwrap_or_default();
                let _ = write!(
                    html,
                    "<td>{}</td><td>{id}</td><td>{}</td><td>{}</td></tr>",
                    summary.name,
                    frame.bytes.len(),
                    summary.flags
                );
            }
            Err(error) => {
                html.push_str("<td>malformed: ");
                escape(&mut html, &error.to_string());
                let _ = write!(
                    html,
                    "</td><td></td><td>{}</td><td></td></tr>",
                    frame.bytes.len()
                );
            }
        }
    }
    html
}

/// One packet taken apart: its fields (name, bytes, value) and a hex dump with each field's
/// bytes marked by the same number. The password's bytes show as `••`.
pub fn detail_html(frame: &Frame) -> String {
    let mut html = format!(
        "<p>#{} {} at {}, {} bytes</p>",
        frame.number,
        direction_words(frame.direction),
        time_of_day(frame.wall_ms),
        frame.bytes.len()
    );
    let parts = match dissect(&frame.bytes) {
        Ok(dissection) => dissection.parts,
        Err(error) => {
            html.push_str("<p>The codec refused it: ");
            escape(&mut html, &error.to_string());
            html.push_str("</p>");
            // Without its fields, a CONNECT's password cannot be told from the rest.
            if frame.bytes.first().is_some_and(|b| b >> 4 == 1) {
                html.push_str("<p>Its bytes are not shown: a CONNECT may hold a password.</p>");
                return html;
            }
            vec![]
        }
    };
    html.push_str("<ol class=\"parts\">");
    for (n, part) in parts.iter().enumerate() {
        let _ = write!(
            html,
            "<li class=\"f{}\"><b>{}</b> <span>bytes {}–{}</span> ",
            n % 6,
            part.name,
            part.start,
            part.end.saturating_sub(1).max(part.start)
        );
        escape(&mut html, &part.value);
        html.push_str("</li>");
    }
    html.push_str("</ol><pre class=\"hex\">");
    for (row, chunk) in frame.bytes.chunks(16).enumerate() {
        let offset = row * 16;
        let _ = write!(html, "{offset:04x} ");
        for (i, byte) in chunk.iter().enumerate() {
            let at = offset + i;
            match parts.iter().position(|p| (p.start..p.end).contains(&at)) {
                Some(n) => {
                    let part = &parts[n];
                    let _ = write!(html, " <span class=\"f{}\" title=\"{}\">", n % 6, part.name);
                    if part.secret {
                        html.push_str("••");
                    } else {
                        let _ = write!(html, "{byte:02x}");
                    }
                    html.push_str("</span>");
                }
                None => {
                    let _ = write!(html, " {byte:02x}");
                }
            }
        }
        html.push('\n');
    }
    html.push_str("</pre>");
    html
}
