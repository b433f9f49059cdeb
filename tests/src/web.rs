//! A small HTTP(S) client of the hub's dashboard and the office app as the tests drive them: plain
//! requests with the session cookie, JSON and file uploads, and TLS pinned to one certificate.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

/// An HTTP response as the dashboard tests read it.
#[derive(Debug)]
pub struct WebResponse {
    /// Status code.
    pub status: u16,
    /// Headers (lowercase names), in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl WebResponse {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(500)])
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// A plain HTTP client of the hub's dashboard that keeps the session cookie, as a browser would.
pub struct Web {
    /// The dashboard's address.
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The session cookie (`baobi_session=…`) once logged in.
    pub cookie: Option<String>,
    agent: ureq::Agent,
}

impl Web {
    /// A client of the dashboard at `addr`.
    pub fn new(addr: SocketAddr) -> Web {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Web {
            addr,
            scheme: "http",
            cookie: None,
            agent,
        }
    }

    /// A client of the dashboard over HTTPS at `addr`, trusting only the certificate `cert_pem`.
    pub fn tls(addr: SocketAddr, cert_pem: &str) -> Web {
        use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
        let cert = Certificate::from_pem(cert_pem.as_bytes()).expect("a PEM certificate");
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::new_with_certs(&[cert]))
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .tls_config(tls)
            .build()
            .into();
        Web {
            addr,
            scheme: "https",
            cookie: None,
            agent,
        }
    }

    /// `GET path` with a header (e.g. `authorization`) and no session cookie.
    pub fn get_with(&self, path: &str, name: &str, value: &str) -> WebResponse {
        let req = self
            .agent
            .get(format!("{}://{}{path}", self.scheme, self.addr))
            .header(name, value);
        Self::done(req.call())
    }

    fn done(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> WebResponse {
        Self::answer(r).expect("dashboard reachable")
    }

    fn answer(
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<WebResponse, ureq::Error> {
        let mut r = r?;
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        Ok(WebResponse {
            status: r.status().as_u16(),
            headers,
            body: r.body_mut().with_config().limit(64 << 20).read_to_vec()?,
        })
    }

    /// `GET path` (with the session cookie if any) that may fail to connect (e.g. TLS refused).
    pub fn try_get(&self, path: &str) -> Result<WebResponse, String> {
        let mut req = self
            .agent
            .get(format!("{}://{}{path}", self.scheme, self.addr));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        Self::answer(req.call()).map_err(|e| e.to_string())
    }

    /// `GET path` with the session cookie if any.
    pub fn get(&self, path: &str) -> WebResponse {
        let mut req = self
            .agent
            .get(format!("{}://{}{path}", self.scheme, self.addr));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        Self::done(req.call())
    }

    /// `POST path` with a JSON body and the session cookie if any.
    pub fn post(&self, path: &str, body: &Value) -> WebResponse {
        let mut req = self
            .agent
            .post(format!("{}://{}{path}", self.scheme, self.addr))
            .header("content-type", "application/json");
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        Self::done(req.send(body.to_string()))
    }

    /// `POST path` with raw bytes of `content_type` (a file upload) and the session cookie if any.
    pub fn post_bytes(&self, path: &str, content_type: &str, body: &[u8]) -> WebResponse {
        let mut req = self
            .agent
            .post(format!("{}://{}{path}", self.scheme, self.addr))
            .header("content-type", content_type);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        Self::done(req.send(body))
    }

    /// `POST /api/login`; keeps the session cookie on success.
    pub fn login(&mut self, name: &str, password: &str) -> WebResponse {
        let r = self.post(
            "/api/login",
            &serde_json::json!({ "name": name, "password": password }),
        );
        if r.status == 200 {
            let set = r.header("set-cookie").expect("login sets a cookie");
            self.cookie = Some(set.split(';').next().unwrap_or("").trim().to_string());
        }
        r
    }

    /// `GET path` that must answer 200 with JSON.
    pub fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(
            r.status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }
}
