//! Commands on a hub's data, whether `serve` is running or not: one request/response pair and one
//! `execute` function, reached through the Unix socket `DIR/hub.sock` or directly on the store.
//!
//! sled locks its directory to one process, so while `serve` runs the CLI talks JSON lines to it; when
//! nothing listens, the CLI opens the store itself and calls the same `execute`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tracing::{debug, warn};

use crate::indicators::{Basis, I1Rule, Report, Settings};
use crate::report::{self, AgentRow, By, RecordRow, Totals};
use crate::store::Hub;
use crate::{rfc3339, Error, Result};
use baobi_proto::wire::PlanDef;

/// File name of the control socket inside the data directory.
pub const SOCKET: &str = "hub.sock";

/// Path of the control socket of the hub in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// A command on the hub's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Totals of a year.
    Totals {
        /// Year (default: latest with data).
        year: Option<u16>,
        /// Grouping.
        by: By,
    },
    /// Every record.
    Records,
    /// Every agent.
    Agents,
    /// Give an agent successor units (`agents move`).
    AgentsMove {
        /// Author hex prefix (≥ 8) or exact label.
        agent: String,
        /// Units (`CODE` or `CODE@YYYY-MM-DD`).
        units: Vec<String>,
    },
    /// Revoke an agent.
    Revoke {
        /// Author hex prefix (≥ 8) or exact label.
        agent: String,
    },
    /// Issue an enrollment token.
    Enroll {
        /// Unit code.
        unit: String,
        /// Label.
        label: String,
        /// Hub address for the token (default: last listen address).
        addr: Option<String>,
        /// Validity in hours.
        ttl_hours: u64,
        /// Validity in seconds, overriding `ttl_hours` (tests of expiry).
        #[serde(default)]
        ttl_secs: Option<u64>,
    },
    /// Issue a restore token for a lost office.
    Restore {
        /// Author hex prefix (≥ 8) or exact label of the lost office.
        agent: String,
        /// Hub address for the token (default: last listen address).
        addr: Option<String>,
        /// Validity in hours.
        ttl_hours: u64,
    },
    /// Load a plan (TOML text) as the plan in force.
    PlanSet {
        /// The plan file's text.
        text: String,
    },
    /// The plan in force.
    PlanShow,
    /// Record a review decision.
    Review {
        /// Record id, full or short.
        id: String,
        /// Verified (none) or returned with this reason.
        returned: Option<String>,
    },
    /// Show or change settings.
    Settings {
        /// New counting basis.
        basis: Option<Basis>,
        /// New I1 rule.
        i1_rule: Option<I1Rule>,
    },
    /// The indicators of a year.
    Indicators {
        /// Year (default: latest with data).
        year: Option<u16>,
        /// Scope unit (default: the province).
        unit: Option<String>,
    },
    /// Every year's indicators.
    Trend {
        /// Scope unit (default: the province).
        unit: Option<String>,
    },
    /// Add a dashboard operator (the password already hashed by the CLI).
    OperatorAdd {
        /// Login name.
        name: String,
        /// argon2id PHC string.
        phc: String,
    },
    /// List dashboard operators.
    OperatorList,
    /// Remove a dashboard operator.
    OperatorRemove {
        /// Login name.
        name: String,
    },
    /// Write a backup of the store to a file (absolute path, must not exist).
    Backup {
        /// Where.
        out: PathBuf,
    },
    /// Re-check every entry and the view, changing nothing.
    Verify,
    /// Every record, streamed: one [`Response::Row`] line per record as the store is read, then
    /// [`Response::End`] (or [`Response::Error`]). See [`for_each_record`].
    RecordStream,
    /// Merge an office's drop file (absolute path).
    DropImport {
        /// The file.
        file: PathBuf,
    },
    /// Write the drop file for an office (absolute path).
    DropExport {
        /// Author hex prefix (≥ 8) or exact label.
        agent: String,
        /// Where.
        out: PathBuf,
    },
    /// Issue a one-time standby token (`standby token`).
    StandbyToken {
        /// This hub's address for the standby (default: last listen address).
        addr: Option<String>,
        /// Validity in hours.
        ttl_hours: u64,
    },
    /// Make this standby the primary (`promote`).
    Promote,
    /// Issue a one-time token for a national hub (`national token`); answered with
    /// [`Response::StandbyToken`] holding a `baobinat1.` token.
    NationalToken {
        /// This hub's address for the national hub (default: last listen address).
        addr: Option<String>,
        /// Validity in hours.
        ttl_hours: u64,
    },
    /// Write the province's national drop file (`national export`, absolute path).
    NationalExport {
        /// Where.
        out: PathBuf,
    },
    /// Merge a national drop file into this province's store at the nation (`province import`).
    NationalImport {
        /// The file (absolute path).
        file: PathBuf,
    },
    /// The operator's word on what a relay may carry (`relay allow` / `relay deny`); `allow: None`
    /// only reads the list (`relay offices`).
    RelayCarry {
        /// The relay: author hex prefix (≥ 8) or exact label.
        relay: String,
        /// The office (same forms); unused when `allow` is `None`.
        office: String,
        /// Allow (true), deny (false), or just show (none).
        allow: Option<bool>,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Response {
    /// Totals.
    Totals(Totals),
    /// Records.
    Records {
        /// The rows.
        records: Vec<RecordRow>,
    },
    /// Agents.
    Agents {
        /// The rows.
        agents: Vec<AgentRow>,
    },
    /// The agent moved, with its units now.
    Moved {
        /// It.
        agent: AgentRow,
    },
    /// The agent revoked.
    Revoked {
        /// It, now revoked.
        agent: AgentRow,
    },
    /// A new enrollment token.
    Token {
        /// `baobi1.…`.
        token: String,
        /// Unit code.
        unit: String,
        /// Unit name.
        unit_name: String,
        /// The unit version's validity (", từ/from 2025-07-01"; empty when open on both ends).
        #[serde(default)]
        validity: String,
        /// Expiry (RFC 3339).
        expires_at: String,
        /// A note for the operator (e.g. address substituted).
        warning: Option<String>,
    },
    /// The plan in force.
    Plan {
        /// The plan, none when none was loaded.
        plan: Option<PlanDef>,
        /// The same as a plan file.
        toml: Option<String>,
    },
    /// A record after a review decision.
    Record {
        /// The row.
        record: Box<RecordRow>,
    },
    /// The settings now in force.
    Settings {
        /// The settings.
        settings: Settings,
    },
    /// One year's indicators.
    Indicators(Box<Report>),
    /// Every year's indicators.
    Trend {
        /// One report per year, ascending.
        reports: Vec<Report>,
    },
    /// The command failed.
    Error {
        /// What went wrong.
        message: String,
        /// True when the input was invalid (exit code 2).
        invalid: bool,
    },
    /// Dashboard operators.
    Operators {
        /// The rows (no hashes).
        operators: Vec<crate::operators::OperatorRow>,
    },
    /// The operator added or removed.
    Operator {
        /// It.
        operator: crate::operators::OperatorRow,
    },
    /// A backup written.
    Backup(Box<crate::backup::Written>),
    /// The outcome of a verification.
    Verify(Box<crate::verify::Report>),
    /// One record of a [`Request::RecordStream`].
    Row {
        /// The row.
        record: Box<RecordRow>,
    },
    /// The end of a [`Request::RecordStream`].
    End {
        /// Rows sent.
        count: u64,
    },
    /// A drop file merged.
    DropImported(Box<crate::drop::Imported>),
    /// A drop file written.
    DropExported(Box<crate::drop::Exported>),
    /// A new standby token.
    StandbyToken {
        /// `baobisb1.…`.
        token: String,
        /// Expiry (RFC 3339).
        expires_at: String,
        /// A note for the operator (e.g. address substituted).
        warning: Option<String>,
    },
    /// The outcome of `promote`.
    Promoted {
        /// False when the hub was already a primary (nothing changed).
        was_standby: bool,
    },
    /// A national drop file written.
    NationalExported(Box<crate::national::drop::Exported>),
    /// A national drop file merged.
    NationalImported(Box<crate::national::drop::Imported>),
    /// The offices a relay may carry.
    RelayCarry(Box<crate::relay::Carry>),
}

impl Response {
    fn from_err(e: Error) -> Response {
        Response::Error {
            invalid: matches!(e, Error::Invalid(_)),
            message: e.to_string(),
        }
    }
}

/// The address to put in a token when none is given: the last listen address, 0.0.0.0 → 127.0.0.1.
fn default_addr(hub: &Hub) -> Result<(String, Option<String>)> {
    let Some(listen) = hub.meta("listen")? else {
        return Err(Error::Invalid(
            "no --addr given and the hub has never served; pass --addr HOST:PORT / \
             cần --addr vì máy chủ chưa từng chạy"
                .into(),
        ));
    };
    match listen.parse::<SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => {
            let fixed = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), a.port()).to_string();
            Ok((
                fixed.clone(),
                Some(format!(
                    "hub listens on {listen}; token uses {fixed} (pass --addr for other machines) / \
                     mã dùng {fixed}, hãy dùng --addr cho máy khác"
                )),
            ))
        }
        _ => Ok((listen, None)),
    }
}

/// Runs one request against the store.
pub fn execute(hub: &Hub, req: Request) -> Response {
    let r = (|| -> Result<Response> {
        Ok(match req {
            Request::Totals { year, by } => Response::Totals(report::totals(hub, year, by)?),
            Request::Records => Response::Records {
                records: report::records(hub)?,
            },
            Request::Agents => Response::Agents {
                agents: report::agents(hub)?,
            },
            Request::AgentsMove { agent, units } => {
                let (a, _) = crate::office::move_agent(hub, &agent, &units)?;
                Response::Moved {
                    agent: report::agent_row(hub, &a),
                }
            }
            Request::Revoke { agent } => {
                let a = hub.revoke(&agent)?;
                Response::Revoked {
                    agent: report::agent_row(hub, &a),
                }
            }
            Request::StandbyToken { addr, ttl_hours } => {
                let (addr, warning) = match addr {
                    Some(a) => (a, None),
                    None => default_addr(hub)?,
                };
                let (token, expires_at) =
                    hub.issue_standby_token(&addr, ttl_hours.min(24 * 365) * 3600)?;
                Response::StandbyToken {
                    token: token.to_standby_text(),
                    expires_at: rfc3339(expires_at),
                    warning,
                }
            }
            Request::NationalToken { addr, ttl_hours } => {
                let (addr, warning) = match addr {
                    Some(a) => (a, None),
                    None => default_addr(hub)?,
                };
                let (token, expires_at) =
                    hub.issue_national_token(&addr, ttl_hours.min(24 * 365) * 3600)?;
                Response::StandbyToken {
                    token: crate::national::token_text(&token),
                    expires_at: rfc3339(expires_at),
                    warning,
                }
            }
            Request::NationalExport { out } => {
                Response::NationalExported(Box::new(crate::national::drop::export(hub, &out)?))
            }
            Request::NationalImport { file } => {
                let bytes = crate::national::drop::read_file(&file)?;
                Response::NationalImported(Box::new(crate::national::drop::import_bytes(
                    hub, &bytes,
                )?))
            }
            Request::Promote => Response::Promoted {
                was_standby: hub.promote()?,
            },
            Request::Enroll {
                unit,
                label,
                addr,
                ttl_hours,
                ttl_secs,
            } => {
                hub.with_units(|u| {
                    u.pick_version(&unit, crate::indicators::today())
                        .map(drop)
                        .map_err(|e| Error::Invalid(format!("{e} (province {})", hub.province())))
                })?;
                let (addr, warning) = match addr {
                    Some(a) => (a, None),
                    None => default_addr(hub)?,
                };
                let ttl = ttl_secs.unwrap_or(ttl_hours.min(24 * 365) * 3600);
                let issued = hub.issue(&unit, &label, &addr, ttl, None)?;
                Response::Token {
                    token: issued.token.to_text(),
                    unit: issued.unit,
                    unit_name: issued.unit_name,
                    validity: issued.validity,
                    expires_at: rfc3339(issued.expires_at),
                    warning,
                }
            }
            Request::Restore {
                agent,
                addr,
                ttl_hours,
            } => {
                let (addr, warning) = match addr {
                    Some(a) => (a, None),
                    None => default_addr(hub)?,
                };
                let issued = hub.issue_restore(&agent, &addr, ttl_hours)?;
                Response::Token {
                    token: issued.token.to_text(),
                    unit: issued.unit,
                    unit_name: issued.unit_name,
                    validity: issued.validity,
                    expires_at: rfc3339(issued.expires_at),
                    warning,
                }
            }
            Request::PlanSet { text } => {
                let p = crate::plan::set(hub, crate::plan::parse(&text)?)?;
                Response::Plan {
                    toml: Some(crate::plan::to_toml(&p)?),
                    plan: Some(p),
                }
            }
            Request::PlanShow => {
                let plan = hub.plan()?.map(|p| p.def);
                Response::Plan {
                    toml: plan.as_ref().map(crate::plan::to_toml).transpose()?,
                    plan,
                }
            }
            Request::Review { id, returned } => {
                let d = match returned {
                    Some(r) => crate::review::Decision::Returned(r),
                    None => crate::review::Decision::Verified,
                };
                Response::Record {
                    record: Box::new(crate::review::decide(hub, &id, d)?),
                }
            }
            Request::Settings { basis, i1_rule } => {
                let mut s = hub.settings()?;
                if basis.is_some() || i1_rule.is_some() {
                    s.basis = basis.unwrap_or(s.basis);
                    s.i1_rule = i1_rule.unwrap_or(s.i1_rule);
                    hub.set_settings(&s)?;
                }
                Response::Settings { settings: s }
            }
            Request::Indicators { year, unit } => {
                let year = match year {
                    Some(y) => y,
                    None => crate::indicators::default_year(hub)?,
                };
                let q = crate::indicators::Query { year, unit };
                Response::Indicators(Box::new(crate::indicators::compute(
                    hub,
                    &q,
                    crate::indicators::today(),
                )?))
            }
            Request::Trend { unit } => Response::Trend {
                reports: crate::indicators::compute_trend(
                    hub,
                    unit.as_deref(),
                    crate::indicators::today(),
                )?,
            },
            Request::OperatorAdd { name, phc } => Response::Operator {
                operator: crate::operators::add(hub, &name, &phc)?,
            },
            Request::OperatorList => Response::Operators {
                operators: crate::operators::list(hub)?,
            },
            Request::OperatorRemove { name } => Response::Operator {
                operator: crate::operators::remove(hub, &name)?,
            },
            Request::Backup { out } => {
                if !out.is_absolute() {
                    return Err(Error::Invalid(format!(
                        "backup path {} must be absolute / đường dẫn phải là tuyệt đối",
                        out.display()
                    )));
                }
                Response::Backup(Box::new(crate::backup::write(hub, &out, &mut |s| {
                    if let crate::backup::Step::Written(n) = s {
                        tracing::info!(keys = n, "backup");
                    }
                })?))
            }
            Request::Verify => Response::Verify(Box::new(crate::verify::run(hub, &mut |s| {
                tracing::debug!(?s, "verify");
            })?)),
            Request::DropImport { file } => {
                Response::DropImported(Box::new(crate::drop::import(hub, &file)?))
            }
            Request::DropExport { agent, out } => {
                Response::DropExported(Box::new(crate::drop::export(hub, &agent, &out)?))
            }
            Request::RelayCarry {
                relay,
                office,
                allow,
            } => Response::RelayCarry(Box::new(match allow {
                Some(a) => crate::relay::set_carry(hub, &relay, &office, a)?,
                None => crate::relay::carry_of(hub, &relay)?,
            })),
            Request::RecordStream => {
                return Err(Error::Invalid(
                    "record-stream is answered by for_each_record / chỉ dùng qua luồng".into(),
                ))
            }
        })
    })();
    r.unwrap_or_else(Response::from_err)
}

/// Sends `req` to a running hub; `None` when nothing listens on the socket.
pub fn request(dir: &Path, req: &Request) -> Option<Result<Response>> {
    let stream = std::os::unix::net::UnixStream::connect(socket_path(dir)).ok()?;
    Some((|| {
        let mut w = &stream;
        let mut line = serde_json::to_string(req).map_err(|e| Error::Corrupt(e.to_string()))?;
        line.push('\n');
        w.write_all(line.as_bytes())?;
        let mut answer = String::new();
        BufReader::new(&stream).read_line(&mut answer)?;
        serde_json::from_str(&answer)
            .map_err(|e| Error::Corrupt(format!("bad answer from the running hub: {e}")))
    })())
}

/// Calls `f` with every record, one at a time as they are read, through the running hub if there is
/// one (a [`Request::RecordStream`]), else on the store opened directly. Memory stays at one record
/// whatever the store holds. An error from `f` (e.g. a closed stdout) stops the stream.
pub fn for_each_record<E: From<Error>>(
    dir: &Path,
    mut f: impl FnMut(RecordRow) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let Ok(stream) = std::os::unix::net::UnixStream::connect(socket_path(dir)) else {
        let hub = Hub::open(dir)?;
        for row in report::record_rows(&hub) {
            f(row?)?;
        }
        return Ok(());
    };
    let mut line =
        serde_json::to_string(&Request::RecordStream).map_err(|e| Error::Corrupt(e.to_string()))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(Error::from)?;
    let mut reader = BufReader::new(&stream);
    let mut answer = String::new();
    loop {
        answer.clear();
        if reader.read_line(&mut answer).map_err(Error::from)? == 0 {
            return Err(
                Error::Corrupt("the running hub ended the record stream early".into()).into(),
            );
        }
        match serde_json::from_str(&answer)
            .map_err(|e| Error::Corrupt(format!("bad answer from the running hub: {e}")))?
        {
            Response::Row { record } => f(*record)?,
            Response::End { .. } => return Ok(()),
            Response::Error { message, invalid } => {
                return Err(if invalid {
                    Error::Invalid(message)
                } else {
                    Error::Corrupt(message)
                }
                .into())
            }
            _ => {
                return Err(Error::Corrupt("unexpected answer from the running hub".into()).into())
            }
        }
    }
}

/// Serves a [`Request::RecordStream`]: a blocking thread reads and encodes the records into a small
/// bounded channel, this task writes them out; a client that goes away stops the reading.
async fn stream_records(hub: Arc<Hub>, w: &mut tokio::net::unix::OwnedWriteHalf) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
    let producer = tokio::task::spawn_blocking(move || {
        let line = |r: &Response| {
            let mut l = serde_json::to_string(r).unwrap_or_default();
            l.push('\n');
            l
        };
        let mut count = 0u64;
        for row in report::record_rows(&hub) {
            let resp = match row {
                Ok(record) => Response::Row {
                    record: Box::new(record),
                },
                Err(e) => {
                    let _ = tx.blocking_send(line(&Response::from_err(e)));
                    return;
                }
            };
            if tx.blocking_send(line(&resp)).is_err() {
                return; // the client went away
            }
            count += 1;
        }
        let _ = tx.blocking_send(line(&Response::End { count }));
    });
    let mut written = Ok(());
    while let Some(l) = rx.recv().await {
        if let Err(e) = w.write_all(l.as_bytes()).await {
            written = Err(e.into());
            break;
        }
    }
    drop(rx);
    let _ = producer.await;
    written
}

/// Runs `req` through the running hub if there is one, else on the store opened directly.
pub fn run(dir: &Path, req: Request) -> Result<Response> {
    if let Some(r) = request(dir, &req) {
        return r;
    }
    let hub = Hub::open(dir)?;
    Ok(execute(&hub, req))
}

/// Binds `DIR/hub.sock`, removing a stale socket file first (refuses when another hub answers on it).
pub fn bind(dir: &Path) -> Result<tokio::net::UnixListener> {
    bind_socket(&socket_path(dir)).map_err(|e| match e {
        Bind::Live(path) => Error::Invalid(format!(
            "another hub is serving {} / máy chủ khác đang chạy",
            path.display()
        )),
        Bind::Io(e) => e.into(),
    })
}

/// Why a control socket could not be bound.
pub(crate) enum Bind {
    /// Another process answers on it.
    Live(PathBuf),
    /// The file system failed.
    Io(std::io::Error),
}

/// Binds the Unix socket `path`, replacing a stale socket file; refuses when a process answers on it.
pub(crate) fn bind_socket(path: &Path) -> std::result::Result<tokio::net::UnixListener, Bind> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Bind::Live(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(Bind::Io)?;
    }
    tokio::net::UnixListener::bind(path).map_err(Bind::Io)
}

/// Serves the control socket (bound with [`bind`]) until `shutdown`, then removes the socket file.
pub async fn serve(
    hub: Arc<Hub>,
    listener: tokio::net::UnixListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let path = socket_path(hub.dir());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            acc = listener.accept() => {
                let Ok((stream, _)) = acc else { continue };
                let hub = hub.clone();
                tokio::spawn(async move {
                    if let Err(e) = client(hub, stream).await {
                        debug!(error = %e, "control client");
                    }
                });
            }
        }
    }
    if let Err(e) = std::fs::remove_file(&path) {
        warn!(error = %e, "could not remove the control socket");
    }
    Ok(())
}

async fn client(hub: Arc<Hub>, stream: tokio::net::UnixStream) -> Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        let resp = match serde_json::from_str::<Request>(&line) {
            Ok(Request::RecordStream) => {
                stream_records(hub.clone(), &mut w).await?;
                continue;
            }
            Ok(req) => {
                let h = hub.clone();
                tokio::task::spawn_blocking(move || execute(&h, req))
                    .await
                    .unwrap_or_else(|e| Response::Error {
                        message: e.to_string(),
                        invalid: false,
                    })
            }
            Err(e) => Response::Error {
                message: format!("bad request: {e}"),
                invalid: true,
            },
        };
        let mut out = serde_json::to_string(&resp).map_err(|e| Error::Corrupt(e.to_string()))?;
        out.push('\n');
        w.write_all(out.as_bytes()).await?;
    }
    Ok(())
}
