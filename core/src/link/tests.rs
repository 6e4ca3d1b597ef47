//! One link against a scripted socket on a fake clock.

use super::*;
use crate::mqtt::{ConnectReturnCode, Decoder, Packet};
use crate::session::{CloseReason, Event};
use crate::testing::{at, connack};

/// A signed URL: its query must never reach a message.
const URL: &str = "ws://broker.example:9001/mqtt?token=s3cret";

fn link() -> Link {
    Link::new(URL.into(), SessionConfig::new("link-test"), 7)
}

/// What the link asks of the transport, sends decoded to packets.
#[derive(Debug, PartialEq)]
enum Did {
    Open,
    Sent(Packet),
    Close,
}

fn actions(link: &mut Link) -> Vec<Did> {
    let mut decoder = Decoder::new(1 << 20);
    let mut did = vec![];
    while let Some(action) = link.poll_action() {
        match action {
            Action::Open { url } => {
                assert_eq!(url, URL, "the socket is opened to the URL as given");
                did.push(Did::Open);
            }
            Action::Send(bytes) => {
                decoder.push(&bytes);
                while let Some(packet) = decoder.next_packet().unwrap() {
                    did.push(Did::Sent(packet));
                }
            }
            Action::Close => did.push(Did::Close),
        }
    }
    did
}

fn logs(link: &mut Link) -> Vec<String> {
    std::iter::from_fn(|| link.poll_log())
        .map(|e| e.text)
        .collect()
}

fn connected(now: u64) -> Link {
    let mut link = link();
    link.start(at(now));
    assert_eq!(actions(&mut link), [Did::Open]);
    link.on_open(at(now + 1));
    assert!(matches!(
        actions(&mut link)[..],
        [Did::Sent(Packet::Connect(_))]
    ));
    link.on_bytes(&connack_accepted(), at(now + 2));
    assert!(matches!(
        link.poll_event(at(now + 2)),
        Some(Event::Connected { .. })
    ));
    assert!(link.is_connected());
    link
}

#[test]
fn closing_a_connected_link_says_disconnect_before_closing_the_socket() {
    let mut link = connected(0);
    logs(&mut link);
    link.close(at(100));
    assert_eq!(
        actions(&mut link),
        [Did::Sent(Packet::Disconnect), Did::Close]
    );
    assert_eq!(logs(&mut link), ["sent DISCONNECT"]);
    assert!(!link.is_active());
    assert_eq!(link.status(at(100)), Status::Stopped(None));
    // Started again, it opens a new socket as attempt 1.
    link.start(at(200));
    assert_eq!(actions(&mut link), [Did::Open]);
    assert_eq!(link.status(at(200)), Status::Connecting);
}

#[test]
fn a_socket_that_never_opens_is_retried_after_a_backoff_without_the_urls_query() {
    let mut link = link();
    link.start(at(0));
    assert_eq!(actions(&mut link), [Did::Open]);
    // Refused before it opened.
    link.on_closed(at(5));
    assert_eq!(actions(&mut link), [Did::Close]);
    let Status::Retrying {
        attempt: 2,
        in_s,
        reason,
        refused: false,
    } = link.status(at(5))
    else {
        panic!("{:?}", link.status(at(5)));
    };
    assert_eq!(
        reason,
        "cannot connect to ws://broker.example:9001/mqtt?(query hidden)"
    );
    assert!((1..=2).contains(&in_s), "{in_s}");
    let retry_at = link.poll_timeout().unwrap();
    link.on_timer(at(retry_at - 1));
    assert!(actions(&mut link).is_empty(), "not before its time");
    link.on_timer(at(retry_at));
    assert_eq!(actions(&mut link), [Did::Open]);
    assert_eq!(
        link.status(at(retry_at)),
        Status::Reconnecting { attempt: 2 }
    );
    // A socket that neither opens nor fails is given up on after OPEN_TIMEOUT_MS.
    link.on_timer(at(retry_at + OPEN_TIMEOUT_MS - 1));
    assert!(actions(&mut link).is_empty());
    link.on_timer(at(retry_at + OPEN_TIMEOUT_MS));
    assert_eq!(actions(&mut link), [Did::Close]);
    assert!(link.is_waiting());
    let said = logs(&mut link).join("\n");
    assert!(said.contains("no answer in 10 s"), "{said}");
    assert!(!said.contains("s3cret"), "{said}");
}

/// Lets the pending retry happen and the broker accept it; returns the time it was accepted.
fn reconnect(link: &mut Link) -> u64 {
    let now = link.poll_timeout().unwrap();
    link.on_timer(at(now));
    assert_eq!(actions(link), [Did::Open]);
    link.on_open(at(now));
    actions(link);
    link.on_bytes(&connack_accepted(), at(now));
    assert!(matches!(
        link.poll_event(at(now)),
        Some(Event::Connected { .. })
    ));
    now
}

fn connack_accepted() -> Vec<u8> {
    connack(ConnectReturnCode::Accepted)
}

/// The connection is lost at `now`; the attempt the link will make next.
fn drop_at(link: &mut Link, now: u64) -> u32 {
    link.on_closed(at(now));
    assert!(matches!(
        link.poll_event(at(now)),
        Some(Event::Closed(CloseReason::ConnectionLost))
    ));
    actions(link);
    match link.status(at(now)) {
        Status::Retrying { attempt, .. } => attempt,
        status => panic!("{status:?}"),
    }
}

#[test]
fn a_connection_dropped_right_after_connack_backs_off_and_a_stable_one_starts_over() {
    // Dropped 1 s after each CONNACK: the attempts keep counting, so the delays grow.
    let mut link = connected(0);
    assert_eq!(drop_at(&mut link, 1_000), 2);
    let said = logs(&mut link).join("\n");
    assert!(said.contains("right after connecting"), "{said}");
    let up = reconnect(&mut link);
    assert_eq!(drop_at(&mut link, up + 1_000), 3);
    let up = reconnect(&mut link);
    assert_eq!(drop_at(&mut link, up + 1_000), 4);
    // One that stayed up STABLE_CONNECTION_MS counts from attempt 1 again.
    let up = reconnect(&mut link);
    assert_eq!(drop_at(&mut link, up + STABLE_CONNECTION_MS), 2);
}

#[test]
fn reconnect_now_makes_the_waiting_attempt_at_once_and_nothing_otherwise() {
    let mut link = link();
    link.retry_now(at(0));
    assert!(actions(&mut link).is_empty(), "idle: nothing to retry");
    link.start(at(0));
    assert_eq!(actions(&mut link), [Did::Open]);
    link.on_closed(at(5));
    assert_eq!(actions(&mut link), [Did::Close]);
    assert!(link.poll_timeout().unwrap() > 100, "a backoff");
    link.retry_now(at(10));
    assert_eq!(actions(&mut link), [Did::Open], "at once");
    assert_eq!(link.status(at(10)), Status::Reconnecting { attempt: 2 });
    assert!(
        logs(&mut link)
            .iter()
            .any(|l| l.contains("reconnecting now (attempt 2)"))
    );
    link.retry_now(at(11));
    assert!(actions(&mut link).is_empty(), "already connecting");
}
