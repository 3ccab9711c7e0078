//! The binary: parse the command line, run the command, turn errors into a message and an
//! exit code. The only place that uses anyhow.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use slipstream::cli::{Cli, Command, Format};
use slipstream::decode::timestamp::parse_rfc3339;
use slipstream::{config, replay, report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`slipstream replay … | head`) is the reader's choice, not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Replay {
            config,
            input,
            at,
            format,
        } => {
            let config = config::load(&config)?;
            let at_ms = at
                .map(|t| match parse_rfc3339(t.trim().as_bytes()) {
                    Some(ms) => Ok(ms),
                    None => {
                        bail!("--at `{t}` is not an RFC 3339 time such as 2026-11-21T12:00:00Z")
                    }
                })
                .transpose()?;
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
            let report = if input == Path::new("-") {
                replay::replay(&config, io::stdin().lock(), at_ms, now_ms)?
            } else {
                let file = File::open(&input)
                    .with_context(|| format!("cannot open input {}", input.display()))?;
                replay::replay(&config, file, at_ms, now_ms)
                    .with_context(|| format!("replaying {}", input.display()))?
            };
            let mut out = io::stdout().lock();
            match format {
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &report)?;
                    writeln!(out)?;
                }
                Format::Table => out.write_all(report::table::render(&report).as_bytes())?,
            }
            out.flush()?;
            Ok(())
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause.downcast_ref::<io::Error>();
        io.is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
