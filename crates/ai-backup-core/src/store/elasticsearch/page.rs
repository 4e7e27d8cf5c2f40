//! One page of a search answer turned into dump lines. The page is parsed in place: hits
//! borrow their `_id` and `_source` from the answer's bytes (no `Value` per document), so a
//! page costs its answer plus its lines in memory, and the answer is dropped before the lines
//! are written.

use serde::Deserialize;
use serde_json::Value;

use super::source::{write_line, Hit};
use super::{parse, EsError, EsResult};

#[derive(Deserialize)]
struct SearchResp<'a> {
    #[serde(default)]
    pit_id: Option<String>,
    #[serde(default, rename = "_scroll_id")]
    scroll_id: Option<String>,
    #[serde(default)]
    timed_out: bool,
    #[serde(default, rename = "_shards")]
    shards: Option<Shards>,
    #[serde(borrow)]
    hits: Hits<'a>,
}

#[derive(Deserialize)]
struct Shards {
    #[serde(default)]
    failed: u64,
}

#[derive(Deserialize)]
struct Hits<'a> {
    #[serde(default)]
    total: Option<Total>,
    #[serde(default, borrow)]
    hits: Vec<Hit<'a>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Total {
    Plain(u64),
    Tracked { value: u64, relation: String },
}

/// What a page tells about the next one.
pub(super) struct PageInfo {
    /// Documents on the page (lines appended).
    pub(super) docs: usize,
    /// The exact total of the search, when the page carries one.
    pub(super) total: Option<u64>,
    pub(super) pit_id: Option<String>,
    pub(super) scroll_id: Option<String>,
    /// The sort values of the last hit, for `search_after`.
    pub(super) after: Option<Vec<Value>>,
}

/// Append the dump lines of the page `reply` (answer to `op` on index `name`) to `buf`.
///
/// # Errors
/// `Partial` when shards failed or timed out, `SourceUnavailable` for a hit without
/// `_source`, `Protocol` for an answer that is not a search answer.
pub(super) fn read_page(
    op: &str,
    name: &str,
    reply: &[u8],
    buf: &mut Vec<u8>,
) -> EsResult<PageInfo> {
    let page: SearchResp<'_> = serde_json::from_slice(reply).map_err(|e| EsError::Protocol {
        op: op.to_string(),
        message: format!("not the expected JSON ({e})"),
    })?;
    let failed = page.shards.as_ref().map_or(0, |s| s.failed);
    if page.timed_out || failed > 0 {
        return Err(EsError::Partial {
            index: name.into(),
            why: format!("{failed} shard(s) failed, timed out: {}", page.timed_out),
        });
    }
    for hit in &page.hits.hits {
        write_line(name, hit, buf)?;
    }
    let after = match page.hits.hits.last().and_then(|h| h.sort) {
        Some(raw) => Some(parse(op, raw.get().as_bytes())?),
        None => None,
    };
    let total = match page.hits.total {
        Some(Total::Plain(n)) => Some(n),
        Some(Total::Tracked { value, relation }) if relation == "eq" => Some(value),
        _ => None,
    };
    Ok(PageInfo {
        docs: page.hits.hits.len(),
        total,
        pit_id: page.pit_id,
        scroll_id: page.scroll_id,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_becomes_lines_and_a_cursor() {
        let reply = br#"{"pit_id":"p2","took":1,"timed_out":false,"_shards":{"total":1,"failed":0},
            "hits":{"total":{"value":2,"relation":"eq"},"hits":[
            {"_index":"i","_id":"a","_score":null,"_source":{"v":[0.5,1]},"sort":[0]},
            {"_index":"i","_id":"b\"q","_routing":"r","_source":{"t":"x\ny"},"sort":[7]}]}}"#;
        let mut buf = Vec::new();
        let info = read_page("op", "i", reply, &mut buf).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"_id\":\"a\",\"_source\":{\"v\":[0.5,1]}}\n{\"_id\":\"b\\\"q\",\"_routing\":\"r\",\"_source\":{\"t\":\"x\\ny\"}}\n"
        );
        assert_eq!(info.docs, 2);
        assert_eq!(info.total, Some(2));
        assert_eq!(info.pit_id.as_deref(), Some("p2"));
        assert_eq!(info.after, Some(vec![Value::from(7)]));
    }

    #[test]
    fn counts_that_are_not_exact_and_failed_shards() {
        let gte = br#"{"hits":{"total":{"value":10000,"relation":"gte"},"hits":[]}}"#;
        let info = read_page("op", "i", gte, &mut Vec::new()).unwrap();
        assert_eq!((info.total, info.docs, info.after), (None, 0, None));
        let failed = br#"{"_shards":{"failed":1},"hits":{"hits":[]}}"#;
        assert!(matches!(
            read_page("op", "i", failed, &mut Vec::new()),
            Err(EsError::Partial { .. })
        ));
    }
}
