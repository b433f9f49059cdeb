//! The `baobi-hub` command line: clap definitions and what each command prints.
//!
//! Results go to stdout (tables, or JSON with `--json`), diagnostics to stderr, bilingual. Commands
//! other than `init`, `serve` and `demo` go through `control::run`, so they work with the hub running
//! (via its socket) or stopped (opening the store).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use crate::control::{self, Request, Response};
use crate::report::{self, By};
use crate::store::Hub;
use crate::units_csv;

/// baobi's provincial hub: enrolls offices, merges their surveys, reports totals.
#[derive(Debug, Parser)]
#[command(name = "baobi-hub", version, about)]
pub struct Cli {
    /// Data directory of the hub (sled store and control socket).
    #[arg(long, global = true, env = "BAOBI_HUB_DATA")]
    pub data: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The hub's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new hub store for a province (keys, certificate, units).
    Init {
        /// Province code (e.g. 87).
        #[arg(long)]
        province: String,
        /// Province name (e.g. "Đồng Tháp").
        #[arg(long)]
        name: String,
        /// Units CSV (default: the embedded seed units).
        #[arg(long)]
        units: Option<PathBuf>,
    },
    /// Issue a one-time enrollment token for an office of a unit.
    Enroll {
        /// Unit code of the office (district or commune).
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
    },
    /// Issue a one-time restore token for an office whose disk (and key) was lost: the office that
    /// redeems it (`baobi-agent restore --token`) takes over its unit, and the lost key is retired.
    Restore {
        /// The lost office: author key prefix (at least 8 hex digits) or exact label.
        agent: String,
        /// Hub address the office connects to (default: the last address `serve` listened on).
        #[arg(long)]
        addr: Option<String>,
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 168)]
        ttl_hours: u64,
    },
    /// Serve agents over QUIC (and the control socket) until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "0.0.0.0:4433")]
        listen: SocketAddr,
        /// Seconds a peer has for the handshake and its first message (default 10).
        #[arg(long, hide = true, env = crate::limits::ENV_FIRST_MESSAGE)]
        first_message_secs: Option<u64>,
        /// Seconds of silence before a connection is dropped (default 120).
        #[arg(long, hide = true, env = crate::limits::ENV_READ_TIMEOUT)]
        read_timeout_secs: Option<u64>,
        /// Seconds a begun frame may take to complete (default 180).
        #[arg(long, hide = true, env = crate::limits::ENV_FRAME_TIMEOUT)]
        frame_timeout_secs: Option<u64>,
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
    },
    /// Enrolled offices.
    Agents {
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
    /// Run the end-to-end demo: a hub and three offices, offline work, sync, totals.
    Demo {
        /// Keep the demo's temporary directory and print its path.
        #[arg(long)]
        keep: bool,
    },
}

/// Exit code for invalid input.
pub const EXIT_USAGE: i32 = 2;

/// An error whose exit code is 2 (invalid input).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

fn data(cli_data: &Option<PathBuf>) -> anyhow::Result<&Path> {
    cli_data.as_deref().ok_or_else(|| {
        Usage("--data DIR (or BAOBI_HUB_DATA) is required / cần --data DIR".into()).into()
    })
}

fn json<T: serde::Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}

fn call(dir: &Path, req: Request) -> anyhow::Result<Response> {
    match control::run(dir, req) {
        Ok(Response::Error { message, invalid }) => {
            if invalid {
                Err(Usage(message).into())
            } else {
                bail!(message)
            }
        }
        Ok(r) => Ok(r),
        Err(crate::Error::Invalid(m)) => Err(Usage(m).into()),
        Err(e) => Err(e).with_context(|| format!("hub data in {}", dir.display())),
    }
}

/// Initialises a hub store and returns the lines to print.
pub fn init(dir: &Path, province: &str, name: &str, units: Option<&Path>) -> anyhow::Result<Hub> {
    let text = match units {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading units file {}", p.display()))?,
        None => units_csv::SEED_UNITS.to_string(),
    };
    let defs = units_csv::parse(&text).map_err(|e| Usage(e.to_string()))?;
    Hub::init(dir, province, name, defs).map_err(|e| match e {
        crate::Error::Invalid(m) => Usage(m).into(),
        e => anyhow::Error::from(e).context(format!("creating the hub store in {}", dir.display())),
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init {
            province,
            name,
            units,
        } => {
            let dir = data(&cli.data)?;
            let hub = init(dir, &province, &name, units.as_deref())?;
            println!(
                "Tỉnh / Province: {} ({})",
                hub.province_name(),
                hub.province()
            );
            println!("Đơn vị hành chính / Units: {}", hub.units().len());
            println!(
                "Dấu vân tay máy chủ / Hub fingerprint: {}",
                data_encoding::HEXLOWER.encode(&hub.fingerprint())
            );
            eprintln!(
                "Đã khởi tạo máy chủ tỉnh / Hub initialised in {}",
                dir.display()
            );
        }
        Command::Enroll {
            unit,
            label,
            addr,
            ttl_hours,
            ttl_secs,
        } => {
            let dir = data(&cli.data)?;
            let r = call(
                dir,
                Request::Enroll {
                    unit,
                    label,
                    addr,
                    ttl_hours,
                    ttl_secs,
                },
            )?;
            let Response::Token {
                token,
                unit,
                unit_name,
                expires_at,
                warning,
            } = r
            else {
                bail!("unexpected answer from the hub");
            };
            if let Some(w) = warning {
                eprintln!("Cảnh báo / Warning: {w}");
            }
            println!("{token}");
            eprintln!(
                "Mã đăng ký dùng một lần cho {unit_name} ({unit}), hết hạn {expires_at} / \
                 One-time enrollment token for {unit_name} ({unit}), expires {expires_at}.\n\
                 Tại văn phòng / At the office: baobi-agent init --token <TOKEN>"
            );
        }
        Command::Restore {
            agent,
            addr,
            ttl_hours,
        } => {
            let dir = data(&cli.data)?;
            let r = call(
                dir,
                Request::Restore {
                    agent,
                    addr,
                    ttl_hours,
                },
            )?;
            let Response::Token {
                token,
                unit,
                unit_name,
                expires_at,
                warning,
            } = r
            else {
                bail!("unexpected answer from the hub");
            };
            if let Some(w) = warning {
                eprintln!("Cảnh báo / Warning: {w}");
            }
            println!("{token}");
            eprintln!(
                "Mã khôi phục dùng một lần cho {unit_name} ({unit}), hết hạn {expires_at} / \
                 One-time restore token for {unit_name} ({unit}), expires {expires_at}.\n\
                 Khi dùng mã, khóa cũ bị thu hồi vĩnh viễn / When it is redeemed, the lost key is \
                 retired for good.\n\
                 Tại văn phòng / At the office: baobi-agent --data DIR restore --token <TOKEN>"
            );
        }
        Command::Serve {
            listen,
            first_message_secs,
            read_timeout_secs,
            frame_timeout_secs,
        } => {
            let dir = data(&cli.data)?.to_path_buf();
            let timeouts = crate::limits::Timeouts::with_secs(
                first_message_secs,
                read_timeout_secs,
                frame_timeout_secs,
            );
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(serve(&dir, listen, timeouts))?;
        }
        Command::Totals { year, by, json: j } => {
            let dir = data(&cli.data)?;
            let by = by.unwrap_or(By::UnitKind);
            let Response::Totals(t) = call(dir, Request::Totals { year, by })? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                println!("{}", json(&t)?);
            } else {
                println!("{}", report::render_totals(&t));
            }
        }
        Command::Records { json: j } => {
            let dir = data(&cli.data)?;
            let Response::Records { records } = call(dir, Request::Records)? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                println!("{}", json(&records)?);
            } else {
                println!("{}", report::render_records(&records));
            }
        }
        Command::Agents { json: j } => {
            let dir = data(&cli.data)?;
            let Response::Agents { agents } = call(dir, Request::Agents)? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                println!("{}", json(&agents)?);
            } else {
                println!("{}", report::render_agents(&agents));
            }
        }
        Command::Revoke { agent, json: j } => {
            let dir = data(&cli.data)?;
            let Response::Revoked { agent } = call(dir, Request::Revoke { agent })? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                println!("{}", json(&agent)?);
            } else {
                println!(
                    "Đã thu hồi / Revoked: {} {} ({} {})",
                    agent.short, agent.label, agent.unit_name, agent.unit
                );
            }
            eprintln!(
                "Từ lần kết nối sau, văn phòng này bị từ chối / From its next connection this office is refused"
            );
        }
        Command::Demo { keep } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(crate::demo::run(keep))?;
        }
    }
    Ok(())
}

async fn serve(
    dir: &Path,
    listen: SocketAddr,
    timeouts: crate::limits::Timeouts,
) -> anyhow::Result<()> {
    let hub = Arc::new(Hub::open(dir).map_err(|e| match e {
        crate::Error::Invalid(m) => anyhow::Error::from(Usage(m)),
        e => anyhow::Error::from(e).context(format!("opening the hub store in {}", dir.display())),
    })?);
    let running = crate::server::start_with(hub.clone(), listen, timeouts)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    {
        use std::io::Write;
        let mut out = std::io::stdout();
        writeln!(out, "listening on {}", running.addr)?;
        out.flush()?;
    }
    eprintln!(
        "Máy chủ tỉnh {} đang chạy / Hub for {} serving on {} (Ctrl-C để dừng / to stop)",
        hub.province_name(),
        hub.province_name(),
        running.addr
    );
    let stop = running.stopper();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = stop.send(true);
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("stopping");
        let _ = stop.send(true);
    });
    running.wait().await?;
    hub.flush()?;
    eprintln!("Đã dừng máy chủ / Hub stopped");
    Ok(())
}
