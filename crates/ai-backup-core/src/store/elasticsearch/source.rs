//! Documents as they travel: a search hit becomes one NDJSON line
//! `{"_id":..,"_routing":..,"_source":{..}}` with its `_source` bytes as Elasticsearch gave
//! them. An index whose mapping disables or filters `_source`, or a hit without it, cannot be
//! copied: this is where that is caught.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{EsError, EsResult};
use crate::progress::Progress;

/// One search hit, borrowed from the page it came in: its `_source` is the bytes
/// Elasticsearch sent, never parsed into values.
#[derive(Deserialize)]
pub(super) struct Hit<'a> {
    #[serde(borrow, rename = "_id")]
    pub(super) id: Cow<'a, str>,
    #[serde(default, borrow, rename = "_routing")]
    pub(super) routing: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "_source")]
    pub(super) source: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) sort: Option<&'a RawValue>,
}

/// One line of the dump.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "_id")]
    id: &'a str,
    #[serde(rename = "_routing", skip_serializing_if = "Option::is_none")]
    routing: Option<&'a str>,
    #[serde(rename = "_source")]
    source: &'a RawValue,
}

/// Append the dump line of `hit` to `buf`; fails when the hit has no `_source`.
pub(super) fn write_line(name: &str, hit: &Hit<'_>, buf: &mut Vec<u8>) -> EsResult<()> {
    let Some(raw) = hit.source else {
        return Err(EsError::SourceUnavailable {
            index: name.into(),
            why: format!("document _id {:?} came back without _source", hit.id),
        });
    };
    // ES returns `_source` as it was sent: a document indexed pretty-printed would break the
    // one-line format, so its whitespace goes (keys keep their order).
    let compact;
    let source: &RawValue = if raw.get().contains(['\n', '\r']) {
        compact = RawValue::from_string(minify(raw.get())).expect("still valid JSON");
        &compact
    } else {
        raw
    };
    let line = Line {
        id: &hit.id,
        routing: hit.routing.as_deref(),
        source,
    };
    serde_json::to_writer(&mut *buf, &line).expect("JSON serialises");
    buf.push(b'\n');
    Ok(())
}

/// `json` without the whitespace outside its strings.
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in json.chars() {
        if in_str {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
        } else if !c.is_ascii_whitespace() {
            in_str = c == '"';
            out.push(c);
        }
    }
    out
}

/// Refuse indices whose documents cannot be rebuilt from `_source`.
pub(super) fn check_source(name: &str, mappings: &Value, progress: &Progress) -> EsResult<()> {
    let src = &mappings["_source"];
    let fail = |why: &str| {
        Err(EsError::SourceUnavailable {
            index: name.into(),
            why: why.into(),
        })
    };
    if matches!(&src["enabled"], Value::Bool(false)) || src["enabled"].as_str() == Some("false") {
        return fail("the mapping disables _source, so documents cannot be read back");
    }
    let listed = |k: &str| match &src[k] {
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => false,
    };
    if listed("includes") || listed("excludes") {
        return fail(
            "the mapping filters _source (includes/excludes), so stored documents are incomplete",
        );
    }
    if src["mode"].as_str() == Some("synthetic") {
        progress.warn(format!(
            "index {name} uses synthetic _source: documents are rebuilt from fields and may differ in layout"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn source_checks() {
        let p = Progress::silent();
        assert!(check_source("i", &json!({}), &p).is_ok());
        assert!(check_source("i", &json!({"_source": {"enabled": true}}), &p).is_ok());
        for bad in [
            json!({"_source": {"enabled": false}}),
            json!({"_source": {"enabled": "false"}}),
            json!({"_source": {"excludes": ["vec"]}}),
            json!({"_source": {"includes": ["a*"]}}),
        ] {
            assert!(
                matches!(
                    check_source("i", &bad, &p),
                    Err(EsError::SourceUnavailable { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn lines_keep_the_source_bytes() {
        let hit: Hit = serde_json::from_str(
            r#"{"_id":"a","_routing":"r","_source":{"z":1,"a":[1.5,2]},"sort":[3]}"#,
        )
        .unwrap();
        let mut buf = Vec::new();
        write_line("i", &hit, &mut buf).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"_id\":\"a\",\"_routing\":\"r\",\"_source\":{\"z\":1,\"a\":[1.5,2]}}\n"
        );
        let hit: Hit = serde_json::from_str(
            "{\"_id\":\"b\",\"_source\":{\n \"z\": \"a \\\" b\\\\\",\r\n \"x\" : [1, 2]\n}}",
        )
        .unwrap();
        let mut buf = Vec::new();
        write_line("i", &hit, &mut buf).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"_id\":\"b\",\"_source\":{\"z\":\"a \\\" b\\\\\",\"x\":[1,2]}}\n"
        );
        let hit: Hit = serde_json::from_str(r#"{"_id":"c"}"#).unwrap();
        assert!(matches!(
            write_line("i", &hit, &mut Vec::new()),
            Err(EsError::SourceUnavailable { .. })
        ));
    }
}
