//! The API without a browser or a socket (`tower::ServiceExt::oneshot`): access rules, bad
//! input refused before anything runs, uploads, downloads and the event stream's snapshot.
//! What needs the stack is tested in a real browser (`tests/ui`).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::{app, AppState};
use ai_backup_core::config::Config;
use ai_backup_core::jobs::JobBoard;

const PORT: u16 = 4242;

fn state(dir: &std::path::Path) -> AppState {
    AppState::new(JobBoard::new(Config::builtin()), PORT, dir.to_path_buf()).unwrap()
}

fn req(method: &str, uri: &str, st: &AppState) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, format!("127.0.0.1:{PORT}"))
        .header(header::COOKIE, format!("ab_token={}", st.token))
}

async fn send(router: &Router, r: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = router.clone().oneshot(r).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

fn post_json(uri: &str, st: &AppState, body: &str) -> Request<Body> {
    req("POST", uri, st)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn only_the_page_with_its_key_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let router = app(st.clone());
    let host = format!("127.0.0.1:{PORT}");

    let bare = Request::get("/api/state")
        .header(header::HOST, &host)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&router, bare).await.0,
        StatusCode::FORBIDDEN,
        "no cookie"
    );

    let link = format!("/?token={}", st.token);
    let open = Request::get(&link)
        .header(header::HOST, &host)
        .body(Body::empty())
        .unwrap();
    let (code, headers, _) = send(&router, open).await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("ab_token={};", st.token)),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let wrong = Request::get("/?token=00")
        .header(header::HOST, &host)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&router, wrong).await.0,
        StatusCode::FORBIDDEN,
        "wrong token"
    );

    let rebound = req("GET", "/api/archives", &st).header(header::HOST, "evil.example:4242");
    let rebound = rebound.body(Body::empty()).unwrap();
    assert_eq!(
        send(&router, rebound).await.0,
        StatusCode::FORBIDDEN,
        "foreign Host"
    );

    let cross = post_json("/api/modules/n8n/cancel", &st, "{}");
    let (mut parts, body) = cross.into_parts();
    parts
        .headers
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    let (code, _, body) = send(&router, Request::from_parts(parts, body)).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "foreign Origin");
    assert!(json(&body)["error"]
        .as_str()
        .unwrap()
        .contains("another site"));

    let (code, headers, body) =
        send(&router, req("GET", "/", &st).body(Body::empty()).unwrap()).await;
    assert_eq!(code, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(String::from_utf8_lossy(&body).contains("/assets/app.js"));
    let same_origin = req("GET", "/assets/app.js", &st)
        .header(header::ORIGIN, format!("http://127.0.0.1:{PORT}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&router, same_origin).await.0, StatusCode::OK);
    let missing = req("GET", "/assets/none.js", &st)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&router, missing).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_requests_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let router = app(st.clone());
    let cases = [
        (
            "/api/modules/nope/backup",
            "{}",
            StatusCode::BAD_REQUEST,
            "unknown module",
        ),
        (
            "/api/modules/n8n/backup",
            r#"{"path":"relative.tar.gz"}"#,
            StatusCode::BAD_REQUEST,
            "absolute",
        ),
        (
            "/api/modules/n8n/restore",
            r#"{"archive":{"path":"/x.tar.gz"},"confirm":"dify"}"#,
            StatusCode::BAD_REQUEST,
            "type the module name (n8n)",
        ),
        (
            "/api/modules/n8n/restore",
            r#"{"archive":{"upload":"u-gone"},"confirm":"n8n"}"#,
            StatusCode::BAD_REQUEST,
            "upload is gone",
        ),
        (
            "/api/modules/n8n/cancel",
            "{}",
            StatusCode::NOT_FOUND,
            "no backup or restore of n8n",
        ),
    ];
    for (uri, body, code, says) in cases {
        let (got, _, bytes) = send(&router, post_json(uri, &st, body)).await;
        assert_eq!(got, code, "{uri} {body}");
        let error = json(&bytes)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains(says), "{uri}: {error}");
    }
    assert!(st.board.snapshot().is_empty(), "no job was started");
    let put = req("PUT", "/api/settings", &st)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"backupDir":"not/absolute"}"#))
        .unwrap();
    assert_eq!(send(&router, put).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_backup_folder_is_listed_and_changed_and_only_it_is_downloadable() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let router = app(st.clone());
    std::fs::write(dir.path().join("junk.tar.gz"), b"not an archive").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
    let (code, _, body) = send(
        &router,
        req("GET", "/api/archives", &st)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let list = json(&body);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["fileName"], "junk.tar.gz");
    assert!(
        list[0]["error"].as_str().unwrap().contains("refused"),
        "{list}"
    );

    let ok = format!(
        "/api/download?path={}",
        dir.path().join("junk.tar.gz").display()
    );
    let (code, headers, body) =
        send(&router, req("GET", &ok, &st).body(Body::empty()).unwrap()).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body, b"not an archive");
    assert!(headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("junk.tar.gz"));
    for outside in [
        "/etc/passwd".to_string(),
        format!("{}/../x", dir.path().display()),
    ] {
        let uri = format!("/api/download?path={outside}");
        let (code, _, _) = send(&router, req("GET", &uri, &st).body(Body::empty()).unwrap()).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{outside}");
    }

    let other = dir.path().join("elsewhere");
    let put = req("PUT", "/api/settings", &st)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(
            r#"{{"backupDir":"{}"}}"#,
            other.display()
        )))
        .unwrap();
    let (code, _, _) = send(&router, put).await;
    assert_eq!(code, StatusCode::OK);
    assert!(other.is_dir(), "created");
    assert_eq!(*st.backup_dir.read().unwrap(), other);
}

#[tokio::test]
async fn an_upload_is_a_private_file_until_it_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let router = app(st.clone());
    let data = vec![7u8; 3 << 20];
    let up = req("POST", "/api/uploads", &st)
        .header("x-file-name", "n8n-backup-20261127-150000.tar.gz")
        .body(Body::from(data.clone()))
        .unwrap();
    let (code, _, body) = send(&router, up).await;
    assert_eq!(code, StatusCode::CREATED);
    let v = json(&body);
    assert_eq!(v["bytes"], data.len());
    let id = v["upload"].as_str().unwrap().to_string();
    let (path, name) = st.uploads.get(&id).unwrap();
    assert_eq!(name, "n8n-backup-20261127-150000.tar.gz");
    assert_eq!(std::fs::read(&path).unwrap(), data);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let del = req("DELETE", &format!("/api/uploads/{id}"), &st)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&router, del).await.0, StatusCode::NO_CONTENT);
    assert!(!path.exists(), "removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encrypted_upload_is_recognised_and_needs_its_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let router = app(st.clone());
    let up = req("POST", "/api/uploads", &st)
        .header("x-file-name", "renamed.bin")
        .body(Body::from("age-encryption.org/v1\n-> scrypt x 18\n"))
        .unwrap();
    let (code, _, body) = send(&router, up).await;
    assert_eq!(code, StatusCode::CREATED);
    let v = json(&body);
    assert_eq!(v["encrypted"], true, "by its first bytes, not its name");
    let archive = format!(r#"{{"upload": "{}"}}"#, v["upload"].as_str().unwrap());
    let body = format!(r#"{{"module": "n8n", "archive": {archive}}}"#);
    let (_, _, answer) = send(&router, post_json("/api/verify", &st, &body)).await;
    let answer = json(&answer);
    assert_eq!(answer["ok"], false);
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("encrypted with a passphrase"), "{error}");
    let empty = format!(r#"{{"module": "n8n", "archive": {archive}, "passphrase": ""}}"#);
    let (code, _, _) = send(&router, post_json("/api/verify", &st, &empty)).await;
    assert!(
        code.is_client_error(),
        "an empty passphrase is refused: {code}"
    );
}

#[tokio::test]
async fn the_event_stream_starts_with_a_snapshot_of_the_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let router = app(st.clone());
    let res = router
        .oneshot(req("GET", "/api/events", &st).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = res.into_body();
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let text = String::from_utf8_lossy(&frame);
    assert!(
        text.starts_with("event: snapshot\ndata: {\"jobs\":[]}"),
        "{text}"
    );
}
