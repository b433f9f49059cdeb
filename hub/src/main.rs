//! `baobi-hub`: parses the command line, sets up logging to stderr, and calls the library.
//!
//! Exit codes: 0 success, 1 error, 2 invalid input or usage, 3 `verify` found a problem.

/// mimalloc instead of glibc malloc: after a million merged entries glibc's heap is fragmented enough
/// that the totals query's few thousand small allocations cost 2-3x what they cost at 10k entries,
/// while with mimalloc the query stays flat (BENCHMARKS.md, "Totals query at scale").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Help and parse errors in Vietnamese unless `--lang en` / `BAOBI_LANG=en` (cli/vi.rs).
    let (cli, _lang) = baobi_cli::parse::<baobi_hub::cli::Cli>(baobi_hub::cli::vi::TABLE);
    let default = if matches!(cli.command, baobi_hub::cli::Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    baobi_cli::set_json_notes(
        cli.log_format == baobi_hub::cli::LogFormat::Json,
        "baobi_hub::cli",
    );
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        baobi_hub::cli::LogFormat::Json => logs.json().init(),
        baobi_hub::cli::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    if let Err(e) = baobi_hub::cli::run(cli) {
        // `| head`: the reader has what it wanted; end quietly, as a filter should.
        if e.chain().any(|c| c.is::<baobi_hub::cli::StdoutClosed>()) {
            std::process::exit(0);
        }
        baobi_cli::note(&format!("Lỗi / Error: {e:#}"));
        let usage = e.chain().any(|c| {
            c.downcast_ref::<baobi_hub::cli::Usage>().is_some()
                || matches!(
                    c.downcast_ref::<baobi_hub::Error>(),
                    Some(baobi_hub::Error::Invalid(_))
                )
        });
        let problems = e
            .chain()
            .any(|c| c.downcast_ref::<baobi_hub::cli::Problems>().is_some());
        std::process::exit(if problems {
            baobi_hub::cli::EXIT_PROBLEMS
        } else if usage {
            baobi_hub::cli::EXIT_USAGE
        } else {
            1
        });
    }
}
