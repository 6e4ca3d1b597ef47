//! The command line: every page setting as a flag named like its URL parameter (`--device_id`
//! or `--device-id`, `--flag value` or `--flag=value`), the seed program's environment
//! variables under them, and the runner's own flags. Checked by the same settings code as the
//! page, for a native runner: nothing runs on a bad value.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use dps368_core::fleet::Shard;
use dps368_core::settings::{Field, Runner, Settings, SettingsForm, shown_url, split_host_port};

#[derive(Debug)]
pub struct Options {
    pub settings: Settings,
    /// Where each connection goes.
    pub target: crate::net::Target,
    /// `--stats-json`: one JSON line of totals per second on stdout.
    pub stats_json: bool,
    /// `--verbose`: every log line, for fleets too.
    pub verbose: bool,
    /// `--shard K/N`: run the K-th of N equal slices of the fleet.
    pub shard: Shard,
    /// `--duration SECONDS`: stop by itself after this long, as Ctrl-C would.
    pub duration: Option<std::time::Duration>,
    /// `--allow-drops`: exit 0 even when samples were dropped (a load test, a pod).
    pub allow_drops: bool,
    /// `--export FILE.csv|FILE.jsonl`: the run's samples with their labels and fates, written
    /// at the end, as the page's Download CSV / JSONL; `true` for CSV.
    pub export: Option<(std::path::PathBuf, bool)>,
}

pub enum Parsed {
    Help,
    Run(Box<Options>),
}

/// The longest run `--duration` takes: a year, far from the clock's overflow.
pub const MAX_DURATION_S: u64 = 365 * 24 * 3600;

/// Random bits from the standard library's per-process hash keys.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}

/// The seed program's environment variables, as the page reads its parameters (the broker as
/// `mqtt://host:port`, 1883 by default).
const SEED_VARIABLES: [(&str, Field); 4] = [
    ("DEVICE_ID", Field::DeviceId),
    ("MQTT_TOPIC", Field::Topic),
    ("PUBLISH_INTERVAL", Field::Interval),
    ("ANOMALY_INTERVAL", Field::AnomalyEvery),
];

pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, Vec<String>> {
    let suffix = format!("{:04x}", random_u64() as u16);
    let mut form = SettingsForm::defaults(&suffix);
    form.set(Field::BrokerUrl, "mqtt://localhost:1883");
    // The seed program's variables first; flags win over them.
    let (host, port) = (env("MQTT_BROKER_HOST"), env("MQTT_BROKER_PORT"));
    if host.is_some() || port.is_some() {
        let host = host.unwrap_or_else(|| "localhost".into());
        let port = port.unwrap_or_else(|| "1883".into());
        form.set(Field::BrokerUrl, format!("mqtt://{host}:{port}"));
    }
    // A password from the environment keeps it out of the process list and the shell history;
    // the user name comes with it (a Kubernetes Secret gives both).
    if let Some(username) = env("MQTT_USERNAME") {
        form.set(Field::Username, username);
    }
    if let Some(password) = env("MQTT_PASSWORD") {
        form.set(Field::Password, password);
    }
    for (name, field) in SEED_VARIABLES {
        if let Some(value) = env(name) {
            form.set(field, value);
        }
    }
    let mut client_id_set = false;
    let mut seed_set = false;
    let (mut stats_json, mut verbose, mut allow_drops) = (false, false, false);
    let mut shard_text = None;
    let mut duration = None;
    let mut export = None;
    let mut tls_files = crate::tls::Files::default();
    let mut errors = vec![];
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            // Not repeated: it may be a secret given to the wrong flag.
            errors.push(
                "an argument that is not a --flag: settings are flags, e.g. --devices 10".into(),
            );
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (flag.to_owned(), None),
        };
        let name = name.replace('-', "_");
        match name.as_str() {
            "help" | "h" => return Ok(Parsed::Help),
            "stats_json" | "verbose" | "allow_drops" if inline.is_some() => {
                errors.push(format!("--{} takes no value", name.replace('_', "-")));
            }
            "export" => match inline.or_else(|| args.next_if(|next| !next.starts_with("--"))) {
                Some(path) => {
                    let path = std::path::PathBuf::from(path);
                    let csv = match path.extension().and_then(|e| e.to_str()) {
                        Some("csv") => Some(true),
                        Some("jsonl") => Some(false),
                        _ => None,
                    };
                    match csv {
                        // Opened now (not emptied: another flag may be bad), so a path that
                        // cannot be written fails before the run.
                        Some(csv) => match std::fs::OpenOptions::new()
                            .append(true)
                            .create(true)
                            .open(&path)
                        {
                            Ok(_) => export = Some((path, csv)),
                            Err(error) => errors.push(format!(
                                "--export: cannot write {}: {error}",
                                path.display()
                            )),
                        },
                        None => errors.push("--export: the file must end in .csv or .jsonl".into()),
                    }
                }
                None => errors.push("--export needs a file, .csv or .jsonl".into()),
            },
            "duration" => match inline.or_else(|| args.next_if(|next| !next.starts_with("--"))) {
                Some(value) => match value.trim().parse::<u64>() {
                    Ok(seconds) if (1..=MAX_DURATION_S).contains(&seconds) => {
                        duration = Some(std::time::Duration::from_secs(seconds));
                    }
                    _ => errors.push(format!(
                        "--duration: must be a whole number of seconds from 1 to {MAX_DURATION_S} (a year) (got {:?})",
                        value.trim()
                    )),
                },
                None => errors.push("--duration needs a value, in seconds".into()),
            },
            "shard" => match inline.or_else(|| args.next_if(|next| !next.starts_with("--"))) {
                Some(value) => shard_text = Some(value),
                None => errors.push("--shard needs a value, K/N".into()),
            },
            "cafile" | "cert" | "key" => {
                match inline.or_else(|| args.next_if(|next| !next.starts_with("--"))) {
                    Some(path) => {
                        if let Err(problem) = tls_files.set(&name, path) {
                            errors.push(problem);
                        }
                    }
                    None => errors.push(format!("--{name} needs a file (PEM)")),
                }
            }
            "stats_json" => stats_json = true,
            "verbose" => verbose = true,
            "allow_drops" => allow_drops = true,
            _ => {
                let field = if name == "password" {
                    Some(Field::Password)
                } else {
                    Field::from_param(&name)
                };
                let Some(field) = field else {
                    errors.push(format!("unknown flag --{}", name.replace('_', "-")));
                    // Its value, if it has one, is not an argument of its own; nor is a
                    // following `--word` that is no flag of ours (`--pasword --s3cret`): it may
                    // be a secret, and is not named.
                    if inline.is_none()
                        && args
                            .peek()
                            .is_some_and(|a| !a.starts_with("--") || !is_flag(a))
                    {
                        args.next();
                    }
                    continue;
                };
                // A value may start with one dash (`--altitude -100`), not with two: that is
                // the next flag, and this one has no value. A password may be anything: what
                // follows --password is its value, never reported as a flag of its own.
                let is_password = field == Field::Password;
                let next = || args.next_if(|next| is_password || !next.starts_with("--"));
                let value = match inline.or_else(next) {
                    Some(value) => value,
                    None => {
                        errors.push(format!("--{} needs a value", name.replace('_', "-")));
                        continue;
                    }
                };
                client_id_set |= field == Field::ClientId;
                seed_set |= field == Field::Seed;
                form.set(field, value);
            }
        }
    }
    // Slices drawing seeds of their own would not be one fleet.
    if shard_text.is_some() && !seed_set {
        errors.push(
            "--shard needs --seed: every slice must draw from the same seed to be one fleet".into(),
        );
    }
    // As on the page: a random seed unless one is given (it is printed, to replay the run).
    if !seed_set {
        form.set(Field::Seed, (random_u64() % 1_000_000).to_string());
    }
    // A client id from the device id's first 8 bytes and a random suffix: short enough for
    // the 23 bytes every broker accepts even with a fleet's 6-digit numbers.
    if !client_id_set {
        let device_id = form.get(Field::DeviceId).trim();
        let mut cut = device_id.len().min(8);
        while !device_id.is_char_boundary(cut) {
            cut -= 1;
        }
        let id = format!("{}-{suffix}", &device_id[..cut]);
        form.set(Field::ClientId, id);
    }
    let settings = match form.validate_for(Runner::Native) {
        Ok(settings) => Some(settings),
        Err(problems) => {
            errors.extend(problems.iter().map(ToString::to_string));
            None
        }
    };
    let address = settings.as_ref().and_then(|s| {
        target(&s.broker_url, &tls_files)
            .map_err(|e| errors.extend(e))
            .ok()
    });
    let shard = match (&settings, shard_text) {
        (Some(settings), Some(text)) => match Shard::parse(&text, settings.devices) {
            // One shared connection per slice: its client id gets `-sK`, within 23 bytes.
            Ok(shard)
                if shard.count > 1
                    && settings.connection == dps368_core::settings::Connection::Shared
                    && settings.client_id.len() + 2 + (shard.count - 1).to_string().len() > 23 =>
            {
                errors.push(format!(
                    "--shard: each slice's shared connection is {}-sK, over the 23 bytes every broker accepts: give a shorter --client-id",
                    settings.client_id
                ));
                Shard::WHOLE
            }
            Ok(shard) => shard,
            Err(problem) => {
                errors.push(format!("--shard: {problem}"));
                Shard::WHOLE
            }
        },
        _ => Shard::WHOLE,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    match (settings, address) {
        (Some(settings), Some(target)) => Ok(Parsed::Run(Box::new(Options {
            settings,
            target,
            stats_json,
            verbose,
            shard,
            duration,
            allow_drops,
            export,
        }))),
        _ => Err(vec!["the settings could not be read".into()]),
    }
}

/// Whether `arg` (`--name` or `--name=value`) is one of the runner's flags.
fn is_flag(arg: &str) -> bool {
    let name = arg.trim_start_matches("--");
    let name = name
        .split_once('=')
        .map_or(name, |(name, _)| name)
        .replace('-', "_");
    matches!(
        name.as_str(),
        "help"
            | "h"
            | "stats_json"
            | "verbose"
            | "allow_drops"
            | "export"
            | "duration"
            | "shard"
            | "cafile"
            | "cert"
            | "key"
            | "password"
    ) || Field::from_param(&name).is_some()
}

/// Where the connections go, from the broker URL (already checked by the settings) and the TLS
/// files; the problems name their flags.
pub(crate) fn target(
    url: &str,
    files: &crate::tls::Files,
) -> Result<crate::net::Target, Vec<String>> {
    use crate::net::Target;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    // Messages repeat the URL without its query string: a signed URL carries credentials there.
    let shown = shown_url(url);
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let secure = matches!(scheme, "mqtts" | "wss");
    if files.any() && !secure {
        return Err(vec![format!(
            "--cafile, --cert and --key are for TLS: the broker URL must be mqtts:// or wss:// (got {scheme}://)"
        )]);
    }
    let (host, port, url) = match scheme {
        "mqtt" | "mqtts" => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let (host, port) = split_host_port(authority);
            let port = port.unwrap_or(if secure { "8883" } else { "1883" });
            (host.to_owned(), port.to_owned(), None)
        }
        "ws" | "wss" => {
            // What the WebSocket library will read, read now: a bad URL is a bad flag.
            let request = url
                .into_client_request()
                .map_err(|error| vec![format!("Broker URL: {error} (got {shown:?})")])?;
            let uri = request.uri();
            let host = uri.host().unwrap_or_default().to_owned();
            let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
            (host, port.to_string(), Some(url.to_owned()))
        }
        _ => {
            return Err(vec![format!(
                "Broker URL: this runner speaks mqtt://, mqtts://, ws:// and wss:// (got {scheme}://)"
            )]);
        }
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    // The settings checked its form; the address itself is checked here, natively.
    if bare.contains(':') && bare.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(vec![format!(
            "Broker URL: [{bare}] is not an IPv6 address (got {shown:?})"
        )]);
    }
    let address = if bare.contains(':') {
        format!("[{bare}]:{port}")
    } else {
        format!("{bare}:{port}")
    };
    let tls = secure
        .then(|| crate::tls::config(&host, files))
        .transpose()?;
    Ok(match url {
        None => Target::Tcp { address, tls },
        Some(url) => Target::WebSocket { url, address, tls },
    })
}

pub fn help() -> String {
    let mut text = String::from(
        "dps368-sim: simulated Infineon DPS368 sensors publishing MQTT telemetry, as the page does.\n\n\
         Usage: dps368-sim [--setting value]... [--stats-json] [--verbose]\n\n\
         Every page setting is a flag named like its URL parameter (- or _ alike):\n",
    );
    for field in Field::ALL {
        let name = match field.param() {
            Some(param) => param.replace('_', "-"),
            None => "password".to_owned(),
        };
        text.push_str(&format!("  --{name:<22} {}\n", field.label()));
    }
    text.push_str(
        "\nThe broker is mqtt://host:port (TCP; default mqtt://localhost:1883), ws://host:port/path\n\
         (a WebSocket, subprotocol mqtt), or either in TLS: mqtts:// (port 8883 by default) and\n\
         wss://, checked against the system's root certificates. The seed program's\n\
         MQTT_BROKER_HOST, MQTT_BROKER_PORT, DEVICE_ID, MQTT_TOPIC, PUBLISH_INTERVAL and\n\
         ANOMALY_INTERVAL are read too, and MQTT_USERNAME and MQTT_PASSWORD (better than\n\
         --password, which the process list shows); flags win.\n\
         \n  --cafile FILE            trust the CA certificates in this PEM file instead of the system's\n\
         \x20 --cert FILE --key FILE   a client certificate and its key (PEM), for brokers that ask\n\
         \x20 --shard K/N              run slice K (from 0) of N equal slices of the fleet; the slices\n\
         \x20                          keep the whole fleet's device numbers, ids and seeds (needs --seed)\n\
         \x20 --duration SECONDS       stop by itself after this long (as Ctrl-C does), at most a year\n\
         \x20 --allow-drops            exit 0 even when samples were dropped\n\
         \x20 --export FILE            the run's samples with labels and fates, .csv or .jsonl\n\
         \x20 --stats-json             one JSON line of totals per second on stdout\n\
         \x20 --verbose                every log line, for fleets too\n\
         \nCtrl-C (or SIGTERM) stops: it waits up to 2 s for acknowledgements, sends DISCONNECT\n\
         and prints the totals, acked + dropped = samples; a second Ctrl-C ends it at once.\n\
         Exit status: 0 when every sample was acknowledged, 1 when some were dropped (unless\n\
         --allow-drops) or none got through, 2 for bad settings.\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Target;

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<Options, Vec<String>> {
        let args = args.iter().map(|a| (*a).to_owned());
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        match parse(args, |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })? {
            Parsed::Run(options) => Ok(*options),
            Parsed::Help => Err(vec!["help".into()]),
        }
    }

    #[test]
    fn every_page_setting_is_a_flag_named_like_its_url_parameter() {
        let options = parse_with(
            &[
                "--broker=mqtt://broker.local:1884",
                "--device-id",
                "lab",
                "--devices",
                "20",
                "--connection",
                "shared",
                "--labels",
                "topic",
                "--seed",
                "42",
                "--anomaly_every=7",
                "--stats-json",
            ],
            &[],
        )
        .unwrap();
        let s = &options.settings;
        assert_eq!(
            (
                s.device_id.as_str(),
                s.devices,
                s.sensor.seed,
                s.anomaly_every
            ),
            ("lab", 20, 42, 7)
        );
        assert_eq!(s.labels, dps368_core::settings::Labels::Topic);
        assert_eq!(options.target, tcp("broker.local:1884"));
        assert!(options.stats_json);
        assert!(s.client_id.starts_with("lab-"), "{}", s.client_id);
        assert_eq!(s.client_id.len(), "lab-".len() + 4);
    }

    #[test]
    fn the_seed_programs_variables_are_read_and_flags_win() {
        let env = [
            ("MQTT_BROKER_HOST", "10.0.0.5"),
            ("DEVICE_ID", "s2"),
            ("PUBLISH_INTERVAL", "0.5"),
        ];
        let options = parse_with(&["--interval", "2"], &env).unwrap();
        assert_eq!(options.target, tcp("10.0.0.5:1883"));
        assert_eq!(
            (
                options.settings.device_id.as_str(),
                options.settings.interval_ms
            ),
            ("s2", 2000)
        );
        let random = parse_with(&[], &[]).unwrap();
        assert_eq!(random.target, tcp("localhost:1883"));
        let ws = parse_with(&["--broker", "ws://localhost:9001/mqtt"], &[]).unwrap();
        assert_eq!(
            ws.target,
            Target::WebSocket {
                url: "ws://localhost:9001/mqtt".into(),
                address: "localhost:9001".into(),
                tls: None
            }
        );
    }

    fn tcp(address: &str) -> Target {
        Target::Tcp {
            address: address.into(),
            tls: None,
        }
    }

    const TEST_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/testdata/ca.pem");

    /// The address and the name TLS checks, of a target.
    fn tls_of(target: &Target) -> (String, Option<String>) {
        let (address, tls) = match target {
            Target::Tcp { address, tls } | Target::WebSocket { address, tls, .. } => (address, tls),
        };
        let name = tls
            .as_ref()
            .map(|tls| tls.server_name.to_str().into_owned());
        (address.clone(), name)
    }

    #[test]
    fn tls_urls_take_their_default_ports_and_check_the_urls_host() {
        for (url, address, name) in [
            ("mqtts://broker.local", "broker.local:8883", "broker.local"),
            ("wss://10.0.0.7/mqtt", "10.0.0.7:443", "10.0.0.7"),
            ("mqtts://[::1]:9883", "[::1]:9883", "::1"),
        ] {
            let options = parse_with(&["--broker", url, "--cafile", TEST_CA], &[]).unwrap();
            let expected = (address.to_owned(), Some(name.to_owned()));
            assert_eq!(tls_of(&options.target), expected, "{url}");
            if url.starts_with("wss") {
                assert!(
                    matches!(&options.target, Target::WebSocket { url: u, .. } if u == url),
                    "{url}"
                );
            }
        }
        let plain = parse_with(&["--broker", "ws://h/mqtt"], &[]).unwrap();
        assert_eq!(tls_of(&plain.target), ("h:80".into(), None));
    }

    #[test]
    fn tls_files_are_read_before_the_run_and_each_problem_names_its_flag() {
        let errors = parse_with(&["--broker", "mqtt://h", "--cafile", TEST_CA], &[]).unwrap_err();
        assert_eq!(
            errors,
            [
                "--cafile, --cert and --key are for TLS: the broker URL must be mqtts:// or wss:// (got mqtt://)"
            ]
        );
        let errors = parse_with(
            &["--broker", "mqtts://h", "--cafile", "/nonexistent/ca.pem"],
            &[],
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("--cafile: cannot read /nonexistent/ca.pem: "),
            "{errors:?}"
        );
        let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let errors = parse_with(&["--broker", "mqtts://h", "--cafile", not_pem], &[]).unwrap_err();
        assert_eq!(
            errors,
            [format!("--cafile: {not_pem} holds no usable certificate")]
        );
        let errors = parse_with(
            &[
                "--broker",
                "mqtts://h",
                "--cafile",
                TEST_CA,
                "--cert",
                TEST_CA,
            ],
            &[],
        )
        .unwrap_err();
        assert_eq!(
            errors,
            ["--cert needs --key (the client certificate's private key)"]
        );
        // The CA file has no private key in it.
        let errors = parse_with(
            &[
                "--broker",
                "mqtts://h",
                "--cafile",
                TEST_CA,
                "--cert",
                TEST_CA,
                "--key",
                TEST_CA,
            ],
            &[],
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(&format!(
                "--key: cannot read a private key from {TEST_CA}: "
            )),
            "{errors:?}"
        );
        let errors = parse_with(&["--broker", "mqtts://h", "--key"], &[]).unwrap_err();
        assert_eq!(errors, ["--key needs a file (PEM)"]);
    }

    #[test]
    fn bad_flags_name_their_field_and_nothing_runs() {
        let errors = parse_with(&["--devices", "0", "--colour", "red", "--seed"], &[]).unwrap_err();
        assert_eq!(
            errors,
            [
                "unknown flag --colour",
                "--seed needs a value",
                "Devices: must be a whole number from 1 to 100000 (got \"0\")",
            ]
        );
        let errors = parse_with(&["--broker", "tcp://broker.local:1883"], &[]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("Broker URL: "), "{errors:?}");
        assert!(matches!(
            parse(["--help".to_owned()], |_| None),
            Ok(Parsed::Help)
        ));
    }

    #[test]
    fn an_export_file_and_a_websocket_url_are_checked_before_the_run() {
        let errors = parse_with(&["--export", "samples.txt"], &[]).unwrap_err();
        assert_eq!(errors, ["--export: the file must end in .csv or .jsonl"]);
        let errors = parse_with(&["--export", "/nonexistent-dir/x.csv"], &[]).unwrap_err();
        assert!(
            errors[0].starts_with("--export: cannot write /nonexistent-dir/x.csv: "),
            "{errors:?}"
        );
        let path = std::env::temp_dir().join("dps368-runner-args-test.jsonl");
        let options = parse_with(&["--export", path.to_str().unwrap()], &[]).unwrap();
        assert_eq!(options.export, Some((path.clone(), false)));
        assert!(path.exists(), "made when the flags are read");
        // Not emptied when another flag is bad: nothing runs, nothing is lost.
        std::fs::write(&path, "kept").unwrap();
        let path_text = path.to_str().unwrap();
        assert!(parse_with(&["--export", path_text, "--devices", "0"], &[]).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept");
        let _ = std::fs::remove_file(path);
        let errors = parse_with(&["--broker", "ws://h:9001/<x>"], &[]).unwrap_err();
        assert_eq!(
            errors,
            ["Broker URL: HTTP format error: invalid uri character (got \"ws://h:9001/<x>\")"]
        );
    }

    #[test]
    fn a_shard_without_a_seed_and_an_endless_duration_are_bad_flags() {
        let errors = parse_with(&["--devices", "8", "--shard", "1/2"], &[]).unwrap_err();
        assert_eq!(
            errors,
            ["--shard needs --seed: every slice must draw from the same seed to be one fleet"]
        );
        for duration in ["18446744073709551615", "31536001", "0"] {
            let errors = parse_with(&["--duration", duration], &[]).unwrap_err();
            assert_eq!(
                errors,
                [format!(
                    "--duration: must be a whole number of seconds from 1 to 31536000 (a year) (got \"{duration}\")"
                )]
            );
        }
        let options = parse_with(&["--duration", "31536000"], &[]).unwrap();
        assert_eq!(
            options.duration,
            Some(std::time::Duration::from_secs(MAX_DURATION_S))
        );
    }

    #[test]
    fn the_user_name_and_password_come_from_the_environment_as_a_secret_gives_them() {
        let options =
            parse_with(&[], &[("MQTT_USERNAME", "fleet"), ("MQTT_PASSWORD", "pw")]).unwrap();
        assert_eq!(
            (
                options.settings.username.as_deref(),
                options.settings.password.as_deref()
            ),
            (Some("fleet"), Some("pw"))
        );
        let errors = parse_with(&[], &[("MQTT_PASSWORD", "pw")]).unwrap_err();
        assert!(errors.iter().any(|e| e.contains("Password")), "{errors:?}");
    }

    #[test]
    fn a_shard_is_a_slice_of_the_fleet_named_k_of_n() {
        let options =
            parse_with(&["--devices", "8", "--seed", "1", "--shard", "2/4"], &[]).unwrap();
        assert_eq!(options.shard, Shard { index: 2, count: 4 });
        assert_eq!(options.shard.numbers(8), 5..=6);
        let long = [
            "--devices",
            "20",
            "--connection",
            "shared",
            "--client-id",
            "a-23-byte-client-id-xyz",
            "--seed",
            "1",
            "--shard",
            "0/20",
        ];
        let errors = parse_with(&long, &[]).unwrap_err();
        assert_eq!(
            errors,
            [
                "--shard: each slice's shared connection is a-23-byte-client-id-xyz-sK, over the 23 bytes every broker accepts: give a shorter --client-id"
            ]
        );
        let errors =
            parse_with(&["--devices", "8", "--seed", "1", "--shard=4/4"], &[]).unwrap_err();
        assert_eq!(
            errors,
            [
                "--shard: must be K/N: slice K (from 0) of N, with K below N and N at most the devices (got \"4/4\")"
            ]
        );
    }

    #[test]
    fn values_flags_and_secrets_are_told_apart() {
        // A value may start with one dash; a following --flag is not a value.
        let options = parse_with(&["--altitude", "-100", "--devices", "500"], &[]).unwrap();
        assert_eq!(options.settings.sensor.air.altitude_m, -100.0);
        assert_eq!(
            options.settings.devices, 500,
            "a native runner is not held to a page's 200 sockets"
        );
        let errors = parse_with(&["--device-id", "--stats-json=yes", "s3cret"], &[]).unwrap_err();
        assert_eq!(
            errors,
            [
                "--device-id needs a value",
                "--stats-json takes no value",
                "an argument that is not a --flag: settings are flags, e.g. --devices 10",
            ]
        );
        assert!(
            !errors.concat().contains("s3cret"),
            "a stray argument is never repeated"
        );
        let options = parse_with(&["--username", "u"], &[("MQTT_PASSWORD", "pw")]).unwrap();
        assert_eq!(options.settings.password.as_deref(), Some("pw"));
        assert!(!format!("{options:?}").contains("\"pw\""), "{options:?}");
        // A password may start with two dashes: it is the value, not an unknown flag named.
        let options = parse_with(
            &[
                "--username",
                "u",
                "--password",
                "--hunter2",
                "--devices",
                "2",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(options.settings.password.as_deref(), Some("--hunter2"));
        assert_eq!(options.settings.devices, 2);
        // A misspelt --password: the next `--word` is not one of ours, so it is its value,
        // never named.
        let errors = parse_with(&["--pasword", "--s3cret", "--devices", "2"], &[]).unwrap_err();
        assert_eq!(errors, ["unknown flag --pasword"]);
        let errors = parse_with(&["--colour", "--devices", "0"], &[]).unwrap_err();
        assert_eq!(
            errors,
            [
                "unknown flag --colour",
                "Devices: must be a whole number from 1 to 100000 (got \"0\")"
            ]
        );
    }

    #[test]
    fn a_tls_file_given_twice_or_not_a_regular_file_is_a_bad_flag() {
        let ca = TEST_CA;
        let errors = parse_with(
            &["--broker", "mqtts://h", "--cafile", ca, "--cafile", ca],
            &[],
        )
        .unwrap_err();
        assert_eq!(errors, ["--cafile is given twice"]);
        // A device could be endless: only a regular file is read.
        let errors =
            parse_with(&["--broker", "mqtts://h", "--cafile", "/dev/zero"], &[]).unwrap_err();
        assert_eq!(errors, ["--cafile: /dev/zero is not a regular file"]);
    }
}
