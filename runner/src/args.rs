//! The command line: every page setting as a flag named like its URL parameter (`--device_id`
//! or `--device-id`, `--flag value` or `--flag=value`), the seed program's environment
//! variables under them, and the runner's own flags. Checked by the same settings code as the
//! page, for a native runner: nothing runs on a bad value.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use dps368_core::fleet::Shard;
use dps368_core::settings::{Field, Runner, Settings, SettingsForm};

use crate::flags::{self, Flag, Given};

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
    /// `--latency`: a subscriber of its own times every sample from due to received.
    pub latency: bool,
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

/// The runner's own flags; every page setting is one too (see [`table`]).
const RUN_FLAGS: [Flag; 12] = [
    Flag::valued(
        "scenario",
        "FILE",
        "play a scenario (JSON: stages, events, settings); flags given here win over its settings",
    ),
    Flag::valued(
        "cafile",
        "FILE",
        "trust the CA certificates in this PEM file instead of the system's",
    ),
    Flag::valued(
        "cert",
        "FILE",
        "a client certificate (PEM), with --key, for brokers that ask",
    ),
    Flag::valued("key", "FILE", "the client certificate's private key (PEM)"),
    Flag::valued(
        "shard",
        "K/N",
        "run slice K (from 0) of N equal slices of the fleet, as numbered in the whole fleet (needs --seed)",
    ),
    Flag::valued(
        "duration",
        "SECONDS",
        "stop by itself after this long (as Ctrl-C does), at most a year",
    ),
    Flag::switch("allow-drops", "exit 0 even when samples were dropped"),
    Flag::valued(
        "export",
        "FILE.csv|.jsonl",
        "the run's samples with labels and fates, written at the end",
    ),
    Flag::switch(
        "latency",
        "subscribe on one more connection and time every sample from due to received",
    ),
    Flag::switch("stats-json", "one JSON line of totals per second on stdout"),
    Flag::switch("verbose", "every log line, for fleets too"),
    Flag::switch("help", "this text"),
];

/// Every flag of the run command: a page setting each (named like its URL parameter; the
/// password, which has none, as `--password`), then the runner's own.
fn table() -> Vec<Flag> {
    let settings = settings_fields().map(|field| Flag {
        name: field.param().unwrap_or("password"),
        value: Some(""),
        secret: field == Field::Password,
        help: field.label(),
    });
    settings.chain(RUN_FLAGS).collect()
}

/// The page settings that are flags: every one but Measure latency, which is the switch
/// `--latency` here.
fn settings_fields() -> impl Iterator<Item = Field> {
    Field::ALL
        .into_iter()
        .filter(|&field| field != Field::Latency)
}

/// The page setting a flag sets, if it is one.
fn field_of(flag: &Flag) -> Option<Field> {
    match flag.name {
        "password" => Some(Field::Password),
        "latency" => None,
        name => Field::from_param(name),
    }
}

pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, Vec<String>> {
    parse_and_check(args, env, |_| vec![])
}

/// [`parse`], with `more` checks of the parsed options (another command's rules) made before
/// anything touches the disk.
pub fn parse_and_check(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
    more: impl Fn(&Options) -> Vec<String>,
) -> Result<Parsed, Vec<String>> {
    let table = table();
    let mut errors = vec![];
    let find = |name: &str| {
        let name = if name == "h" { "help" } else { name };
        table.iter().find(|flag| flag.is(name))
    };
    let given = flags::read(args, find, &mut errors);
    if given
        .iter()
        .any(|g| matches!(g, Given::Flag(flag, _) if flag.name == "help"))
    {
        return Ok(Parsed::Help);
    }
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
    let mut profile_set = false;
    let (mut stats_json, mut verbose, mut allow_drops) = (false, false, false);
    let mut latency = false;
    let mut shard_text = None;
    let mut duration = None;
    let mut export = None;
    let mut tls_files = crate::tls::Files::default();
    let mut stray = false;
    // Page settings given as flags, applied after a scenario's own so that they win.
    let mut fields = vec![];
    let mut scenario_path = None;
    for given in given {
        let (flag, value) = match given {
            Given::Flag(flag, value) => (flag, value),
            // Said once, and not repeated: it may be a secret given to the wrong flag.
            Given::Positional(_) if !stray => {
                stray = true;
                errors.push(
                    "an argument that is not a --flag: settings are flags, e.g. --devices 10"
                        .into(),
                );
                continue;
            }
            Given::Positional(_) => continue,
        };
        if let Some(field) = field_of(flag) {
            client_id_set |= field == Field::ClientId;
            seed_set |= field == Field::Seed;
            profile_set |= field == Field::Profile;
            fields.push((field, value));
            continue;
        }
        match flag.name {
            "stats-json" => stats_json = true,
            "verbose" => verbose = true,
            "allow-drops" => allow_drops = true,
            "latency" => latency = true,
            "export" => match flags::output_path(flag, &value, &["csv", "jsonl"]) {
                Ok(path) if export.is_some() => {
                    errors.push(format!(
                        "{} is given twice ({})",
                        flag.shown(),
                        path.display()
                    ));
                }
                Ok(path) => {
                    let csv = path.extension().is_some_and(|e| e == "csv");
                    export = Some((path, csv));
                }
                Err(problem) => errors.push(problem),
            },
            "duration" => match flags::duration(&value) {
                Ok(seconds) => duration = Some(seconds),
                Err(problem) => errors.push(problem),
            },
            "shard" => shard_text = Some(value),
            "scenario" if scenario_path.is_some() => {
                errors.push(format!("{} is given twice ({value})", flag.shown()));
            }
            "scenario" => scenario_path = Some(value),
            "cafile" | "cert" | "key" => {
                if let Err(problem) = tls_files.set(flag.name, value) {
                    errors.push(problem);
                }
            }
            other => unreachable!("--{other} is in the table and not read"),
        }
    }
    let scenario = scenario_path.as_deref().and_then(|path| {
        read_scenario(path)
            .map_err(|problem| errors.push(problem))
            .ok()
    });
    if let Some(scenario) = &scenario {
        scenario.apply(&mut form);
        if fields.iter().any(|(field, _)| *field == Field::Devices) {
            errors.push(format!(
                "--devices: the scenario's stages decide the fleet ({} devices)",
                scenario.fleet()
            ));
        }
        seed_set |= scenario.settings.iter().any(|(f, _)| *f == Field::Seed);
        profile_set |= scenario.settings.iter().any(|(f, _)| *f == Field::Profile);
        client_id_set |= scenario.settings.iter().any(|(f, _)| *f == Field::ClientId);
    }
    for (field, value) in fields {
        form.set(field, value);
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
    // --replay FILE alone replays it: the replay profile goes with the recording.
    if !profile_set && !form.get(Field::Replay).trim().is_empty() {
        form.set(Field::Profile, "replay");
    }
    errors.extend(tls_files.unpaired());
    let settings = match form.validate_for(Runner::Native) {
        Ok(mut settings) => {
            if let Err(problem) = read_recording(&mut settings, form.get(Field::Replay)) {
                errors.push(problem);
            }
            if let (Some(scenario), Some(path)) = (scenario, &scenario_path)
                && let Err(problem) = settings.attach_scenario(scenario)
            {
                errors.push(format!("--scenario {path}: {problem}"));
            }
            Some(settings)
        }
        Err(problems) => {
            errors.extend(problems.iter().map(ToString::to_string));
            None
        }
    };
    let target = settings.as_ref().and_then(|s| {
        flags::target(&s.broker_url, tls_files.any())
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
    let (Some(settings), Some(target), true) = (settings, target, errors.is_empty()) else {
        return Err(errors);
    };
    // A scenario's settings may ask for it too.
    let latency = latency || settings.latency;
    let mut options = Options {
        settings,
        target,
        stats_json,
        verbose,
        shard,
        duration,
        allow_drops,
        latency,
        export,
    };
    let problems = more(&options);
    if !problems.is_empty() {
        return Err(problems);
    }
    // Every flag is good: now the disk. The PEM files are read (a bad one is a bad flag, and
    // nothing is made), then the export file is made (not emptied) so a path that cannot be
    // written fails before the run.
    options.target = flags::with_tls(options.target, &options.settings.broker_url, &tls_files)?;
    if let Some((path, _)) = &options.export {
        flags::create_output("export", path).map_err(|problem| vec![problem])?;
    }
    Ok(Parsed::Run(Box::new(options)))
}

/// A scenario file, read (at most [`MAX_BYTES`](dps368_core::scenario::MAX_BYTES) of it)
/// and parsed: a problem names the flag, the file, and the stage or event and field.
pub fn read_scenario(path: &str) -> Result<dps368_core::scenario::Scenario, String> {
    let path = path.trim();
    let bytes = read_at_most("scenario", path, dps368_core::scenario::MAX_BYTES)?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("--scenario {path}: not UTF-8 text"))?;
    dps368_core::scenario::Scenario::parse(&text)
        .map_err(|problem| format!("--scenario {path}: {problem}"))
}

/// The file at `path`, read no further than one byte past `limit` (a device or a huge file
/// must not fill the memory; the parser then says it is over the limit); a problem names the
/// flag and the file.
fn read_at_most(flag: &str, path: &str, limit: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(limit as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("--{flag} {path}: {e}"))?;
    Ok(bytes)
}

/// The replay profile's recording, read from its file (reading writes nothing): a problem
/// names the flag, the file, and the row and column.
pub fn read_recording(settings: &mut Settings, path: &str) -> Result<(), String> {
    if settings.sensor.profile != dps368_core::sensor::Profile::Replay {
        return Ok(());
    }
    let path = path.trim();
    let bytes = read_at_most("replay", path, dps368_core::sensor::recording::MAX_BYTES)?;
    let recording = dps368_core::sensor::Recording::parse(&bytes)
        .map_err(|problem| format!("--replay {path}: {problem}"))?;
    settings.attach_recording(std::sync::Arc::new(recording));
    Ok(())
}

pub fn help() -> String {
    let mut text = String::from(
        "dps368-sim: simulated Infineon DPS368 sensors publishing MQTT telemetry, as the page does.\n\n\
         Usage: dps368-sim [--setting value]... [--stats-json] [--verbose]\n\
         \x20      dps368-sim score --help | dps368-sim monitor --help | dps368-sim generate --help\n\n\
         Every page setting is a flag named like its URL parameter (- or _ alike):\n",
    );
    let table = table();
    let (settings, own) = table.split_at(settings_fields().count());
    for flag in settings {
        text.push_str(&flag.help_line());
    }
    text.push_str(
        "\nThe broker is mqtt://host:port (TCP; default mqtt://localhost:1883), ws://host:port/path\n\
         (a WebSocket, subprotocol mqtt), or either in TLS: mqtts:// (port 8883 by default) and\n\
         wss://, checked against the system's root certificates. The seed program's\n\
         MQTT_BROKER_HOST, MQTT_BROKER_PORT, DEVICE_ID, MQTT_TOPIC, PUBLISH_INTERVAL and\n\
         ANOMALY_INTERVAL are read too, and MQTT_USERNAME and MQTT_PASSWORD (better than\n\
         --password, which the process list shows); flags win.\n\n",
    );
    for flag in own {
        text.push_str(&flag.help_line());
    }
    text.push_str(
        "\nCtrl-C (or SIGTERM) stops: it waits up to 2 s for acknowledgements, sends DISCONNECT\n\
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
        assert_eq!(errors, ["--key needs a value, FILE"]);
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
        // Not emptied: it is written at the end of the run.
        std::fs::write(&path, "kept").unwrap();
        let path_text = path.to_str().unwrap();
        assert!(parse_with(&["--export", path_text], &[]).is_ok());
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

    #[test]
    fn a_bad_flag_leaves_the_disk_alone() {
        // The export file is made only once every flag is good; a TLS file is not even read.
        let path = std::env::temp_dir().join("dps368-runner-args-untouched.csv");
        let _ = std::fs::remove_file(&path);
        let errors = parse_with(
            &[
                "--export",
                path.to_str().unwrap(),
                "--broker",
                "mqtts://h",
                "--cafile",
                "/nonexistent/ca.pem",
                "--devices",
                "0",
            ],
            &[],
        )
        .unwrap_err();
        assert_eq!(
            errors,
            ["Devices: must be a whole number from 1 to 100000 (got \"0\")"]
        );
        assert!(!path.exists(), "made although a flag was bad");
        // A certificate without its key is told beside the other bad flags, before any read.
        let errors = parse_with(
            &[
                "--devices",
                "0",
                "--broker",
                "mqtts://h",
                "--cert",
                "/nonexistent.pem",
            ],
            &[],
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "--cert needs --key (the client certificate's private key)",
                "Devices: must be a whole number from 1 to 100000 (got \"0\")"
            ]
        );
        // The same line without the bad setting reads the CA file first, and makes nothing.
        let errors = parse_with(
            &[
                "--export",
                path.to_str().unwrap(),
                "--broker",
                "mqtts://h",
                "--cafile",
                "/nonexistent/ca.pem",
            ],
            &[],
        )
        .unwrap_err();
        assert!(errors[0].starts_with("--cafile: cannot read"), "{errors:?}");
        assert!(!path.exists(), "made although a TLS file was bad");
        // Every flag good: made.
        assert!(parse_with(&["--export", path.to_str().unwrap()], &[]).is_ok());
        assert!(path.exists());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn the_help_lists_every_flag_the_parser_takes() {
        let help = help();
        for flag in table() {
            assert!(
                help.contains(&format!("{} ", flag.shown())),
                "{}",
                flag.shown()
            );
            // Each is read: none reaches the parser's "not read" arm.
            let value = match (flag.name, flag.value) {
                ("help", _) => continue,
                (_, None) => None,
                ("broker", _) => Some("mqtt://h"),
                ("export", _) => Some("/nonexistent-dir/x.csv"),
                ("shard", _) => Some("0/1"),
                ("duration" | "devices" | "seed" | "interval" | "anomaly_every", _) => Some("1"),
                _ => Some("x"),
            };
            let mut args = vec![flag.shown()];
            args.extend(value.map(str::to_owned));
            let _ = parse(args, |_| None);
        }
        assert!(
            help.contains("--device-id "),
            "URL parameters are shown with dashes"
        );
    }
}
