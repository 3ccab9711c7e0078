//! The command line: argv → [`Cli`]. Pipeline settings live in the config file; flags
//! only choose what to run on it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

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
        #[command(flatten)]
        events: EventsFile,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Read NDJSON events like `replay` and print, per SLO series, the SLI achieved over
    /// its SLO window, the objective it holds, the next step of the objective ladder, the
    /// bad events to remove to reach it, and its error-budget policy action.
    Baseline {
        #[command(flatten)]
        events: EventsFile,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Validate a config and list its tiers, services rules and effective SLOs. Exits 0
    /// when it is valid, 2 when it is not.
    Check {
        /// The SLO config (YAML).
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Consume events from Kafka in a consumer group and serve live SLIs: Prometheus
    /// metrics at /metrics, the report at /api/v1/slos, /healthz and /readyz.
    Run {
        /// The SLO config (YAML), with its `kafka`, `http` and `evaluation` sections.
        #[arg(long)]
        config: PathBuf,
        /// Overrides `kafka.brokers` (comma-separated host:port).
        #[arg(long)]
        brokers: Option<String>,
        /// Overrides `kafka.topics` (comma-separated).
        #[arg(long, value_delimiter = ',')]
        topics: Option<Vec<String>>,
        /// Overrides `kafka.group`.
        #[arg(long)]
        group: Option<String>,
    },
    /// The whole pipeline with nothing to install: an in-process Kafka cluster, generated
    /// traffic with a scripted incident, and `run` on it. Ctrl-C stops it.
    Demo {
        /// Where the HTTP server listens (default: the demo config's 127.0.0.1:9898).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Events per second to generate.
        #[arg(long, default_value_t = 2_000)]
        rate: u64,
    },
    /// Produce realistic gateway events (the default schema) into a Kafka topic.
    Gen {
        /// Comma-separated host:port list.
        #[arg(long)]
        brokers: String,
        #[arg(long)]
        topic: String,
        /// Events per second; 0 produces as fast as the broker takes them.
        #[arg(long)]
        rate: u64,
        /// Stop after this long (e.g. 30s, 10m); default: until Ctrl-C.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<std::time::Duration>,
        #[arg(long, value_enum, default_value_t = crate::loadgen::Scenario::Steady)]
        scenario: crate::loadgen::Scenario,
        /// Comma-separated service names; the first one has the incident.
        #[arg(long, value_delimiter = ',', default_values_t = crate::loadgen::DEFAULT_SERVICES.map(String::from))]
        services: Vec<String>,
        /// Seed of the traffic generator: the same seed gives the same events.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Key each record by its service (the partitioner then keeps a service in one
        /// partition), for `scale_out.input_keyed`.
        #[arg(long)]
        key_by_service: bool,
    },
    /// Translate SLOs written in another format into a slipstream config, printed on
    /// stdout; what cannot be mapped exactly is listed on stderr.
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
    /// Make an approver's Ed25519 key pair: the private key goes to a new file (mode
    /// 0600), the public key (for `governance.approvers`) is printed in base64.
    Keygen {
        /// The private key file to create; an existing file is not overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign the payload of a pending change (from GET /api/v1/decisions/pending) with an
    /// approver's private key; prints the base64 signature.
    #[command(group(ArgGroup::new("what").required(true).args(["payload_file", "payload"])))]
    Sign {
        /// The private key file `keygen` made.
        #[arg(long)]
        key: PathBuf,
        /// A file holding the payload (one trailing newline is not part of it).
        #[arg(long)]
        payload_file: Option<PathBuf>,
        /// The payload itself.
        #[arg(long)]
        payload: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportFrom {
    /// OpenSLO v1: SLO, SLI, AlertPolicy, AlertCondition and Service objects
    /// (docs/openslo.md). Exit status 1 when no SLO could be mapped.
    Openslo {
        /// The OpenSLO YAML: documents separated by `---`, or a list of objects; `-` reads
        /// stdin.
        file: PathBuf,
    },
}

/// What `replay` and `baseline` read, and when they evaluate.
#[derive(Debug, Args)]
pub struct EventsFile {
    /// The SLO config (YAML).
    #[arg(long)]
    pub config: PathBuf,
    /// The events, one JSON object per line; `-` reads stdin.
    #[arg(long)]
    pub input: PathBuf,
    /// Evaluate at this RFC 3339 time; default: the newest valid event time rounded up
    /// to the next whole minute. Events at or after it are not aggregated.
    #[arg(long)]
    pub at: Option<String>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::config::Span::parse(text).map(|s| std::time::Duration::from_secs(s.secs()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Table,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
}
