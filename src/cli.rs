//! The command line: argv → [`Cli`]. Pipeline settings live in the config file; flags
//! only choose what to run on it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "slipstream",
    version,
    about = "Exact sliding-window SLIs, error budgets and burn rates from gateway request events"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read NDJSON events from a file or stdin and print the SLO report.
    Replay {
        /// The SLO config (YAML).
        #[arg(long)]
        config: PathBuf,
        /// The events, one JSON object per line; `-` reads stdin.
        #[arg(long)]
        input: PathBuf,
        /// Evaluate at this RFC 3339 time; default: the newest valid event time rounded up
        /// to the next whole minute. Events at or after it are not aggregated.
        #[arg(long)]
        at: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Table,
}
