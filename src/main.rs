//! The binary: parse the command line, run the command, turn errors into a message and an
//! exit code. The only place that uses anyhow.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::Serialize;
use slipstream::cli::{CheckFormat, Cli, Command, EventsFile, Format, ImportFrom};
use slipstream::decode::timestamp::parse_rfc3339;
use slipstream::{check, config, demo, loadgen, openslo, replay, report, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(io::stderr)
        .init();
    match run(cli) {
        Ok(status) => status,
        // A closed pipe (`slipstream replay … | head`) is the reader's choice, not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command: its exit status, or the error to print.
fn run(cli: Cli) -> Result<ExitCode> {
    let done: Result<()> = match cli.command {
        Command::Replay { events, format } => {
            let report = replay_file(&events)?;
            print(format, &report, || report::table::render(&report))
        }
        Command::Baseline { events, format } => {
            let report = replay_file(&events)?;
            let document = report::baseline_view::Document(&report);
            print(format, &document, || report::baseline_view::table(&report))
        }
        Command::Run {
            config,
            brokers,
            topics,
            group,
        } => {
            let path = config;
            let (document, mut config) = config::document::read_for_run(&path)?;
            warn_about(&config);
            if brokers.as_deref().is_some_and(|b| b.trim().is_empty())
                || topics
                    .as_ref()
                    .is_some_and(|t| t.iter().any(|t| t.trim().is_empty()))
                || group.as_deref().is_some_and(|g| g.trim().is_empty())
            {
                bail!("--brokers, --topics and --group must not be empty");
            }
            let kafka = &mut config.run.kafka;
            kafka.brokers = brokers.unwrap_or(kafka.brokers.clone());
            kafka.topics = topics.unwrap_or(kafka.topics.clone());
            kafka.group = group.unwrap_or(kafka.group.clone());
            runtime()?.block_on(async {
                let running = run::start_with_reload(&config, document, shutdown_signal()).await?;
                running.wait().await?;
                tracing::info!("stopped cleanly");
                Ok(())
            })
        }
        // Its own status: 2 for an invalid config.
        Command::Check { config, format } => return Ok(check(&config, format)),
        Command::Keygen { out } => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let (private, public) = slipstream::decisions::governance::keygen(seed);
            write_private(&out, &private)?;
            println!("{public}");
            eprintln!(
                "private key written to {} (mode 0600); name the public key above in \
                 governance.approvers",
                out.display()
            );
            Ok(())
        }
        Command::Sign {
            key,
            payload_file,
            payload,
        } => {
            let private = std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read the key file {}", key.display()))?;
            let payload = match (payload_file, payload) {
                (Some(file), _) => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read the payload {}", file.display()))?;
                    text.strip_suffix('\n').map(str::to_owned).unwrap_or(text)
                }
                (None, Some(text)) => text,
                (None, None) => bail!("give --payload-file or --payload"),
            };
            let signature = slipstream::decisions::governance::sign(&private, &payload)
                .map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
            println!("{signature}");
            Ok(())
        }
        Command::Demo { listen, rate } => runtime()?.block_on(async {
            demo::demo(demo::DemoOptions { listen, rate }, shutdown_signal()).await?;
            Ok(())
        }),
        Command::Gen {
            brokers,
            topic,
            rate,
            duration,
            scenario,
            services,
            seed,
            key_by_service,
        } => {
            let options = loadgen::GenOptions {
                brokers,
                topic,
                rate,
                duration,
                scenario,
                services,
                seed,
                key_by_service,
            };
            let stop = Arc::new(AtomicBool::new(false));
            let generator = {
                let stop = stop.clone();
                std::thread::spawn(move || loadgen::generate(&options, &stop))
            };
            runtime()?.block_on(async {
                let watch = tokio::task::spawn_blocking(move || generator.join());
                tokio::pin!(watch);
                let joined = tokio::select! {
                    joined = &mut watch => joined,
                    () = shutdown_signal() => {
                        stop.store(true, Ordering::Relaxed);
                        watch.await
                    }
                };
                let sent = joined?.map_err(|_| anyhow::anyhow!("the generator panicked"))??;
                eprintln!("{sent} events produced");
                Ok(())
            })
        }
        Command::Import {
            from: ImportFrom::Openslo { file },
        } => {
            let import = openslo::import_file(&file)?;
            for warning in &import.warnings {
                eprintln!("{warning}");
            }
            eprintln!("{}", import.summary());
            let Some(yaml) = import.yaml else {
                bail!(
                    "{}: no OpenSLO SLO could be mapped (see the warnings above)",
                    file.display()
                );
            };
            let mut out = io::stdout().lock();
            out.write_all(yaml.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// Loads the config and replays the input (`-`: stdin) at `at`, or by default as `replay`.
fn replay_file(events: &EventsFile) -> Result<report::Report> {
    let EventsFile { config, input, at } = events;
    let config = config::load(config)?;
    warn_about(&config);
    let at_ms = at
        .as_deref()
        .map(|t| match parse_rfc3339(t.trim().as_bytes()) {
            Some(ms) => Ok(ms),
            None => bail!("--at `{t}` is not an RFC 3339 time such as 2026-11-21T12:00:00Z"),
        })
        .transpose()?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    if input == Path::new("-") {
        return Ok(replay::replay(&config, io::stdin().lock(), at_ms, now_ms)?);
    }
    let file =
        File::open(input).with_context(|| format!("cannot open input {}", input.display()))?;
    replay::replay(&config, file, at_ms, now_ms)
        .with_context(|| format!("replaying {}", input.display()))
}

/// Prints `json` (pretty), or the text of `table`, on stdout.
fn print(format: Format, json: &impl Serialize, table: impl FnOnce() -> String) -> Result<()> {
    let mut out = io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, json)?;
            writeln!(out)?;
        }
        Format::Table => out.write_all(table().as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

/// What the config accepts but an SRE should see (`Config::warnings`).
fn warn_about(config: &config::Config) {
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
}

/// `check`: 0 with a valid config, 2 with an invalid one (1 is left to I/O errors of the
/// output), so that a pipeline can tell a bad config from a broken step.
fn check(path: &Path, format: CheckFormat) -> ExitCode {
    let loaded = config::load(path);
    if let Ok(config) = &loaded {
        warn_about(config);
    }
    let (out, status) = match (&loaded, format) {
        (Ok(c), CheckFormat::Text) => (check::text(c, &path.display().to_string()), 0),
        (Ok(c), CheckFormat::Json) => (json_line(&check::json(c)), 0),
        (Err(_), CheckFormat::Text) => (String::new(), 2),
        (Err(e), CheckFormat::Json) => (json_line(&check::error_json(&e.to_string())), 2),
    };
    if let Err(e) = &loaded {
        eprintln!("error: {e}");
    }
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::from(status),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(status),
        Err(e) => {
            eprintln!("error: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn json_line(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// Creates `path` with only the owner allowed to read it, and writes the key into it.
fn write_private(path: &Path, key: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create the key file {} (an existing one is kept)",
            path.display()
        )
    })?;
    writeln!(file, "{key}")?;
    file.sync_all()?;
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause.downcast_ref::<io::Error>();
        io.is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
