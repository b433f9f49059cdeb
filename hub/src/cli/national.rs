//! `baobi-hub national token` (at a province), and on a national hub `init --national`,
//! `province add|list|remove`, `pull`, `serve`, `indicators` and `records --province`: the
//! national hub of issue 14 (the work is in `crate::national`), kept apart from `mod.rs`.

use super::*;
use crate::national::control::{self as ncontrol, Request as NRequest, Response as NResponse};
use crate::national::{self as nat, National};

/// `national` subcommands (at a provincial hub).
#[derive(Debug, Subcommand)]
pub enum NationalCmd {
    /// Issue a one-time token for the national hub: `baobi-hub province add TOKEN` there makes it
    /// pull this hub.
    Token {
        /// This hub's address the national hub connects to (default: the last address `serve`
        /// listened on).
        #[arg(long)]
        addr: Option<String>,
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write every run this hub holds, sealed, with its registry of offices, to a file signed by
    /// this hub, for a national hub with no link to it (`baobi-hub province import FILE` there).
    Export {
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `province` subcommands (on a national hub).
#[derive(Debug, Subcommand)]
pub enum ProvinceCmd {
    /// Add a province from the token its hub issued (`baobi-hub national token`).
    Add {
        /// The `baobinat1.` token.
        token: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The provinces: code, name, last pull, entries, offices, errors.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Merge a province's national drop file (`baobi-hub national export` there) with the checks
    /// a pull makes; the province must have been added.
    Import {
        /// The file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget a province (its copy here is deleted; the province's hub is not touched).
    Remove {
        /// Province code.
        code: String,
    },
}

fn national_err(e: nat::Error) -> anyhow::Error {
    match e {
        nat::Error::Invalid(m) => Usage(m).into(),
        nat::Error::Store(crate::Error::Invalid(m)) => Usage(m).into(),
        e => e.into(),
    }
}

fn open(dir: &Path) -> anyhow::Result<National> {
    National::open(dir).map_err(national_err)
}

/// Runs `req` through the serving national hub, or on its stores when nothing serves them.
fn ncall(
    dir: &Path,
    req: NRequest,
    progress: &mut (dyn FnMut(NResponse) + Send),
) -> anyhow::Result<NResponse> {
    match ncontrol::run(dir, req, progress).map_err(national_err)? {
        NResponse::Error { message, invalid } => {
            if invalid {
                Err(Usage(message).into())
            } else {
                bail!(message)
            }
        }
        r => Ok(r),
    }
}

fn no_progress(_: NResponse) {}

/// Handles what is a national hub's (or `national token` at a province); gives back the command
/// line to run as usual otherwise, pointed at a province's store for `--province`.
pub(super) fn intercept(mut cli: Cli) -> anyhow::Result<Option<Cli>> {
    let national_dir = cli.data.as_deref().is_some_and(nat::is_national);
    match cli.command {
        Command::Init { national: true, .. } => {
            let dir = data(&cli.data)?;
            let n = National::init(dir).map_err(national_err)?;
            out!(
                "Dấu vân tay máy chủ quốc gia / National hub fingerprint: {}",
                data_encoding::HEXLOWER.encode(&n.fingerprint())
            );
            note!(
                "Đã khởi tạo máy chủ quốc gia trong {} / National hub initialised in {}; thêm tỉnh \
                 / add a province: baobi-hub province add <TOKEN>",
                dir.display(),
                dir.display()
            );
        }
        Command::National { cmd } => national_cmd(data(&cli.data)?, cmd)?,
        Command::Province { cmd } => province_cmd(&open(data(&cli.data)?)?, cmd)?,
        Command::Pull { province, json: j } => {
            let n = open(data(&cli.data)?)?;
            pull(&n, province.as_deref(), j)?
        }
        Command::Records {
            province: Some(code),
            json: j,
        } => {
            let n = open(data(&cli.data)?)?;
            cli.data = Some(n.province(&code).map_err(national_err)?);
            cli.command = Command::Records {
                json: j,
                province: None,
            };
            return Ok(Some(cli));
        }
        Command::Indicators {
            province: Some(code),
            year,
            unit,
            trend,
            json: j,
        } => {
            let n = open(data(&cli.data)?)?;
            cli.data = Some(n.province(&code).map_err(national_err)?);
            cli.command = Command::Indicators {
                year,
                unit,
                trend,
                json: j,
                province: None,
            };
            return Ok(Some(cli));
        }
        Command::Indicators {
            year,
            unit: None,
            trend: false,
            json: j,
            province: None,
        } if national_dir => {
            let dir = data(&cli.data)?;
            let NResponse::Report(r) = ncall(dir, NRequest::Report { year }, &mut no_progress)?
            else {
                bail!("unexpected answer from the national hub");
            };
            if j {
                out!("{}", json(&r)?);
            } else {
                out!(raw "{}", nat::report::render(&r));
            }
        }
        Command::Serve {
            pull_secs,
            http,
            http_public,
            http_tls,
            http_cert,
            http_key,
            ..
        } if national_dir => {
            let http = match http {
                Some(h) => Some(
                    crate::http::parse_addr(&h, http_public).map_err(|e| Usage(e.to_string()))?,
                ),
                None => None,
            };
            let n = open(data(&cli.data)?)?;
            // The provincial dashboard's TLS: the operator's PEM files, or a self-signed
            // certificate made once in N_DIR/national/.
            let tls = if http_tls {
                Some(super::dashboard_tls(
                    &n.dir().join("national"),
                    http_cert.as_deref(),
                    http_key.as_deref(),
                )?)
            } else {
                if http_public {
                    super::warn_public_without_tls();
                }
                None
            };
            serve(n, pull_secs, http, tls)?
        }
        Command::Operator { .. } if national_dir => {
            let n = open(data(&cli.data)?)?;
            // Made when first needed; while serving, the command reaches it through its socket.
            if !n.operators_dir().join("db").exists() {
                drop(n.operators().map_err(national_err)?);
            }
            cli.data = Some(n.operators_dir());
            return Ok(Some(cli));
        }
        Command::Records { province: None, .. } | Command::Indicators { .. } if national_dir => {
            return Err(Usage(
                "máy chủ quốc gia: cần --province MÃ (xem baobi-hub province list) / a national hub \
                 needs --province CODE (see baobi-hub province list)"
                    .into(),
            )
            .into())
        }
        _ if national_dir => {
            return Err(Usage(
                "lệnh này không dùng được trên máy chủ quốc gia (dùng province, pull, indicators, \
                 records --province, serve) / this command is not for a national hub (use \
                 province, pull, indicators, records --province, serve)"
                    .into(),
            )
            .into())
        }
        command => {
            cli.command = command;
            return Ok(Some(cli));
        }
    }
    Ok(None)
}

fn national_cmd(dir: &Path, cmd: NationalCmd) -> anyhow::Result<()> {
    let (addr, ttl_hours, j) = match cmd {
        NationalCmd::Token {
            addr,
            ttl_hours,
            json,
        } => (addr, ttl_hours, json),
        NationalCmd::Export { out, json: j } => {
            let out = std::path::absolute(&out).with_context(|| format!("{}", out.display()))?;
            let Response::NationalExported(e) = call(dir, Request::NationalExport { out })? else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&e)?);
            } else {
                out!(
                    "{}: {} mục, {} văn phòng, {} byte / {} entries, {} offices, {} bytes",
                    e.path,
                    e.entries,
                    e.offices,
                    e.bytes,
                    e.entries,
                    e.offices,
                    e.bytes
                );
            }
            return Ok(());
        }
    };
    let Response::StandbyToken {
        token,
        expires_at,
        warning,
    } = call(dir, Request::NationalToken { addr, ttl_hours })?
    else {
        bail!("unexpected answer from the hub");
    };
    let hint = format!(
        "Mã dùng một lần cho máy chủ quốc gia, hết hạn {expires_at} / One-time national hub \
         token, expires {expires_at}.\n\
         Tại máy chủ quốc gia / At the national hub: baobi-hub --data DIR province add <TOKEN>"
    );
    super::standby::print_token(j, &token, &expires_at, warning, &hint)
}

fn province_cmd(n: &National, cmd: ProvinceCmd) -> anyhow::Result<()> {
    match cmd {
        ProvinceCmd::Add { token, json: j } => {
            let NResponse::Added { code, name } =
                ncall(n.dir(), NRequest::Add { token }, &mut no_progress)?
            else {
                bail!("unexpected answer from the national hub");
            };
            if j {
                out!(
                    "{}",
                    json(&serde_json::json!({"code": code, "name": name}))?
                );
            } else {
                out!("Tỉnh / Province: {name} ({code})");
                note!(
                    "Đã thêm tỉnh; kéo dữ liệu bằng `baobi-hub pull` / Province added; pull it \
                     with `baobi-hub pull`"
                );
            }
        }
        ProvinceCmd::List { json: j } => {
            let NResponse::Provinces { provinces: rows } =
                ncall(n.dir(), NRequest::List, &mut no_progress)?
            else {
                bail!("unexpected answer from the national hub");
            };
            if j {
                out!("{}", json(&rows)?);
            } else {
                use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
                    "Mã / Code",
                    "Tên / Name",
                    "Lần kéo cuối / Last pull",
                    "Mục / Entries",
                    "Văn phòng / Offices",
                    "Lỗi / Error",
                ]);
                for r in rows {
                    t.add_row(vec![
                        r.code,
                        r.name,
                        r.last_pull.unwrap_or_else(|| "—".into()),
                        r.entries.to_string(),
                        r.offices.to_string(),
                        r.error.unwrap_or_default(),
                    ]);
                }
                out!("{t}");
            }
        }
        ProvinceCmd::Import { file, json: j } => {
            let file = std::path::absolute(&file).with_context(|| format!("{}", file.display()))?;
            // The header names the province; every check is made again by the import itself.
            let bytes = crate::national::drop::read_file(&file).map_err(|e| match e {
                crate::Error::Invalid(m) => anyhow::Error::from(Usage(m)),
                e => e.into(),
            })?;
            let (h, _) = crate::national::drop::read(&bytes).map_err(|e| match e {
                crate::Error::Invalid(m) => anyhow::Error::from(Usage(m)),
                e => e.into(),
            })?;
            let pdir = n.province(&h.province).map_err(national_err)?;
            let Response::NationalImported(i) = call(&pdir, Request::NationalImport { file })?
            else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&i)?);
            } else {
                out!(
                    "{}: {} mục, {} mới, {} văn phòng cập nhật / {} entries, {} new, {} offices \
                     updated",
                    i.province,
                    i.entries,
                    i.new,
                    i.offices,
                    i.entries,
                    i.new,
                    i.offices
                );
            }
        }
        ProvinceCmd::Remove { code } => {
            ncall(
                n.dir(),
                NRequest::Remove { code: code.clone() },
                &mut no_progress,
            )?;
            note!("Đã xóa tỉnh {code} khỏi máy chủ quốc gia / Province {code} removed");
        }
    }
    Ok(())
}

/// `pull`: one follow round per province (the serving process's when `serve` runs), progress as
/// it goes; exits non-zero when one failed (the others are still pulled).
fn pull(n: &National, only: Option<&str>, j: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut all = vec![];
    let req = NRequest::Pull {
        province: only.map(String::from),
    };
    ncall(n.dir(), req, &mut |r| match r {
        NResponse::Pulling { code } if !j => {
            note!("Đang kéo tỉnh {code} / Pulling province {code}…")
        }
        NResponse::Pulled(p) => {
            if !j {
                let code = &p.code;
                let mut out = std::io::stdout().lock();
                let _ = match &p.error {
                    None => writeln!(
                        out,
                        "{code}: {} mục mới, {} văn phòng cập nhật / {} new entries, {} offices \
                         updated",
                        p.received, p.offices, p.received, p.offices
                    ),
                    Some(e) => writeln!(out, "{code}: LỖI / ERROR: {e}"),
                };
                let _ = out.flush();
            }
            all.push(p);
        }
        _ => {}
    })?;
    if j {
        out!("{}", json(&all)?);
    }
    let failed: Vec<&str> = all
        .iter()
        .filter(|p| p.error.is_some())
        .map(|p| p.code.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "không kéo được tỉnh / could not pull province(s): {}",
            failed.join(", ")
        );
    }
    Ok(())
}

/// `serve` on a national hub: scheduled pulls (and the national dashboard with `--http`) until
/// SIGINT/SIGTERM.
fn serve(
    n: National,
    pull_secs: u64,
    http: Option<SocketAddr>,
    tls: Option<crate::http::tls::Loaded>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(stop_on_signal(tx));
        // Commands reach the stores this process holds through the national socket (and each
        // province's own socket); a second `serve` is refused here, before anything is opened.
        let listener = ncontrol::bind(n.dir()).map_err(national_err)?;
        let stores = Arc::new(ncontrol::Stores::serving(n, rx.clone()).map_err(national_err)?);
        let mut s = rx.clone();
        let control = tokio::spawn(ncontrol::serve(stores.clone(), listener, async move {
            let _ = s.wait_for(|v| *v).await;
        }));
        let n = stores.national();
        let mut dashboard = None;
        if let Some(addr) = http {
            let ops = Arc::new(n.operators().map_err(national_err)?);
            // `operator add` on the national hub reaches the serving process here.
            let listener = crate::control::bind(ops.dir())?;
            let mut s = rx.clone();
            tokio::spawn(crate::control::serve(ops.clone(), listener, async move {
                let _ = s.wait_for(|v| *v).await;
            }));
            let shared = nat::http::Shared {
                stores: stores.clone(),
            };
            let config = tls.as_ref().map(|t| t.config.clone());
            let (a, task) = nat::http::start(ops, shared, addr, config, rx.clone())
                .await
                .with_context(|| format!("dashboard on {addr}"))?;
            dashboard = Some((a, task));
        }
        {
            use std::io::Write;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "national hub pulling every {} s", pull_secs.max(1));
            if let Some((a, _)) = &dashboard {
                let scheme = if tls.is_some() { "https" } else { "http" };
                let _ = writeln!(out, "dashboard on {scheme}://{a}/");
            }
            let _ = out.flush();
        }
        if let (Some((a, _)), Some(t)) = (&dashboard, &tls) {
            note!("Bảng điều khiển / Dashboard: https://{a}/ (baobi-hub operator add NAME)");
            super::note_fingerprint(t);
        }
        note!(
            "Máy chủ quốc gia đang kéo các tỉnh mỗi {} giây / National hub pulling every province \
             every {} s (Ctrl-C để dừng / to stop)",
            pull_secs.max(1),
            pull_secs.max(1)
        );
        let r = nat::serve(
            &stores,
            std::time::Duration::from_secs(pull_secs.max(1)),
            rx,
        )
        .await
        .map_err(national_err);
        // Stopped (or the schedule failed: then nothing else is told to stop).
        if let Some((_, task)) = dashboard {
            if r.is_err() {
                task.abort();
            }
            let _ = task.await;
        }
        if r.is_err() {
            control.abort();
        }
        let _ = control.await;
        stores.close().await;
        r
    })?;
    note!("Đã dừng máy chủ quốc gia / National hub stopped");
    Ok(())
}
