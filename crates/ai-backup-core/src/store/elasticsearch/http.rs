//! HTTP plumbing of the Elasticsearch client: URLs built from path segments (so index names
//! are escaped), basic auth, cancellation of every request, and Elasticsearch's error shape
//! turned into `EsError::Server` with its `type` and `reason`.

use bytes::Bytes;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{EsClient, EsError, EsResult};
use crate::progress::Cancel;

/// A body to send.
pub(super) enum Body {
    None,
    Json(Value),
    Ndjson(Bytes),
}

impl EsClient {
    fn endpoint(&self, path: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        {
            let mut segs = url.path_segments_mut().expect("checked in new");
            segs.pop_if_empty();
            segs.extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, &str)],
        cancel: &Cancel,
    ) -> EsResult<T> {
        let op = op_name(&Method::GET, path);
        let reply = self
            .call(Method::GET, path, query, Body::None, cancel)
            .await?;
        parse(&op, &reply)
    }

    /// Send a request and return the body of its 2xx answer; any other answer becomes
    /// `EsError::Server`.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Body,
        cancel: &Cancel,
    ) -> EsResult<Bytes> {
        let op = op_name(&method, path);
        let (status, bytes) = self.send(method, path, query, body, cancel).await?;
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(server_error(op, status, &bytes))
        }
    }

    /// Send a request and return whatever status came back.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Body,
        cancel: &Cancel,
    ) -> EsResult<(u16, Bytes)> {
        let mut req = self
            .http
            .request(method, self.endpoint(path, query))
            .header("Accept", "application/json");
        if let Some(user) = &self.user {
            req = req.basic_auth(user, self.password.as_ref());
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&v).expect("JSON serialises")),
            Body::Ndjson(b) => req.header("Content-Type", "application/x-ndjson").body(b),
        };
        let unreachable = |e: reqwest::Error| EsError::Unreachable {
            url: self.base.to_string(),
            message: describe(e),
        };
        let work = async {
            let resp = req.send().await.map_err(unreachable)?;
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.map_err(unreachable)?;
            Ok((status, bytes))
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(EsError::Cancelled),
            r = work => r,
        }
    }
}

pub(super) fn op_name(method: &Method, path: &[&str]) -> String {
    format!("{method} /{}", path.join("/"))
}

pub(super) fn parse<T: DeserializeOwned>(op: &str, body: &[u8]) -> EsResult<T> {
    serde_json::from_slice(body).map_err(|e| EsError::Protocol {
        op: op.to_string(),
        message: format!("not the expected JSON ({e})"),
    })
}

/// The error of a reqwest failure, without its URL, with its causes.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// `EsError::Server` from an ES error answer (`{"error": {"type", "reason", "root_cause"},
/// "status"}`, or `{"error": "text"}`, or anything else).
pub(super) fn server_error(op: String, status: u16, body: &[u8]) -> EsError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (kind, mut reason) = match &v["error"] {
        Value::Object(e) => (
            e.get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            e.get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        Value::String(s) => (String::new(), s.clone()),
        _ => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        ),
    };
    let cause = v["error"]["caused_by"]
        .as_object()
        .or_else(|| v["error"]["root_cause"][0].as_object());
    if let Some(c) = cause {
        let (ck, cr) = (
            c["type"].as_str().unwrap_or(""),
            c["reason"].as_str().unwrap_or(""),
        );
        if !cr.is_empty() && cr != reason {
            reason = format!("{reason} (caused by {ck}: {cr})");
        }
    }
    if reason.is_empty() {
        reason = match status {
            401 => "authentication failed (check the user and password)".into(),
            413 => "request body too large (http.max_content_length)".into(),
            _ => "no error details".into(),
        };
    }
    EsError::Server {
        op,
        status,
        kind,
        reason,
    }
}
