//! A national hub (issue 14): a hub that pulls provincial hubs over the protocol a standby follows
//! its primary with, so every office's run arrives still sealed by its office and is checked again
//! here (`Hub::merge_followed`), and the nation sees who recorded each value.
//!
//! Layout of a national hub's folder `D`: `D/national/key` (its own key, the same for every
//! province) and `D/national/cert` (its certificate, which each province pins), then one full hub
//! store per province in `D/provinces/<code>/`, a follower of that province (role `standby` in its
//! meta, never promoted), so each province's indicators are computed here exactly as the province
//! computes them. What the nation last pulled from a province is kept in that store's meta
//! (`national_*`). The province's side (tokens, records of national hubs) is `store/national.rs`.

pub mod control;
pub mod drop;
pub mod http;
pub mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use baobi_proto::{Keypair, Token};

use crate::store::Hub;

/// Text prefix of a national token (`baobi-hub national token`).
pub const TOKEN_PREFIX: &str = "baobinat1.";
/// Default pause between two scheduled pulls (`serve --pull-secs`).
pub const PULL_EVERY: Duration = Duration::from_secs(300);
/// Meta of a province's store here: when the nation last pulled it (Unix seconds).
pub const META_LAST_PULL: &str = "national_last_pull";
/// Meta: the last pull's error, empty when it succeeded.
pub const META_LAST_ERROR: &str = "national_last_error";
/// Meta: when the last pull that succeeded ended (Unix seconds).
pub const META_LAST_OK: &str = "national_last_ok";

/// What can go wrong on a national hub.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input (a clear message; nothing changed).
    #[error("{0}")]
    Invalid(String),
    /// A province's hub or the exchange with it failed.
    #[error(transparent)]
    Follow(#[from] crate::follow::Error),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Result with the national error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The printable form of a national token: `baobinat1.` and the body of a standby token.
pub fn token_text(t: &Token) -> String {
    let sb = t.to_standby_text();
    let body = sb.split_once('.').map(|(_, b)| b).unwrap_or_default();
    format!("{TOKEN_PREFIX}{body}")
}

/// Parses a national token; a standby's or an office's token is refused with a message saying so.
pub fn parse_token(s: &str) -> Result<Token> {
    let Some(body) = s.trim().strip_prefix(TOKEN_PREFIX) else {
        return Err(Error::Invalid(
            "mã không phải mã máy chủ quốc gia (phải bắt đầu bằng 'baobinat1.'; tạo tại máy chủ \
             tỉnh bằng `baobi-hub national token`) / not a national token (it must start with \
             'baobinat1.'; make one at the province's hub with `baobi-hub national token`)"
                .into(),
        ));
    };
    Token::from_standby_text(&format!("baobisb1.{body}")).map_err(|e| {
        Error::Invalid(format!(
            "mã máy chủ quốc gia hỏng / damaged national token: {e}"
        ))
    })
}

/// True when `dir` holds a national hub.
pub fn is_national(dir: &Path) -> bool {
    dir.join("national").join("key").exists()
}

/// A national hub's folder: its key and certificate, and its provinces' stores.
pub struct National {
    dir: PathBuf,
    keypair: Keypair,
    cert_der: Vec<u8>,
}

/// One province as `province list` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProvinceRow {
    /// Province code.
    pub code: String,
    /// Province name.
    pub name: String,
    /// The province hub's address.
    pub addr: String,
    /// Last pull (RFC 3339), none before the first.
    pub last_pull: Option<String>,
    /// Last pull that succeeded (RFC 3339).
    pub last_ok: Option<String>,
    /// The last pull's error, none when it succeeded.
    pub error: Option<String>,
    /// Entries held for this province (every author, the province hub's own included).
    pub entries: u64,
    /// Offices of the province's registry.
    pub offices: u64,
}

/// What one pull of one province did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pulled {
    /// Province code.
    pub code: String,
    /// New entries stored.
    pub received: u64,
    /// Offices of the registry added or changed.
    pub offices: usize,
    /// Why the pull failed (nothing of the refused batch stored), none when it succeeded.
    pub error: Option<String>,
}

impl std::fmt::Debug for National {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("National").field("dir", &self.dir).finish()
    }
}

impl National {
    /// `init --national`: a new national hub in `dir` (its own key and certificate).
    pub fn init(dir: &Path) -> Result<National> {
        if dir.join("db").exists() || dir.join("conf").exists() || is_national(dir) {
            return Err(Error::Invalid(format!(
                "{} đã có dữ liệu máy chủ / already holds a hub store",
                dir.display()
            )));
        }
        let keypair = Keypair::generate();
        let cert_der = crate::store::make_cert(&keypair, "baobi-hub")?;
        let n = dir.join("national");
        std::fs::create_dir_all(&n)?;
        std::fs::create_dir_all(dir.join("provinces"))?;
        baobi_storage::write_durably(&n.join("cert"), &cert_der)?;
        // The key last: it marks the folder as a national hub.
        baobi_storage::write_durably(&n.join("key"), &keypair.secret())?;
        Ok(National {
            dir: dir.to_path_buf(),
            keypair,
            cert_der,
        })
    }

    /// Opens the national hub in `dir`.
    pub fn open(dir: &Path) -> Result<National> {
        if !is_national(dir) {
            return Err(Error::Invalid(format!(
                "{} không phải máy chủ quốc gia (baobi-hub init --national) / is not a national hub \
                 (baobi-hub init --national)",
                dir.display()
            )));
        }
        let n = dir.join("national");
        let secret: [u8; 32] = std::fs::read(n.join("key"))?
            .try_into()
            .map_err(|_| crate::Error::Corrupt("national/key is not 32 bytes".into()))?;
        let cert_der = std::fs::read(n.join("cert"))?;
        Ok(National {
            dir: dir.to_path_buf(),
            keypair: Keypair::from_secret(&secret),
            cert_der,
        })
    }

    /// The store of the national dashboard's operators (`operator add` on a national hub), made
    /// when first needed: a hub store of its own that holds nothing else.
    pub fn operators(&self) -> Result<Hub> {
        let dir = self.dir.join("national").join("hub");
        if dir.join("db").exists() {
            return Ok(Hub::open(&dir)?);
        }
        let units = crate::units_csv::parse(
            "code,name,level,kind,parent_code,valid_from,valid_to\n00,Toàn quốc,province,Quốc gia,,,\n",
        )
        .map_err(|e| crate::Error::Corrupt(e.to_string()))?;
        Ok(Hub::init(&dir, "00", "Toàn quốc / National", units)?)
    }

    /// The national hub's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where [`National::operators`] keeps its store.
    pub fn operators_dir(&self) -> PathBuf {
        self.dir.join("national").join("hub")
    }

    /// The national hub's certificate fingerprint (what provinces pin).
    pub fn fingerprint(&self) -> [u8; 32] {
        baobi_proto::identity::fingerprint(&self.cert_der)
    }

    /// The store of province `code`.
    pub fn province_dir(&self, code: &str) -> PathBuf {
        self.dir.join("provinces").join(code)
    }

    /// Codes of the provinces added, sorted.
    pub fn codes(&self) -> Result<Vec<String>> {
        let mut out = vec![];
        for e in std::fs::read_dir(self.dir.join("provinces"))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with('.') && e.path().join("db").exists() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The folder of province `code`'s store; a clear error when it was never added.
    pub fn province(&self, code: &str) -> Result<PathBuf> {
        if !self.codes()?.iter().any(|c| c == code) {
            return Err(Error::Invalid(format!(
                "tỉnh '{code}' chưa được thêm (baobi-hub province list) / province '{code}' was \
                 not added (see baobi-hub province list)"
            )));
        }
        Ok(self.province_dir(code))
    }

    /// `province add TOKEN`: first contact with the province's hub (it records this national hub),
    /// then a store of its own for that province. Nothing is kept unless the province accepts;
    /// a province already added is refused.
    pub async fn add(&self, token: &Token) -> Result<(String, String)> {
        let tmp = self
            .dir
            .join("provinces")
            .join(format!(".new-{}", crate::now_ms()));
        let hub =
            crate::follow::first_contact_as(&tmp, token, "national", &self.keypair, &self.cert_der)
                .await;
        let hub = match hub {
            Ok(h) => h,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e.into());
            }
        };
        let code = hub.province().to_string();
        let name = hub.province_name().to_string();
        hub.flush()?;
        drop(hub);
        let ok_code = !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let dest = self.province_dir(&code);
        if !ok_code || dest.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Invalid(if ok_code {
                format!("tỉnh {code} ({name}) đã có / province {code} ({name}) was already added")
            } else {
                format!("mã tỉnh không hợp lệ / invalid province code '{code}'")
            }));
        }
        std::fs::rename(&tmp, &dest)?;
        if let Ok(d) = std::fs::File::open(self.dir.join("provinces")) {
            let _ = d.sync_all();
        }
        Ok((code, name))
    }

    /// `province remove CODE`: forgets a province (its store is deleted).
    pub fn remove(&self, code: &str) -> Result<()> {
        // Opened first: refused while `serve` holds it.
        drop(Hub::open(&self.province(code)?)?);
        std::fs::remove_dir_all(self.province_dir(code))?;
        Ok(())
    }

    /// `province list`.
    pub fn list(&self) -> Result<Vec<ProvinceRow>> {
        let mut out = vec![];
        for code in self.codes()? {
            let hub = Hub::open(&self.province_dir(&code))?;
            out.push(row(&hub)?);
        }
        Ok(out)
    }
}

/// A province's row from its store here.
pub fn row(hub: &Hub) -> Result<ProvinceRow> {
    let at = |n: &str| -> Result<Option<String>> {
        Ok(hub
            .meta(n)?
            .and_then(|v| v.parse::<i64>().ok())
            .map(crate::rfc3339))
    };
    let addr = match hub.role()? {
        crate::store::standby::Role::Standby { pin, .. } => pin.addr,
        crate::store::standby::Role::Primary => String::new(),
    };
    Ok(ProvinceRow {
        code: hub.province().to_string(),
        name: hub.province_name().to_string(),
        addr,
        last_pull: at(META_LAST_PULL)?,
        last_ok: at(META_LAST_OK)?,
        error: hub.meta(META_LAST_ERROR)?.filter(|e| !e.is_empty()),
        entries: hub.summary()?.to_wire().0.iter().map(|(_, s)| s).sum(),
        offices: hub.agents()?.len() as u64,
    })
}

/// One pull of a province's store `hub` (one follow round), its outcome kept in the store's meta.
/// A refused batch is logged and nothing of it is stored.
pub async fn pull(hub: &Arc<Hub>) -> Result<Pulled> {
    let code = hub.province().to_string();
    let r = crate::follow::follow_once(hub).await;
    let now = crate::now_secs().to_string();
    hub.set_meta(META_LAST_PULL, &now)?;
    Ok(match r {
        Ok(round) => {
            let round = round.unwrap_or_default();
            hub.set_meta(META_LAST_ERROR, "")?;
            hub.set_meta(META_LAST_OK, &now)?;
            Pulled {
                code,
                received: round.received,
                offices: round.offices,
                error: None,
            }
        }
        Err(e) => {
            tracing::warn!(province = %code, error = %e, "national pull refused or failed");
            hub.set_meta(META_LAST_ERROR, &e.to_string())?;
            Pulled {
                code,
                received: 0,
                offices: 0,
                error: Some(e.to_string()),
            }
        }
    })
}

/// `serve` on a national hub: every province pulled every `every` (a province that fails is
/// retried with a backoff doubling up to 32 × `every`, the others go on), until `stop`. The stores
/// are `st`'s, held by this process (commands reach them through `control`); a province added
/// meanwhile is pulled at once.
pub async fn serve(
    st: &control::Stores,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let mut due: std::collections::BTreeMap<String, (u32, tokio::time::Instant)> =
        Default::default();
    loop {
        let codes = st.codes()?;
        due.retain(|c, _| codes.contains(c));
        for c in codes {
            due.entry(c).or_insert((0, tokio::time::Instant::now()));
        }
        let now = tokio::time::Instant::now();
        for (code, (fails, next)) in due.iter_mut() {
            if *next > now {
                continue;
            }
            let p = tokio::select! {
                p = st.pull(code) => p,
                _ = stop.wait_for(|v| *v) => return Ok(()),
            };
            match p {
                Ok(p) if p.error.is_none() => {
                    *fails = 0;
                    if p.received > 0 {
                        tracing::info!(province = %p.code, received = p.received, "pulled");
                    }
                }
                Ok(_) => *fails = (*fails + 1).min(5),
                Err(e) => {
                    tracing::warn!(province = %code, error = %e, "could not pull the province");
                    *fails = (*fails + 1).min(5);
                }
            }
            *next = tokio::time::Instant::now() + every * (1u32 << *fails);
        }
        let wake = due
            .values()
            .map(|(_, n)| *n)
            .min()
            .unwrap_or_else(|| tokio::time::Instant::now() + every);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = st.changed.notified() => {}
            _ = stop.wait_for(|v| *v) => return Ok(()),
        }
    }
}
