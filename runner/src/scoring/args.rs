//! The command lines of `dps368-sim score` and `dps368-sim monitor`: one table of flags
//! (name, whether it takes a value, whether the value is a secret, which commands take it) that
//! parsing, `--help` and the unknown-flag check all read. The monitor's settings are flags named
//! like the monitor page's URL parameters, checked by the same code.

use std::path::PathBuf;

use dps368_core::monitor::{MonitorField, MonitorForm, MonitorSettings};
use dps368_core::settings::Runner;

use super::gates::Gate;
use crate::flags::{self, Flag, Given};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Score,
    Monitor,
}

/// One flag and the commands that take it (the monitor takes every one).
struct Entry {
    flag: Flag,
    score: bool,
}

const fn flag(
    name: &'static str,
    value: Option<&'static str>,
    score: bool,
    help: &'static str,
) -> Entry {
    Entry {
        flag: Flag {
            name,
            value,
            secret: false,
            help,
        },
        score,
    }
}

const FLAGS: &[Entry] = &[
    flag(
        "broker",
        Some("URL"),
        false,
        "mqtt://, mqtts://, ws:// or wss:// (default ws://localhost:9001)",
    ),
    flag(
        "filter",
        Some("FILTER"),
        true,
        "telemetry topics (default device/+/telemetry)",
    ),
    flag(
        "labels-filter",
        Some("FILTER"),
        true,
        "ground-truth labels (default device/+/labels)",
    ),
    flag(
        "verdicts",
        Some("FILTER"),
        true,
        "a detector's verdicts; its + names the device (default device/+/verdict)",
    ),
    flag(
        "tolerance",
        Some("N"),
        true,
        "flags this many samples after an event still count (default 0)",
    ),
    flag(
        "detector",
        Some("off|baseline"),
        false,
        "run the built-in baseline detector and publish its verdicts",
    ),
    flag(
        "duration",
        Some("SECONDS"),
        false,
        "stop after this long (else at Ctrl-C or SIGTERM)",
    ),
    flag(
        "username",
        Some("NAME"),
        false,
        "MQTT user name (or MQTT_USERNAME)",
    ),
    Entry {
        flag: Flag {
            name: "password",
            value: Some("SECRET"),
            secret: true,
            help: "MQTT password (better: MQTT_PASSWORD)",
        },
        score: false,
    },
    flag(
        "cafile",
        Some("FILE"),
        false,
        "trust the CA certificates in this PEM file",
    ),
    flag(
        "cert",
        Some("FILE"),
        false,
        "client certificate (PEM), with --key",
    ),
    flag("key", Some("FILE"), false, "client private key (PEM)"),
    flag(
        "report",
        Some("FILE.json"),
        true,
        "write the report (the page's Download report)",
    ),
    flag(
        "junit",
        Some("FILE.xml"),
        true,
        "write a JUnit XML testsuite: a testcase per gate and per anomaly kind",
    ),
    flag(
        "samples",
        Some("FILE.csv"),
        true,
        "write every sample: device, sequence, NAB row, probation, window, flag",
    ),
    flag(
        "fail-under",
        Some("NAME=VALUE"),
        true,
        "exit 1 when a figure is under VALUE (repeatable): precision, recall, f1, nab, nab_low_fp, nab_low_fn, range_precision, range_recall, recall_<kind>",
    ),
    flag(
        "fail-over",
        Some("delay=VALUE"),
        true,
        "exit 1 when the mean delay (samples) is over VALUE",
    ),
    flag("help", None, true, "this text"),
];

/// The flags `command` takes.
fn flags_of(command: Command) -> impl Iterator<Item = &'static Flag> {
    FLAGS
        .iter()
        .filter(move |e| command == Command::Monitor || e.score)
        .map(|e| &e.flag)
}

/// What a scoring command was asked to do (no Debug: it holds the password).
pub struct Options {
    pub settings: MonitorSettings,
    pub captures: Vec<String>,
    pub report: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub samples: Option<PathBuf>,
    pub gates: Vec<Gate>,
    /// The monitor's.
    pub target: Option<crate::net::Target>,
    pub duration: Option<std::time::Duration>,
    pub username: Option<String>,
    pub password: Option<String>,
}

pub enum Parsed {
    Help,
    Run(Box<Options>),
}

pub fn parse(
    command: Command,
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, Vec<String>> {
    let mut errors = vec![];
    let find = |name: &str| flags_of(command).find(|flag| flag.is(name));
    let given = flags::read(args, find, &mut errors);
    if given
        .iter()
        .any(|g| matches!(g, Given::Flag(flag, _) if flag.name == "help"))
    {
        return Ok(Parsed::Help);
    }
    let mut form = MonitorForm::default();
    let mut captures = vec![];
    let (mut report, mut junit, mut samples) = (None, None, None);
    let mut gates = vec![];
    let mut duration = None;
    let (mut username, mut password) = (env("MQTT_USERNAME"), env("MQTT_PASSWORD"));
    let mut tls_files = crate::tls::Files::default();
    let mut stray = false;
    for given in given {
        let (flag, value) = match given {
            Given::Flag(flag, value) => (flag, value),
            Given::Positional(capture) if command == Command::Score => {
                captures.push(capture);
                continue;
            }
            // Said once, and not repeated: it may be a secret given to the wrong flag.
            Given::Positional(_) if !stray => {
                stray = true;
                errors.push("an argument that is not a --flag: the monitor's settings are flags, e.g. --broker mqtt://host".into());
                continue;
            }
            Given::Positional(_) => continue,
        };
        if let Some(field) = MonitorField::ALL.into_iter().find(|f| flag.is(f.param())) {
            form.set(field, &value);
            continue;
        }
        match flag.name {
            "duration" => match flags::duration(&value) {
                Ok(seconds) => duration = Some(seconds),
                Err(problem) => errors.push(problem),
            },
            "username" => username = Some(value),
            "password" => password = Some(value),
            "cafile" | "cert" | "key" => {
                if let Err(problem) = tls_files.set(flag.name, value) {
                    errors.push(problem);
                }
            }
            "report" | "junit" | "samples" => {
                let (slot, extension) = match flag.name {
                    "report" => (&mut report, "json"),
                    "junit" => (&mut junit, "xml"),
                    _ => (&mut samples, "csv"),
                };
                match flags::output_path(flag, &value, &[extension]) {
                    Ok(path) if slot.is_some() => {
                        errors.push(format!(
                            "{} is given twice ({})",
                            flag.shown(),
                            path.display()
                        ));
                    }
                    Ok(path) => *slot = Some(path),
                    Err(problem) => errors.push(problem),
                }
            }
            "fail-under" | "fail-over" => match Gate::parse(flag.name == "fail-over", &value) {
                Ok(gate) => gates.push(gate),
                Err(problem) => errors.push(format!("{}: {problem}", flag.shown())),
            },
            other => unreachable!("--{other} is in the table and not read"),
        }
    }
    if command == Command::Score && captures.is_empty() {
        errors.push("no CAPTURE: give a file of `mosquitto_sub -v` lines or JSON lines, or - for standard input".into());
    }
    if command == Command::Score && captures.iter().filter(|c| *c == "-").count() > 1 {
        errors.push("- (standard input) is given twice".into());
    }
    if command == Command::Monitor && password.is_some() && username.is_none() {
        errors.push("--password (or MQTT_PASSWORD) needs --username (or MQTT_USERNAME): MQTT 3.1.1 sends no password without a user name".into());
    }
    errors.extend(tls_files.unpaired());
    let settings = match form.validate_for(Runner::Native) {
        Ok(settings) => Some(settings),
        Err(problems) => {
            errors.extend(problems.iter().map(ToString::to_string));
            None
        }
    };
    let target = match (&settings, command) {
        (Some(s), Command::Monitor) => flags::target(&s.broker_url, tls_files.any())
            .map_err(|e| errors.extend(e))
            .ok(),
        _ => None,
    };
    let (Some(settings), true) = (settings, errors.is_empty()) else {
        return Err(errors);
    };
    // Every flag is good: now the disk. The output files are made (not emptied) so a path
    // that cannot be written fails before anything is read or received; the PEM files are read.
    for (flag, path) in [
        ("report", &report),
        ("junit", &junit),
        ("samples", &samples),
    ] {
        if let Some(path) = path {
            flags::create_output(flag, path).map_err(|problem| vec![problem])?;
        }
    }
    let target = match target {
        Some(target) => Some(flags::with_tls(target, &settings.broker_url, &tls_files)?),
        None => None,
    };
    Ok(Parsed::Run(Box::new(Options {
        settings,
        captures,
        report,
        junit,
        samples,
        gates,
        target,
        duration,
        username,
        password,
    })))
}

pub fn help(command: Command) -> String {
    let mut out = match command {
        Command::Score => String::from(
            "dps368-sim score [flags] CAPTURE...\n\n\
             Scores a detector's verdicts against the ground truth in recorded MQTT traffic, as the\n\
             monitor page does. A CAPTURE is a file of `mosquitto_sub -v` lines (`topic payload`)\n\
             or JSON lines ({\"topic\":…,\"payload\":…}); - is standard input. Exit 0 when every\n\
             gate holds, 1 when one fails, 2 for bad flags or an unreadable capture.\n\nFlags:\n",
        ),
        Command::Monitor => String::from(
            "dps368-sim monitor --broker URL [flags]\n\n\
             Does live what the monitor page does: subscribes to the telemetry, labels and verdicts,\n\
             runs the built-in detector if asked (publishing its verdicts), and scores; at the end\n\
             (--duration, Ctrl-C, SIGTERM) prints the scoreboard, writes the files and applies the\n\
             gates. Exit 0 when every gate holds, 1 when one fails or the broker was never\n\
             reached, 2 for bad flags.\n\nFlags:\n",
        ),
    };
    for flag in flags_of(command) {
        out.push_str(&flag.help_line());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(
        command: Command,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Parsed, Vec<String>> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(command, args.iter().map(|a| a.to_string()), |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn a_secret_after_an_unknown_flag_is_never_named() {
        for args in [
            &["--pasword", "--s3cret", "run.txt"][..],
            &["--pasword", "s3cret", "run.txt"][..],
            &["--password", "--s3cret", "run.txt"][..],
        ] {
            let errors = parse_with(Command::Score, args, &[]).err().unwrap();
            let all = errors.join("\n");
            assert!(!all.contains("s3cret"), "{args:?}: {all}");
            assert!(all.contains("unknown flag"), "{all}");
        }
        // The monitor takes --password, whatever it starts with.
        let errors = parse_with(
            Command::Monitor,
            &["--broker", "mqtt://h", "--password", "--s3cret", "--colour"],
            &[],
        )
        .err()
        .unwrap();
        assert!(!errors.join(" ").contains("s3cret"), "{errors:?}");
    }

    #[test]
    fn a_password_in_the_environment_concerns_the_monitor_only() {
        let env = [("MQTT_PASSWORD", "pw")];
        assert!(matches!(
            parse_with(Command::Score, &["run.txt"], &env),
            Ok(Parsed::Run(_))
        ));
        let errors = parse_with(Command::Monitor, &["--broker", "mqtt://h"], &env)
            .err()
            .unwrap();
        assert!(
            errors.iter().any(|e| e.contains("needs --username")),
            "{errors:?}"
        );
        let with_user = [("MQTT_PASSWORD", "pw"), ("MQTT_USERNAME", "me")];
        match parse_with(Command::Monitor, &["--broker", "mqtt://h"], &with_user) {
            Ok(Parsed::Run(o)) => assert_eq!(
                (o.username.as_deref(), o.password.as_deref()),
                (Some("me"), Some("pw"))
            ),
            _ => panic!("the monitor takes both from the environment"),
        }
    }

    #[test]
    fn bad_values_name_their_flag() {
        let errors = parse_with(
            Command::Monitor,
            &[
                "--broker",
                "http://h",
                "--duration",
                "99999999999",
                "--tolerance",
                "x",
                "--detector",
                "smart",
            ],
            &[],
        )
        .err()
        .unwrap();
        let all = errors.join("\n");
        for expected in [
            "Broker URL",
            "--duration: must be a whole number of seconds from 1 to 31536000",
            "Tolerance (samples)",
            "Built-in detector",
        ] {
            assert!(all.contains(expected), "{expected} in {all}");
        }
    }
}
