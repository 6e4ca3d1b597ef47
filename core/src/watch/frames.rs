//! The frame inspector as HTML: the packet list (newest first) and one packet taken apart,
//! each field beside its bytes in a hex dump. Everything from outside is escaped, and a
//! CONNECT's password shows neither its value nor its bytes.

use std::fmt::Write;

use super::{Direction, Frame};
use crate::html::Html;
use crate::mqtt::{DecodeError, Packet, dissect};
use crate::sensor::format_rfc3339_millis;

/// What the list shows of a packet the codec read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: &'static str,
    pub packet_id: Option<u16>,
    /// `DUP`, `QoS 1`, `RETAIN`, as they are set (a PUBLISH's only).
    pub flags: String,
    /// A PUBLISH's topic, or a SUBSCRIBE's first filter.
    pub topic: Option<String>,
}

impl Summary {
    pub fn of(bytes: &[u8]) -> Result<Self, DecodeError> {
        let packet = dissect(bytes)?.packet;
        let topic = match &packet {
            Packet::Publish(publish) => Some(publish.topic.clone()),
            Packet::Subscribe(subscribe) => subscribe.filters.first().map(|(f, _)| f.clone()),
            _ => None,
        };
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
            topic,
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

/// Whether a PUBLISH to `topic` is device `device`'s: the id is one whole level of it.
fn topic_of_device(topic: &str, device: &str) -> bool {
    topic.split('/').any(|level| level == device)
}

/// The rows of the packet list, newest first; each row's button selects its packet (and is
/// named for a screen reader by its type, number and packet id). With `only`, a shared
/// connection's list keeps device `only`'s PUBLISHes and the PUBACKs of their packet ids, and
/// every packet of the connection itself (CONNECT, PINGREQ, …).
pub fn list_html<'a>(
    frames: impl DoubleEndedIterator<Item = &'a Frame>,
    selected: u64,
    only: Option<&str>,
) -> String {
    let mut kept = vec![];
    // Packet ids of the device's PUBLISHes sent and not yet answered, oldest first.
    let mut ids: Vec<u16> = vec![];
    for frame in frames {
        let keep = match (&frame.summary, only) {
            (_, None) | (Err(_), _) => true,
            (Ok(summary), Some(device)) => match (summary.name, frame.direction) {
                ("PUBLISH", Direction::Sent) => {
                    let mine = summary
                        .topic
                        .as_deref()
                        .is_some_and(|t| topic_of_device(t, device));
                    // A redelivery (DUP) of an id still waiting is the same message.
                    if let (true, Some(id)) = (mine, summary.packet_id)
                        && !ids.contains(&id)
                    {
                        ids.push(id);
                    }
                    mine
                }
                ("PUBLISH", Direction::Received) => false,
                ("PUBACK", _) => match ids.iter().position(|&id| Some(id) == summary.packet_id) {
                    Some(at) => {
                        ids.remove(at);
                        true
                    }
                    None => false,
                },
                _ => true,
            },
        };
        if keep {
            kept.push(frame);
        }
    }
    let mut html = Html::new();
    for frame in kept.into_iter().rev() {
        html.raw("<tr");
        if frame.number == selected {
            html.raw(" aria-current=\"true\"");
        }
        let name = frame
            .summary
            .as_ref()
            .map_or("malformed packet", |s| s.name);
        html.raw("><td><button class=\"small\"")
            .attr("data-frame", &frame.number)
            .attr(
                "aria-label",
                &format_args!(
                    "{name} #{}{}",
                    frame.number,
                    match frame.summary.as_ref().ok().and_then(|s| s.packet_id) {
                        Some(id) => format!(", packet id {id}"),
                        None => String::new(),
                    }
                ),
            )
            .wrap(">", &time_of_day(frame.wall_ms), "</button></td>")
            .wrap("<td>", &direction_words(frame.direction), "</td>");
        match &frame.summary {
            Ok(summary) => {
                html.wrap("<td>", &summary.name, "</td><td>");
                if let Some(id) = summary.packet_id {
                    html.show(&id);
                }
                html.wrap("</td><td>", &frame.bytes.len(), "</td>")
                    .wrap("<td>", &summary.flags, "</td><td>")
                    .text(summary.topic.as_deref().unwrap_or(""))
                    .raw("</td></tr>");
            }
            Err(error) => {
                html.wrap("<td>malformed: ", error, "</td><td></td>").wrap(
                    "<td>",
                    &frame.bytes.len(),
                    "</td><td></td><td></td></tr>",
                );
            }
        }
    }
    html.into_string()
}

/// One packet taken apart: its fields (name, bytes, value) and a hex dump with each field's
/// bytes marked by the same number. The password's bytes show as `••`.
pub fn detail_html(frame: &Frame) -> String {
    let mut html = Html::new();
    let _ = write!(
        html.raw("<p>"),
        "#{} {} at {}, {} bytes",
        frame.number,
        direction_words(frame.direction),
        time_of_day(frame.wall_ms),
        frame.bytes.len()
    );
    html.raw("</p>");
    let parts = match dissect(&frame.bytes) {
        Ok(dissection) => dissection.parts,
        Err(error) => {
            html.wrap("<p>The codec refused it: ", &error, "</p>");
            // Without its fields, a CONNECT's password cannot be told from the rest.
            if frame.bytes.first().is_some_and(|b| b >> 4 == 1) {
                html.raw("<p>Its bytes are not shown: a CONNECT may hold a password.</p>");
                return html.into_string();
            }
            vec![]
        }
    };
    html.raw("<ol class=\"parts\">");
    for (n, part) in parts.iter().enumerate() {
        html.raw("<li")
            .attr("class", &format_args!("f{}", n % 6))
            .wrap("><b>", &part.name, "</b> ");
        let _ = write!(
            html.raw("<span>"),
            "bytes {}–{}",
            part.start,
            part.end.saturating_sub(1).max(part.start)
        );
        html.raw("</span> ").text(&part.value).raw("</li>");
    }
    html.raw("</ol><pre class=\"hex\">");
    for (row, chunk) in frame.bytes.chunks(16).enumerate() {
        let offset = row * 16;
        let _ = write!(html, "{offset:04x} ");
        for (i, byte) in chunk.iter().enumerate() {
            let at = offset + i;
            match parts.iter().position(|p| (p.start..p.end).contains(&at)) {
                Some(n) => {
                    let part = &parts[n];
                    html.raw(" <span")
                        .attr("class", &format_args!("f{}", n % 6))
                        .attr("title", &part.name)
                        .raw(">");
                    if part.secret {
                        html.raw("••");
                    } else {
                        let _ = write!(html, "{byte:02x}");
                    }
                    html.raw("</span>");
                }
                None => {
                    let _ = write!(html, " {byte:02x}");
                }
            }
        }
        html.raw("\n");
    }
    html.raw("</pre>");
    html.into_string()
}
