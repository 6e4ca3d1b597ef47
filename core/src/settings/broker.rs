//! A broker's address, parsed once: the page's settings, the monitor's and the native runner
//! all hold a [`BrokerUrl`], so what the form accepted is what the runner connects to.

use std::fmt;

use super::{Runner, bad};

/// How the connection is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// MQTT over TCP.
    Mqtt,
    /// MQTT over TLS.
    Mqtts,
    /// A WebSocket, subprotocol `mqtt`.
    Ws,
    /// A WebSocket over TLS.
    Wss,
}

impl Scheme {
    const ALL: [Scheme; 4] = [Scheme::Mqtt, Scheme::Mqtts, Scheme::Ws, Scheme::Wss];

    pub fn prefix(self) -> &'static str {
        match self {
            Scheme::Mqtt => "mqtt://",
            Scheme::Mqtts => "mqtts://",
            Scheme::Ws => "ws://",
            Scheme::Wss => "wss://",
        }
    }

    pub fn is_secure(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss)
    }

    pub fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }

    /// The port a URL without one goes to.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    fn allowed(self, runner: Runner) -> bool {
        runner == Runner::Native || self.is_websocket()
    }
}

/// A checked broker URL: `scheme://host[:port][path]`, with no user name or password in it.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// As given (trimmed): what a WebSocket opens.
    text: String,
    pub scheme: Scheme,
    /// Without the brackets of an IPv6 address.
    pub host: String,
    /// As given; [`BrokerUrl::port`] fills in the scheme's default.
    pub explicit_port: Option<u16>,
    /// Everything after the authority (path, query, fragment), `""` when nothing follows.
    pub path: String,
}

impl BrokerUrl {
    /// Checks `text` (already trimmed) as `runner` takes it: the page speaks ws:// and wss://
    /// only. The message says what is wrong and never repeats a query string or user info.
    pub fn parse(text: &str, runner: Runner) -> Result<BrokerUrl, String> {
        if text.is_empty() {
            return Err(match runner {
                Runner::Page => "is required, e.g. ws://localhost:9001".into(),
                Runner::Native => "is required, e.g. mqtt://localhost:1883".into(),
            });
        }
        // Messages repeat the URL without its query string: a signed URL carries credentials
        // there.
        let shown = shown_url(text);
        if text.contains('@') {
            // Checked before anything that repeats the URL: the part before @ may be a password.
            return Err(
                "must not contain a user name or password (user:pass@host); use the Username and Password fields".into(),
            );
        }
        let Some((scheme, rest)) = Scheme::ALL
            .into_iter()
            .filter(|s| s.allowed(runner))
            .find_map(|s| Some((s, text.strip_prefix(s.prefix())?)))
        else {
            return Err(bad(
                &shown,
                match runner {
                    Runner::Page => "must start with ws:// or wss://",
                    Runner::Native => "must start with mqtt://, mqtts://, ws:// or wss://",
                },
            ));
        };
        if text.chars().any(char::is_whitespace) {
            return Err("must not contain spaces".into());
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let path = &rest[authority.len()..];
        let (host, port) = split_host_port(authority);
        if host.is_empty() {
            return Err(bad(&shown, "has no host"));
        }
        let v6_rule = "an IPv6 address goes in [ ], followed by nothing or :port";
        if !authority.starts_with('[') && host.contains(':') {
            return Err(bad(&shown, v6_rule));
        }
        if let Some(bracketed) = authority.strip_prefix('[') {
            // `[::1]` or `[::1]:8883`, nothing else: not `[::1]8883`, not `[name]`.
            let after = bracketed.split_once(']').map_or("", |(_, after)| after);
            // Hex digits, colons and dots (an IPv4 tail): the form of an IPv6 address, checked
            // without std's address parser, which would add 1.5 KB to the page.
            let v6_like = host.contains(':')
                && host
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
            if !v6_like || !(after.is_empty() || after.starts_with(':')) {
                return Err(bad(&shown, v6_rule));
            }
        }
        let explicit_port = match port {
            None => None,
            Some(port) => match port.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => return Err(bad(port, "port must be a number from 1 to 65535")),
            },
        };
        Ok(BrokerUrl {
            text: text.to_owned(),
            scheme,
            host: host.to_owned(),
            explicit_port,
            path: path.to_owned(),
        })
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The URL fit to print or to keep in a report (its query hidden).
    pub fn shown(&self) -> String {
        shown_url(&self.text)
    }

    /// The port, or the scheme's default.
    pub fn port(&self) -> u16 {
        self.explicit_port
            .unwrap_or_else(|| self.scheme.default_port())
    }

    /// `host:port`, the host of an IPv6 address in brackets: what a socket connects to.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port())
        } else {
            format!("{}:{}", self.host, self.port())
        }
    }

    /// Whether the host is this machine by name or address (a browser lets an https:// page
    /// open a plain ws:// socket to it).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }
}

/// Printed, the URL hides its query, where a signed URL carries a credential: log lines and
/// reports say `{url}` safely. A socket opens [`BrokerUrl::as_str`].
impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown())
    }
}

/// A broker URL fit to print or to keep in a report: its query string, where a signed URL
/// carries its credentials, is hidden (a URL with `user:password@` is refused by the checks).
pub fn shown_url(url: &str) -> String {
    match url.split_once('?') {
        Some((before, _)) => format!("{before}?(query hidden)"),
        None => url.to_owned(),
    }
}

/// Whether `url` carries a user name or password (`scheme://user:pass@host/…`): a link that
/// carries the URL would carry them too.
pub fn carries_user_info(url: &str) -> bool {
    url.split_once("//").is_some_and(|(_, rest)| {
        rest.split(['/', '?', '#', '\\'])
            .next()
            .unwrap_or_default()
            .contains('@')
    })
}

/// Whether `host` (without brackets) names this machine: `localhost` (and its subdomains),
/// 127.0.0.0/8 or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.eq_ignore_ascii_case("localhost")
        || host.ends_with(".localhost")
        || host == "::1"
        // 127.0.0.0/8, written as dotted digits.
        || (host.starts_with("127.") && host.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(v6) = authority.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => ("", None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}
