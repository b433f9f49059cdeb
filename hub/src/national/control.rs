//! Commands on a national hub whether `serve` runs or not: one request/response set and one
//! [`execute`], reached through the Unix socket `DIR/national/national.sock` or directly on the
//! stores when nothing listens (as `crate::control` does for a provincial hub).
//!
//! sled locks each province's folder to one process. While `serve` runs it holds every province's
//! store ([`Stores`]), so `province add|list|remove`, `pull` and `indicators` reach it here, and each
//! province's store also answers the provincial hub's requests on its own socket
//! (`DIR/provinces/<code>/hub.sock`, `crate::control`), which `indicators|records --province` and
//! `province import` use unchanged. A `pull` through the socket is the serving process's pull: one
//! [`Response::Pulling`] and one [`Response::Pulled`] line per province as it goes, then
//! [`Response::PullEnd`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::report::NationalReport;
use super::{Error, National, ProvinceRow, Pulled, Result};
use crate::store::Hub;

/// File name of the national control socket inside `DIR/national/`.
pub const SOCKET: &str = "national.sock";

/// Path of the control socket of the national hub in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("national").join(SOCKET)
}

/// A command on a national hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// `province list`.
    List,
    /// `province add TOKEN`.
    Add {
        /// The `baobinat1.` token.
        token: String,
    },
    /// `province remove CODE`.
    Remove {
        /// Province code.
        code: String,
    },
    /// `pull [--province CODE]`: one follow round per province (or one).
    Pull {
        /// Only this province.
        province: Option<String>,
    },
    /// `indicators [--year Y]`: the national report.
    Report {
        /// Year (default: the latest with data in any province).
        year: Option<u16>,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Response {
    /// The provinces.
    Provinces {
        /// One row per province.
        provinces: Vec<ProvinceRow>,
    },
    /// A province added.
    Added {
        /// Its code.
        code: String,
        /// Its name.
        name: String,
    },
    /// A province forgotten.
    Removed {
        /// Its code.
        code: String,
    },
    /// Progress of a pull: this province is being pulled.
    Pulling {
        /// Its code.
        code: String,
    },
    /// Progress of a pull: what one province's pull did.
    Pulled(Pulled),
    /// The pull is over.
    PullEnd {
        /// Provinces pulled.
        count: u64,
    },
    /// The national report.
    Report(Box<NationalReport>),
    /// The command failed; `invalid` when it was bad input (nothing changed).
    Error {
        /// Why.
        message: String,
        /// Bad input.
        invalid: bool,
    },
}

impl Response {
    fn from_err(e: Error) -> Response {
        Response::Error {
            invalid: matches!(
                e,
                Error::Invalid(_) | Error::Store(crate::Error::Invalid(_))
            ),
            message: e.to_string(),
        }
    }

    fn is_progress(&self) -> bool {
        matches!(self, Response::Pulling { .. } | Response::Pulled(_))
    }
}

/// One province's store as the process holding it keeps it.
struct Province {
    hub: Arc<Hub>,
    /// Held for a pull, so the schedule and a `pull` command do not pull it at once.
    pulling: Arc<tokio::sync::Mutex<()>>,
    /// Stops its control socket (serving only), and the task serving it.
    socket: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
}

#[derive(Default)]
struct Open {
    provinces: BTreeMap<String, Province>,
    /// Codes being removed: not opened again meanwhile.
    removing: BTreeSet<String>,
}

/// The province stores of a national hub, opened once by the process that uses them: `serve`
/// (every one, each with its control socket) or a command run with nothing serving.
pub struct Stores {
    nat: National,
    /// `serve`'s stop signal; none for a command run directly.
    stop: Option<tokio::sync::watch::Receiver<bool>>,
    open: std::sync::Mutex<Open>,
    /// Told when a province is added, so the schedule pulls it now.
    pub changed: tokio::sync::Notify,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").field("nat", &self.nat).finish()
    }
}

impl Stores {
    /// The stores for one command run with nothing serving: each opened when first needed.
    pub fn direct(nat: National) -> Stores {
        Stores {
            nat,
            stop: None,
            open: Default::default(),
            changed: Default::default(),
        }
    }

    /// The stores `serve` holds until `stop`: every province opened now, each answering on its
    /// control socket. A province that cannot be opened is logged and tried again at its pull.
    pub fn serving(nat: National, stop: tokio::sync::watch::Receiver<bool>) -> Result<Stores> {
        let st = Stores {
            nat,
            stop: Some(stop),
            open: Default::default(),
            changed: Default::default(),
        };
        for code in st.nat.codes()? {
            if let Err(e) = st.hub(&code) {
                tracing::warn!(province = %code, error = %e, "could not open the province's store");
            }
        }
        Ok(st)
    }

    /// The national hub.
    pub fn national(&self) -> &National {
        &self.nat
    }

    /// Codes of the provinces added, sorted.
    pub fn codes(&self) -> Result<Vec<String>> {
        self.nat.codes()
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn province(&self, code: &str) -> Result<(Arc<Hub>, Arc<tokio::sync::Mutex<()>>)> {
        let mut open = self.open();
        if let Some(p) = open.provinces.get(code) {
            return Ok((p.hub.clone(), p.pulling.clone()));
        }
        if open.removing.contains(code) {
            return Err(Error::Invalid(format!(
                "tỉnh '{code}' đang được xóa / province '{code}' is being removed"
            )));
        }
        let hub = Arc::new(Hub::open(&self.nat.province(code)?)?);
        let socket = match &self.stop {
            Some(stop) => {
                let listener = crate::control::bind(hub.dir())?;
                let (tx, mut own) = tokio::sync::watch::channel(false);
                let mut all = stop.clone();
                let task = tokio::spawn(crate::control::serve(hub.clone(), listener, async move {
                    tokio::select! {
                        _ = all.wait_for(|v| *v) => {}
                        _ = own.wait_for(|v| *v) => {}
                    }
                }));
                let task = tokio::spawn(async move {
                    if let Ok(Err(e)) = task.await {
                        tracing::warn!(error = %e, "province control socket");
                    }
                });
                Some((tx, task))
            }
            None => None,
        };
        let pulling = Arc::new(tokio::sync::Mutex::new(()));
        open.provinces.insert(
            code.to_string(),
            Province {
                hub: hub.clone(),
                pulling: pulling.clone(),
                socket,
            },
        );
        Ok((hub, pulling))
    }

    /// The store of province `code` (opened when first needed).
    pub fn hub(&self, code: &str) -> Result<Arc<Hub>> {
        Ok(self.province(code)?.0)
    }

    /// One pull of province `code` (one at a time per province), flushed.
    pub async fn pull(&self, code: &str) -> Result<Pulled> {
        let (hub, pulling) = self.province(code)?;
        let _g = pulling.lock().await;
        let p = super::pull(&hub).await?;
        hub.flush()?;
        Ok(p)
    }

    /// Forgets province `code`: its store closed (its socket first), then deleted.
    pub async fn remove(&self, code: &str) -> Result<()> {
        self.nat.province(code)?;
        let p = {
            let mut open = self.open();
            open.removing.insert(code.to_string());
            open.provinces.remove(code)
        };
        let r = async {
            if let Some(p) = p {
                let _g = p.pulling.lock().await;
                if let Some((tx, task)) = p.socket {
                    let _ = tx.send(true);
                    let _ = task.await;
                }
                // A command still answering holds the store a moment more.
                let mut hub = p.hub;
                for _ in 0..200 {
                    match Arc::try_unwrap(hub) {
                        Ok(h) => {
                            h.flush()?;
                            break;
                        }
                        Err(h) => {
                            hub = h;
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                }
            }
            self.nat.remove(code)
        }
        .await;
        self.open().removing.remove(code);
        r
    }

    /// Closes every store (after `serve`'s stop): each control socket ends, each store flushed.
    pub async fn close(&self) {
        let all = std::mem::take(&mut self.open().provinces);
        for (code, p) in all {
            if let Some((tx, task)) = p.socket {
                let _ = tx.send(true);
                let _ = task.await;
            }
            if let Err(e) = p.hub.flush() {
                tracing::warn!(province = %code, error = %e, "could not flush the province's store");
            }
        }
    }

    /// The national report over the stores.
    pub fn report(&self, year: Option<u16>) -> Result<NationalReport> {
        let hubs = self
            .codes()?
            .iter()
            .map(|c| self.hub(c))
            .collect::<Result<Vec<_>>>()?;
        super::report::compute_over(&hubs, year)
    }
}

/// Runs `req` on `st`; a pull's progress goes to `progress` as it happens.
pub async fn execute(
    st: &Arc<Stores>,
    req: Request,
    progress: &mut (dyn FnMut(Response) + Send),
) -> Response {
    let r: Result<Response> = async {
        Ok(match req {
            Request::List => {
                let st = st.clone();
                let provinces = blocking(move || {
                    st.codes()?
                        .iter()
                        .map(|code| super::row(&*st.hub(code)?))
                        .collect::<Result<Vec<_>>>()
                })
                .await?;
                Response::Provinces { provinces }
            }
            Request::Add { token } => {
                let token = super::parse_token(&token)?;
                let (code, name) = match st.nat.add(&token).await {
                    Ok(a) => a,
                    Err(Error::Follow(e)) => {
                        return Ok(Response::Error {
                            message: format!(
                                "máy chủ tỉnh tại {a} / the province hub at {a}: {e}",
                                a = token.addr
                            ),
                            invalid: false,
                        })
                    }
                    Err(e) => return Err(e),
                };
                if st.stop.is_some() {
                    st.hub(&code)?;
                    st.changed.notify_one();
                }
                Response::Added { code, name }
            }
            Request::Remove { code } => {
                st.remove(&code).await?;
                Response::Removed { code }
            }
            Request::Pull { province } => {
                let codes = match province {
                    Some(c) => {
                        st.nat.province(&c)?;
                        vec![c]
                    }
                    None => st.codes()?,
                };
                for code in &codes {
                    progress(Response::Pulling { code: code.clone() });
                    progress(Response::Pulled(st.pull(code).await?));
                }
                Response::PullEnd {
                    count: codes.len() as u64,
                }
            }
            Request::Report { year } => {
                let st = st.clone();
                Response::Report(Box::new(blocking(move || st.report(year)).await?))
            }
        })
    }
    .await;
    r.unwrap_or_else(Response::from_err)
}

/// Runs store work (opening provinces' stores, a report over all of them) off the async workers,
/// so a long report does not stall the pulls and the other clients of the socket.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "a national task failed: {e}"
        )))
    })?
}

/// Sends `req` to the serving national hub in `dir`, a pull's progress to `progress`; none when
/// nothing listens there.
pub fn request(
    dir: &Path,
    req: &Request,
    progress: &mut dyn FnMut(Response),
) -> Option<Result<Response>> {
    let stream = std::os::unix::net::UnixStream::connect(socket_path(dir)).ok()?;
    Some((|| {
        let mut w = &stream;
        let mut line =
            serde_json::to_string(req).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
        line.push('\n');
        w.write_all(line.as_bytes())?;
        let mut reader = BufReader::new(&stream);
        loop {
            let mut answer = String::new();
            if reader.read_line(&mut answer)? == 0 {
                return Err(crate::Error::Corrupt(
                    "the serving national hub closed the connection early".into(),
                )
                .into());
            }
            let r: Response = serde_json::from_str(&answer).map_err(|e| {
                crate::Error::Corrupt(format!("bad answer from the serving national hub: {e}"))
            })?;
            if r.is_progress() {
                progress(r);
            } else {
                return Ok(r);
            }
        }
    })())
}

/// Runs `req` through the serving national hub in `dir`, or directly on its stores when nothing
/// serves it.
pub fn run(
    dir: &Path,
    req: Request,
    progress: &mut (dyn FnMut(Response) + Send),
) -> Result<Response> {
    if let Some(r) = request(dir, &req, progress) {
        return r;
    }
    let st = Arc::new(Stores::direct(National::open(dir)?));
    let rt = tokio::runtime::Runtime::new()?;
    let r = rt.block_on(async {
        let r = execute(&st, req, progress).await;
        st.close().await;
        r
    });
    Ok(r)
}

/// Binds the national control socket (a stale one is replaced; a live one means another
/// `serve` runs).
pub fn bind(dir: &Path) -> Result<tokio::net::UnixListener> {
    crate::control::bind_socket(&socket_path(dir)).map_err(|e| match e {
        crate::control::Bind::Live(path) => Error::Invalid(format!(
            "máy chủ quốc gia khác đang chạy / another national hub is serving {}",
            path.display()
        )),
        crate::control::Bind::Io(e) => e.into(),
    })
}

/// Answers on `listener` until `shutdown`, then removes the socket file.
pub async fn serve(
    st: Arc<Stores>,
    listener: tokio::net::UnixListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            acc = listener.accept() => {
                let Ok((stream, _)) = acc else { continue };
                let st = st.clone();
                tokio::spawn(async move {
                    if let Err(e) = client(st, stream).await {
                        tracing::debug!(error = %e, "national control client");
                    }
                });
            }
        }
    }
    if let Err(e) = std::fs::remove_file(socket_path(st.national().dir())) {
        tracing::warn!(error = %e, "could not remove the national control socket");
    }
}

async fn client(st: Arc<Stores>, stream: tokio::net::UnixStream) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        match serde_json::from_str::<Request>(&line) {
            Ok(req) => {
                let st = st.clone();
                tokio::spawn(async move {
                    let p = tx.clone();
                    let r = execute(&st, req, &mut move |r| {
                        let _ = p.send(r);
                    })
                    .await;
                    let _ = tx.send(r);
                });
            }
            Err(e) => {
                let _ = tx.send(Response::Error {
                    message: format!("bad request: {e}"),
                    invalid: true,
                });
                drop(tx);
            }
        }
        while let Some(r) = rx.recv().await {
            let mut out = serde_json::to_string(&r).map_err(std::io::Error::other)?;
            out.push('\n');
            w.write_all(out.as_bytes()).await?;
        }
    }
    Ok(())
}
