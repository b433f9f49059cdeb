//! Who may use the office app's API: loopback browser sessions, LAN devices paired by a 6-digit code,
//! and the `Origin` check; plus the pairing routes.
//!
//! Loopback: `GET /` sets the cookie `baobi_session` (32 random bytes, HttpOnly, SameSite=Strict), held
//! in memory (a restarted daemon hands a new one to the next page load). LAN: a device posts the code
//! the PC's app shows (`GET /api/pairing`, fresh, valid 10 minutes, single use, 5 wrong tries burn it)
//! to `POST /api/pair` and gets the cookie `baobi_device`; paired devices are persisted in the agent's
//! sled store (tree `app_devices`, keyed by the SHA-256 of the device's secret, never the secret), and
//! removed from loopback only. A request whose `Origin` header is not the app's own origin is refused,
//! and on loopback the `Host` header must name the loopback listener (no DNS rebinding).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{blocking, ApiError, AppState, Door};
use crate::store::Store;

/// The loopback session cookie.
pub const COOKIE: &str = "baobi_session";
/// A paired LAN device's cookie.
pub const DEVICE_COOKIE: &str = "baobi_device";
/// How long a pairing code is valid.
pub const CODE_TTL: Duration = Duration::from_secs(600);
/// Wrong codes before the current code is burnt.
pub const CODE_ATTEMPTS: u32 = 5;
/// Loopback sessions kept (the oldest is dropped beyond).
const MAX_SESSIONS: usize = 256;
/// Routes that only the PC itself may use.
const LOOPBACK_ONLY: &[&str] = &["/api/pairing", "/api/devices", "/api/enroll"];

/// A paired device, as stored and listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    /// Short id (for `DELETE /api/devices/{id}`).
    pub id: String,
    /// What the device called itself when pairing.
    pub label: String,
    /// When it paired, RFC 3339.
    pub paired_at: String,
}

struct Code {
    code: String,
    until: Instant,
    tries: u32,
}

/// Sessions, the pairing code and the paired devices.
pub struct Sessions {
    loopback: Mutex<HashMap<String, Instant>>,
    code: Mutex<Option<Code>>,
    devices: sled::Tree,
    store: Store,
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill(&mut b[..]);
    data_encoding::HEXLOWER.encode(&b)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The value of cookie `name` in `headers`.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value for a session.
pub fn cookie(name: &str, token: &str) -> String {
    format!("{name}={token}; HttpOnly; SameSite=Strict; Path=/")
}

impl Sessions {
    /// Sessions over the store's device tree.
    pub fn new(store: &Store) -> crate::store::Result<Sessions> {
        Ok(Sessions {
            loopback: Mutex::new(HashMap::new()),
            code: Mutex::new(None),
            devices: store.tree("app_devices")?,
            store: store.clone(),
        })
    }

    /// A new loopback session's secret.
    pub fn new_loopback(&self) -> String {
        let t = random_hex(32);
        let mut m = self.loopback.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_SESSIONS {
            if let Some(oldest) = m.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone()) {
                m.remove(&oldest);
            }
        }
        m.insert(t.clone(), Instant::now());
        t
    }

    /// True when `headers` carry a live loopback session.
    pub fn loopback_ok(&self, headers: &HeaderMap) -> bool {
        cookie_value(headers, COOKIE).is_some_and(|t| {
            self.loopback
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(t)
        })
    }

    /// True when `headers` carry a paired device's cookie.
    pub fn device_ok(&self, headers: &HeaderMap) -> bool {
        cookie_value(headers, DEVICE_COOKIE)
            .is_some_and(|t| matches!(self.devices.get(hash(t)), Ok(Some(_))))
    }

    /// A fresh pairing code (replacing any earlier one).
    pub fn new_code(&self) -> String {
        let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32));
        *self.code.lock().unwrap_or_else(|p| p.into_inner()) = Some(Code {
            code: code.clone(),
            until: Instant::now() + CODE_TTL,
            tries: 0,
        });
        code
    }

    /// Checks `code` against the current one: true once (it is then used up); a wrong code counts
    /// against the attempts, and the code is burnt after [`CODE_ATTEMPTS`].
    pub fn take_code(&self, code: &str) -> bool {
        let mut g = self.code.lock().unwrap_or_else(|p| p.into_inner());
        let Some(c) = g.as_mut() else { return false };
        if Instant::now() > c.until {
            *g = None;
            return false;
        }
        if c.code == code.trim() {
            *g = None;
            return true;
        }
        c.tries += 1;
        if c.tries >= CODE_ATTEMPTS {
            *g = None;
        }
        false
    }

    /// Stores a newly paired device durably; returns it and its secret.
    pub fn add_device(&self, label: &str) -> crate::store::Result<(Device, String)> {
        let token = random_hex(32);
        let d = Device {
            id: random_hex(4),
            label: label.to_string(),
            paired_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        };
        let v = serde_json::to_vec(&d).map_err(|e| crate::store::Error::Corrupt(e.to_string()))?;
        self.devices.insert(hash(&token), v)?;
        self.store.flush()?;
        Ok((d, token))
    }

    /// The paired devices.
    pub fn devices(&self) -> crate::store::Result<Vec<Device>> {
        let mut out = vec![];
        for kv in self.devices.iter() {
            let (_, v) = kv?;
            if let Ok(d) = serde_json::from_slice::<Device>(&v) {
                out.push(d);
            }
        }
        out.sort_by(|a, b| a.paired_at.cmp(&b.paired_at));
        Ok(out)
    }

    /// Removes device `id`; false when there is none.
    pub fn remove_device(&self, id: &str) -> crate::store::Result<bool> {
        let mut found = None;
        for kv in self.devices.iter() {
            let (k, v) = kv?;
            if serde_json::from_slice::<Device>(&v).is_ok_and(|d| d.id == id) {
                found = Some(k);
            }
        }
        let Some(k) = found else { return Ok(false) };
        self.devices.remove(k)?;
        self.store.flush()?;
        Ok(true)
    }
}

fn host_is_loopback(host: &str, port: u16) -> bool {
    let want = format!(":{port}");
    let Some(name) = host.strip_suffix(&want) else {
        return false;
    };
    matches!(name, "localhost" | "[::1]")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Every request passes here first: the `Host` (loopback) and `Origin` checks, then the session
/// each `/api` route needs.
pub async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| st.addr.to_string());
    if st.door == Door::Loopback && !host_is_loopback(&host, st.addr.port()) {
        return ApiError::forbidden(
            "Địa chỉ không được phép / Host not allowed: mở ứng dụng tại / open the app at http://127.0.0.1",
        )
        .with("host", Value::String(host))
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = format!("http://{host}");
        if origin.to_str().ok() != Some(own.as_str()) {
            return ApiError::forbidden(
                "Yêu cầu từ trang khác bị từ chối / Request from another origin refused",
            )
            .with("origin", json!(origin.to_str().unwrap_or("")))
            .into_response();
        }
    }
    let path = req.uri().path();
    if !path.starts_with("/api/") {
        return next.run(req).await;
    }
    match st.door {
        Door::Loopback => {
            if path == "/api/pair" {
                return ApiError::forbidden(
                    "Ghép thiết bị chỉ qua mạng văn phòng / Pairing is for devices on the office network",
                )
                .into_response();
            }
            if !st.app.sessions.loopback_ok(headers) {
                return ApiError::forbidden(
                    "Phiên làm việc không hợp lệ, tải lại trang / No valid session: reload the page",
                )
                .with("session", json!(false))
                .into_response();
            }
        }
        Door::Lan => {
            if LOOPBACK_ONLY
                .iter()
                .any(|p| path == *p || path.starts_with(&format!("{p}/")))
            {
                return ApiError::forbidden(
                    "Chỉ dùng được trên máy văn phòng / Only on the office PC itself",
                )
                .into_response();
            }
            let pairing = path == "/api/pair" && req.method() == Method::POST;
            if !pairing && !st.app.sessions.device_ok(headers) {
                return ApiError::forbidden(
                    "Thiết bị chưa được ghép: nhập mã 6 số hiện trên máy văn phòng / Device not paired: enter the 6-digit code shown on the office PC",
                )
                .with("pairing_required", json!(true))
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// `POST /api/pair` body.
#[derive(Debug, Deserialize)]
pub struct PairBody {
    /// The 6-digit code.
    pub code: String,
    /// What to call the device.
    #[serde(default)]
    pub label: Option<String>,
}

/// `POST /api/pair {"code","label"?}` (LAN only): 200 `{"id","label","paired_at"}` and the device
/// cookie, or 403 when the code is wrong, used or expired.
pub async fn pair(
    State(st): State<AppState>,
    body: Result<Json<PairBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body
        .map_err(|e| ApiError::field("code", format!("Yêu cầu không hợp lệ / Bad request: {e}")))?;
    if !st.app.sessions.take_code(&b.code) {
        return Err(ApiError::forbidden(
            "Mã ghép sai hoặc đã hết hạn / Wrong or expired pairing code: lấy mã mới trên máy văn phòng / get a new code on the office PC",
        )
        .with("field", json!("code")));
    }
    let label = b
        .label
        .map(|l| l.trim().chars().take(80).collect::<String>())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "thiết bị / device".into());
    let app = st.app.clone();
    let (d, token) = blocking(move || Ok(app.sessions.add_device(&label)?)).await?;
    let mut r = Json(json!(d)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie(DEVICE_COOKIE, &token)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// `GET /api/pairing` (loopback): a fresh code `{"code","valid_secs"}`, replacing any earlier one.
pub async fn pairing(State(st): State<AppState>) -> Json<Value> {
    let code = st.app.sessions.new_code();
    Json(json!({ "code": code, "valid_secs": CODE_TTL.as_secs(), "attempts": CODE_ATTEMPTS }))
}

/// `GET /api/devices` (loopback): the paired devices.
pub async fn devices(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let app = st.app.clone();
    blocking(move || Ok(Json(json!({ "devices": app.sessions.devices()? })))).await
}

/// `DELETE /api/devices/{id}` (loopback): unpairs the device; 404 when unknown.
pub async fn remove_device(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = st.app.clone();
    blocking(move || {
        if app.sessions.remove_device(&id)? {
            Ok(Json(super::ok()))
        } else {
            Err(ApiError::not_found(format!(
                "Không có thiết bị / No such device: {id}"
            )))
        }
    })
    .await
}
