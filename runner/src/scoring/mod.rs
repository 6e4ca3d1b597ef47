//! `dps368-sim score` and `dps368-sim monitor`: the monitor page's scoreboard as commands, for
//! CI. Both feed the core's [`Monitor`] (the page's own), then print the scoreboard, write the
//! report, the JUnit file and the samples, and apply the gates.

pub mod args;
pub mod gates;
mod live;

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use dps368_core::monitor::Monitor;

use args::{Command, Options, Parsed};

/// Unreadable lines named one by one; the rest are counted.
const PROBLEMS_NAMED: u64 = 20;

/// Runs `dps368-sim score` or `dps368-sim monitor` with the arguments after the command's name.
pub fn main(command: Command, arguments: Vec<String>) -> ExitCode {
    let name = match command {
        Command::Score => "dps368-sim score",
        Command::Monitor => "dps368-sim monitor",
    };
    let options = match args::parse(command, arguments, |n| std::env::var(n).ok()) {
        Ok(Parsed::Help) => {
            print!("{}", args::help(command));
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(options)) => *options,
        Err(errors) => {
            for error in errors {
                eprintln!("{name}: {error}");
            }
            eprintln!("{name}: nothing was read or sent; see --help");
            return ExitCode::from(2);
        }
    };
    let monitor = match command {
        Command::Score => match read_captures(&options) {
            Ok(monitor) => monitor,
            Err(problem) => {
                eprintln!("{name}: {problem}");
                return ExitCode::from(2);
            }
        },
        Command::Monitor => match live::run(&options) {
            Ok(monitor) => monitor,
            Err(code) => {
                // The files were made when the flags were read, to fail early; left empty they
                // would look like results to a CI job that collects them.
                for path in [&options.report, &options.junit, &options.samples]
                    .into_iter()
                    .flatten()
                {
                    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
                        let _ = std::fs::remove_file(path);
                    }
                }
                return code;
            }
        },
    };
    finish(name, &monitor, &options)
}

/// Reads every capture into a monitor (no detector of its own: it scores what was recorded).
fn read_captures(options: &Options) -> Result<Monitor, String> {
    let mut settings = options.settings.clone();
    settings.detector = false;
    let mut monitor = Monitor::new(settings);
    let mut bad_lines = 0u64;
    let mut lines_read = 0u64;
    for capture in &options.captures {
        let reader: Box<dyn BufRead> = if capture == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let file = std::fs::File::open(capture)
                .map_err(|error| format!("cannot read {capture}: {error}"))?;
            Box::new(std::io::BufReader::new(file))
        };
        let shown = if capture == "-" { "stdin" } else { capture };
        for (number, line) in reader.split(b'\n').enumerate() {
            let line = line.map_err(|error| format!("cannot read {shown}: {error}"))?;
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines_read += 1;
            let problem = match split_line(line) {
                Ok((topic, payload)) => monitor.on_message(&topic, &payload, 0).err(),
                Err(problem) => Some(problem),
            };
            if let Some(problem) = problem {
                bad_lines += 1;
                if bad_lines <= PROBLEMS_NAMED {
                    eprintln!("{shown}:{}: {problem}", number + 1);
                }
            }
        }
    }
    if bad_lines > PROBLEMS_NAMED {
        eprintln!(
            "... and {} more unreadable line(s)",
            bad_lines - PROBLEMS_NAMED
        );
    }
    eprintln!("{lines_read} line(s) read, {bad_lines} unreadable");
    Ok(monitor)
}

/// One captured message: `topic payload` (as `mosquitto_sub -v` prints it) or a JSON object
/// `{"topic": …, "payload": …}` (the payload a string, or any JSON value, taken as its text).
fn split_line(line: &[u8]) -> Result<(String, Vec<u8>), String> {
    if line.first() == Some(&b'{') {
        let json: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| format!("not a JSON line ({e})"))?;
        let topic = json
            .get("topic")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or("a JSON line needs \"topic\", a string")?;
        let payload = match json.get("payload") {
            Some(serde_json::Value::String(text)) => text.clone().into_bytes(),
            Some(value) => value.to_string().into_bytes(),
            None => return Err("a JSON line needs \"payload\"".into()),
        };
        return Ok((topic.to_owned(), payload));
    }
    let space = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or("not `topic payload` (no space) nor a JSON line")?;
    let topic = std::str::from_utf8(&line[..space]).map_err(|_| "the topic is not UTF-8")?;
    if topic.is_empty() {
        return Err("no topic before the payload".into());
    }
    Ok((topic.to_owned(), line[space + 1..].to_vec()))
}

/// Prints the scoreboard and the gates, writes the files; the exit status says whether every
/// gate held.
fn finish(name: &str, monitor: &Monitor, options: &Options) -> ExitCode {
    let (total, per_device) = monitor.scores();
    let counts = monitor.counts();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", gates::table(&total, per_device.len()));
    let _ = writeln!(
        out,
        "\nmessages: {} telemetry, {} label(s), {} verdict(s); {} unreadable, {} ignored",
        counts.telemetry, counts.labels, counts.verdicts, counts.unreadable, counts.ignored
    );
    let outcomes: Vec<gates::Outcome> = options.gates.iter().map(|g| g.check(&total)).collect();
    if !outcomes.is_empty() {
        let _ = writeln!(out, "\ngates:");
        for outcome in &outcomes {
            let _ = writeln!(out, "  {}", outcome.words());
        }
    }
    let _ = out.flush();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let files: [(&Option<std::path::PathBuf>, &dyn Fn() -> String); 3] = [
        (&options.report, &|| monitor.report(now)),
        (&options.junit, &|| gates::junit(name, &total, &outcomes)),
        (&options.samples, &|| monitor.samples_csv()),
    ];
    for (path, text) in files {
        if let Some(path) = path
            && let Err(error) = write_file(path, &text())
        {
            eprintln!("{name}: cannot write {}: {error}", path.display());
            return ExitCode::from(2);
        }
    }
    if outcomes.iter().all(|o| o.held) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}
