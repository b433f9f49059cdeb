//! `baobi-agent`: parses the command line, sets up logging to stderr and hands over to `cli::run`.
//!
//! Kept thin on purpose: everything testable lives in the `baobi_agent` library; `cli` only maps
//! commands to requests and renders responses.

/// A diagnostic line on stderr, plain or JSON (see `baobi_cli::note`).
macro_rules! note {
    ($($t:tt)*) => {
        baobi_cli::note(&format!($($t)*))
    };
}

/// Prints a line to stdout, ignoring a closed pipe (`baobi-agent survey list | head`).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod cli;
mod cli_relay;
mod cli_vi;
mod render;

fn main() {
    // Help and parse errors in Vietnamese unless `--lang en` / `BAOBI_LANG=en` (cli_vi.rs).
    let (cli, _lang) = baobi_cli::parse::<cli::Cli>(cli_vi::TABLE);
    let default_level = if cli.is_daemon() { "info" } else { "warn" };
    baobi_cli::set_json_notes(cli.log_format == cli::LogFormat::Json, "baobi_agent::cli");
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BAOBI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        );
    match cli.log_format {
        cli::LogFormat::Json => logs.json().init(),
        // No colour codes where stderr is not a terminal (journald, files).
        cli::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let code = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(cli::run(cli)),
        Err(e) => {
            note!("Lỗi / Error: cannot start the runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}
