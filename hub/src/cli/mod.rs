//! The `baobi-hub` command line: routing each command and what it prints. The clap definitions (the
//! help text) are in `args.rs`; backup, restore and verify in `backups.rs`; plans in `plan.rs`.
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

/// A diagnostic line on stderr, plain or JSON (see [`note`]).
macro_rules! note {
    ($($t:tt)*) => {
        baobi_cli::note(&format!($($t)*))
    };
}

mod args;
mod backups;
mod drop;
mod national;
mod plan;
mod relay;
mod standby;
pub mod vi;

pub use args::*;
use backups::{backup, restore_backup, verify};
pub use backups::{Problems, EXIT_PROBLEMS};
pub use plan::plan_text;
use plan::run_plan;

/// Exit code for invalid input.
pub const EXIT_USAGE: i32 = 2;

/// Stdout was closed before the command finished writing (`| head`): `main` exits 0 without a word.
#[derive(Debug, thiserror::Error)]
#[error("stdout closed / đầu ra đã đóng")]
pub struct StdoutClosed;

/// What a failed write to stdout becomes: [`StdoutClosed`] for a closed pipe, else the I/O error.
pub fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        StdoutClosed.into()
    } else {
        anyhow::Error::from(e).context("writing to stdout / ghi ra stdout")
    }
}

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

/// Initialises a hub store (units, lineage, optionally a plan: a built-in id or a file).
pub fn init(
    dir: &Path,
    province: &str,
    name: &str,
    units: Option<&Path>,
    lineage: Option<&Path>,
    plan: Option<&str>,
) -> anyhow::Result<Hub> {
    let text = match units {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading units file {}", p.display()))?,
        None => units_csv::SEED_UNITS.to_string(),
    };
    let defs = units_csv::parse(&text).map_err(|e| Usage(e.to_string()))?;
    let lineage_text = match lineage {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading lineage file {}", p.display()))?,
        None => units_csv::SEED_LINEAGE.to_string(),
    };
    let rows = units_csv::parse_lineage(&lineage_text).map_err(|e| Usage(e.to_string()))?;
    let plan = match plan {
        Some(p) => Some(crate::plan::parse(&plan_text(p)?).map_err(|e| Usage(e.to_string()))?),
        None => None,
    };
    Hub::init_with(dir, province, name, defs, rows, plan).map_err(|e| match e {
        crate::Error::Invalid(m) => Usage(m).into(),
        e => anyhow::Error::from(e).context(format!("creating the hub store in {}", dir.display())),
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // A national hub's commands, and `--province` on one (cli/national.rs).
    let Some(cli) = national::intercept(cli)? else {
        return Ok(());
    };
    match cli.command {
        Command::Init {
            standby_of: Some(token),
            addr,
            ..
        } => standby::init_standby(data(&cli.data)?, &token, addr.as_deref())?,
        Command::Init {
            province,
            name,
            units,
            lineage,
            plan,
            ..
        } => {
            let dir = data(&cli.data)?;
            let hub = init(
                dir,
                province.as_deref().unwrap_or_default(),
                name.as_deref().unwrap_or_default(),
                units.as_deref(),
                lineage.as_deref(),
                plan.as_deref(),
            )?;
            out!(
                "Tỉnh / Province: {} ({})",
                hub.province_name(),
                hub.province()
            );
            out!("Đơn vị hành chính / Units: {}", hub.units().len());
            out!(
                "Dấu vân tay máy chủ / Hub fingerprint: {}",
                data_encoding::HEXLOWER.encode(&hub.fingerprint())
            );
            crate::http::tls::ensure_self_signed(dir)
                .context("making the dashboard certificate")?;
            let (c, k) = crate::http::tls::self_signed_paths(dir);
            let cert =
                crate::http::tls::load(&c, &k).context("loading the dashboard certificate")?;
            out!(
                "Chứng chỉ HTTPS bảng điều khiển / Dashboard HTTPS certificate (SHA-256): {}",
                cert.fingerprint
            );
            note!(
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
            relay,
            relay_fingerprint,
        } => {
            let relay = relay::pin(relay, relay_fingerprint)?;
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
                validity,
                expires_at,
                warning,
            } = r
            else {
                bail!("unexpected answer from the hub");
            };
            if let Some(w) = warning {
                note!("Cảnh báo / Warning: {w}");
            }
            let token = relay::with_relay(&token, relay)?;
            out!("{token}");
            note!(
                "Mã đăng ký dùng một lần cho {unit_name} ({unit}{validity}), hết hạn {expires_at} / \
                 One-time enrollment token for {unit_name} ({unit}{validity}), expires \
                 {expires_at}.\n\
                 Tại văn phòng / At the office: baobi-agent init --token <TOKEN>"
            );
        }
        Command::Restore {
            from: Some(from),
            json: j,
            ..
        } => restore_backup(data(&cli.data)?, &from, j)?,
        Command::Backup { out, json: j } => backup(data(&cli.data)?, &out, j)?,
        Command::Verify { json: j } => verify(data(&cli.data)?, j)?,
        Command::Drop { cmd } => drop::run_drop(data(&cli.data)?, cmd)?,
        Command::Relay { cmd } => relay::run_relay(data(&cli.data)?, cmd)?,
        Command::National { .. } | Command::Province { .. } | Command::Pull { .. } => {
            bail!("handled by cli/national.rs")
        }
        Command::Restore {
            agent,
            addr,
            ttl_hours,
            ..
        } => {
            let dir = data(&cli.data)?;
            let agent = agent.ok_or_else(|| {
                Usage("restore needs AGENT or --from FILE / cần AGENT hoặc --from FILE".into())
            })?;
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
                validity,
                expires_at,
                warning,
            } = r
            else {
                bail!("unexpected answer from the hub");
            };
            if let Some(w) = warning {
                note!("Cảnh báo / Warning: {w}");
            }
            out!("{token}");
            note!(
                "Mã khôi phục dùng một lần cho {unit_name} ({unit}{validity}), hết hạn {expires_at} / \
                 One-time restore token for {unit_name} ({unit}{validity}), expires {expires_at}.\n\
                 Khi dùng mã, khóa cũ bị thu hồi vĩnh viễn / When it is redeemed, the lost key is \
                 retired for good.\n\
                 Tại văn phòng / At the office: baobi-agent --data DIR restore --token <TOKEN>"
            );
        }
        Command::Serve {
            listen,
            http,
            http_public,
            http_tls,
            http_cert,
            http_key,
            metrics_token,
            first_message_secs,
            read_timeout_secs,
            frame_timeout_secs,
            max_per_address,
            frame_budget_mib,
            follow_secs,
            ..
        } => {
            let dir = data(&cli.data)?.to_path_buf();
            let http = match http {
                Some(h) => Some(
                    crate::http::parse_addr(&h, http_public).map_err(|e| Usage(e.to_string()))?,
                ),
                None => None,
            };
            let tls = if http_tls {
                Some(dashboard_tls(
                    &dir,
                    http_cert.as_deref(),
                    http_key.as_deref(),
                )?)
            } else {
                if http_public {
                    warn_public_without_tls();
                }
                None
            };
            let metrics_token = match metrics_token.map(|t| t.trim().to_string()) {
                Some(t) if t.len() < 16 => {
                    return Err(Usage(
                        "--metrics-token cần ít nhất 16 ký tự / needs at least 16 characters"
                            .into(),
                    )
                    .into())
                }
                t => t,
            };
            let timeouts = crate::limits::Timeouts::with_secs(
                first_message_secs,
                read_timeout_secs,
                frame_timeout_secs,
            );
            let bounds = crate::limits::Bounds::with(max_per_address, frame_budget_mib);
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(serve(
                &dir,
                listen,
                http,
                tls,
                metrics_token,
                timeouts,
                bounds,
                std::time::Duration::from_secs(follow_secs.max(1)),
            ))?;
        }
        Command::Operator { action } => operator(data(&cli.data)?, action)?,
        Command::Totals { year, by, json: j } => {
            let dir = data(&cli.data)?;
            let by = by.unwrap_or(By::UnitKind);
            let Response::Totals(t) = call(dir, Request::Totals { year, by })? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&t)?);
            } else {
                out!("{}", report::render_totals(&t));
            }
        }
        Command::Records { json: true, .. } => records_json(data(&cli.data)?)?,
        Command::Records { json: j, .. } => {
            let dir = data(&cli.data)?;
            let Response::Records { records } = call(dir, Request::Records)? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&records)?);
            } else {
                out!("{}", report::render_records(&records));
            }
        }
        Command::Agents {
            cmd:
                Some(AgentsCmd::Move {
                    agent,
                    unit,
                    json: j,
                }),
            ..
        } => {
            let dir = data(&cli.data)?;
            let Response::Moved { agent } = call(dir, Request::AgentsMove { agent, units: unit })?
            else {
                bail!("unexpected answer from the hub");
            };
            if j {
                println!("{}", json(&agent)?);
            } else {
                println!(
                    "Đã giao đơn vị / Units given: {} {} → {}",
                    agent.short, agent.label, agent.jurisdiction
                );
            }
            note!(
                "Văn phòng nhận thay đổi ở lần đồng bộ sau / The office receives it at its next sync"
            );
        }
        Command::Agents { cmd: None, json: j } => {
            let dir = data(&cli.data)?;
            let Response::Agents { agents } = call(dir, Request::Agents)? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&agents)?);
            } else {
                out!("{}", report::render_agents(&agents));
            }
        }
        Command::Revoke { agent, json: j } => {
            let dir = data(&cli.data)?;
            let Response::Revoked { agent } = call(dir, Request::Revoke { agent })? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&agent)?);
            } else {
                out!(
                    "Đã thu hồi / Revoked: {} {} ({} {})",
                    agent.short,
                    agent.label,
                    agent.unit_name,
                    agent.unit
                );
            }
            note!(
                "Từ lần kết nối sau, văn phòng này bị từ chối / From its next connection this office is refused"
            );
        }
        Command::Demo { keep } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(crate::demo::run(keep))?;
        }
        Command::Plan { cmd } => run_plan(&cli.data, cmd)?,
        Command::Standby { cmd } => standby::run_standby(data(&cli.data)?, cmd)?,
        Command::Promote { json: j } => standby::promote(data(&cli.data)?, j)?,
        Command::Review { cmd } => {
            let dir = data(&cli.data)?;
            let (id, returned, j) = match cmd {
                ReviewCmd::Verify { id, json } => (id, None, json),
                ReviewCmd::Return { id, reason, json } => (id, Some(reason), json),
            };
            let was_return = returned.is_some();
            let Response::Record { record } = call(dir, Request::Review { id, returned })? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&record)?);
            } else {
                out!("{}", report::render_records(std::slice::from_ref(&record)));
            }
            if was_return {
                note!(
                    "Đã trả lại {}; văn phòng thấy lý do ở lần đồng bộ sau / Returned {}; the office sees why at its next sync",
                    record.short_id, record.short_id
                );
            } else {
                note!("Đã xác minh / Verified: {}", record.short_id);
            }
        }
        Command::Settings { cmd, json: j } => {
            let dir = data(&cli.data)?;
            let (basis, i1_rule) = match cmd {
                None => (None, None),
                Some(SettingsCmd::Basis { value }) => (
                    Some(match value {
                        BasisArg::Submitted => crate::indicators::Basis::Submitted,
                        BasisArg::Verified => crate::indicators::Basis::Verified,
                    }),
                    None,
                ),
                Some(SettingsCmd::I1Rule { value }) => (
                    None,
                    Some(match value {
                        I1RuleArg::NoNonbio => crate::indicators::I1Rule::NoNonbio,
                        I1RuleArg::EcoOffered => crate::indicators::I1Rule::EcoOffered,
                    }),
                ),
            };
            let changed = basis.is_some() || i1_rule.is_some();
            let Response::Settings { settings } = call(dir, Request::Settings { basis, i1_rule })?
            else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&settings)?);
            } else {
                out!("basis: {}", word(&settings.basis));
                out!("i1-rule: {}", word(&settings.i1_rule));
            }
            if changed {
                note!("Đã lưu cài đặt / Settings saved");
            }
        }
        Command::Indicators {
            year,
            unit,
            trend,
            json: j,
            ..
        } => {
            let dir = data(&cli.data)?;
            if trend {
                let Response::Trend { reports } = call(dir, Request::Trend { unit })? else {
                    bail!("unexpected answer from the hub");
                };
                if j {
                    out!("{}", json(&reports)?);
                } else {
                    for r in &reports {
                        out!("{}", crate::indicators::render(r));
                    }
                }
            } else {
                let Response::Indicators(r) = call(dir, Request::Indicators { year, unit })? else {
                    bail!("unexpected answer from the hub");
                };
                if j {
                    out!("{}", json(&r)?);
                } else {
                    out!(raw "{}", crate::indicators::render(&r));
                }
            }
        }
    }
    Ok(())
}

/// `records --json`: the JSON array written one record at a time as the store is read (the same
/// text `serde_json::to_string_pretty` gives for the whole array), so memory stays at one record.
fn records_json(dir: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut first = true;
    let mut buf = Vec::new();
    control::for_each_record(dir, |row| -> anyhow::Result<()> {
        buf.clear();
        serde_json::to_writer_pretty(&mut buf, &row)?;
        out.write_all(if first { b"[\n  " } else { b",\n  " })
            .map_err(stdout_error)?;
        first = false;
        for (i, line) in buf.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                out.write_all(b"\n  ").map_err(stdout_error)?;
            }
            out.write_all(line).map_err(stdout_error)?;
        }
        Ok(())
    })?;
    out.write_all(if first { b"[]\n" } else { b"\n]\n" })
        .map_err(stdout_error)?;
    out.flush().map_err(stdout_error)?;
    Ok(())
}

/// A setting's value as the word the CLI takes.
fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let p = rpassword::prompt_password("Mật khẩu / Password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Nhập lại / Again: ").context("reading the password")?;
    if p != again {
        return Err(Usage("passwords differ / mật khẩu không khớp".into()).into());
    }
    Ok(p)
}

fn operator(dir: &Path, action: OperatorCmd) -> anyhow::Result<()> {
    match action {
        OperatorCmd::Add {
            name,
            password_stdin,
            json: j,
        } => {
            let name = crate::operators::check_name(&name).map_err(|e| Usage(e.to_string()))?;
            let password = read_password(password_stdin)?;
            let phc =
                crate::operators::hash_password(&password).map_err(|e| Usage(e.to_string()))?;
            let Response::Operator { operator } = call(dir, Request::OperatorAdd { name, phc })?
            else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&operator)?);
            } else {
                out!("{}", operator.name);
            }
            note!(
                "Đã thêm người dùng bảng điều khiển / Dashboard operator added: {}",
                operator.name
            );
        }
        OperatorCmd::List { json: j } => {
            let Response::Operators { operators } = call(dir, Request::OperatorList)? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&operators)?);
            } else {
                for o in &operators {
                    out!("{}\t{}", o.name, o.created_at);
                }
                note!("{} người dùng / operators", operators.len());
            }
        }
        OperatorCmd::Remove { name, json: j } => {
            let Response::Operator { operator } = call(dir, Request::OperatorRemove { name })?
            else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&operator)?);
            } else {
                out!("{}", operator.name);
            }
            note!("Đã xóa người dùng / Operator removed: {}", operator.name);
        }
    }
    Ok(())
}

/// The dashboard's TLS configuration: the operator's PEM files, or the hub's own self-signed
/// certificate (made now, with its fingerprint printed, for a hub initialised before there was one).
fn dashboard_tls(
    dir: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> anyhow::Result<crate::http::tls::Loaded> {
    use crate::http::tls;
    let (c, k) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        _ => {
            if tls::ensure_self_signed(dir).context("making the dashboard certificate")? {
                note!(
                    "Đã tạo chứng chỉ HTTPS cho bảng điều khiển / Made the dashboard's HTTPS \
                     certificate: {}",
                    dir.join(tls::CERT_FILE).display()
                );
            }
            tls::self_signed_paths(dir)
        }
    };
    tls::load(&c, &k).map_err(|e| Usage(e.to_string()).into())
}

/// The warning `--http-public` without `--http-tls` prints (a hub's and a national hub's).
fn warn_public_without_tls() {
    note!(
        "CẢNH BÁO / WARNING: --http-public không có --http-tls: mật khẩu và phiên đăng nhập đi \
         qua mạng dưới dạng rõ, ai nghe lén cũng đọc được; hãy thêm --http-tls / --http-public \
         without --http-tls: passwords and session cookies cross the network in clear text; add \
         --http-tls"
    );
}

/// The dashboard certificate's fingerprint, for the operator to check in the browser.
fn note_fingerprint(t: &crate::http::tls::Loaded) {
    note!(
        "Dấu vân tay chứng chỉ HTTPS (SHA-256), so với trình duyệt / HTTPS certificate \
         fingerprint (SHA-256), check it in the browser: {}",
        t.fingerprint
    );
}

// Each argument is one of `serve`'s independent settings.
#[allow(clippy::too_many_arguments)]
async fn serve(
    dir: &Path,
    listen: SocketAddr,
    http: Option<SocketAddr>,
    tls: Option<crate::http::tls::Loaded>,
    metrics_token: Option<String>,
    timeouts: crate::limits::Timeouts,
    bounds: crate::limits::Bounds,
    follow_every: std::time::Duration,
) -> anyhow::Result<()> {
    let hub = Arc::new(Hub::open(dir).map_err(|e| match e {
        crate::Error::Invalid(m) => anyhow::Error::from(Usage(m)),
        e => anyhow::Error::from(e).context(format!("opening the hub store in {}", dir.display())),
    })?);
    standby::refuse_if_superseded(&hub).await?;
    let running = crate::server::start_with(hub.clone(), listen, timeouts, bounds)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let dashboard = match http {
        Some(addr) => Some(
            crate::http::start(
                hub.clone(),
                addr,
                crate::http::Options {
                    tls: tls.as_ref().map(|t| t.config.clone()),
                    metrics_token,
                },
                running.stopper().subscribe(),
            )
            .await
            .with_context(|| format!("dashboard on {addr}"))?,
        ),
        None => None,
    };
    {
        // The announcement is for whoever started the hub; a closed stdout does not stop the serving.
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "listening on {}", running.addr);
        let scheme = if tls.is_some() { "https" } else { "http" };
        if let Some(d) = &dashboard {
            let _ = writeln!(out, "dashboard on {scheme}://{}/", d.addr);
        }
        let _ = out.flush();
    }
    if let Some(d) = &dashboard {
        note!(
            "Bảng điều khiển / Dashboard: {}://{}/ (baobi-hub operator add NAME)",
            if tls.is_some() { "https" } else { "http" },
            d.addr
        );
        if let Some(t) = &tls {
            note_fingerprint(t);
        }
    }
    note!(
        "Máy chủ tỉnh {} đang chạy / Hub for {} serving on {} (Ctrl-C để dừng / to stop)",
        hub.province_name(),
        hub.province_name(),
        running.addr
    );
    if let crate::store::standby::Role::Standby { pin, .. } = hub.role()? {
        note!(
            "Máy chủ dự phòng: theo dõi máy chủ chính tại {} / Standby: following the primary at {}",
            pin.addr,
            pin.addr
        );
        tokio::spawn(crate::follow::run(
            hub.clone(),
            running.stopper().subscribe(),
            follow_every,
        ));
    }
    tokio::spawn(stop_on_signal(running.stopper()));
    running.wait().await?;
    if let Some(d) = dashboard {
        d.wait().await;
    }
    hub.flush()?;
    note!("Đã dừng máy chủ / Hub stopped");
    Ok(())
}

/// Waits for SIGINT or SIGTERM (SIGINT only when SIGTERM cannot be caught), then says stop on
/// `stop`: what `serve` on a hub and on a national hub run beside their work.
pub(super) async fn stop_on_signal(stop: tokio::sync::watch::Sender<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("stopping");
    let _ = stop.send(true);
}
