//! The chart and the inspector from hand-made observations: what is drawn per sample and per
//! event, how frames become packets, and what the teaching view shows of each byte.

use super::*;
use crate::device::Status;
use crate::mqtt::{ConnAck, Connect, ConnectReturnCode, Packet, PacketId, Publish, QosPid};
use crate::sensor::{AnomalyKind, Label};

fn sample(sequence: u64, label: Option<(AnomalyKind, u64)>) -> Sample {
    Sample {
        sequence,
        timestamp_ms: 1_767_225_600_000 + sequence as i64 * 1000,
        pressure_hpa: 1013.0 + (sequence % 7) as f64 * 0.1,
        temperature_c: 24.0 + (sequence % 5) as f64 * 0.05,
        label: label.map(|(kind, id)| Label { kind, id }),
    }
}

fn made(watch: &mut Watch, sequence: u64, label: Option<(AnomalyKind, u64)>) {
    let fate = match label {
        Some((AnomalyKind::Dropout, _)) => Fate::Dropout,
        _ => Fate::Queued,
    };
    watch.feed(
        Observed::Made {
            source: 0,
            sample: sample(sequence, label),
            fate,
        },
        0,
    );
}

/// The `x,y` pairs of every polyline of `class` in the SVG.
fn line_points(svg: &str, class: &str) -> usize {
    let open = format!("<polyline class=\"{class}\" points=\"");
    svg.match_indices(&open)
        .map(|(at, _)| {
            let rest = &svg[at + open.len()..];
            rest[..rest.find('"').unwrap()].split(' ').count()
        })
        .sum()
}

#[test]
fn the_chart_has_a_point_per_sample_shown_a_band_per_event_and_gaps_for_dropouts() {
    let mut watch = Watch::new(0, 50);
    for sequence in 1..=80 {
        let label = match sequence {
            10..=12 => Some((AnomalyKind::Spike, 1)), // scrolled off: the window is 31..=80
            40..=42 => Some((AnomalyKind::Step, 2)),
            43..=44 => Some((AnomalyKind::Drift, 3)), // right after another event
            60..=63 => Some((AnomalyKind::Dropout, 4)),
            _ => None,
        };
        made(&mut watch, sequence, label);
    }
    let svg = chart::svg(watch.points(), watch.chart_len(), "lab-01", chart::WIDE);
    // 50 samples on screen, 4 of them swallowed by the dropout.
    assert_eq!(line_points(&svg, "p"), 46);
    assert_eq!(line_points(&svg, "t"), 46);
    // The dropout splits each line in two.
    assert_eq!(svg.matches("<polyline class=\"p\"").count(), 2);
    let kinds: Vec<&str> = svg
        .match_indices("<g class=\"event\" data-kind=\"")
        .map(|(at, m)| {
            let rest = &svg[at + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(kinds, ["step", "drift", "dropout"]);
    assert!(svg.contains("<title>step #2 (sequence 40 to 42)</title>"));
    assert!(svg.contains("<g class=\"newest\">"));
    assert!(svg.contains("newest: sequence 80,"));
    assert!(svg.contains("sequence 31</text>"));
    assert!(svg.contains("pressure (hPa, left)") && svg.contains("temperature (°C, right)"));
}

#[test]
fn an_empty_chart_says_so_and_titles_are_escaped() {
    let watch = Watch::new(0, CHART_SAMPLES);
    let svg = chart::svg(watch.points(), watch.chart_len(), "<b>&", chart::WIDE);
    assert!(svg.contains("no samples yet"));
    assert!(svg.contains("&lt;b&gt;&amp;"));
    assert!(!svg.contains("<b>"));
}

#[test]
fn the_chart_keeps_the_last_n_samples_of_its_own_sensor_only() {
    let mut watch = Watch::new(1, 300);
    for sequence in 1..=500 {
        for source in 0..3 {
            watch.feed(
                Observed::Made {
                    source,
                    sample: sample(sequence, None),
                    fate: Fate::Queued,
                },
                0,
            );
        }
    }
    assert_eq!(watch.points().len(), 300);
    assert_eq!(watch.points().front().unwrap().sample.sequence, 201);
    assert_eq!(watch.points().back().unwrap().sample.sequence, 500);
}

fn bytes(packet: &Packet) -> Vec<u8> {
    packet.to_bytes().unwrap()
}

fn publish(id: u16) -> Packet {
    Packet::Publish(Publish {
        dup: id == 2,
        qos_pid: QosPid::AtLeastOnce(id.try_into().unwrap()),
        retain: false,
        topic: "device/lab-01/telemetry".into(),
        payload: br#"{"sequence":1}"#.to_vec(),
    })
}

#[test]
fn frames_from_the_broker_become_packets_however_they_are_split() {
    let connack = bytes(&Packet::ConnAck(ConnAck {
        session_present: false,
        code: ConnectReturnCode::Accepted,
    }));
    let puback = bytes(&Packet::PubAck(7.try_into().unwrap()));
    let stream: Vec<u8> = [connack.clone(), puback.clone(), puback.clone()].concat();
    for split in 0..=stream.len() {
        let mut watch = Watch::new(0, 10);
        watch.feed(Observed::Received(stream[..split].to_vec()), 1);
        watch.feed(Observed::Received(stream[split..].to_vec()), 2);
        let seen: Vec<(&Vec<u8>, Direction)> = watch
            .frames()
            .iter()
            .map(|f| (&f.bytes, f.direction))
            .collect();
        assert_eq!(
            seen,
            [
                (&connack, Direction::Received),
                (&puback, Direction::Received),
                (&puback, Direction::Received)
            ],
            "split at {split}"
        );
        assert_eq!(
            watch.frames()[1].summary.as_ref().unwrap().packet_id,
            Some(7)
        );
    }
}

#[test]
fn a_new_connection_drops_a_partial_packet_and_garbage_is_shown_as_refused() {
    let mut watch = Watch::new(0, 10);
    watch.feed(Observed::Received(vec![0x40, 0x02, 0x00]), 0);
    watch.feed(Observed::Status(Status::Connecting), 0);
    watch.feed(Observed::Received(vec![0x40, 0x02, 0x00, 0x05]), 0);
    assert_eq!(watch.frames().len(), 1);
    assert_eq!(watch.frames()[0].bytes, [0x40, 0x02, 0x00, 0x05]);
    watch.feed(Observed::Received(vec![0xf0, 0x00]), 0);
    let refused = &watch.frames()[1];
    assert!(refused.summary.is_err());
    let html = frames::list_html(watch.frames().iter(), 0, None);
    assert!(html.contains("malformed: "), "{html}");
}

#[test]
fn the_inspector_keeps_200_packets_newest_first_and_pauses_and_clears() {
    let mut watch = Watch::new(0, 10);
    for id in 1..=250u16 {
        watch.feed(Observed::Sent(bytes(&publish(id))), i64::from(id));
    }
    assert_eq!(watch.frames().len(), FRAMES_KEPT);
    assert_eq!(watch.frames().front().unwrap().number, 51);
    let html = frames::list_html(watch.frames().iter(), 250, None);
    let first_row = &html[..html.find("</tr>").unwrap()];
    assert!(first_row.contains("data-frame=\"250\""), "{first_row}");
    assert!(
        first_row.contains("aria-current"),
        "the selected row is marked"
    );
    assert!(
        first_row.contains("<td>PUBLISH</td><td>250</td>"),
        "{first_row}"
    );
    assert!(first_row.contains("QoS 1"), "{first_row}");
    watch.set_paused(true);
    watch.feed(Observed::Sent(bytes(&publish(251))), 0);
    assert_eq!(watch.frames().back().unwrap().number, 250, "paused");
    watch.set_paused(false);
    watch.clear_frames();
    assert!(watch.frames().is_empty());
}

/// The hex dump's bytes, in order, as the page shows them.
fn hex_bytes(html: &str) -> Vec<String> {
    let dump = &html[html.find("<pre class=\"hex\">").unwrap()..];
    let mut out = vec![];
    for line in dump.lines() {
        let text = strip_tags(line);
        out.extend(text.split_whitespace().skip(1).map(str::to_owned));
    }
    out
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn a_publish_taken_apart_shows_the_bytes_the_codec_encodes_field_by_field() {
    let packet = publish(2);
    let encoded = bytes(&packet);
    let mut watch = Watch::new(0, 10);
    watch.feed(Observed::Sent(encoded.clone()), 0);
    let html = frames::detail_html(&watch.frames()[0]);
    let hex: Vec<String> = encoded.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex_bytes(&html), hex);
    for field in [
        "packet type and flags",
        "remaining length",
        "topic",
        "packet id",
        "payload",
    ] {
        assert!(html.contains(&format!("<b>{field}</b>")), "{field}");
    }
    assert!(html.contains("PUBLISH (DUP 1, QoS 1, RETAIN 0)"), "{html}");
    assert!(
        html.contains("&quot;sequence&quot;"),
        "payload escaped: {html}"
    );
}

#[test]
fn a_connect_never_shows_its_password() {
    let connect = Packet::Connect(Connect {
        client_id: "lab-01-abcd".into(),
        clean_session: false,
        keep_alive: 60,
        username: Some("teacher".into()),
        password: Some(b"s3cret-pass".to_vec()),
        will: None,
    });
    let encoded = bytes(&connect);
    let mut watch = Watch::new(0, 10);
    watch.feed(Observed::Sent(encoded), 0);
    let html = frames::detail_html(&watch.frames()[0]);
    assert!(!html.contains("s3cret"), "{html}");
    let secret_hex: String = b"s3cret"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!strip_tags(&html).contains(&secret_hex));
    assert_eq!(
        hex_bytes(&html).iter().filter(|b| *b == "••").count(),
        2 + 11
    );
    assert!(html.contains("user name, password"), "{html}");
    assert!(html.contains("&quot;teacher&quot;"));
}

#[test]
fn a_frame_of_half_a_million_packets_keeps_the_last_200_in_linear_time() {
    let pingresp = [0xd0, 0x00];
    let frame: Vec<u8> = pingresp.repeat(524_288);
    let mut watch = Watch::new(0, 10);
    watch.feed(Observed::Received(frame), 0);
    watch.feed(Observed::Received(vec![0xd0]), 0);
    watch.feed(Observed::Received(vec![0x00]), 0);
    assert_eq!(watch.frames().len(), FRAMES_KEPT);
    assert_eq!(watch.frames().back().unwrap().number, 524_289);
    assert!(watch.frames().iter().all(|f| f.bytes == pingresp));
}

#[test]
fn a_connect_the_codec_refuses_is_not_dumped() {
    // A CONNECT with a password whose user name holds NUL: the codec refuses the string.
    let mut bytes = bytes(&Packet::Connect(Connect {
        client_id: "c".into(),
        clean_session: true,
        keep_alive: 60,
        username: Some("a\0b".into()),
        password: Some(b"s3cret".to_vec()),
        will: None,
    }));
    assert!(crate::mqtt::dissect(&bytes).is_err());
    let mut watch = Watch::new(0, 10);
    watch.feed(Observed::Sent(bytes.clone()), 0);
    let html = frames::detail_html(&watch.frames()[0]);
    assert!(html.contains("a CONNECT may hold a password"), "{html}");
    assert!(!html.contains("<pre"), "{html}");
    assert!(
        !html.contains("73 33 63"),
        "no byte of the password: {html}"
    );
    // Any other refused packet is dumped as it came.
    bytes[0] = 0xf0;
    let mut other = Watch::new(0, 10);
    other.feed(Observed::Sent(bytes), 0);
    assert!(frames::detail_html(&other.frames()[0]).contains("<pre class=\"hex\">"));
}

#[test]
fn after_lost_events_the_inspector_picks_the_stream_up_at_the_next_packet() {
    let puback = bytes(&Packet::PubAck(7.try_into().unwrap()));
    let mut watch = Watch::new(0, 10);
    // Half a PUBACK, then events were lost, then the tail of some packet and a whole PUBACK.
    watch.feed(Observed::Received(puback[..2].to_vec()), 0);
    watch.feed(Observed::Skipped, 0);
    watch.feed(Observed::Received([&[0xff, 0xff][..], &puback].concat()), 0);
    let listed: Vec<&[u8]> = watch.frames().iter().map(|f| &f.bytes[..]).collect();
    assert_eq!(listed, [&puback[..]], "no false malformed row");
    // In step again, garbage is listed as refused.
    watch.feed(Observed::Received(vec![0xf0, 0x00]), 0);
    assert!(watch.frames()[1].summary.is_err());
}

#[test]
fn a_chart_of_few_samples_or_a_short_window_is_drawn() {
    for len in [2, 5, 10, 11, 300] {
        let mut watch = Watch::new(0, len);
        for sequence in 1..=3 {
            made(&mut watch, sequence, None);
        }
        let svg = chart::svg(watch.points(), watch.chart_len(), "short", chart::WIDE);
        assert_eq!(line_points(&svg, "p"), watch.points().len(), "{len}");
    }
}

#[test]
fn one_out_of_range_reading_does_not_flatten_the_axis_and_flags_are_marked() {
    let mut points = std::collections::VecDeque::new();
    for sequence in 1..=40 {
        let mut s = sample(sequence, None);
        if sequence == 20 {
            (s.pressure_hpa, s.temperature_c) = (1200.0, 85.0);
        }
        points.push_back(Point {
            sample: s,
            reported: true,
        });
    }
    let flagged: std::collections::BTreeSet<u64> = [3, 20, 21, 99].into_iter().collect();
    let svg = chart::svg_with_flags(&points, 300, "t", &flagged);
    // The axis spans the readings around 1013 hPa and 24 °C, not up to 1200 and 85.
    assert!(!svg.contains(">1200") && !svg.contains(">85"), "{svg}");
    assert!(svg.contains(">1013.") && svg.contains(">24."), "{svg}");
    // The saturated reading is drawn at the frame's top edge (y 34.0), inside the chart.
    assert!(svg.contains(",34.0"), "{svg}");
    // Three flags on screen (99 is not), one tick each.
    let marks = &svg[svg.find("<path class=\"flag\" d=\"").unwrap()..];
    assert_eq!(marks[..marks.find("\">").unwrap()].matches('M').count(), 3);
    assert!(!chart::svg(&points, 300, "t", chart::WIDE).contains("class=\"flag\""));
}

#[test]
fn the_inspector_names_each_row_shows_topics_and_filters_to_one_device() {
    let mut watch = Watch::new(0, 10);
    let to = |topic: &str, id: u16| {
        bytes(&Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::AtLeastOnce(PacketId::new(id).unwrap()),
            retain: false,
            topic: topic.into(),
            payload: b"{}".to_vec(),
        }))
    };
    let puback = |id: u16| bytes(&Packet::PubAck(PacketId::new(id).unwrap()));
    watch.feed(Observed::Sent(to("device/lab-1/telemetry", 1)), 0);
    watch.feed(Observed::Sent(to("device/lab-2/telemetry", 2)), 0);
    watch.feed(Observed::Received(puback(2)), 0);
    watch.feed(Observed::Received(puback(1)), 0);
    watch.feed(Observed::Sent(bytes(&Packet::PingReq)), 0);
    let all = frames::list_html(watch.frames().iter(), 0, None);
    assert_eq!(all.matches("<tr").count(), 5);
    assert!(
        all.contains("aria-label=\"PUBLISH #1, packet id 1\""),
        "{all}"
    );
    assert!(all.contains("<td>device/lab-2/telemetry</td>"), "{all}");
    let mine = frames::list_html(watch.frames().iter(), 0, Some("lab-1"));
    let names: Vec<&str> = mine
        .match_indices("aria-label=\"")
        .map(|(at, _)| {
            let rest = &mine[at + 12..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        names,
        [
            "PINGREQ #5",
            "PUBACK #4, packet id 1",
            "PUBLISH #1, packet id 1"
        ],
        "lab-1's PUBLISH and its PUBACK, and the connection's own packets"
    );
    // A level equal to the id, not a prefix of another one.
    let none = frames::list_html(watch.frames().iter(), 0, Some("lab"));
    assert!(!none.contains("PUBLISH"), "{none}");
}

#[test]
fn a_phones_chart_is_drawn_narrower_and_lower_with_everything_inside() {
    let mut watch = Watch::new(0, 300);
    for sequence in 1..=50 {
        let label = (20..=22)
            .contains(&sequence)
            .then_some((AnomalyKind::Spike, 1));
        made(&mut watch, sequence, label);
    }
    let svg = chart::svg(watch.points(), watch.chart_len(), "phone", chart::NARROW);
    assert!(
        svg.starts_with("<svg viewBox=\"0 0 400.0 200.0\""),
        "{}",
        &svg[..60]
    );
    for attr in [" x=\"", " cx=\""] {
        for (at, _) in svg.match_indices(attr) {
            let rest = &svg[at + attr.len()..];
            let x: f64 = rest[..rest.find('"').unwrap()].parse().unwrap();
            assert!((0.0..=400.0).contains(&x), "{attr}{x}");
        }
    }
    for (at, _) in svg.match_indices(" y=\"") {
        let rest = &svg[at + 4..];
        let y: f64 = rest[..rest.find('"').unwrap()].parse().unwrap();
        assert!((0.0..=200.0).contains(&y), "y={y}");
    }
}
