//! `dps368-sim generate`: a run's samples, with their labels and the events' ground truth,
//! written to files without a broker, as fast as the machine goes. The settings are the run
//! command's flags (every page setting); its own flags are `--samples N` (per sensor) and
//! `--labels-export FILE.jsonl`; `--export FILE.csv|.jsonl` is required.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use dps368_core::fleet::generate::generate;
use dps368_core::sensor::{
    Telemetry, csv_header, csv_row, csv_text, format_rfc3339_millis, push_json_string,
};

use crate::args::{self, Parsed};
use crate::flags::{self, Flag, Given};

/// The most samples per sensor one command makes: 10 million (about 115 days at 1 Hz).
pub const MAX_SAMPLES: u64 = 10_000_000;

const OWN_FLAGS: [Flag; 2] = [
    Flag::valued(
        "samples",
        "N",
        "samples per sensor (required), at most 10,000,000",
    ),
    Flag::valued(
        "labels-export",
        "FILE.jsonl",
        "every event's ground truth, one JSON line each (the labels topic's messages)",
    ),
];

pub fn help() -> String {
    let mut text = String::from(
        "dps368-sim generate [--setting value]... --samples N --export FILE [--labels-export FILE]\n\n\
         Makes a run's samples without a broker, sensor after sensor, as a live run with the same\n\
         seed, settings and Start time (--start; now if not given, printed) makes them: the same\n\
         readings, timestamps and labels; the status column says `generated` (or `dropout`).\n\
         Every page setting is a flag, as for the run command (see dps368-sim --help).\n\n",
    );
    for flag in &OWN_FLAGS {
        text.push_str(&flag.help_line());
    }
    text.push_str("  --export FILE.csv|.jsonl   the samples (required)\n");
    text
}

pub fn main(arguments: Vec<String>) -> ExitCode {
    // Its own flags are taken out; the rest are the run command's.
    let mut errors = vec![];
    let own = |name: &str| OWN_FLAGS.iter().find(|flag| flag.is(name));
    let mut rest = vec![];
    let mut samples = None;
    let mut labels_export = None;
    let mut arguments = arguments.into_iter().peekable();
    while let Some(arg) = arguments.next() {
        let name = arg.trim_start_matches("--");
        let name = name.split_once('=').map_or(name, |(n, _)| n);
        if !arg.starts_with("--") || own(name).is_none() {
            rest.push(arg);
            continue;
        }
        let mut one = vec![arg.clone()];
        if !arg.contains('=') {
            one.extend(arguments.next_if(|next| !next.starts_with("--")));
        }
        for given in flags::read(one, own, &mut errors) {
            if let Given::Flag(flag, value) = given {
                match flag.name {
                    "samples" => match value.trim().parse::<u64>() {
                        Ok(n) if (1..=MAX_SAMPLES).contains(&n) => samples = Some(n),
                        _ => errors.push(format!(
                            "--samples: must be a whole number from 1 to {MAX_SAMPLES} (got {:?})",
                            value.trim()
                        )),
                    },
                    _ => match flags::output_path(flag, &value, &["jsonl"]) {
                        Ok(path) => labels_export = Some(path),
                        Err(problem) => errors.push(problem),
                    },
                }
            }
        }
    }
    if samples.is_none() && errors.is_empty() {
        errors.push("--samples is required: how many samples per sensor".into());
    }
    if rest
        .iter()
        .any(|a| a == "--help" || a == "-h" || a == "--h")
    {
        print!("{}", help());
        return ExitCode::SUCCESS;
    }
    if rest.iter().all(|a| !a.starts_with("--export")) && errors.is_empty() {
        errors.push("--export FILE.csv or FILE.jsonl is required: where the samples go".into());
    }
    if !errors.is_empty() {
        return bad(errors);
    }
    let parsed = args::parse_and_check(rest, |name| std::env::var(name).ok(), generate_rules);
    let options = match parsed {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        Err(errors) => return bad(errors),
    };
    let (Some((path, csv)), Some(samples)) = (options.export.clone(), samples) else {
        return bad(vec!["--export is required".into()]);
    };
    match write(&options.settings, samples, &path, csv, labels_export) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("dps368-sim generate: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// What generate asks of the run command's options, checked before any file is made.
fn generate_rules(options: &args::Options) -> Vec<String> {
    let mut problems = vec![];
    if options.settings.scenario.is_some() {
        problems.push("--scenario: generate makes samples without a clock or connections; play the scenario with the run command and --export".to_owned());
    }
    if options.settings.interval_ms == 0 {
        problems.push("--interval: must be above 0 for generate (at max rate a sample's time is when it was sent)".to_owned());
    }
    if options.shard != dps368_core::fleet::Shard::WHOLE
        || options.duration.is_some()
        || options.stats_json
        || options.allow_drops
        || options.latency
    {
        problems.push(
            "--shard, --duration, --stats-json, --allow-drops and --latency are for a live run, not generate"
                .to_owned(),
        );
    }
    problems
}

fn bad(errors: Vec<String>) -> ExitCode {
    for error in errors {
        eprintln!("dps368-sim generate: {error}");
    }
    eprintln!("dps368-sim generate: nothing was written; see dps368-sim generate --help");
    ExitCode::from(2)
}

fn write(
    settings: &dps368_core::settings::Settings,
    samples: u64,
    path: &PathBuf,
    csv: bool,
    labels_path: Option<PathBuf>,
) -> Result<(), String> {
    let start_ms = settings.start_ms.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    });
    let start = format_rfc3339_millis(start_ms);
    eprintln!(
        "dps368-sim generate: {} sensor(s) x {samples} samples from {start} (seed {}; --start {start} replays it)",
        settings.devices, settings.sensor.seed,
    );
    let open = |path: &PathBuf| {
        std::fs::File::create(path)
            .map(BufWriter::new)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))
    };
    let mut out = open(path)?;
    let mut labels_out = labels_path.as_ref().map(open).transpose()?;
    // The first write that failed, if one did (a full disk); what follows is not tried.
    let failure = std::cell::RefCell::new(None::<std::io::Error>);
    let check = |result: std::io::Result<()>| {
        if let Err(error) = result {
            failure.borrow_mut().get_or_insert(error);
        }
    };
    if csv {
        let recorded = match settings.sensor.replay {
            Some(_) => ",recorded_timestamp",
            None => "",
        };
        check(writeln!(out, "{}{recorded}", csv_header()));
    }
    let difficulty = settings.sensor.difficulty;
    let (mut rows, mut events) = (0u64, 0u64);
    generate(
        settings,
        start_ms,
        samples,
        |g| {
            let status = if g.sample.is_reported() {
                "generated"
            } else {
                "dropout"
            };
            let mut line = if csv {
                csv_row(g.device_id, g.profile, &g.sample, status)
            } else {
                Telemetry::new(g.device_id, g.profile, &g.sample).json_with_status(Some(status))
            };
            // A replay's rows carry the recording's own time of each reading, last.
            if let Some(recorded) = g.recorded {
                if csv {
                    line.push(',');
                    csv_text(&mut line, recorded);
                } else {
                    line.pop();
                    line.push_str(",\"recorded_timestamp\":");
                    push_json_string(&mut line, recorded);
                    line.push('}');
                }
            }
            if failure.borrow().is_none() {
                check(writeln!(out, "{line}"));
            }
            rows += 1;
        },
        |device_id, truth| {
            events += 1;
            if let Some(labels) = labels_out.as_mut() {
                check(writeln!(labels, "{}", truth.to_json(device_id, difficulty)));
            }
        },
    );
    check(out.flush());
    if let Some(labels) = labels_out.as_mut() {
        check(labels.flush());
    }
    if let Some(problem) = failure.into_inner() {
        return Err(format!("writing {} failed: {problem}", path.display()));
    }
    eprintln!(
        "dps368-sim generate: {rows} samples written to {}; {events} events{}",
        path.display(),
        labels_path
            .map(|p| format!(", their ground truth to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}
