//! Operators' login for the dashboard: argon2 password check, in-memory sessions with expiry, a simple
//! per-name limit on failed logins, and the [`Operator`] extractor every protected route takes.
//!
//! A session is a random 256-bit token in the cookie `baobi_session` (`HttpOnly; SameSite=Strict;
//! Path=/`, and `Secure` over HTTPS). SameSite=Strict is the CSRF defence for the POST routes: a browser sends the cookie only on
//! requests started from the dashboard's own pages. Sessions live in memory and end with the process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{blocking, ApiError, AppState};

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "baobi_session";
/// How long a session lasts from login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per name within [`FAIL_WINDOW`] before further attempts are refused.
pub const MAX_FAILURES: u32 = 5;
/// Window over which failures are counted, and how long a name stays locked after too many.
pub const FAIL_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most sessions kept at once (oldest dropped beyond it), so memory stays bounded.
pub const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
struct Session {
    operator: String,
    expires: Instant,
}

/// Sessions and failed-login counters of one dashboard.
#[derive(Debug, Default)]
pub struct Auth {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Auth {
    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for `operator`; returns its token.
    pub fn open(&self, operator: &str) -> String {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        let token = data_encoding::HEXLOWER.encode(&bytes);
        let now = Instant::now();
        let mut s = self.lock_sessions();
        s.retain(|_, v| v.expires > now);
        if s.len() >= MAX_SESSIONS {
            if let Some(oldest) = s
                .iter()
                .min_by_key(|(_, v)| v.expires)
                .map(|(k, _)| k.clone())
            {
                s.remove(&oldest);
            }
        }
        s.insert(
            token.clone(),
            Session {
                operator: operator.to_string(),
                expires: now + SESSION_TTL,
            },
        );
        token
    }

    /// The operator of a live session.
    pub fn check(&self, token: &str) -> Option<String> {
        let mut s = self.lock_sessions();
        match s.get(token) {
            Some(v) if v.expires > Instant::now() => Some(v.operator.clone()),
            Some(_) => {
                s.remove(token);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn close(&self, token: &str) {
        self.lock_sessions().remove(token);
    }

    /// True when `name` has failed too often lately.
    pub fn locked(&self, name: &str) -> bool {
        let f = self.lock_failures();
        f.get(name)
            .is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAIL_WINDOW)
    }

    fn failed(&self, name: &str) {
        let mut f = self.lock_failures();
        if f.len() > MAX_SESSIONS {
            f.retain(|_, (_, since)| since.elapsed() < FAIL_WINDOW);
        }
        let e = f.entry(name.to_string()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAIL_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }

    fn succeeded(&self, name: &str) {
        self.lock_failures().remove(name);
    }
}

/// The session token in a request's cookies.
pub fn token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE_NAME)
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The logged-in operator: taking it as an argument makes a route require a session (401 otherwise).
#[derive(Debug, Clone)]
pub struct Operator(pub String);

pub(super) fn unauthorized() -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: "Cần đăng nhập / Login required".into(),
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        operator_of(&parts.headers, state)
    }
}

/// The operator whose live session the request's cookie carries; 401 otherwise.
pub fn operator_of(headers: &HeaderMap, state: &AppState) -> Result<Operator, ApiError> {
    let t = token(headers).ok_or_else(unauthorized)?;
    let name = state.auth.check(&t).ok_or_else(unauthorized)?;
    // A removed operator's sessions end at once (one sled point read).
    match crate::operators::get(&state.hub, &name) {
        Ok(Some(_)) => Ok(Operator(name)),
        Ok(None) => {
            state.auth.close(&t);
            Err(unauthorized())
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// `POST /api/login` body.
#[derive(Debug, Deserialize)]
pub struct Login {
    /// Operator name.
    pub name: String,
    /// Password.
    pub password: String,
}

fn session_cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("baobi_session=; Path=/; Max-Age=0"))
}

/// `POST /api/login {name, password}`: sets the session cookie; 401 on a wrong name or password, 429
/// while the name is locked after too many failures.
pub async fn login(
    State(st): State<AppState>,
    body: Result<Json<Login>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::bad(format!(
            "Cần {{\"name\", \"password\"}} / Expected {{\"name\", \"password\"}}: {e}"
        ))
    })?;
    let name = baobi_proto::validate::nfc(body.name.trim());
    if st.auth.locked(&name) {
        return Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message:
                "Đăng nhập sai quá nhiều lần, hãy thử lại sau / Too many failed logins, try later"
                    .into(),
        });
    }
    let hub = st.hub.clone();
    let (n, password) = (name.clone(), body.password);
    let ok = blocking(move || {
        let op = crate::operators::get(&hub, &n)?;
        Ok(match op {
            Some(op) => crate::operators::verify_password(&op.phc, &password),
            None => {
                // Same work for an unknown name, so timing does not tell which names exist.
                let _ = crate::operators::verify_password(DUMMY_PHC, &password);
                false
            }
        })
    })
    .await?;
    if !ok {
        st.auth.failed(&name);
        tracing::info!(operator = %name, "dashboard login refused");
        return Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "Sai tên hoặc mật khẩu / Wrong name or password".into(),
        });
    }
    st.auth.succeeded(&name);
    let token = st.auth.open(&name);
    tracing::info!(operator = %name, "dashboard login");
    let mut r = Json(json!({ "operator": name })).into_response();
    r.headers_mut().insert(
        SET_COOKIE,
        session_cookie(&token, SESSION_TTL.as_secs(), st.secure),
    );
    Ok(r)
}

/// An argon2id hash of a random password, checked against when the name is unknown.
const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$W3lYaDRI0eB3dbD1Ch3tDTuADhV8xvXQzXp66CdGn9E";

/// `POST /api/logout`: ends the session and clears the cookie.
pub async fn logout(State(st): State<AppState>, _op: Operator, headers: HeaderMap) -> Response {
    if let Some(t) = token(&headers) {
        st.auth.close(&t);
    }
    let mut r = Json(json!({ "ok": true })).into_response();
    r.headers_mut()
        .insert(SET_COOKIE, session_cookie("", 0, st.secure));
    r
}

/// `GET /api/me`: who is logged in, the province, the language.
pub async fn me(State(st): State<AppState>, Operator(name): Operator) -> Json<serde_json::Value> {
    Json(json!({
        "operator": name,
        "province": st.hub.province(),
        "province_name": st.hub.province_name(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_check_close() {
        let a = Auth::default();
        let t = a.open("lan");
        assert_eq!(t.len(), 64);
        assert_eq!(a.check(&t).as_deref(), Some("lan"));
        assert_ne!(a.open("lan"), t);
        a.close(&t);
        assert_eq!(a.check(&t), None);
        assert_eq!(a.check("nope"), None);
    }

    #[test]
    fn failures_lock_a_name() {
        let a = Auth::default();
        for _ in 0..MAX_FAILURES {
            assert!(!a.locked("lan"));
            a.failed("lan");
        }
        assert!(a.locked("lan"));
        assert!(!a.locked("minh"));
        a.succeeded("lan");
        assert!(!a.locked("lan"));
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(argon2::PasswordHash::new(DUMMY_PHC).is_ok());
    }

    #[test]
    fn cookies_are_found() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; baobi_session=xyz; b=2"),
        );
        assert_eq!(token(&h).as_deref(), Some("xyz"));
    }
}
