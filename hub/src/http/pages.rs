//! The dashboard's pages: one HTML shell (the same for every page path; `app.js` routes on the path
//! and draws the page from the JSON API) with the language's dictionary embedded, plus the script and
//! style sheet, all embedded in the binary.

use axum::extract::Query;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::i18n::{Lang, LANG_COOKIE};

/// The page script.
pub const APP_JS: &str = include_str!("assets/app.js");
/// The style sheet.
pub const APP_CSS: &str = include_str!("assets/app.css");
const SHELL: &str = include_str!("assets/index.html");

/// `?lang=` on any page.
#[derive(Debug, Deserialize, Default)]
pub struct LangQ {
    /// `vi` or `en`.
    pub lang: Option<String>,
}

/// Any page: the shell in the request's language; `?lang=` also sets the language cookie.
pub async fn shell(headers: HeaderMap, Query(q): Query<LangQ>) -> Response {
    let lang = Lang::of(q.lang.as_deref(), &headers);
    // JSON inside <script>: "</" must not close the element.
    let dict = lang.json().replace("</", "<\\/");
    let html = SHELL
        .replace("{{lang}}", lang.code())
        .replace("{{title}}", lang.t("app_title"))
        .replace("{{dict}}", &dict);
    let mut r = Html(html).into_response();
    if q.lang.as_deref().and_then(Lang::parse).is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; SameSite=Strict; Path=/; Max-Age=31536000",
            lang.code()
        )) {
            r.headers_mut().insert(SET_COOKIE, v);
        }
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn asset(body: &'static str, ty: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ty));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /static/app.js`.
pub async fn app_js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

/// `GET /static/app.css`.
pub async fn app_css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}
