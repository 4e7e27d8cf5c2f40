//! Only the page ai-backup served may use the API: the random token of the printed URL
//! becomes an HttpOnly, SameSite=Strict cookie, and every request must carry it, name this
//! server in `Host` (no DNS rebinding) and, when the browser sends an `Origin`, come from it.
//! Another web site open in the same browser can neither start, cancel nor read anything.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;

pub const COOKIE: &str = "ab_token";

/// A new random token: 32 bytes, hex.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The middleware in front of every route.
pub async fn check(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if let Err(why) = same_server(req.headers(), st.port) {
        return refuse(why);
    }
    if let Some(token) = query_token(req.uri().query()) {
        if req.uri().path() != "/" || !equal(&token, &st.token) {
            return refuse("this link is not valid: open the URL printed by ai-backup ui");
        }
        let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", st.token);
        return ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response();
    }
    if !cookie_token(req.headers()).is_some_and(|t| equal(&t, &st.token)) {
        return refuse("open the URL printed by ai-backup ui (it carries this session's key)");
    }
    next.run(req).await
}

fn refuse(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({ "error": why })),
    )
        .into_response()
}

/// `Host` is this server; `Origin`, when sent, is this server's page.
fn same_server(h: &HeaderMap, port: u16) -> Result<(), &'static str> {
    let ours = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    let mut hosts = h.get_all(header::HOST).iter();
    let host = hosts.next().and_then(|v| v.to_str().ok());
    if hosts.next().is_some() || !host.is_some_and(|v| ours.iter().any(|o| o == v)) {
        return Err("refused: this server answers only to 127.0.0.1");
    }
    if let Some(origin) = h.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !ours.iter().any(|o| origin == format!("http://{o}")) {
            return Err("refused: a request from another site");
        }
    }
    Ok(())
}

fn query_token(q: Option<&str>) -> Option<String> {
    q?.split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(str::to_string)
}

fn cookie_token(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
}

/// Compare without stopping at the first difference.
fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0, |d, (x, y)| d | (x ^ y)) == 0
}
