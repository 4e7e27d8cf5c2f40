#!/usr/bin/env python3
"""Elasticsearch 8.x test server for ai-backup.

Why this exists: Elasticsearch cannot be installed on the project's machines, yet the backup
tool must be tested against the ways real ES surprises clients (see
shared/docs/elasticsearch.md).  This single-file, standard-library-only server reproduces
those behaviours: private index settings rejected on PUT, settings returned as strings,
wildcard-matches-nothing is 200 {} but a missing concrete index is 404, wildcard DELETE refused,
hidden (dot) indices skipped by `*`, `_bulk` answering 200 with per-item errors, 429/413,
`index.max_result_window`, `hits.total` capped at 10,000 with relation "gte", point in time and
scroll snapshots, refresh visibility, `_source` disabled/filtered, routing, aliases,
dense_vector dims checks, index blocks (`_block`, `index.blocks.*`), the clone API and the ES
error shape.  It is NOT a search engine: queries are a small, exact subset and every index has
the shard count it claims but lives in one dict.

Usage: es_test_server.py [--host 0.0.0.0] [--port 9200] [--data-dir DIR]
       [--user NAME --password-file FILE] [--max-body-bytes N] [--reject-bulk-every N]
       [--version 8.11.0] [--no-pit] [--verbose]

With --data-dir the whole state is written as JSON (temp file + rename) after every mutating
request and loaded at start, so a container restart keeps the data (PIT/scroll contexts are
lost, as on a real node restart).

TEST-ONLY fault injection endpoint (does not exist in Elasticsearch):
  GET    /_test/faults   current faults
  POST   /_test/faults   {"bulk_429": N}          next N _bulk requests answer 429
                          {"fail_put_index": "p*"} PUT /<index> matching answers 400 mapper_parsing_exception
                          {"bulk_item_errors": N}  next N bulk items fail with 400 document_parsing_exception
                          {"search_429": N}        next N searches (_search, _search/scroll) answer 429
                          {"drop_connections": N}  next N _search, _search/scroll and _bulk requests are
                                                   carried out, then the connection closes without an answer
                                                   (as when a proxy or the network drops it)
                          {"drop_scrolls": N}      the same for the next N _search/scroll continuations only
  DELETE /_test/faults   clear them all
"""
import argparse, base64, functools, gzip, json, os, re, signal, sys, threading, time, traceback, uuid, zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_WINDOW = 10000
UNKNOWN_MSG = ("unknown setting [{}] please check that any required plugins are installed, "
               "or check the breaking changes documentation for removed settings")
UNKNOWN_PRIVATE = {"index.uuid", "index.history.uuid", "index.provided_name", "index.version.upgraded",
                   "index.resize.source.uuid", "index.resize.source.name",
                   "index.shrink.source.uuid", "index.shrink.source.name",
                   "index.routing.allocation.initial_recovery._id"}
PRIVATE = {"index.version.created", "index.version.compatibility"}
STATIC_PREFIXES = ("index.number_of_shards", "index.codec", "index.analysis.", "index.sort.",
                   "index.routing_partition_size", "index.mode", "index.soft_deletes.")
ROOT_MAPPING_KEYS = {"properties", "dynamic", "_source", "_routing", "_meta", "dynamic_templates",
                     "date_detection", "numeric_detection", "dynamic_date_formats", "runtime",
                     "enabled", "_field_names", "subobjects", "_data_stream_timestamp"}
INT_TYPES = {"long", "integer", "short", "byte", "unsigned_long"}
FLOAT_TYPES = {"float", "double", "half_float", "scaled_float"}
SCALAR_TYPES = INT_TYPES | FLOAT_TYPES | {"text", "keyword", "boolean", "date", "date_nanos", "ip", "wildcard",
                                          "match_only_text", "constant_keyword", "version"}
FIELD_TYPES = INT_TYPES | FLOAT_TYPES | {
    "text", "keyword", "date", "date_nanos", "boolean", "binary", "object", "nested", "flattened",
    "dense_vector", "sparse_vector", "rank_feature", "rank_features", "ip", "geo_point", "geo_shape",
    "completion", "search_as_you_type", "match_only_text", "wildcard", "constant_keyword", "alias",
    "integer_range", "float_range", "long_range", "double_range", "date_range", "ip_range",
    "token_count", "version", "histogram", "percolator", "join", "point", "shape",
    "knn_vector"}  # knn_vector is OpenSearch's; accepted so OpenSearch dumps can be round-tripped
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


class EsError(Exception):
    """An error answered in the ES shape {"error": {"root_cause", "type", "reason"}, "status"}."""

    def __init__(self, status, type_, reason, cause=None, headers=None, **extra):
        super().__init__(reason)
        self.status, self.type, self.reason, self.cause, self.extra = status, type_, reason, cause, extra
        self.headers = headers or {}

    def info(self):
        return {"type": self.type, "reason": self.reason, **self.extra}

    def body(self):
        err = self.info()
        root = self.cause.info() if self.cause else dict(err)
        if self.cause:
            err["caused_by"] = self.cause.info()
        return {"error": {"root_cause": [root], **err}, "status": self.status}


class RawReply(Exception):
    """A reply ES gives in a non-standard shape (e.g. {"error": "alias [x] missing", "status": 404})."""

    def __init__(self, status, body, close=False):
        super().__init__(status)
        self.status, self.body, self.close = status, body, close


def bad(reason, type_="illegal_argument_exception", **extra):
    return EsError(400, type_, reason, **extra)


def not_found(name):
    return EsError(404, "index_not_found_exception", f"no such index [{name}]",
                   **{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name})


def search_failure(reason):  # real ES wraps per-shard failures in search_phase_execution_exception
    return EsError(400, "search_phase_execution_exception", "all shards failed", cause=bad(reason),
                   phase="query", grouped=True, failed_shards=[])


def wild(pattern, name):
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), name) is not None


def is_true(value):
    return value in ("", "true", True)  # "?refresh" alone means true in ES


def parse_time(value):
    s = str(value).strip()
    if s in ("-1", "0"):
        return float(s)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(nanos|micros|ms|s|m|h|d)", s)
    if not m:
        raise bad(f"failed to parse [{s}] as a time value: unit is missing or unrecognized")
    return float(m.group(1)) * {"nanos": 1e-9, "micros": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


# ---------------------------------------------------------------- settings & mappings
def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def as_str(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return [as_str(x) for x in v]
    return None if v is None else str(v)


def normalize_settings(body):
    """Nested or flat, with or without "index." -> flat {"index.x.y": "string"}."""
    return {(k if k.startswith("index.") else "index." + k): as_str(v) for k, v in flatten(body or {}).items()}


def nest(flat):
    out = {}
    for key, value in sorted(flat.items()):
        node, parts = out, key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = value
    return out


def check_settings(flat, update=False, index_desc=None):
    for k, v in flat.items():
        if update and (k in PRIVATE or k in UNKNOWN_PRIVATE or k == "index.creation_date"):
            raise bad(f"can not update private setting [{k}]; this setting is managed by Elasticsearch")
        if k in UNKNOWN_PRIVATE:
            raise bad(UNKNOWN_MSG.format(k))
        if k in PRIVATE:
            raise bad(f"private index setting [{k}] can not be set explicitly")
        if update and k.startswith(STATIC_PREFIXES):
            raise bad(f"Can't update non dynamic settings [[{k}]] for open indices [[{index_desc}]]")
        if v is None:
            continue
        if k in ("index.number_of_shards", "index.number_of_replicas", "index.max_result_window"):
            if not re.fullmatch(r"\d+", v) or (k == "index.number_of_shards" and int(v) < 1):
                raise bad(f"Failed to parse value [{v}] for setting [{k}]")
        if k == "index.refresh_interval":
            parse_time(v)
        if (k.startswith("index.blocks.") or k == "index.hidden") and v not in ("true", "false"):
            raise bad(f"Failed to parse value [{v}] as only [true] or [false] are allowed.")


# ---------------------------------------------------------------- index blocks
# index.blocks.<name> -> (id, description, HTTP status, levels), as ES's ClusterBlocks of the API blocks
BLOCKS = {
    "read_only": (5, "index read-only (api)", 403, {"write", "metadata_write"}),
    "read": (7, "index read (api)", 403, {"read"}),
    "write": (8, "index write (api)", 403, {"write"}),
    "metadata": (9, "index metadata (api)", 403, {"metadata_read", "metadata_write"}),
    "read_only_allow_delete": (12, "disk usage exceeded flood-stage watermark, index has read-only-allow-delete block",
                               429, {"write", "metadata_write"}),
}
STATUS_NAMES = {403: "FORBIDDEN", 429: "TOO_MANY_REQUESTS"}


def block_error(blocked):
    """cluster_block_exception for {index: [block names]}; its status is the highest of the blocks'."""
    reason = "".join(f"index [{n}] blocked by: [" + ", ".join(
        f"{STATUS_NAMES[BLOCKS[b][2]]}/{BLOCKS[b][0]}/{BLOCKS[b][1]}" for b in bs) + "];" for n, bs in blocked.items())
    return EsError(max(BLOCKS[b][2] for bs in blocked.values() for b in bs), "cluster_block_exception", reason)


def refuse_destructive(expr):  # action.destructive_requires_name, true by default in ES 8
    if any(p in ("_all", "*") or "*" in p or "?" in p for p in expr.split(",")):
        raise bad("Wildcard expressions or all indices are not allowed")


def check_mapping(mappings):
    unknown = [k for k in mappings if k not in ROOT_MAPPING_KEYS]
    if unknown:
        raise EsError(400, "mapper_parsing_exception", "Failed to parse mapping: Root mapping definition has "
                      f"unsupported parameters:  [{unknown[0]} : {json.dumps(mappings[unknown[0]])}]")
    def walk(props):
        for name, fm in (props or {}).items():
            if not isinstance(fm, dict):
                raise EsError(400, "mapper_parsing_exception", f"Failed to parse mapping: Expected map for property [{name}] but got a {type(fm).__name__}")
            t = fm.get("type", "object")
            if t not in FIELD_TYPES:
                raise EsError(400, "mapper_parsing_exception", f"Failed to parse mapping: No handler for type [{t}] declared on field [{name}]")
            if t == "dense_vector" and "dims" in fm and not 1 <= int(fm["dims"]) <= 4096:
                raise EsError(400, "mapper_parsing_exception", f"Failed to parse mapping: The number of dimensions for field [{name}] should be in the range [1, 4096] but was [{fm['dims']}]")
            walk(fm.get("properties"))
            walk(fm.get("fields"))
    walk(mappings.get("properties"))


def merge_properties(old, new, path=""):
    for name, fm in new.items():
        cur = old.get(name)
        if cur is None:
            old[name] = fm
            continue
        ot, nt = cur.get("type", "object"), fm.get("type", "object")
        if ot != nt:
            raise bad(f"mapper [{path}{name}] cannot be changed from type [{ot}] to [{nt}]")
        for p in ("dims", "similarity", "element_type"):
            if p in cur and p in fm and cur[p] != fm[p]:
                raise bad(f"Mapper for [{path}{name}] conflicts with existing mapper:\n\tCannot update parameter [{p}] from [{cur[p]}] to [{fm[p]}]")
        merged = {**cur, **{k: v for k, v in fm.items() if k != "properties"}}
        if "properties" in fm:
            merged["properties"] = merge_properties(dict(cur.get("properties", {})), fm["properties"], f"{path}{name}.")
        old[name] = merged
    return old


def field_mapping(mappings, path):
    node = mappings
    for part in path.split("."):
        nxt = node.get("properties", {}).get(part) or node.get("fields", {}).get(part)
        if nxt is None:
            return None
        node = nxt
    return node


def guess_mapping(v):
    if isinstance(v, bool):
        return {"type": "boolean"}
    if isinstance(v, int):
        return {"type": "long"}
    if isinstance(v, float):
        return {"type": "float"}
    if isinstance(v, str):
        if DATE_RE.match(v):
            return {"type": "date"}
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    if isinstance(v, dict):
        return {"properties": {k: g for k, x in v.items() if (g := guess_mapping(x))}}
    if isinstance(v, list):
        return next((g for x in v if (g := guess_mapping(x))), None)
    return None


def parse_document(mappings, source, doc_id):
    """Validate `source` against the mapping; return the dynamic additions [(node, key, mapping)]."""
    def fail(reason, type_="document_parsing_exception"):
        return EsError(400, type_, reason)

    def walk(node, obj, path, dynamic, additions):
        props = node.get("properties") or {}
        for key, val in obj.items():
            full = path + key
            fm = props.get(key)
            if fm is None:
                if val is None or str(dynamic) == "false":
                    continue
                if str(dynamic) == "strict":
                    raise fail(f"[1:2] mapping set to strict, dynamic introduction of [{key}] within [{path[:-1] or '_doc'}] is not allowed", "strict_dynamic_mapping_exception")
                g = guess_mapping(val)
                if g:
                    additions.append((node, key, g))
                continue
            t = fm.get("type", "object")
            if t in ("dense_vector", "knn_vector"):
                dims = fm.get("dims", fm.get("dimension"))
                # JSON numbers parse to exactly int or float (bool is its own type): one set, not a loop
                if not isinstance(val, list) or not set(map(type, val)) <= {int, float}:
                    raise fail(f"[1:2] failed to parse field [{full}] of type [{t}] in document with id '{doc_id}'. Preview of field's value: '{val}'")
                if dims is None:
                    additions.append((node, key, {**fm, "dims": len(val)}))
                elif len(val) != int(dims):
                    raise fail(f"[1:2] The [{t}] field [{full}] in doc [document with id '{doc_id}'] has a different number "
                               f"of dimensions [{len(val)}] than defined in the mapping [{dims}]")
                continue
            for v in (val if isinstance(val, list) else [val]):
                if v is None:
                    continue
                if t in ("object", "nested"):
                    if not isinstance(v, dict):
                        raise fail(f"[1:2] object mapping for [{full}] tried to parse field [{key}] as object, but found a concrete value")
                    walk(fm, v, full + ".", fm.get("dynamic", dynamic), additions)
                    continue
                if t not in SCALAR_TYPES:
                    continue
                ok = not isinstance(v, (dict, list))
                if ok and t in INT_TYPES | FLOAT_TYPES:
                    try:
                        ok = not isinstance(v, bool) and float(v) == float(v)
                    except (TypeError, ValueError):
                        ok = False
                if ok and t == "boolean":
                    ok = v in (True, False, "true", "false", "")
                if not ok:
                    raise fail(f"[1:2] failed to parse field [{full}] of type [{t}] in document with id '{doc_id}'. "
                               f"Preview of field's value: '{v}'")

    if not isinstance(source, dict):
        raise fail("[1:1] failed to parse: expected a JSON object as document source")
    additions = []
    walk(mappings, source, "", mappings.get("dynamic", True), additions)
    return additions


# ---------------------------------------------------------------- _source filtering
def filter_source(obj, inc, exc, prefix=""):
    out = {}
    for k, v in obj.items():
        path = prefix + k
        if any(wild(p, path) for p in exc):
            continue
        if not inc or any(wild(p, path) for p in inc):
            out[k] = filter_source(v, [], exc, path + ".") if isinstance(v, dict) else v
        elif isinstance(v, dict):
            sub = filter_source(v, inc, exc, path + ".")
            if sub:
                out[k] = sub
    return out


def source_filter_spec(params, body):
    """False (no _source), None (whole _source) or (includes, excludes)."""
    spec = body.get("_source")
    if "_source" in params:
        p = params["_source"]
        spec = False if p == "false" else None if p in ("true", "") else p.split(",")
    inc = params.get("_source_includes", params.get("_source_include"))
    exc = params.get("_source_excludes", params.get("_source_exclude"))
    if spec is False:
        return False
    if spec is True:
        spec = None
    includes, excludes = [], []
    if isinstance(spec, str):
        includes = [spec]
    elif isinstance(spec, list):
        includes = list(spec)
    elif isinstance(spec, dict):
        includes = spec.get("includes", spec.get("include", []))
        excludes = spec.get("excludes", spec.get("exclude", []))
        includes, excludes = ([x] if isinstance(x, str) else list(x) for x in (includes, excludes))
    includes += inc.split(",") if inc else []
    excludes += exc.split(",") if exc else []
    return (includes, excludes) if includes or excludes else None


def stored_source(mappings, src):
    sm = mappings.get("_source") or {}
    if sm.get("enabled", True) in (False, "false"):
        return None
    inc, exc = sm.get("includes") or [], sm.get("excludes") or []
    return filter_source(src, inc, exc) if inc or exc else src


# A record keeps its `_source` as the client sent it (`_raw`) when nothing was filtered out, and
# parses it only when a query, a field sort, a filter or an update needs it: ES keeps `_source` as
# stored bytes, and a large index of vectors fits in memory only as text.
def has_source(rec):
    return rec.get("_raw") is not None or rec.get("_source") is not None


def source_of(rec):
    return rec["_source"] if "_source" in rec else json.loads(rec["_raw"])


def searchable_source(rec):
    """What queries see: the whole document, unstored fields included."""
    if "_full" in rec:
        return rec["_full"] or {}
    return source_of(rec) if has_source(rec) else {}


def answered_source(rec, srcf):
    """The `_source` an answer carries for `rec` under the filter spec `srcf` (see
    source_filter_spec), or None for none: the bytes as sent when unfiltered, as ES does."""
    if not has_source(rec) or srcf is False:
        return None
    if srcf is None:
        return Raw(rec["_raw"]) if "_raw" in rec else source_of(rec)
    return filter_source(source_of(rec), *srcf)


# ---------------------------------------------------------------- queries & sorting
def leaf_values(src, path):
    out = []
    def walk(node, parts):
        if isinstance(node, list):
            for x in node:
                walk(x, parts)
        elif not parts:
            if node is not None:
                out.append(node)
        elif isinstance(node, dict):
            for i in range(len(parts), 0, -1):  # also handles dotted keys in the source
                key = ".".join(parts[:i])
                if key in node:
                    walk(node[key], parts[i:])
    walk(src, path.split("."))
    if not out and path.endswith(".keyword"):
        return leaf_values(src, path[:-8])
    return out


def tokens(s):
    return re.findall(r"\w+", str(s).lower())


def same(a, b):
    if a == b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    return str(a) == str(b)  # ES coerces term values to the field type: 5 matches "5"


def cmp_values(a, b):
    try:
        return (a > b) - (a < b)
    except TypeError:
        a, b = str(a), str(b)
        return (a > b) - (a < b)


def field_arg(arg, key="value"):
    """{"field": value} or {"field": {"value": v, ...}} -> (field, value, options)."""
    (field, v), = [(k, v) for k, v in arg.items() if k not in ("boost", "_name")] or [(None, None)]
    if isinstance(v, dict) and key in v:
        return field, v[key], v
    return field, v, {}


def MATCH_ALL(i, s):
    return True


def compile_query(q):
    """Return predicate(doc_id, source) for the supported subset of the query DSL."""
    if not isinstance(q, dict) or len(q) != 1:
        raise EsError(400, "parsing_exception", "[_na] query malformed, must start with start_object", line=1, col=1)
    kind, arg = next(iter(q.items()))
    if kind == "match_all":
        return MATCH_ALL
    if kind == "match_none":
        return lambda i, s: False
    if kind == "bool":
        lst = lambda x: x if isinstance(x, list) else ([x] if x else [])
        must = [compile_query(x) for x in lst(arg.get("must")) + lst(arg.get("filter"))]
        must_not = [compile_query(x) for x in lst(arg.get("must_not"))]
        should = [compile_query(x) for x in lst(arg.get("should"))]
        msm = arg.get("minimum_should_match", 0 if must else 1 if should else 0)
        msm = int(msm) if re.fullmatch(r"-?\d+", str(msm)) else 1
        return lambda i, s: (all(f(i, s) for f in must) and not any(f(i, s) for f in must_not)
                             and sum(1 for f in should if f(i, s)) >= msm)
    if kind == "ids":
        ids = set(arg.get("values", []))
        return lambda i, s: i in ids
    if kind == "exists":
        return lambda i, s: bool(leaf_values(s, arg["field"]))
    if kind == "term":
        f, v, _ = field_arg(arg)
        return lambda i, s: (i == str(v)) if f == "_id" else any(same(x, v) for x in leaf_values(s, f))
    if kind == "terms":
        f, vs, _ = field_arg(arg)
        return lambda i, s: (i in map(str, vs)) if f == "_id" else any(same(x, v) for x in leaf_values(s, f) for v in vs)
    if kind == "match":  # no analysis: lowercase word tokens, "or" unless operator is "and"
        f, text, opts = field_arg(arg, "query")
        want = tokens(text)
        need = all if str(opts.get("operator", "or")).lower() == "and" else any
        return lambda i, s: bool(want) and need(w in {t for x in leaf_values(s, f) for t in tokens(x)} for w in want)
    if kind == "range":
        f, spec, _ = field_arg(arg)
        ops = {"gt": lambda c: c > 0, "gte": lambda c: c >= 0, "lt": lambda c: c < 0, "lte": lambda c: c <= 0}
        tests = [(ops[o], b) for o, b in spec.items() if o in ops and b is not None]
        return lambda i, s: any(all(t(cmp_values(x, b)) for t, b in tests) for x in leaf_values(s, f))
    raise EsError(400, "parsing_exception", f"unknown query [{kind}]", line=1, col=1)


def parse_sort(sort):
    if sort is None:
        return []
    if isinstance(sort, str):  # URL form: "a:desc,b"
        sort = [{p.split(":")[0]: p.split(":")[1]} if ":" in p else p for p in sort.split(",") if p]
    specs = []
    for item in (sort if isinstance(sort, list) else [sort]):
        if isinstance(item, str):
            item = {item: {}}
        for field, opt in item.items():
            opt = {"order": opt} if isinstance(opt, str) else (opt or {})
            order = opt.get("order", "desc" if field == "_score" else "asc")
            specs.append((field, order, opt.get("missing", "_last") == "_first"))
    return specs


def make_cmp(specs):
    def cmp(ka, kb):
        for (_, order, missing_first), a, b in zip(specs, ka, kb):
            if a is None or b is None:
                if a is None and b is None:
                    continue
                r = 1 if a is None else -1
                return -r if missing_first else r
            c = cmp_values(a, b)
            if c:
                return c if order == "asc" else -c
        return 0
    return cmp


def sort_value(spec, pos, src):
    field, order, _ = spec
    if field in ("_doc", "_shard_doc"):
        return pos
    if field == "_score":
        return 1.0
    vals = leaf_values(src, field)
    if not vals:
        return None
    try:
        return min(vals) if order == "asc" else max(vals)
    except TypeError:
        return vals[0]


# ---------------------------------------------------------------- the store
class Store:
    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.RLock()
        self.indices, self.pits, self.scrolls = {}, {}, {}
        self.faults = {}
        self.bulk_requests = 0
        self.dirty = False
        self.path = os.path.join(cfg.data_dir, "state.json") if cfg.data_dir else None
        if self.path and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                for name, ix in json.load(f)["indices"].items():
                    self.indices[name] = {**ix, "searchable": dict(ix["docs"]), "pending_since": None}

    def save(self):
        self.dirty = False
        if not self.path:
            return
        keep = ("settings", "mappings", "aliases", "docs", "seq_no")
        state = {"indices": {n: {k: ix[k] for k in keep} for n, ix in self.indices.items()}}
        tmp = f"{self.path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    # ----- index resolution
    def is_hidden(self, name):
        return name.startswith(".") or self.indices[name]["settings"].get("index.hidden") == "true"

    def resolve(self, expr, params, default_expand="open"):
        """Comma list of names, aliases and `*` patterns -> ordered concrete index names."""
        expand = set(params.get("expand_wildcards", default_expand).split(","))
        hidden_ok = bool(expand & {"hidden", "all"})
        ignore_unavailable = params.get("ignore_unavailable") == "true"
        allow_no = params.get("allow_no_indices", "true") != "false"
        result, wildcard_seen = [], False
        for part in [p for p in (expr or "_all").split(",") if p]:
            if part == "_all":
                part = "*"
            if part.startswith("-") and wildcard_seen:
                result = [n for n in result if not wild(part[1:], n)]
                continue
            if "*" in part:
                wildcard_seen = True
                matched = [] if expand == {"none"} else [
                    n for n, ix in sorted(self.indices.items())
                    if (not self.is_hidden(n) or hidden_ok or (part.startswith(".") and n.startswith(".")))
                    and (wild(part, n) or any(wild(part, a) for a in ix["aliases"]))]
                if not matched and not allow_no:
                    raise not_found(part)
            elif part in self.indices:
                matched = [part]
            else:
                matched = [n for n, ix in sorted(self.indices.items()) if part in ix["aliases"]]
                if not matched and not ignore_unavailable:
                    raise not_found(part)
            result += [n for n in matched if n not in result]
        return result

    def write_index(self, name):
        """Write target -> (concrete index, index_routing of the alias written through or None)."""
        if name in self.indices:
            return name, None
        holders = [n for n, ix in self.indices.items() if name in ix["aliases"]]
        if holders:
            flags = {n: self.indices[n]["aliases"][name].get("is_write_index") for n in holders}
            writers = [n for n in holders if flags[n] is True] or (holders if len(holders) == 1 and flags[holders[0]] is not False else [])
            if len(writers) != 1:
                raise bad(f"no write index is defined for alias [{name}]. The write index may be explicitly disabled using "
                          "is_write_index=false or the alias points to multiple indices without one being designated as a write index")
            return writers[0], self.indices[writers[0]]["aliases"][name].get("index_routing")
        self.create_index(name, {})  # auto-create on first write, as action.auto_create_index=true
        return name, None

    # ----- blocks
    def blocks_of(self, name, level, release=False):
        st = self.indices[name]["settings"]
        return [b for b, (_, _, _, levels) in sorted(BLOCKS.items(), key=lambda x: x[1][0])
                if level in levels and st.get(f"index.blocks.{b}") == "true"
                and not (release and b == "read_only_allow_delete")]

    def check_blocks(self, names, level, release=False):
        """403 (429) cluster_block_exception when one of `names` has a block of `level` ("write", "read",
        "metadata_write", "metadata_read"); `release`: deleting the index, which read_only_allow_delete allows."""
        blocked = {n: bs for n in names if (bs := self.blocks_of(n, level, release))}
        if blocked:
            raise block_error(blocked)

    def check_write_indices(self, staged):
        """{index: aliases} about to be applied -> 500 when an alias gets two write indices, as ES's metadata check."""
        writers = {}
        for n, aliases in staged.items():
            for a, spec in aliases.items():
                if spec.get("is_write_index") is True:
                    writers.setdefault(a, []).append(n)
        for a, ns in sorted(writers.items()):
            if len(ns) > 1:
                raise EsError(500, "illegal_state_exception", f"alias [{a}] has more than one write index [{','.join(sorted(ns))}]")

    def new_aliases(self, name, spec):
        aliases = {a: normalize_alias(v) for a, v in (spec or {}).items()}
        for a in aliases:
            if a in self.indices or a == name:
                raise EsError(400, "invalid_alias_name_exception", f"Invalid alias name [{a}]: an index or data stream exists with the same name as the alias",
                              index=name, index_uuid="_na_")
        self.check_write_indices({**{n: ix["aliases"] for n, ix in self.indices.items()}, name: aliases})
        return aliases

    def check_new_name(self, name):
        validate_index_name(name)
        if name in self.indices:
            u = self.indices[name]["settings"]["index.uuid"]
            raise EsError(400, "resource_already_exists_exception", f"index [{name}/{u}] already exists", index_uuid=u, index=name)
        if any(name in ix["aliases"] for ix in self.indices.values()):
            raise EsError(400, "invalid_index_name_exception", f"Invalid index name [{name}], already exists as alias", index_uuid="_na_", index=name)

    # ----- indices
    def create_index(self, name, body):
        self.check_new_name(name)
        for key in body:
            if key not in ("settings", "mappings", "aliases"):
                raise EsError(400, "parse_exception", f"unknown key [{key}] for create index")
        flat = normalize_settings(body.get("settings"))
        check_settings(flat)
        mappings = body.get("mappings") or {}
        check_mapping(mappings)
        aliases = self.new_aliases(name, body.get("aliases"))
        settings = {"index.number_of_shards": "1", "index.number_of_replicas": "1",
                    "index.routing.allocation.include._tier_preference": "data_content",
                    "index.creation_date": str(int(time.time() * 1000)), **flat,
                    "index.uuid": new_id(), "index.provided_name": name, "index.version.created": self.cfg.version_created}
        self.indices[name] = {"settings": {k: v for k, v in settings.items() if v is not None}, "mappings": mappings,
                              "aliases": aliases, "docs": {}, "seq_no": -1, "searchable": {}, "pending_since": None}
        self.dirty = True

    def clone_index(self, source, target, body):
        """POST /<source>/_clone/<target>, in the order ES checks: body, source, shard count, target name,
        private settings, write block, aliases. The target shares the source's documents (ES hard-links the
        segments after a flush), all searchable at once, with their _id, _routing, _version and _seq_no."""
        for key in body:
            if key not in ("settings", "aliases", "max_primary_shard_size"):
                raise bad(f"[1:2] [resize_request] unknown field [{key}]", "x_content_parse_exception")
        if source not in self.indices:
            raise not_found(source)
        src = self.indices[source]
        req = normalize_settings(body.get("settings"))
        if "index.routing_partition_size" in req:
            raise bad("cannot provide a routing partition size value when resizing an index")
        shards = src["settings"]["index.number_of_shards"]
        if req.get("index.number_of_shards") not in (None, shards):
            raise bad(f"the number of target shards ({req['index.number_of_shards']}) must be the same as the number of source shards ({shards})")
        self.check_new_name(target)
        check_settings(req)
        if not self.blocks_of(source, "write"):
            raise EsError(500, "illegal_state_exception", f"index {source} must be read-only to resize index. use \"index.blocks.write=true\"")
        aliases = self.new_aliases(target, body.get("aliases"))
        # as MetadataCreateIndexService: the request's settings, the node's default replicas, a new uuid and
        # creation date, then every source setting the request did not set (null counts as set)
        settings = {**req, "index.number_of_shards": shards}
        settings.setdefault("index.number_of_replicas", "1")
        settings.setdefault("index.creation_date", str(int(time.time() * 1000)))
        settings.update({"index.provided_name": target, "index.uuid": new_id(), "index.routing.allocation.initial_recovery._id": None})
        for k, v in src["settings"].items():
            settings.setdefault(k, v)
        settings.update({"index.version.created": src["settings"]["index.version.created"],
                         "index.routing_partition_size": src["settings"].get("index.routing_partition_size", "1"),
                         "index.resize.source.name": source, "index.resize.source.uuid": src["settings"]["index.uuid"]})
        settings = {k: v for k, v in settings.items() if v is not None or k == "index.routing.allocation.initial_recovery._id"}
        self.indices[target] = {"settings": settings, "mappings": json.loads(json.dumps(src["mappings"])),
                                "aliases": aliases, "docs": dict(src["docs"]), "seq_no": src["seq_no"],
                                "searchable": dict(src["docs"]), "pending_since": None}
        self.dirty = True

    def index_view(self, name, flat=False):
        ix = self.indices[name]
        settings = dict(ix["settings"]) if flat else nest(ix["settings"])
        return {"aliases": ix["aliases"], "mappings": ix["mappings"], "settings": settings}

    def shards(self, names):
        n = sum(int(self.indices[x]["settings"]["index.number_of_shards"]) for x in names)
        return {"total": n, "successful": n, "skipped": 0, "failed": 0}

    def health(self, name):  # a single node cannot assign replicas
        return "yellow" if int(self.indices[name]["settings"].get("index.number_of_replicas", "0")) > 0 else "green"

    # ----- refresh
    def refresh(self, name):
        ix = self.indices[name]
        ix["searchable"] = dict(ix["docs"])  # records are never mutated, so this is a snapshot
        ix["pending_since"] = None

    def maybe_refresh(self, name):
        ix = self.indices[name]
        interval = parse_time(ix["settings"].get("index.refresh_interval", "1s"))
        if ix["pending_since"] is not None and interval >= 0 and time.monotonic() - ix["pending_since"] >= interval:
            self.refresh(name)

    # ----- documents
    def write(self, op, target, doc_id, body, routing, raw=None):
        """One index/create/update/delete; returns (status, result fields) or raises EsError. `raw` is
        the source as the client sent it (JSON text): ES stores and returns those bytes, not a
        re-encoding of them."""
        if op == "delete" and target not in self.indices and not any(target in ix["aliases"] for ix in self.indices.values()):
            raise not_found(target)  # deletes never auto-create the index
        name, alias_routing = self.write_index(target)
        self.check_blocks([name], "write")
        ix = self.indices[name]
        u = ix["settings"]["index.uuid"]
        routing = alias_routing if routing is None else str(routing)
        if (ix["mappings"].get("_routing") or {}).get("required") in (True, "true") and routing is None:
            raise EsError(400, "routing_missing_exception", f"routing is required for [{name}]/[{doc_id}]", index_uuid=u, index=name)
        doc_id = new_id() if doc_id is None else str(doc_id)
        cur = ix["docs"].get(doc_id)
        base = {"_index": name, "_id": doc_id}
        if op == "delete":
            if cur is None:
                return 404, {**base, "_version": 1, "result": "not_found"}
            del ix["docs"][doc_id]
            return self._written(ix, base, cur["_version"] + 1, "deleted", 200)
        if op == "create" and cur is not None:
            raise EsError(409, "version_conflict_engine_exception",
                          f"[{doc_id}]: version conflict, document already exists (current version [{cur['_version']}])",
                          index_uuid=u, shard="0", index=name)
        src = body
        if op == "update":
            if "script" in body:
                raise bad("scripted updates are not supported by es-test-server")
            if cur is None:
                if not body.get("doc_as_upsert") and "upsert" not in body:
                    raise EsError(404, "document_missing_exception", f"[{doc_id}]: document missing", index_uuid=u, shard="0", index=name)
                src = body["doc"] if body.get("doc_as_upsert") else body["upsert"]
            else:
                if not has_source(cur):
                    raise EsError(400, "document_source_missing_exception", f"[{doc_id}]: document source missing", index_uuid=u, shard="0", index=name)
                stored = source_of(cur)
                src = deep_merge(stored, body.get("doc") or {})
                if src == stored:
                    return 200, {**base, "_version": cur["_version"], "result": "noop", "_seq_no": cur["_seq_no"], "_primary_term": 1}
        for node, key, fm in parse_document(ix["mappings"], src, doc_id):
            node.setdefault("properties", {})[key] = fm
        rec = {"_source": stored_source(ix["mappings"], src), "_routing": routing,
               "_version": cur["_version"] + 1 if cur else 1}
        if rec["_source"] is not src:
            rec["_full"] = src  # keeps unstored fields searchable, like the inverted index does
        elif raw is not None and op != "update":
            del rec["_source"]
            rec["_raw"] = raw.strip()
        ix["docs"].pop(doc_id, None)  # an update is delete + add in Lucene: the doc moves to the end
        ix["docs"][doc_id] = rec
        return self._written(ix, base, rec["_version"], "updated" if cur else "created", 200 if cur else 201, rec)

    def _written(self, ix, base, version, result, status, rec=None):
        ix["seq_no"] += 1
        if rec is not None:
            rec["_seq_no"] = ix["seq_no"]
        if ix["pending_since"] is None:
            ix["pending_since"] = time.monotonic()
        self.dirty = True
        return status, {**base, "_version": version, "result": result,
                        "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": ix["seq_no"], "_primary_term": 1}

    # ----- search
    def snapshot(self, names):
        entries = []
        for n in names:
            self.maybe_refresh(n)
            entries += [(n, i, r) for i, r in self.indices[n]["searchable"].items()]
        return entries

    def search(self, target, params, body, scroll=None):
        t0 = time.monotonic()
        pit = body.get("pit")
        if pit is not None:
            if self.cfg.no_pit:
                raise EsError(400, "parsing_exception", "Unknown key for a START_OBJECT in [pit].", line=1, col=1)
            if target is not None:
                raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any index with point in time.;")
            if scroll:
                raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: using [point in time] is not allowed in a scroll context;")
            ctx = self.context(self.pits, pit.get("id"), pit.get("keep_alive"))
            names, entries = ctx["names"], ctx["entries"]
        else:
            ctx = None
            names = self.resolve(target, params)
            self.check_blocks(names, "read")
            entries = self.snapshot(names)
        from_ = int(params.get("from", body.get("from", 0)))
        size = int(params.get("size", body.get("size", 10)))
        window = min([int(self.indices[n]["settings"].get("index.max_result_window", DEFAULT_WINDOW)) for n in names if n in self.indices] or [DEFAULT_WINDOW])
        if scroll is not None:
            if from_ > 0:
                raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: using [from] is not allowed in a scroll context;")
            if size > window:
                raise search_failure(f"Batch size is too large, size must be less than or equal to: [{window}] but was [{size}]. Scroll batch sizes cost as much memory as result windows so they are controlled by the [index.max_result_window] index level setting.")
        elif from_ + size > window:
            raise search_failure(f"Result window is too large, from + size must be less than or equal to: [{window}] but was [{from_ + size}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.")
        pred = compile_query(body.get("query") or {"match_all": {}})
        specs = parse_sort(params.get("sort") if "sort" in params else body.get("sort"))
        if pit is None and any(sp[0] == "_shard_doc" for sp in specs):
            raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: [_shard_doc] sort field cannot be used without [point in time];")
        if pit is not None and specs and not any(sp[0] == "_shard_doc" for sp in specs):
            specs.append(("_shard_doc", "asc", False))  # the implicit PIT tiebreaker
        for field, _, _ in specs:
            fm = next((field_mapping(self.indices[n]["mappings"], field) for n in names if n in self.indices), None)
            if fm and fm.get("type") == "text" and not fm.get("fielddata"):
                raise search_failure("Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [%s] in order to load field data by uninverting the inverted index. Note that this can use significant memory." % field)
        in_slice = slice_filter(body.get("slice"), names, self.indices, pit is not None, scroll is not None, len(entries))
        cmp = make_cmp(specs)
        # A point in time never changes: its matching, sorted hits are kept for the next page, as
        # real ES answers a search_after page without re-reading the whole index. Each slice
        # (and query, and sort) read at once through the same point in time keeps its own.
        key = json.dumps([body.get("query"), specs, body.get("slice")], sort_keys=True, default=str)
        cache = ctx.setdefault("cache", {}) if pit is not None else {}
        hits = cache.get(key)
        if hits is None:
            hits = matching_hits(entries, pred, specs, in_slice, cmp)
            if pit is not None:
                cache[key] = hits
        after = body.get("search_after")
        if after is not None:
            if from_ > 0:
                raise bad("Validation Failed: 1: [from] parameter must be set to 0 when [search_after] is used;", "action_request_validation_exception")
            if len(after) != len(specs):
                raise search_failure(f"search_after has {len(after)} value(s) but sort has {len(specs)}.")
        total = len(hits)
        if after is not None:
            hits = hits[first_after(hits, after, cmp):]
        tth = body.get("track_total_hits", params.get("track_total_hits", DEFAULT_WINDOW))
        tth = {"true": True, "false": False}.get(tth, tth) if isinstance(tth, str) else tth
        srcf = source_filter_spec(params, body)
        scored = not specs or specs[0][0] == "_score"
        page = hits[from_:from_ + size]
        out_hits = {}
        if tth is not False:  # counting stops at track_total_hits (default 10,000) -> relation "gte"
            limit = total if tth is True else int(tth)
            out_hits["total"] = {"value": min(total, limit), "relation": "gte" if total > limit else "eq"}
        out_hits["max_score"] = 1.0 if page and scored else None
        out_hits["hits"] = [render_hit(h, srcf, scored) for h in page]
        resp = {"took": 0, "timed_out": False, "_shards": self.shards([n for n in names if n in self.indices]), "hits": out_hits}
        if pit is not None:
            resp["pit_id"] = pit["id"]
        if scroll is not None:
            sid = base64.urlsafe_b64encode(os.urandom(24)).decode()
            self.scrolls[sid] = {"hits": hits, "pos": len(page), "size": size, "srcf": srcf, "scored": scored,
                                 "total": resp["hits"].get("total"), "keep_alive": parse_time(scroll),
                                 "expires": time.monotonic() + parse_time(scroll), "names": names}
            resp = {"_scroll_id": sid, **resp}
        resp["took"] = int((time.monotonic() - t0) * 1000)
        return resp

    def context(self, table, cid, keep_alive=None):
        now = time.monotonic()
        for k in [k for k, c in table.items() if c["expires"] < now]:
            del table[k]
        ctx = table.get(cid) if isinstance(cid, str) else None
        if ctx is None:
            raise EsError(404, "search_context_missing_exception", f"No search context found for id [{cid}]")
        if keep_alive:
            ctx["keep_alive"] = parse_time(keep_alive)
        ctx["expires"] = now + ctx["keep_alive"]
        return ctx

    def scroll_next(self, body, params):
        sid = body.get("scroll_id", params.get("scroll_id"))
        ctx = self.context(self.scrolls, sid, body.get("scroll", params.get("scroll")))
        page = ctx["hits"][ctx["pos"]:ctx["pos"] + ctx["size"]]
        ctx["pos"] += len(page)
        hits = {"total": ctx["total"]} if ctx["total"] else {}
        hits.update({"max_score": 1.0 if page and ctx["scored"] else None,
                     "hits": [render_hit(h, ctx["srcf"], ctx["scored"]) for h in page]})
        return {"_scroll_id": sid, "took": 0, "timed_out": False, "_shards": self.shards([n for n in ctx["names"] if n in self.indices]), "hits": hits}

    def open_pit(self, target, params):
        if "keep_alive" not in params:
            raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: [keep_alive] is not specified;")
        names = self.resolve(target, params)
        self.check_blocks(names, "read")
        pid = base64.urlsafe_b64encode(os.urandom(48)).decode()
        ka = parse_time(params["keep_alive"])
        self.pits[pid] = {"names": names, "entries": self.snapshot(names), "keep_alive": ka, "expires": time.monotonic() + ka}
        return {"id": pid}


def matching_hits(entries, pred, specs, in_slice, cmp):
    """[(index, _id, record, sort values)] of the entries that match, in sort order."""
    hits = []
    needs_src = pred is not MATCH_ALL or any(f not in ("_doc", "_shard_doc", "_score") for f, _, _ in specs)
    for pos, (n, i, rec) in enumerate(entries):
        if in_slice is not None and not in_slice(pos, i):
            continue
        src = searchable_source(rec) if needs_src else None
        if pred(i, src):
            hits.append((n, i, rec, [sort_value(s, pos, src) for s in specs] if specs else None))
    if specs and [(f, o) for f, o, _ in specs] not in ([("_shard_doc", "asc")], [("_doc", "asc")]):
        hits.sort(key=functools.cmp_to_key(lambda a, b: cmp(a[3], b[3])))
    return hits


def first_after(hits, after, cmp):
    """Index of the first hit sorted after `after` (hits are in sort order: binary search)."""
    lo, hi = 0, len(hits)
    while lo < hi:
        mid = (lo + hi) // 2
        if cmp(hits[mid][3], after) > 0:
            hi = mid
        else:
            lo = mid + 1
    return lo


def slice_filter(spec, names, indices, pit, scroll, count):
    """None, or a test (position, _id) -> bool for one slice of a sliced scroll or point in time.
    As ES 8 does, a point in time is sliced by document position (contiguous ranges of doc ids),
    a scroll by a hash of `_id`."""
    if spec is None:
        return None
    if not pit and not scroll:
        raise bad("[slice] can only be used with [scroll] or [point-in-time] requests")
    if not isinstance(spec, dict) or "id" not in spec or "max" not in spec:
        raise EsError(400, "x_content_parse_exception", "[1:1] [slice] failed to parse: [id] and [max] are required")
    sid, smax = int(spec["id"]), int(spec["max"])
    if smax <= 1:
        raise bad("max must be greater than 1")
    if sid < 0:
        raise bad("id must be greater than or equal to 0")
    if sid >= smax:
        raise bad("max must be greater than id")
    limit = min([int(indices[n]["settings"].get("index.max_slices_per_scroll", 1024)) for n in names if n in indices] or [1024])
    if smax > limit:
        raise bad(f"The number of slices [{smax}] is too large. It must be less than [{limit}]. This limit can be set by "
                  "changing the [index.max_slices_per_scroll] index level setting.")
    if pit:
        lo, hi = sid * count // smax, (sid + 1) * count // smax
        return lambda pos, _id: lo <= pos < hi
    return lambda pos, _id: zlib.crc32(_id.encode()) % smax == sid


class Raw:
    """JSON text that goes into an answer as it is (a `_source` as the client sent it)."""

    def __init__(self, text):
        self.text = text


RAW_MARK = f"\x00raw-{uuid.uuid4().hex}-"  # no client string holds this process's random mark
RAW_RE = re.compile(re.escape(json.dumps(RAW_MARK)[:-1]) + r'(\d+)"')


def to_json(body):
    """Compact JSON of `body`, with its `Raw` parts inserted as they are."""
    raws = []

    def mark(o):
        if not isinstance(o, Raw):
            raise TypeError(f"{type(o).__name__} is not JSON serializable")
        raws.append(o.text)
        return f"{RAW_MARK}{len(raws) - 1}"
    text = json.dumps(body, separators=(",", ":"), default=mark)
    return RAW_RE.sub(lambda m: raws[int(m.group(1))], text) if raws else text


def render_hit(hit, srcf, scored):
    name, doc_id, rec, sortvals = hit
    out = {"_index": name, "_id": doc_id, "_score": 1.0 if scored else None}
    if rec.get("_routing") is not None:
        out["_routing"] = rec["_routing"]
    src = answered_source(rec, srcf)
    if src is not None:
        out["_source"] = src
    if sortvals is not None:
        out["sort"] = sortvals
    return out


def deep_merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def new_id():
    return base64.urlsafe_b64encode(uuid.uuid4().bytes[:15]).decode()


def normalize_alias(spec):
    out = {k: v for k, v in (spec or {}).items() if k not in ("routing", "index", "indices", "alias", "aliases")}
    if "routing" in (spec or {}):
        out.setdefault("index_routing", str(spec["routing"]))
        out.setdefault("search_routing", str(spec["routing"]))
    return out


def validate_index_name(name):
    def err(why):
        return EsError(400, "invalid_index_name_exception", f"Invalid index name [{name}], {why}", index_uuid="_na_", index=name)
    if name in (".", ".."):
        raise err("must not be '.' or '..'")
    if name != name.lower():
        raise err("must be lowercase")
    if name[:1] in ("_", "-", "+"):
        raise err("must not start with '_', '-', or '+'")
    if any(c in name for c in '\\/*?"<>| ,#:'):
        raise err('must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, :, #]')
    if len(name.encode()) > 255:
        raise err(f"index name is too long, ({len(name.encode())} > 255)")


# ---------------------------------------------------------------- HTTP endpoints
ROUTES = []


def route(methods, pattern, nolock=False):
    def deco(fn):
        ROUTES.append((set(methods.split()), re.compile("^" + pattern + "/?$"), fn, nolock))
        return fn
    return deco


IDX = r"/(?P<index>[^/]+)"


@route("GET HEAD", "")
def root(s, r):
    cfg = s.cfg
    major = int(cfg.es_version.split(".")[0])
    return 200, {"name": "es-test-server", "cluster_name": "es-test-server", "cluster_uuid": "es-test-server-cluster-uuid",
                 "version": {"number": cfg.es_version, "build_flavor": "default", "build_type": "docker",
                             "build_hash": "0" * 40, "build_date": "2023-11-04T10:04:57.184859352Z", "build_snapshot": False,
                             "lucene_version": "9.8.0" if major >= 8 else "8.7.0",
                             "minimum_wire_compatibility_version": "7.17.0" if major >= 8 else "6.8.0",
                             "minimum_index_compatibility_version": "7.0.0" if major >= 8 else "6.0.0-beta1"},
                 "tagline": "You Know, for Search"}


@route("GET POST DELETE", "/_test/faults")
def faults(s, r):
    if r.method == "DELETE":
        s.faults.clear()
    elif r.method == "POST":
        s.faults.update(r.json())
    return 200, dict(s.faults)


@route("GET", "/_cluster/health(?:" + IDX + ")?", nolock=True)
def cluster_health(s, r):
    def snapshot():
        with s.lock:
            names = s.resolve(r.groups.get("index"), r.params, "all") if r.groups.get("index") else list(s.indices)
            status = "yellow" if any(s.health(n) == "yellow" for n in names) else "green"
            prim = sum(int(s.indices[n]["settings"]["index.number_of_shards"]) for n in names)
            unassigned = sum(int(s.indices[n]["settings"]["index.number_of_shards"]) * int(s.indices[n]["settings"].get("index.number_of_replicas", "0")) for n in names)
            return status, prim, unassigned
    status, prim, unassigned = snapshot()
    want = r.params.get("wait_for_status")
    timed_out = False
    if want == "green" and status != "green":  # will never turn green on one node: wait out the timeout
        time.sleep(min(parse_time(r.params.get("timeout", "30s")), 60))
        timed_out = True
    body = {"cluster_name": "es-test-server", "status": status, "timed_out": timed_out, "number_of_nodes": 1,
            "number_of_data_nodes": 1, "active_primary_shards": prim, "active_shards": prim, "relocating_shards": 0,
            "initializing_shards": 0, "unassigned_shards": unassigned, "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0 * prim / (prim + unassigned) if prim + unassigned else 100.0}
    return (408 if timed_out else 200), body


@route("GET", "/_cat/indices(?:" + IDX + ")?")
def cat_indices(s, r):
    rows = []
    for n in s.resolve(r.groups.get("index"), r.params, "all"):
        s.maybe_refresh(n)
        st = s.indices[n]["settings"]
        rows.append({"health": s.health(n), "status": "open", "index": n, "uuid": st["index.uuid"],
                     "pri": st["index.number_of_shards"], "rep": st.get("index.number_of_replicas", "0"),
                     "docs.count": str(len(s.indices[n]["searchable"])), "docs.deleted": "0",
                     "store.size": "1kb", "pri.store.size": "1kb", "dataset.size": "1kb"})
    if r.params.get("format") == "json":
        return 200, rows
    lines = [" ".join(row.values()) for row in rows]
    if "v" in r.params:
        lines.insert(0, " ".join(rows[0].keys()) if rows else "")
    return 200, ("\n".join(lines) + "\n" if lines else "")


@route("POST GET", "(?:" + IDX + ")?/_refresh")
def refresh(s, r):
    names = s.resolve(r.groups.get("index"), r.params)
    for n in names:
        s.refresh(n)
    return 200, {"_shards": s.shards(names)}


@route("GET", "(?:" + IDX + ")?/_mapping")
def get_mapping(s, r):
    names = s.resolve(r.groups.get("index"), r.params)
    s.check_blocks(names, "metadata_read")
    return 200, {n: {"mappings": s.indices[n]["mappings"]} for n in names}


@route("PUT POST", IDX + "/_mapping")
def put_mapping(s, r):
    body = r.json() or {}
    check_mapping(body)
    names = s.resolve(r.groups["index"], r.params)
    s.check_blocks(names, "metadata_write")
    for n in names:
        m = s.indices[n]["mappings"]
        merged = merge_properties(dict(m.get("properties", {})), body.get("properties", {}))
        m.update({k: v for k, v in body.items() if k != "properties"})
        if merged:
            m["properties"] = merged
    s.dirty = True
    return 200, {"acknowledged": True}


@route("GET", "(?:" + IDX + ")?/_settings")
def get_settings(s, r):
    flat = r.params.get("flat_settings") == "true"
    names = s.resolve(r.groups.get("index"), r.params)
    s.check_blocks(names, "metadata_read")
    return 200, {n: {"settings": s.index_view(n, flat)["settings"]} for n in names}


@route("PUT", "(?:" + IDX + ")?/_settings")
def put_settings(s, r):
    body = r.json() or {}
    if set(body) == {"settings"}:
        body = body["settings"]
    flat = normalize_settings(body)
    names = s.resolve(r.groups.get("index"), r.params)
    # as TransportUpdateSettingsAction.checkBlock (operator precedence included): changes of these blocks
    # pass metadata blocks, so that an index can be unblocked
    if not ((len(flat) == 1 and "index.blocks.metadata" in flat) or "index.blocks.read_only" in flat
            or "index.blocks.read_only_allow_delete" in flat):
        s.check_blocks(names, "metadata_write")
    for n in names:
        st = s.indices[n]["settings"]
        check_settings(flat, update=True, index_desc=f"{n}/{st['index.uuid']}")
        for k, v in flat.items():
            if v is None:  # null resets a setting to its default
                st.pop(k, None)
            else:
                st[k] = v
    s.dirty = True
    return 200, {"acknowledged": True}


@route("GET HEAD", "(?:" + IDX + ")?/_alias(?:es)?(?:/(?P<name>[^/]+))?")
def get_alias(s, r):
    names = s.resolve(r.groups.get("index"), r.params, "all")
    wanted = r.groups.get("name")
    if not wanted:
        return 200, {n: {"aliases": s.indices[n]["aliases"]} for n in names}
    pats = wanted.split(",")
    out = {}
    for n in names:
        hits = {a: v for a, v in s.indices[n]["aliases"].items() if any(p in ("_all", "*") or wild(p, a) for p in pats)}
        if hits:
            out[n] = {"aliases": hits}
    found = {a for v in out.values() for a in v["aliases"]}
    missing = [p for p in pats if "*" not in p and p != "_all" and p not in found]
    if r.method == "HEAD":
        return (404 if missing or not out else 200), None
    if missing:
        raise RawReply(404, {"error": f"alias{'es' if len(missing) > 1 else ''} [{','.join(missing)}] missing", "status": 404, **out})
    return 200, out


@route("POST", "/_aliases")
def update_aliases(s, r):
    actions = (r.json() or {}).get("actions") or []
    if not actions:
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: no aliases actions specified;")
    staged = {n: dict(ix["aliases"]) for n, ix in s.indices.items()}
    drop = []
    for action in actions:
        (kind, spec), = action.items()
        exprs = spec.get("indices") or [spec.get("index")]
        names = [n for e in exprs for n in s.resolve(e, {"expand_wildcards": "all"})]
        s.check_blocks(names, "metadata_write")
        aliases = spec.get("aliases") or [spec.get("alias")]
        aliases = [aliases] if isinstance(aliases, str) else aliases
        if kind == "add":
            for a in aliases:
                if a in s.indices:
                    raise EsError(400, "invalid_alias_name_exception", f"Invalid alias name [{a}]: an index or data stream exists with the same name as the alias")
                for n in names:
                    staged[n][a] = normalize_alias({k: v for k, v in spec.items() if k not in ("must_exist",)})
        elif kind == "remove":
            for a in aliases:
                gone = [(n, x) for n in names for x in list(staged[n]) if wild(a, x)]
                if not gone:
                    raise EsError(404, "aliases_not_found_exception", f"aliases [{a}] missing", **{"resource.type": "aliases", "resource.id": a})
                for n, x in gone:
                    del staged[n][x]
        elif kind == "remove_index":
            drop += names
        else:
            raise bad(f"[aliases] unknown field [{kind}]", "x_content_parse_exception")
    s.check_write_indices({n: al for n, al in staged.items() if n not in drop})
    for n, al in staged.items():
        s.indices[n]["aliases"] = al
    for n in drop:
        s.indices.pop(n, None)
    s.dirty = True
    return 200, {"acknowledged": True}


def refresh_after_write(s, r, names):
    if is_true(r.params.get("refresh", "false")) or r.params.get("refresh") == "wait_for":
        for n in set(names):
            if n in s.indices:
                s.refresh(n)


@route("PUT POST", IDX + r"/(?P<op>_doc|_create)(?:/(?P<id>[^/]+))?")
def put_doc(s, r):
    doc_id = r.groups.get("id")
    if doc_id is None and r.method == "PUT":
        raise RawReply(405, {"error": f"Incorrect HTTP method for uri [{r.path}] and method [PUT], allowed: [POST]", "status": 405})
    op = "create" if r.groups["op"] == "_create" or r.params.get("op_type") == "create" else "index"
    status, res = s.write(op, r.groups["index"], doc_id, r.json(), r.params.get("routing"), r.body.decode("utf-8"))
    refresh_after_write(s, r, [res["_index"]])
    return status, res


@route("GET HEAD DELETE", IDX + r"/_doc/(?P<id>[^/]+)")
def doc(s, r):
    if r.method == "DELETE":
        status, res = s.write("delete", r.groups["index"], r.groups["id"], None, r.params.get("routing"))
        refresh_after_write(s, r, [res["_index"]])
        return status, res
    names = s.resolve(r.groups["index"], r.params)
    if len(names) != 1:
        raise bad(f"alias [{r.groups['index']}] has more than one index associated with it, can't execute a single index op")
    s.check_blocks(names, "read")
    ix, doc_id = s.indices[names[0]], r.groups["id"]
    if (ix["mappings"].get("_routing") or {}).get("required") in (True, "true") and "routing" not in r.params:
        raise EsError(400, "routing_missing_exception", f"routing is required for [{names[0]}]/[{doc_id}]", index_uuid=ix["settings"]["index.uuid"], index=names[0])
    rec = ix["docs"].get(doc_id)  # GET is realtime: it sees unrefreshed writes
    if r.method == "HEAD":
        return (200 if rec else 404), None
    if rec is None:
        return 404, {"_index": names[0], "_id": doc_id, "found": False}
    out = {"_index": names[0], "_id": doc_id, "_version": rec["_version"], "_seq_no": rec["_seq_no"], "_primary_term": 1}
    if rec["_routing"] is not None:
        out["_routing"] = rec["_routing"]
    out["found"] = True
    srcf = source_filter_spec(r.params, {})
    src = answered_source(rec, srcf)
    if src is not None:
        out["_source"] = src
    return 200, out


@route("POST PUT", "(?:" + IDX + ")?/_bulk")
def bulk(s, r):
    t0 = time.monotonic()
    ops = parse_bulk(r.body, r.groups.get("index"))
    s.bulk_requests += 1
    every = s.cfg.reject_bulk_every
    reject = bool(every and s.bulk_requests % every == 0)
    if not reject and s.faults.get("bulk_429", 0) > 0:
        s.faults["bulk_429"] -= 1
        reject = True
    if reject:  # the whole request is refused and nothing is indexed
        raise EsError(429, "es_rejected_execution_exception",
                      "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, "
                      "all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=1] (es-test-server)")
    items, errors, touched = [], False, []
    for action, meta, src, raw in ops:
        base = {"_index": meta.get("_index"), "_id": meta.get("_id")}
        try:
            if s.faults.get("bulk_item_errors", 0) > 0:
                s.faults["bulk_item_errors"] -= 1
                raise EsError(400, "document_parsing_exception", "[1:1] injected failure (es-test-server fault bulk_item_errors)")
            if isinstance(src, EsError):
                raise src
            status, res = s.write(action, meta["_index"], meta.get("_id"), src, meta.get("routing", meta.get("_routing")), raw)
            touched.append(res["_index"])
            items.append({action: {**res, "status": status}})
        except EsError as e:
            errors = True
            items.append({action: {**base, "status": e.status, "error": e.info()}})
    refresh_after_write(s, r, touched)
    return 200, {"errors": errors, "took": int((time.monotonic() - t0) * 1000), "items": items}


def parse_bulk(raw, default_index):
    text = raw.decode("utf-8")
    if text and not text.endswith("\n"):
        raise bad("The bulk request must be terminated by a newline [\\n]")
    lines, ops, i = text.split("\n"), [], 0
    while i < len(lines):
        line, i = lines[i].strip(), i + 1
        if not line:
            continue
        try:
            meta = json.loads(line)
        except ValueError as e:
            raise bad(f"[{i}:1] Unexpected character in action/metadata line: {e}", "x_content_parse_exception")
        if not isinstance(meta, dict) or len(meta) != 1 or not isinstance(next(iter(meta.values())), dict):
            raise bad(f"Malformed action/metadata line [{i}], expected START_OBJECT or END_OBJECT but found [{type(meta).__name__}]")
        (action, m), = meta.items()
        if action not in ("index", "create", "update", "delete"):
            raise bad(f"Malformed action/metadata line [{i}], expected one of [create, delete, index, update] but found [{action}]")
        m = {**m, "_index": m.get("_index") or default_index}
        if not m["_index"]:
            raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
        src = raw = None
        if action != "delete":
            if i >= len(lines) or not lines[i].strip():
                raise EsError(400, "action_request_validation_exception", f"Validation Failed: 1: source is missing for action on line [{i}];")
            line, i = lines[i], i + 1
            raw = line
            try:
                src = json.loads(line)
            except ValueError as e:
                if action == "update":
                    raise bad(f"[{i}:1] {e}", "x_content_parse_exception")
                src = EsError(400, "document_parsing_exception", f"[1:1] failed to parse: {e}")
        ops.append((action, m, src, raw))
    if not ops:
        raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
    return ops


def search_rejected(s):
    """The `search_429` fault: the search thread pool's queue is full, nothing was run."""
    if s.faults.get("search_429", 0) > 0:
        s.faults["search_429"] -= 1
        raise EsError(429, "es_rejected_execution_exception",
                      "rejected execution of TimedRunnable on EsThreadPoolExecutor[name = es-test-server/search, "
                      "queue capacity = 1000] (es-test-server)")


DROPPABLE = set()  # the routes the drop_connections fault applies to


@route("GET POST", "(?:" + IDX + ")?/_search")
def search(s, r):
    search_rejected(s)
    return 200, s.search(r.groups.get("index"), r.params, r.json() or {}, r.params.get("scroll"))


@route("GET POST DELETE", "/_search/scroll(?:/(?P<id>[^/]+))?")
def scroll(s, r):
    body = r.json() if r.body.strip()[:1] == b"{" else ({"scroll_id": r.body.decode().strip()} if r.body.strip() else {})
    if r.groups.get("id"):
        body.setdefault("scroll_id", r.groups["id"])
    if r.method != "DELETE":
        search_rejected(s)
        return 200, s.scroll_next(body, r.params)
    ids = body.get("scroll_id", r.params.get("scroll_id"))
    ids = list(s.scrolls) if ids == "_all" else ([ids] if isinstance(ids, str) else ids or [])
    freed = sum(1 for x in ids if s.scrolls.pop(x, None) is not None)
    return (200 if freed or not ids else 404), {"succeeded": True, "num_freed": freed}


DROPPABLE.update([search, scroll, bulk])


def dropped(faults, fn):
    """Whether a drop fault takes the answer of this carried-out request (and count it)."""
    for kind, fns in (("drop_scrolls", (scroll,)), ("drop_connections", DROPPABLE)):
        if fn in fns and faults.get(kind, 0) > 0:
            faults[kind] -= 1
            return True
    return False


@route("POST", IDX + "/_pit")
def open_pit(s, r):
    if s.cfg.no_pit:
        raise RawReply(400, {"error": f"no handler found for uri [{r.path}] and method [POST]", "status": 400})
    return 200, s.open_pit(r.groups["index"], r.params)


@route("DELETE", "/_pit")
def close_pit(s, r):
    pid = (r.json() or {}).get("id")
    freed = 1 if s.pits.pop(pid, None) is not None else 0
    return (200 if freed else 404), {"succeeded": True, "num_freed": freed}


@route("GET POST", "(?:" + IDX + ")?/_count")
def count(s, r):
    body = r.json() or {}
    pred = compile_query(body.get("query") or {"match_all": {}})
    names = s.resolve(r.groups.get("index"), r.params)
    s.check_blocks(names, "read")
    n = sum(1 for (_, i, rec) in s.snapshot(names) if pred is MATCH_ALL or pred(i, searchable_source(rec)))
    return 200, {"count": n, "_shards": s.shards(names)}


@route("PUT", IDX + "/_block/(?P<block>[^/]+)")
def add_block(s, r):
    """PUT /<index>/_block/<write|read_only|read|metadata|read_only_allow_delete>: sets index.blocks.<block>;
    remove it with PUT /<index>/_settings {"index.blocks.<block>": false or null}."""
    block = r.groups["block"]
    if block not in BLOCKS:
        raise bad(f"No block found with name [{block}]")
    refuse_destructive(r.groups["index"])
    names = s.resolve(r.groups["index"], r.params)
    if "metadata_write" not in BLOCKS[block][3]:
        s.check_blocks(names, "metadata_write")
    todo = [n for n in names if s.indices[n]["settings"].get(f"index.blocks.{block}") != "true"]
    if not todo:  # nothing changed (or nothing matched): ES answers without waiting for the shards
        return 200, {"acknowledged": True, "shards_acknowledged": False, "indices": []}
    for n in todo:
        s.indices[n]["settings"][f"index.blocks.{block}"] = "true"
    s.dirty = True
    return 200, {"acknowledged": True, "shards_acknowledged": True, "indices": [{"name": n, "blocked": True} for n in todo]}


@route("PUT POST", IDX + "/_clone/(?P<target>[^/]+)")
def clone(s, r):
    s.clone_index(r.groups["index"], r.groups["target"], r.json() or {})
    return 200, {"acknowledged": True, "shards_acknowledged": True, "index": r.groups["target"]}


# generic /<index> routes come last: /_search, /_bulk, ... are matched first
@route("GET HEAD", IDX)
def get_index(s, r):
    names = s.resolve(r.groups["index"], r.params)
    if r.method == "HEAD":
        return (200 if names else 404), None
    s.check_blocks(names, "metadata_read")
    flat = r.params.get("flat_settings") == "true"
    return 200, {n: s.index_view(n, flat) for n in names}


@route("PUT", IDX)
def put_index(s, r):
    name = r.groups["index"]
    pattern = s.faults.get("fail_put_index")
    if pattern and wild(pattern, name):
        raise EsError(400, "mapper_parsing_exception", "Failed to parse mapping: injected failure (es-test-server fault fail_put_index)")
    s.create_index(name, r.json() or {})
    return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}


@route("DELETE", IDX)
def delete_index(s, r):
    parts = r.groups["index"].split(",")
    refuse_destructive(r.groups["index"])
    names = []
    for p in parts:
        if p in s.indices:
            names.append(p)
        elif any(p in ix["aliases"] for ix in s.indices.values()):
            raise bad(f"The provided expression [{p}] matches an alias, specify the corresponding concrete indices instead.")
        elif r.params.get("ignore_unavailable") != "true":
            raise not_found(p)
    s.check_blocks(names, "metadata_write", release=True)
    for n in names:
        del s.indices[n]
    s.dirty = True
    return 200, {"acknowledged": True}


# ---------------------------------------------------------------- HTTP plumbing
class Req:
    def __init__(self, method, params, groups, body, path=""):
        self.method, self.params, self.groups, self.body, self.path = method, params, groups, body, path

    def json(self):
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise bad(f"[1:1] failed to parse request body: {e}", "x_content_parse_exception")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "es-test-server"

    def log_message(self, fmt, *args):
        if self.server.store.cfg.verbose:
            super().log_message(fmt, *args)

    def read_body(self):
        limit = self.server.store.cfg.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > limit:
                    raise RawReply(413, None, close=True)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            if n > limit:
                while n > 0:  # drain, so the client reads our answer instead of a connection reset
                    chunk = self.rfile.read(min(n, 1 << 20))
                    n = n - len(chunk) if chunk else 0
                raise RawReply(413, None, close=True)
            data = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            data = gzip.decompress(data)
        return data

    def check_auth(self, path):
        cfg = self.server.store.cfg
        if not cfg.user:
            return
        header = self.headers.get("Authorization", "")
        www = {"WWW-Authenticate": 'Basic realm="security" charset="UTF-8"'}
        if not header.startswith("Basic "):
            raise EsError(401, "security_exception", f"missing authentication credentials for REST request [{path}]",
                          headers=www, header={"WWW-Authenticate": [www["WWW-Authenticate"], "ApiKey"]})
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            user, pw = "", None
        if (user, pw) != (cfg.user, cfg.password):
            raise EsError(401, "security_exception", f"unable to authenticate user [{user}] for REST request [{path}]",
                          headers=www, header={"WWW-Authenticate": [www["WWW-Authenticate"], "ApiKey"]})

    def dispatch(self):
        store = self.server.store
        status, body, headers, close = 500, None, {}, False
        pretty = "pretty" in parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        try:
            url = urlsplit(self.path)
            path = "/".join(unquote(p) for p in url.path.split("/")).rstrip("/")
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            raw = self.read_body()
            self.check_auth(url.path)
            ctype = self.headers.get("Content-Type", "")
            if raw.strip() and not re.search(r"json|ndjson|smile|cbor|yaml", ctype):
                raise RawReply(406, {"error": f"Content-Type header [{ctype}] is not supported", "status": 406})
            for methods, rx, fn, nolock in ROUTES:
                m = rx.match(path)
                if m and self.command in methods:
                    break
            else:
                allowed = sorted({x for ms, rx, _, _ in ROUTES if rx.match(path) for x in ms})
                if allowed:
                    raise RawReply(405, {"error": f"Incorrect HTTP method for uri [{url.path}] and method [{self.command}], allowed: {allowed}".replace("'", ""), "status": 405})
                raise RawReply(400, {"error": f"no handler found for uri [{url.path}] and method [{self.command}]", "status": 400})
            req = Req(self.command, params, {k: v for k, v in m.groupdict().items() if v is not None}, raw, url.path)
            if nolock:
                status, body = fn(store, req)
            else:
                with store.lock:
                    try:
                        status, body = fn(store, req)
                    finally:
                        if store.dirty:
                            store.save()
                    if self.command != "DELETE" and dropped(store.faults, fn):
                        self.close_connection = True
                        return  # done, but the client never hears of it
        except EsError as e:
            status, body, headers = e.status, e.body(), e.headers
        except RawReply as e:
            status, body, close = e.status, e.body, e.close
        except Exception as e:  # a bug in this server: still answer in the ES shape
            traceback.print_exc()
            status, body = 500, EsError(500, "exception", f"es-test-server internal error: {e!r}").body()
        self.reply(status, body, headers, close, pretty)

    def reply(self, status, body, headers=None, close=False, pretty=False):
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = to_json(body)
            data = (json.dumps(json.loads(data), indent=2) if pretty else data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8" if isinstance(body, str) else "application/json")
        self.send_header("X-elastic-product", "Elasticsearch")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = dispatch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Elasticsearch 8.x test server (see module docstring)")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=9200)
    p.add_argument("--data-dir")
    p.add_argument("--user")
    p.add_argument("--password-file")
    p.add_argument("--max-body-bytes", type=int, default=100 * 1024 * 1024, help="http.max_content_length")
    p.add_argument("--reject-bulk-every", type=int, default=0, help="every Nth _bulk answers 429")
    p.add_argument("--version", dest="es_version", default="8.11.0", help="version number reported by GET /")
    p.add_argument("--no-pit", action="store_true", help="behave like ES < 7.10: no point in time API")
    p.add_argument("--verbose", action="store_true")
    cfg = p.parse_args(argv)
    cfg.password = None
    if cfg.user:
        if not cfg.password_file:
            p.error("--user needs --password-file")
        with open(cfg.password_file, encoding="utf-8") as f:
            cfg.password = f.read().rstrip("\r\n")
    major, minor, patch = (int(re.match(r"\d+", x).group()) for x in (cfg.es_version.split(".") + ["0", "0"])[:3])
    cfg.version_created = str(major * 1000000 + minor * 10000 + patch * 100 + 99)
    if cfg.data_dir:
        os.makedirs(cfg.data_dir, exist_ok=True)
    return cfg


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients dropping connections is normal
            super().handle_error(request, client_address)


def make_server(argv=None):
    cfg = parse_args(argv)
    httpd = Server((cfg.host, cfg.port), Handler)
    httpd.store = Store(cfg)
    return httpd


def main(argv=None):
    httpd = make_server(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # state is saved after every write: just go
    print(f"es-test-server listening on {httpd.server_address[0]}:{httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
