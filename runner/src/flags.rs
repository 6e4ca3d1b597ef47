//! What every command line of the runner shares: a table of flags (name, the value it takes,
//! whether that value is a secret, what it does) that reading, the unknown-flag check and
//! `--help` all use; the broker's address checked without touching the disk; and the side
//! effects (creating output files, reading PEM files) done only once the whole command line is
//! good, so a bad flag leaves the disk as it was.

use std::path::{Path, PathBuf};

use dps368_core::settings::BrokerUrl;

use crate::net::Target;

/// One flag of a command.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// Without its dashes; `-` and `_` are alike when reading.
    pub name: &'static str,
    /// The value's name in `--help` (`"FILE"`), `Some("")` for a value without one to say;
    /// `None` for a switch.
    pub value: Option<&'static str>,
    /// A secret is never repeated, and takes whatever follows it as its value, even a `--word`.
    pub secret: bool,
    pub help: &'static str,
}

impl Flag {
    pub const fn switch(name: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            value: None,
            secret: false,
            help,
        }
    }

    pub const fn valued(name: &'static str, value: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            value: Some(value),
            secret: false,
            help,
        }
    }

    /// `--name` as the user types it.
    pub fn shown(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }

    /// Whether `name` (as typed, without dashes) is this flag.
    pub fn is(&self, name: &str) -> bool {
        let same = |a: u8, b: u8| a == b || (matches!(a, b'-' | b'_') && matches!(b, b'-' | b'_'));
        name.len() == self.name.len()
            && name.bytes().zip(self.name.bytes()).all(|(a, b)| same(a, b))
    }

    /// Its line in `--help`.
    pub fn help_line(&self) -> String {
        let left = match self.value {
            Some("") | None => self.shown(),
            Some(value) => format!("{} {value}", self.shown()),
        };
        format!("  {left:<26} {}\n", self.help)
    }
}

/// One argument, read.
#[derive(Debug)]
pub enum Given<'t> {
    /// A flag of the table with its value (`""` for a switch).
    Flag(&'t Flag, String),
    /// An argument that is not a `--flag`.
    Positional(String),
}

/// Reads `args` against a table (`find` looks a name up in it). Every problem goes to
/// `errors` naming its flag; a value is never repeated, since it may be a secret given to the
/// wrong flag. A value may start with one dash (`--altitude -100`), not with two: that is the
/// next flag, and this one has no value; a secret's value may be anything.
pub fn read<'t>(
    args: impl IntoIterator<Item = String>,
    find: impl Fn(&str) -> Option<&'t Flag>,
    errors: &mut Vec<String>,
) -> Vec<Given<'t>> {
    let mut given = vec![];
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let Some(text) = arg.strip_prefix("--") else {
            given.push(Given::Positional(arg));
            continue;
        };
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (text, None),
        };
        let Some(flag) = find(name) else {
            errors.push(format!("unknown flag --{}", name.replace('_', "-")));
            // Its value, if it has one, is not an argument of its own; nor is a following
            // `--word` that is no flag of ours (`--pasword --s3cret`): it may be a secret, and
            // is not named.
            let ours = |a: &str| {
                let name = a.trim_start_matches("--");
                find(name.split_once('=').map_or(name, |(n, _)| n)).is_some()
            };
            if inline.is_none()
                && args
                    .peek()
                    .is_some_and(|a| !a.starts_with("--") || !ours(a))
            {
                args.next();
            }
            continue;
        };
        match flag.value {
            None if inline.is_some() => errors.push(format!("{} takes no value", flag.shown())),
            None => given.push(Given::Flag(flag, String::new())),
            Some(kind) => {
                let next = || args.next_if(|a| flag.secret || !a.starts_with("--"));
                match inline.or_else(next) {
                    Some(value) => given.push(Given::Flag(flag, value)),
                    None if kind.is_empty() => {
                        errors.push(format!("{} needs a value", flag.shown()));
                    }
                    None => errors.push(format!("{} needs a value, {kind}", flag.shown())),
                }
            }
        }
    }
    given
}

/// Where the connections go, from a checked broker URL, without reading a file: TLS is added by
/// [`with_tls`] once the whole command line is good. `tls_files` says whether --cafile, --cert
/// or --key was given.
pub fn target(url: &BrokerUrl, tls_files: bool) -> Result<Target, Vec<String>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    if tls_files && !url.scheme.is_secure() {
        return Err(vec![format!(
            "--cafile, --cert and --key are for TLS: the broker URL must be mqtts:// or wss:// (got {})",
            url.scheme.prefix()
        )]);
    }
    // The settings checked its form; the address itself is checked here, natively.
    if url.host.contains(':') && url.host.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(vec![format!(
            "Broker URL: [{}] is not an IPv6 address (got {:?})",
            url.host,
            url.shown()
        )]);
    }
    let address = url.address();
    if !url.scheme.is_websocket() {
        return Ok(Target::Tcp { address, tls: None });
    }
    // What the WebSocket library will read, read now: a bad URL is a bad flag.
    url.as_str()
        .into_client_request()
        .map_err(|error| vec![format!("Broker URL: {error} (got {:?})", url.shown())])?;
    Ok(Target::WebSocket {
        url: url.as_str().to_owned(),
        address,
        tls: None,
    })
}

/// The target with its TLS configuration, for `mqtts://` and `wss://`: reads the PEM files.
pub fn with_tls(
    mut target: Target,
    url: &BrokerUrl,
    files: &crate::tls::Files,
) -> Result<Target, Vec<String>> {
    if url.scheme.is_secure() {
        let config = crate::tls::config(&url.host, files)?;
        match &mut target {
            Target::Tcp { tls, .. } | Target::WebSocket { tls, .. } => *tls = Some(config),
        }
    }
    Ok(target)
}

/// `--duration SECONDS`: a whole number of seconds, 1 to [`crate::args::MAX_DURATION_S`].
pub fn duration(value: &str) -> Result<std::time::Duration, String> {
    let max = crate::args::MAX_DURATION_S;
    match value.trim().parse::<u64>() {
        Ok(seconds) if (1..=max).contains(&seconds) => Ok(std::time::Duration::from_secs(seconds)),
        _ => Err(format!(
            "--duration: must be a whole number of seconds from 1 to {max} (a year) (got {:?})",
            value.trim()
        )),
    }
}

/// An output file's path, checked for its extension only (nothing is created yet).
pub fn output_path(flag: &Flag, value: &str, extensions: &[&str]) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if extensions.contains(&extension) {
        return Ok(path);
    }
    let expected = extensions
        .iter()
        .map(|e| format!(".{e}"))
        .collect::<Vec<_>>()
        .join(" or ");
    // The value is not repeated: given to the wrong flag, it may be a secret.
    Err(format!("{}: the file must end in {expected}", flag.shown()))
}

/// Opens an output file (made if missing, not emptied: it is written at the end), so a path
/// that cannot be written fails before the run rather than after it.
pub fn create_output(flag: &str, path: &Path) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map(drop)
        .map_err(|error| format!("--{flag}: cannot write {}: {error}", path.display()))
}
