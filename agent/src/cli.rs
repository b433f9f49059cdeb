//! The command line: clap definitions, routing each command to the daemon's control socket or to the
//! store directly, and rendering responses (results on stdout, bilingual diagnostics on stderr).
//!
//! This is the only place that prints. Exit codes: 0 ok, 1 error, 2 invalid input, 3 hub unreachable.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use baobi_agent::ops::{
    self, CampaignArgs, CorrectArgs, Ctx, MarketArgs, OutletAddArgs, OutletCorrectArgs, Request,
    RetailArgs,
};
use baobi_agent::store::Store;
use baobi_agent::sync::{self, Progress};
use baobi_agent::{daemon, ops::EXIT_ERROR};
use baobi_proto::Token;
use clap::{Parser, Subcommand};

use crate::render::render;

/// baobi office agent: record packaging surveys offline and sync them to the provincial hub.
#[derive(Debug, Parser)]
#[command(name = "baobi-agent", version)]
pub struct Cli {
    /// Data directory (the office's store).
    #[arg(
        long,
        global = true,
        env = "BAOBI_DATA",
        default_value = "./baobi-agent-data"
    )]
    pub data: PathBuf,
    /// Log lines on stderr: `text` for people, `json` (one object a line) for log collectors.
    #[arg(long, global = true, env = "BAOBI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub cmd: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`).
    Json,
}

impl Cli {
    /// True for `daemon`.
    pub fn is_daemon(&self) -> bool {
        matches!(self.cmd, Command::Daemon { .. })
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll with the hub using a one-time token, then sync for the first time.
    Init {
        /// The enrollment token from the hub (baobi1.…).
        #[arg(long)]
        token: String,
        /// What this office calls itself (default: the host name).
        #[arg(long)]
        label: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Facilities: markets, supermarkets, trade centres, convenience stores.
    Outlet {
        /// Outlet command.
        #[command(subcommand)]
        cmd: OutletCmd,
    },
    /// Packaging surveys.
    Survey {
        /// Survey command.
        #[command(subcommand)]
        cmd: SurveyCmd,
    },
    /// Awareness campaigns.
    Campaign {
        /// Campaign command.
        #[command(subcommand)]
        cmd: CampaignCmd,
    },
    /// Sync with the hub now.
    Sync {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run in the background: sync on a schedule and serve other commands over DIR/agent.sock.
    Daemon {
        /// Seconds between syncs.
        #[arg(long, default_value_t = 300)]
        interval: u64,
        /// Serve the office app on this loopback address (PORT or IP:PORT), e.g. 127.0.0.1:8090.
        #[arg(long)]
        http: Option<String>,
        /// Also serve the office app to paired devices on the office network at this address.
        #[arg(long)]
        http_lan: Option<String>,
        /// Be a relay for the offices below this one: listen for their syncs (QUIC) on this
        /// address (IP:PORT) and carry them to the hub at this office's syncs.
        #[arg(long)]
        relay: Option<String>,
        /// With --relay: bytes of one office's runs the relay keeps waiting for the hub at most
        /// (default 33554432, 32 MiB); past it the office's new runs are refused (kept pending there).
        #[arg(long, value_name = "BYTES")]
        relay_office_cap: Option<u64>,
        /// With --relay: bytes of all offices' runs the relay keeps waiting at most (default
        /// 536870912, 512 MiB).
        #[arg(long, value_name = "BYTES")]
        relay_total_cap: Option<u64>,
    },
    /// Open the office app: start the daemon with --http if none runs on the data directory, then
    /// open the browser at its address (or print it).
    App {
        /// Loopback address for a daemon started here.
        #[arg(long, default_value = baobi_agent::http::DEFAULT_ADDR)]
        http: String,
        /// Print the address without opening a browser.
        #[arg(long)]
        no_open: bool,
    },
    /// Rebuild this office's store from the hub after its disk was lost: with a restore token from
    /// `baobi-hub restore` (new key; the lost key is retired) or with a key backup (same key).
    /// Records saved but never synced before the loss cannot be recovered.
    Restore {
        /// Restore token from `baobi-hub restore AGENT` (baobi1.…).
        #[arg(long, conflicts_with = "key", required_unless_present = "key")]
        token: Option<String>,
        /// Key backup file written by `baobi-agent backup-key`.
        #[arg(long)]
        key: Option<PathBuf>,
        /// What this office calls itself (token restore; default: the lost office's label).
        #[arg(long)]
        label: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a backup of this office's key and hub pin (keep it safe, like a password), so that a
    /// lost disk can be restored with the same key.
    BackupKey {
        /// File to write (created readable by its owner only).
        #[arg(long)]
        out: PathBuf,
    },
    /// Show the office's unit, hub, pending entries and last sync.
    Status {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the province's plan: the targets this office is measured against.
    Plan {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Drop files, for an office with no link: carry what the hub lacks on a USB stick, and back.
    Drop {
        /// Drop command.
        #[command(subcommand)]
        cmd: DropCmd,
    },
    /// Relays: sync through a district office when the hub does not answer, or be one.
    Relay {
        /// Relay command.
        #[command(subcommand)]
        cmd: crate::cli_relay::RelayCmd,
    },
}

/// `drop` subcommands.
#[derive(Debug, Subcommand)]
pub enum DropCmd {
    /// Write the own records the hub has not acknowledged to a signed, compressed file.
    Export {
        /// File to write.
        #[arg(long)]
        out: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take the hub's drop file for this office (`baobi-hub drop export --for`): what the office
    /// lacks, and the hub's receipt for what it holds.
    Import {
        /// The file.
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `outlet` subcommands.
#[derive(Debug, Subcommand)]
pub enum OutletCmd {
    /// Register a facility.
    Add {
        /// Outlet fields.
        #[command(flatten)]
        args: OutletAddArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List facilities.
    List {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Correct a facility: name, commune, certifications (and their end), opening or closing date.
    Correct {
        /// The outlet id and the fields to change.
        #[command(flatten)]
        args: OutletCorrectArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `survey` subcommands.
#[derive(Debug, Subcommand)]
pub enum SurveyCmd {
    /// Record a market survey.
    Market {
        /// Survey fields.
        #[command(flatten)]
        args: MarketArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record a supermarket, trade centre or convenience store survey.
    Retail {
        /// Survey fields.
        #[command(flatten)]
        args: RetailArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List surveys in this office's view, with their review state (returned ones show why).
    List {
        /// Only surveys the hub returned for correction.
        #[arg(long)]
        returned: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a survey with all its versions.
    Show {
        /// The survey id.
        id: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Correct a survey (also resolves a conflict).
    Correct {
        /// The survey id and the fields to change.
        #[command(flatten)]
        args: CorrectArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record many surveys from a CSV or JSON Lines file, all or nothing (see README, "survey import").
    Import {
        /// The file: `.csv` with a header (a `type` column and one column per flag) or JSON Lines.
        file: PathBuf,
        /// Print the saved ids (with their file lines) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a survey.
    Retract {
        /// The survey id.
        id: String,
        /// Why it is withdrawn.
        #[arg(long)]
        reason: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `campaign` subcommands.
#[derive(Debug, Subcommand)]
pub enum CampaignCmd {
    /// Record a campaign event.
    Add {
        /// Campaign fields.
        #[command(flatten)]
        args: CampaignArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command; returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    let dir = cli.data.clone();
    let result = match cli.cmd {
        Command::Init { token, label, json } => init(&dir, &token, label, json).await,
        Command::Daemon {
            interval,
            http,
            http_lan,
            relay,
            relay_office_cap,
            relay_total_cap,
        } => {
            let caps = (relay_office_cap, relay_total_cap);
            run_daemon(&dir, interval, http, http_lan, relay, caps).await
        }
        Command::App { http, no_open } => app(&dir, &http, no_open).await,
        Command::Restore {
            token,
            key,
            label,
            json,
        } => restore(&dir, token, key, label, json).await,
        Command::BackupKey { out } => backup_key(&dir, &out),
        Command::Outlet { cmd } => match cmd {
            OutletCmd::Add { args, json } => request(&dir, Request::OutletAdd(args), json).await,
            OutletCmd::List { json } => request(&dir, Request::OutletList, json).await,
            OutletCmd::Correct { args, json } => {
                request(&dir, Request::OutletCorrect(args), json).await
            }
        },
        Command::Survey { cmd } => match cmd {
            SurveyCmd::Market { args, json } => {
                request(&dir, Request::SurveyMarket(args), json).await
            }
            SurveyCmd::Retail { args, json } => {
                request(&dir, Request::SurveyRetail(args), json).await
            }
            SurveyCmd::List { returned, json } => {
                request(&dir, Request::SurveyList { returned }, json).await
            }
            SurveyCmd::Show { id, json } => request(&dir, Request::SurveyShow { id }, json).await,
            SurveyCmd::Correct { args, json } => {
                request(&dir, Request::SurveyCorrect(args), json).await
            }
            SurveyCmd::Retract { id, reason, json } => {
                request(&dir, Request::SurveyRetract { id, reason }, json).await
            }
            SurveyCmd::Import { file, json } => import(&dir, &file, json).await,
        },
        Command::Campaign {
            cmd: CampaignCmd::Add { args, json },
        } => request(&dir, Request::CampaignAdd(args), json).await,
        Command::Sync { json } => request(&dir, Request::Sync, json).await,
        Command::Status { json } => request(&dir, Request::Status, json).await,
        Command::Plan { json } => request(&dir, Request::Plan, json).await,
        Command::Drop { cmd } => match cmd {
            DropCmd::Export { out, json } => match std::path::absolute(&out) {
                Ok(out) => request(&dir, Request::DropExport { out }, json).await,
                Err(e) => Err(anyhow::Error::from(e).context(format!("{}", out.display()))),
            },
            DropCmd::Import { file, json } => match std::path::absolute(&file) {
                Ok(file) => request(&dir, Request::DropImport { file }, json).await,
                Err(e) => Err(anyhow::Error::from(e).context(format!("{}", file.display()))),
            },
        },
        Command::Relay { cmd } => {
            let (req, json) = cmd.request();
            request(&dir, req, json).await
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            note!("Lỗi / Error: {e:#}");
            EXIT_ERROR
        }
    }
}

fn open_store(dir: &Path) -> anyhow::Result<Store> {
    // The store's own error says whether it is in use, damaged or unreadable, and what to do.
    Store::open(dir).map_err(anyhow::Error::from)
}

fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} đồng bộ / syncing [{bar:30}] {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn on_progress(pb: &indicatif::ProgressBar) -> impl FnMut(Progress) + Send + '_ {
    let mut received = 0u64;
    move |p| match p {
        Progress::ToSend(n) => pb.set_length(n),
        Progress::Sent(n) => pb.inc(n),
        Progress::Received(n) => {
            received += n;
            pb.set_message(format!("nhận / received {received}"));
        }
    }
}

fn backup_key(dir: &Path, out: &Path) -> anyhow::Result<i32> {
    let store = open_store(dir)?;
    let b = match baobi_agent::restore::backup(&store) {
        Ok(b) => b,
        Err(e) => {
            note!("Lỗi / Error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    baobi_agent::restore::write_backup(&b, out)
        .with_context(|| format!("writing {}", out.display()))?;
    out!("{}", out.display());
    note!(
        "Đã sao lưu khóa văn phòng / Office key backed up to {}. Giữ tệp này như mật khẩu, ngoài \
         máy này / Keep it like a password, off this PC.",
        out.display()
    );
    Ok(0)
}

async fn restore(
    dir: &Path,
    token: Option<String>,
    key: Option<PathBuf>,
    label: Option<String>,
    json: bool,
) -> anyhow::Result<i32> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = open_store(dir)?;
    if let Err(e) = baobi_agent::restore::ensure_empty(&store) {
        note!("Lỗi / Error: {e}");
        return Ok(ops::EXIT_INVALID);
    }
    let mode = if let Some(path) = key {
        let b = match baobi_agent::restore::read_backup(&path) {
            Ok(b) => b,
            Err(e) => {
                note!("Lỗi / Error: {e}");
                return Ok(ops::EXIT_INVALID);
            }
        };
        if let Err(e) = baobi_agent::restore::install(&store, &b) {
            note!("Lỗi / Error: {e}");
            return Ok(EXIT_ERROR);
        }
        "key"
    } else {
        let text = token.unwrap_or_default();
        let token = match Token::from_text(&text) {
            Ok(t) => t,
            Err(e) => {
                note!("Mã khôi phục không hợp lệ / Invalid restore token: {e}");
                return Ok(ops::EXIT_INVALID);
            }
        };
        let label = label.unwrap_or_default();
        if let Err(e) = sync::enroll(&store, &token, &label).await {
            let e = ops::Error::Sync(e);
            note!("{e}");
            return Ok(e.exit_code());
        }
        "token"
    };
    let pb = progress_bar();
    let first = sync::sync(&store, &mut on_progress(&pb)).await;
    pb.finish_and_clear();
    let report = match first {
        Ok(r) => r,
        Err(e) => {
            let e = ops::Error::Sync(e);
            note!(
                "{e}\nKhôi phục chưa xong; chạy lại `baobi-agent sync` khi có mạng / Restore not \
                 finished; run `baobi-agent sync` when the hub is reachable (recording waits until then)"
            );
            return Ok(e.exit_code());
        }
    };
    let hub = store.hub()?.context("store lost its enrollment")?;
    let author = store.author()?;
    let own_seq = store.own_seq()?;
    let records = store.state().view.records.len();
    note!(
        "Đã khôi phục văn phòng / Office restored: {} ({}); nhận / received {} entries, {} records \
         in view; {}",
        hub.unit_name,
        hub.unit,
        report.received,
        records,
        if mode == "key" {
            format!(
                "cùng khóa, ghi tiếp từ số {} / same key, next entry is seq {}",
                own_seq + 1,
                own_seq + 1
            )
        } else {
            "khóa mới, khóa cũ đã bị thu hồi / new key; the lost key is retired".to_string()
        }
    );
    note!(
        "Lưu ý / Note: bản ghi đã lưu nhưng chưa đồng bộ trước khi mất máy không thể khôi phục; hãy \
         nhập lại / records saved but never synced before the loss cannot be recovered: enter them again."
    );
    if json {
        out!(
            "{}",
            serde_json::json!({
                "mode": mode,
                "author": author.hex(),
                "unit": hub.unit,
                "unit_name": hub.unit_name,
                "received": report.received,
                "records": records,
                "own_seq": own_seq,
            })
        );
    } else {
        out!("{}", author.hex());
    }
    Ok(0)
}

async fn init(dir: &Path, token: &str, label: Option<String>, json: bool) -> anyhow::Result<i32> {
    if let Err(e) = Token::from_text(token) {
        note!("Mã đăng ký không hợp lệ / Invalid token: {e}");
        return Ok(ops::EXIT_INVALID);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let req = Request::Enroll {
        token: token.to_string(),
        label,
    };
    request(dir, req, json).await
}

async fn run_daemon(
    dir: &Path,
    interval: u64,
    http: Option<String>,
    http_lan: Option<String>,
    relay: Option<String>,
    caps: (Option<u64>, Option<u64>),
) -> anyhow::Result<i32> {
    let Some(limits) = relay_limits(relay.is_some(), caps) else {
        return Ok(ops::EXIT_INVALID);
    };
    let relay_addr = match relay.as_deref().map(str::parse::<std::net::SocketAddr>) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            note!(
                "Lỗi / Error: --relay: địa chỉ phải có dạng IP:CỔNG / the address must be IP:PORT, \
                 not '{}'",
                relay.as_deref().unwrap_or_default()
            );
            return Ok(ops::EXIT_INVALID);
        }
    };
    let mut opts = baobi_agent::http::Options::default();
    for (flag, value, loopback) in [("--http", &http, true), ("--http-lan", &http_lan, false)] {
        let Some(v) = value else { continue };
        match baobi_agent::http::parse_addr(v, loopback) {
            Ok(a) if loopback => opts.loopback = Some(a),
            Ok(a) => opts.lan = Some(a),
            Err(e) => {
                note!("Lỗi / Error: {flag}: {e}");
                return Ok(ops::EXIT_INVALID);
            }
        }
    }
    if opts.lan.is_some() && opts.loopback.is_none() {
        note!(
            "Lỗi / Error: --http-lan cần --http (ghép thiết bị bằng mã hiện trên máy văn phòng) / \
             --http-lan needs --http (devices pair with a code shown on the office PC)"
        );
        return Ok(ops::EXIT_INVALID);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = open_store(dir)?;
    if store.hub()?.is_none() {
        note!(
            "Chưa đăng ký: chờ mã đăng ký (ứng dụng văn phòng hoặc `baobi-agent init`) / Not enrolled \
             yet: waiting for an enrollment token (the office app or `baobi-agent init`)"
        );
    }
    if let Some(a) = relay_addr {
        match baobi_agent::relay::serve::start(store.clone(), a, limits).await {
            Ok(bound) => {
                note!("Trạm chuyển tiếp đang nghe tại {bound} / Relay listening on {bound}")
            }
            Err(e) => {
                note!("Lỗi / Error: --relay: {e}");
                return Ok(EXIT_ERROR);
            }
        }
    }
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    daemon::run(
        Ctx::new(store),
        dir,
        Duration::from_secs(interval.max(1)),
        &opts,
        shutdown,
    )
    .await
    .context("running the daemon")?;
    Ok(0)
}

/// The relay's caps from `--relay-office-cap` / `--relay-total-cap` (defaults for those not given);
/// `None` (after saying why) for a zero cap or a cap without `--relay`.
fn relay_limits(
    relay: bool,
    (office, total): (Option<u64>, Option<u64>),
) -> Option<baobi_agent::relay::Limits> {
    if !relay && (office.is_some() || total.is_some()) {
        note!(
            "Lỗi / Error: --relay-office-cap và --relay-total-cap cần --relay / \
             --relay-office-cap and --relay-total-cap need --relay"
        );
        return None;
    }
    if office == Some(0) || total == Some(0) {
        note!(
            "Lỗi / Error: giới hạn của trạm chuyển tiếp phải lớn hơn 0 byte / a relay cap must be \
             more than 0 bytes"
        );
        return None;
    }
    let d = baobi_agent::relay::Limits::default();
    Some(baobi_agent::relay::Limits {
        office_bytes: office.unwrap_or(d.office_bytes),
        total_bytes: total.unwrap_or(d.total_bytes),
    })
}

/// `baobi-agent app`: the running daemon's app address, else a daemon started here with `--http`;
/// then the browser (xdg-open), or the address printed when there is none.
async fn app(dir: &Path, http: &str, no_open: bool) -> anyhow::Result<i32> {
    let url_file = dir.join(daemon::APP_URL_FILE);
    let running = daemon::client_request(dir, &Request::Plan).await.is_some();
    if running && !url_file.exists() {
        note!(
            "Lỗi / Error: tiến trình nền đang chạy mà không có --http; khởi động lại với --http \
             127.0.0.1:8090 / the daemon runs without --http: restart it with --http 127.0.0.1:8090"
        );
        return Ok(EXIT_ERROR);
    }
    if !running {
        if let Err(e) = baobi_agent::http::parse_addr(http, true) {
            note!("Lỗi / Error: --http: {e}");
            return Ok(ops::EXIT_INVALID);
        }
        let _ = std::fs::remove_file(&url_file);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let exe = std::env::current_exe().context("finding baobi-agent")?;
        let mut cmd = std::process::Command::new(exe);
        // Its own process group: Ctrl-C in this terminal does not stop the daemon.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .arg("--data")
            .arg(dir)
            .args(["daemon", "--http", http])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting the daemon")?;
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !url_file.exists() {
            if let Ok(Some(st)) = child.try_wait() {
                note!(
                    "Lỗi / Error: tiến trình nền dừng ({st}); chạy `baobi-agent daemon --http {http}` \
                     để xem lỗi / the daemon stopped ({st}): run `baobi-agent daemon --http {http}` to see why"
                );
                return Ok(EXIT_ERROR);
            }
            if std::time::Instant::now() > deadline {
                note!("Lỗi / Error: tiến trình nền không trả lời / the daemon did not come up");
                return Ok(EXIT_ERROR);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        note!(
            "Đã khởi động tiến trình nền (pid {}) / Daemon started (pid {})",
            child.id(),
            child.id()
        );
    }
    let url = std::fs::read_to_string(&url_file)
        .with_context(|| format!("reading {}", url_file.display()))?
        .trim()
        .to_string();
    out!("{url}");
    if !no_open {
        let opened = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !opened {
            note!("Mở trình duyệt tại địa chỉ trên / Open a browser at the address above");
        }
    }
    Ok(0)
}

async fn request(dir: &Path, req: Request, json: bool) -> anyhow::Result<i32> {
    let is_sync = matches!(req, Request::Sync | Request::Enroll { .. });
    let resp = match daemon::client_request(dir, &req).await {
        Some(r) => r.context("talking to the running daemon")?,
        None => {
            if !dir.exists() {
                let e = ops::Error::NotEnrolled;
                note!("{e}");
                return Ok(e.exit_code());
            }
            let store = open_store(dir)?;
            let ctx = Ctx::new(store);
            if is_sync {
                let pb = progress_bar();
                let r = ops::execute(&ctx, req, &mut on_progress(&pb)).await;
                pb.finish_and_clear();
                r
            } else {
                ops::execute(&ctx, req, &mut |_| {}).await
            }
        }
    };
    Ok(render(resp, json))
}

async fn import(dir: &Path, file: &Path, json: bool) -> anyhow::Result<i32> {
    let rows = match baobi_agent::import::parse_file(file) {
        Ok(rows) => rows,
        Err(baobi_agent::import::Error::Lines(errors)) => {
            for e in &errors {
                note!("dòng / line {}: {}", e.line, e.message);
            }
            note!(
                "Không lưu gì / Nothing saved: {} dòng lỗi / bad lines",
                errors.len()
            );
            return Ok(ops::EXIT_INVALID);
        }
        Err(e) => {
            note!("{e}");
            return Ok(ops::EXIT_INVALID);
        }
    };
    note!(
        "Đang kiểm tra và lưu {} khảo sát / Checking and saving {} surveys…",
        rows.len(),
        rows.len()
    );
    request(dir, Request::SurveyImport { rows }, json).await
}
