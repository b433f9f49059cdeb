//! The `baobi-hub` flags: every command, subcommand and option, whose `///` docs are the help text.

use super::*;

/// baobi's provincial hub: enrolls offices, merges their surveys, reports totals.
#[derive(Debug, Parser)]
#[command(name = "baobi-hub", version, about)]
pub struct Cli {
    /// Data directory of the hub (sled store and control socket).
    #[arg(long, global = true, env = "BAOBI_HUB_DATA")]
    pub data: Option<PathBuf>,
    /// Log lines on stderr: `text` for people, `json` (one object a line) for log collectors.
    #[arg(long, global = true, env = "BAOBI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`).
    Json,
}

/// The hub's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new hub store for a province (keys, certificate, units), or a standby of a
    /// primary (`--standby-of`).
    Init {
        /// Province code (e.g. 87).
        #[arg(long, required_unless_present_any = ["standby_of", "national"])]
        province: Option<String>,
        /// Province name (e.g. "Đồng Tháp").
        #[arg(long, required_unless_present_any = ["standby_of", "national"])]
        name: Option<String>,
        /// Make a standby hub that follows the primary which issued this token (`baobi-hub standby
        /// token`); the province, units and lineage come from the primary.
        #[arg(long, value_name = "TOKEN", conflicts_with_all = ["province", "name", "units", "lineage", "plan"])]
        standby_of: Option<String>,
        /// With --standby-of: where offices reach this standby, HOST:PORT (written into their tokens).
        #[arg(long, requires = "standby_of")]
        addr: Option<String>,
        /// Units CSV (default: the embedded seed units).
        #[arg(long)]
        units: Option<PathBuf>,
        /// Lineage CSV of units across reorganisations (default: the embedded seed lineage).
        #[arg(long)]
        lineage: Option<PathBuf>,
        /// Plan to load: a built-in id (e.g. dong-thap-2021) or a TOML file.
        #[arg(long)]
        plan: Option<String>,
        /// Make a national hub that pulls provincial hubs (`baobi-hub province add TOKEN`).
        #[arg(long, conflicts_with_all = ["province", "name", "units", "lineage", "plan", "standby_of"])]
        national: bool,
    },
    /// Issue a one-time enrollment token for an office of a unit.
    Enroll {
        /// Unit of the office (district or commune): CODE is the version in force today, CODE@YYYY-MM-DD
        /// the version in force on that date.
        #[arg(long)]
        unit: String,
        /// What to call the office (e.g. "UBND huyện Lai Vung").
        #[arg(long, default_value = "")]
        label: String,
        /// Hub address agents connect to (default: the last address `serve` listened on).
        #[arg(long)]
        addr: Option<String>,
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 168)]
        ttl_hours: u64,
        /// Seconds the token stays valid (overrides --ttl-hours; for tests of expiry).
        #[arg(long, hide = true)]
        ttl_secs: Option<u64>,
        /// A relay the office syncs through when the hub does not answer: the district office's
        /// `baobi-agent daemon --relay` address, host:port.
        #[arg(long, requires = "relay_fingerprint")]
        relay: Option<String>,
        /// SHA-256 of the relay's certificate, as `baobi-agent relay info` prints it on the relay.
        #[arg(long, requires = "relay")]
        relay_fingerprint: Option<String>,
    },
    /// `restore AGENT`: issue a one-time restore token for an office whose disk (and key) was lost:
    /// the office that redeems it (`baobi-agent restore --token`) takes over its unit, and the lost
    /// key is retired. `restore --from FILE --data NEWDIR`: make a new hub from a backup.
    Restore {
        /// The lost office: author key prefix (at least 8 hex digits) or exact label.
        #[arg(required_unless_present = "from", conflicts_with = "from")]
        agent: Option<String>,
        /// Hub address the office connects to (default: the last address `serve` listened on).
        #[arg(long, conflicts_with = "from")]
        addr: Option<String>,
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 168)]
        ttl_hours: u64,
        /// A backup file (`baobi-hub backup`): make a new hub from it in --data DIR (absent or
        /// empty); the view is rebuilt from the entries and the result verified.
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// Print JSON (with --from).
        #[arg(long, requires = "from")]
        json: bool,
    },
    /// Write a consistent, compressed, checksummed backup of the hub to a new file (owner-only: it
    /// holds the hub's secret key). Works while the hub serves.
    Backup {
        /// The file to create (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-check every stored entry (chain, signatures, jurisdiction) and the view against a
    /// recomputation, changing nothing. Exit code 3 when a problem is found.
    Verify {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Which offices a relay (`baobi-agent daemon --relay`) may carry: allow, deny, list.
    Relay {
        /// Relay command.
        #[command(subcommand)]
        cmd: super::relay::RelayCmd,
    },
    /// Drop files for offices with no link: merge an office's file, or write one for an office.
    Drop {
        /// Drop command.
        #[command(subcommand)]
        cmd: super::drop::DropCmd,
    },
    /// Serve agents over QUIC (and the control socket) until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "0.0.0.0:4433")]
        listen: SocketAddr,
        /// Also serve the dashboard over HTTP on this address (PORT alone means 127.0.0.1:PORT).
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// Allow the dashboard on all interfaces (0.0.0.0 or [::]); without --http-tls passwords
        /// cross the network in clear (a loud warning says so).
        #[arg(long)]
        http_public: bool,
        /// Serve the dashboard over HTTPS: with the hub's own self-signed certificate (made at
        /// `init`, or now for older hubs; its fingerprint is printed), or --http-cert/--http-key.
        #[arg(long, requires = "http")]
        http_tls: bool,
        /// The operator's certificate chain (PEM) for --http-tls.
        #[arg(
            long,
            value_name = "FILE",
            requires = "http_tls",
            requires = "http_key"
        )]
        http_cert: Option<PathBuf>,
        /// The private key (PEM) of --http-cert.
        #[arg(long, value_name = "FILE", requires = "http_cert")]
        http_key: Option<PathBuf>,
        /// A bearer token that also opens `GET /metrics` (for Prometheus; an operator's session
        /// opens it too).
        #[arg(
            long,
            value_name = "TOKEN",
            env = "BAOBI_HUB_METRICS_TOKEN",
            hide_env_values = true
        )]
        metrics_token: Option<String>,
        /// Seconds a peer has for the handshake and its first message (default 10).
        #[arg(long, hide = true, env = crate::limits::ENV_FIRST_MESSAGE)]
        first_message_secs: Option<u64>,
        /// Seconds of silence before a connection is dropped (default 120).
        #[arg(long, hide = true, env = crate::limits::ENV_READ_TIMEOUT)]
        read_timeout_secs: Option<u64>,
        /// Seconds a begun frame may take to complete (default 180).
        #[arg(long, hide = true, env = crate::limits::ENV_FRAME_TIMEOUT)]
        frame_timeout_secs: Option<u64>,
        /// Most connections from one source IP address (default 16).
        #[arg(long, hide = true, env = crate::limits::ENV_MAX_PER_ADDRESS)]
        max_per_address: Option<usize>,
        /// MiB all large partial frames may hold together (default 256).
        #[arg(long, hide = true, env = crate::limits::ENV_FRAME_BUDGET)]
        frame_budget_mib: Option<usize>,
        /// On a standby: seconds between two rounds of following the primary.
        #[arg(long, env = "BAOBI_FOLLOW_SECS", default_value_t = 5)]
        follow_secs: u64,
        /// On a national hub: seconds between two scheduled pulls of each province.
        #[arg(long, default_value_t = 300)]
        pull_secs: u64,
    },
    /// Totals of a reporting year.
    Totals {
        /// Reporting year (default: the latest year with data).
        #[arg(long)]
        year: Option<u16>,
        /// Group by commune only or by outlet kind only (default: both).
        #[arg(long, value_enum)]
        by: Option<By>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Every record the hub holds, with its current versions.
    Records {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// On a national hub: the province whose records to show (its code).
        #[arg(long)]
        province: Option<String>,
    },
    /// Enrolled offices (`agents move` gives one successor units).
    Agents {
        /// What to do (default: list the offices).
        #[command(subcommand)]
        cmd: Option<AgentsCmd>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an office: its next connection is refused.
    Revoke {
        /// Author key prefix (at least 8 hex digits) or exact label.
        agent: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Dashboard operators: add, list, remove.
    Operator {
        /// What to do with operators.
        #[command(subcommand)]
        action: OperatorCmd,
    },
    /// Run the end-to-end demo: a hub and three offices, offline work, sync, totals.
    Demo {
        /// Keep the demo's temporary directory and print its path.
        #[arg(long)]
        keep: bool,
    },
    /// The plan and its targets: load one, show the one in force, list the built-in ones.
    Plan {
        /// Plan command.
        #[command(subcommand)]
        cmd: PlanCmd,
    },
    /// Review decisions on records: verify, or return to the office with a reason.
    Review {
        /// Review command.
        #[command(subcommand)]
        cmd: ReviewCmd,
    },
    /// Hub settings: which records indicators count, the I1 rule.
    Settings {
        /// Settings command (none: show them).
        #[command(subcommand)]
        cmd: Option<SettingsCmd>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Standby hubs: issue a token for one (on the primary).
    Standby {
        /// Standby command.
        #[command(subcommand)]
        cmd: super::standby::StandbyCmd,
    },
    /// Make this standby the primary: it stops following and serves as the province's hub.
    Promote {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The plan's indicators for a year, for the province or one unit and each unit below it.
    Indicators {
        /// Reporting year (default: the latest year with data).
        #[arg(long)]
        year: Option<u16>,
        /// Scope: a unit code (default: the whole province).
        #[arg(long)]
        unit: Option<String>,
        /// Every year with data or a target instead of one year.
        #[arg(long, conflicts_with = "year")]
        trend: bool,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// On a national hub: one province's own report (default: every province and the table).
        #[arg(long)]
        province: Option<String>,
    },
    /// At a provincial hub: national hub tokens (`national token`).
    National {
        /// National command.
        #[command(subcommand)]
        cmd: super::national::NationalCmd,
    },
    /// On a national hub: the provinces it pulls (add, list, remove, import a drop file).
    Province {
        /// Province command.
        #[command(subcommand)]
        cmd: super::national::ProvinceCmd,
    },
    /// On a national hub: pull every province (or one) now, one follow round each.
    Pull {
        /// Only this province (its code).
        #[arg(long)]
        province: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `agents` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentsCmd {
    /// Give an office successor units (e.g. the communes that replaced its district in the 2025
    /// reform); it keeps the unit it enrolled for, and its past. The office learns it at its next sync.
    Move {
        /// Author key prefix (at least 8 hex digits) or exact label.
        agent: String,
        /// A unit it now holds: CODE (the version in force today) or CODE@YYYY-MM-DD; repeat for
        /// several. Replaces the units given by an earlier move.
        #[arg(long, required = true)]
        unit: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `plan` subcommands.
#[derive(Debug, Subcommand)]
pub enum PlanCmd {
    /// Load a plan: a TOML file, or the id of a built-in plan. It syncs down to every office.
    Set {
        /// File path or built-in id (see `plan list`).
        file: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the plan in force.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Print it as a plan file (TOML), to edit and load again with `plan set`.
        #[arg(long, conflicts_with = "json")]
        toml: bool,
    },
    /// List the built-in seed plans.
    List,
}

/// `review` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReviewCmd {
    /// Mark a record's current version verified.
    Verify {
        /// Record id (full or short, as `records` shows it).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Return a record to its office for correction.
    Return {
        /// Record id (full or short, as `records` shows it).
        id: String,
        /// Why: the office sees it in `baobi-agent survey list`.
        #[arg(long)]
        reason: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `settings` subcommands.
#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    /// Which records indicators count.
    Basis {
        /// `submitted` (every record except returned ones) or `verified` (verified only).
        #[arg(value_enum)]
        value: BasisArg,
    },
    /// The rule an outlet's latest survey must meet for I1.
    I1Rule {
        /// `no-nonbio` (gives no non-biodegradable bags) or `eco-offered` (offers eco packaging).
        #[arg(value_enum)]
        value: I1RuleArg,
    },
}

/// Counting basis, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BasisArg {
    /// Every record except those returned for correction.
    Submitted,
    /// Verified records only.
    Verified,
}

/// I1 rule, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum I1RuleArg {
    /// Gives no non-biodegradable bags.
    NoNonbio,
    /// Offers eco-friendly packaging (eco bags or reusable bags).
    EcoOffered,
}

/// What to do with dashboard operators.
#[derive(Debug, Subcommand)]
pub enum OperatorCmd {
    /// Add an operator (asks for the password twice, or reads one line from stdin).
    Add {
        /// Login name.
        name: String,
        /// Read the password from the first line of stdin instead of prompting (for scripts).
        #[arg(long)]
        password_stdin: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List operators.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an operator (their open dashboard sessions end at once).
    Remove {
        /// Login name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
