"""Checks es_test_server.py against shared/docs/elasticsearch.md (run from the repo root):

    python3 -m unittest tools/es-test-server/test_es_test_server.py
"""
import http.client, json, os, signal, subprocess, sys, tempfile, threading, time, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import es_test_server as es  # noqa: E402

N_BIG = 12000


class Server:
    """The server in-process, on a free loopback port, in a thread."""

    def __init__(self, *args):
        self.httpd = es.make_server(["--host", "127.0.0.1", "--port", "0", *args])
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def call(self, method, path, body=None, ndjson=None, raw=None, headers=None):
        """-> (status, parsed JSON or None, response headers)."""
        h, data = dict(headers or {}), raw
        if ndjson is not None:
            data = "".join(json.dumps(x) + "\n" for x in ndjson).encode()
            h.setdefault("Content-Type", "application/x-ndjson")
        elif body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif raw is not None:
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            text = resp.read()
        finally:
            conn.close()
        return resp.status, (json.loads(text) if text else None), resp.headers

    def ok(self, method, path, body=None, ndjson=None, expect=(200, 201)):
        status, out, _ = self.call(method, path, body, ndjson)
        assert status in ((expect,) if isinstance(expect, int) else expect), (method, path, status, out)
        return out


class EsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.es = Server()

    @classmethod
    def tearDownClass(cls):
        cls.es.stop()

    def assertError(self, resp, status, type_, reason_part=""):
        code, body, _ = resp
        self.assertEqual(code, status, body)
        self.assertEqual(body["status"], status)
        self.assertEqual(body["error"]["type"], type_, body)
        self.assertIsInstance(body["error"]["root_cause"], list)
        self.assertIn("reason", body["error"]["root_cause"][0])
        self.assertIn(reason_part, body["error"]["reason"] + body["error"]["root_cause"][0]["reason"])


class IndexTests(EsCase):
    def test_root(self):
        out = self.es.ok("GET", "/")
        self.assertEqual(out["version"]["number"], "8.11.0")
        self.assertNotIn("distribution", out["version"])
        self.assertEqual(out["tagline"], "You Know, for Search")
        self.assertEqual(self.es.call("GET", "/")[2]["X-elastic-product"], "Elasticsearch")

    def test_private_settings_rejected(self):
        for key, msg in [("uuid", "unknown setting [index.uuid]"), ("history.uuid", "unknown setting [index.history.uuid]"),
                         ("provided_name", "unknown setting [index.provided_name]"),
                         ("version.created", "private index setting [index.version.created] can not be set explicitly")]:
            with self.subTest(key=key):
                settings = {"index": {"number_of_shards": "1"}}
                node = settings["index"]
                for part in key.split(".")[:-1]:
                    node = node.setdefault(part, {})
                node[key.split(".")[-1]] = "x"
                self.assertError(self.es.call("PUT", "/priv", {"settings": settings}), 400, "illegal_argument_exception", msg)
                self.assertEqual(self.es.call("HEAD", "/priv")[0], 404)
        # creation_date is accepted (and copied, which is wrong but allowed)
        self.es.ok("PUT", "/priv_date", {"settings": {"index": {"creation_date": "1600000000000"}}})
        self.assertEqual(self.es.ok("GET", "/priv_date")["priv_date"]["settings"]["index"]["creation_date"], "1600000000000")
        self.assertError(self.es.call("PUT", "/priv_date/_settings", {"index": {"uuid": "x"}}), 400, "illegal_argument_exception")
        self.assertError(self.es.call("PUT", "/priv_date/_settings", {"number_of_shards": 2}), 400, "illegal_argument_exception", "non dynamic")

    def test_settings_are_strings_and_normalised(self):
        self.es.ok("PUT", "/s_nested", {"settings": {"index": {"number_of_shards": 3, "refresh_interval": "5s"}}})
        self.es.ok("PUT", "/s_flat", {"settings": {"index.number_of_shards": 2, "number_of_replicas": 0,
                                                   "analysis": {"analyzer": {"my": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}}}}})
        st = self.es.ok("GET", "/s_nested")["s_nested"]["settings"]["index"]
        self.assertEqual(st["number_of_shards"], "3")
        self.assertEqual(st["number_of_replicas"], "1")
        self.assertEqual(st["refresh_interval"], "5s")
        self.assertEqual(st["version"]["created"], "8110099")
        self.assertEqual(st["provided_name"], "s_nested")
        self.assertEqual(st["routing"]["allocation"]["include"]["_tier_preference"], "data_content")
        for k in ("uuid", "creation_date"):
            self.assertIsInstance(st[k], str)
        st = self.es.ok("GET", "/s_flat/_settings")["s_flat"]["settings"]["index"]
        self.assertEqual((st["number_of_shards"], st["number_of_replicas"]), ("2", "0"))
        self.assertEqual(st["analysis"]["analyzer"]["my"]["filter"], ["lowercase"])
        flat = self.es.ok("GET", "/s_flat/_settings?flat_settings=true")["s_flat"]["settings"]
        self.assertEqual(flat["index.number_of_shards"], "2")
        self.es.ok("PUT", "/s_flat/_settings", {"index": {"refresh_interval": "-1", "number_of_replicas": 1}})
        st = self.es.ok("GET", "/s_flat/_settings")["s_flat"]["settings"]["index"]
        self.assertEqual((st["refresh_interval"], st["number_of_replicas"]), ("-1", "1"))

    def test_create_errors(self):
        self.es.ok("PUT", "/dup")
        self.assertError(self.es.call("PUT", "/dup"), 400, "resource_already_exists_exception", "already exists")
        for name in ("Upper", "_under", "-dash", "+plus", "a*b"):
            self.assertError(self.es.call("PUT", "/" + name), 400, "invalid_index_name_exception", "Invalid index name")
        self.assertError(self.es.call("PUT", "/typed", {"mappings": {"_doc": {"properties": {}}}}), 400, "mapper_parsing_exception")
        self.assertError(self.es.call("PUT", "/badtype", {"mappings": {"properties": {"x": {"type": "nope"}}}}), 400, "mapper_parsing_exception")

    def test_wildcard_no_match_vs_missing(self):
        self.assertEqual(self.es.call("GET", "/nomatch_*")[:2], (200, {}))
        err = self.es.call("GET", "/nomatch")
        self.assertError(err, 404, "index_not_found_exception", "no such index [nomatch]")
        self.assertEqual(err[1]["error"]["resource.id"], "nomatch")
        self.assertEqual(err[1]["error"]["index"], "nomatch")
        self.assertEqual(self.es.call("HEAD", "/nomatch")[0], 404)
        self.assertError(self.es.call("GET", "/nomatch_*?allow_no_indices=false"), 404, "index_not_found_exception")
        self.assertEqual(self.es.ok("GET", "/nomatch_*/_count")["count"], 0)
        self.assertError(self.es.call("GET", "/nomatch/_search"), 404, "index_not_found_exception")

    def test_delete(self):
        self.es.ok("PUT", "/del_a")
        self.es.ok("PUT", "/del_b")
        for pattern in ("del_*", "*", "_all", "del_%3F", "del_a,del_*", "del_%2A"):
            self.assertError(self.es.call("DELETE", "/" + pattern), 400, "illegal_argument_exception",
                             "Wildcard expressions or all indices are not allowed")
        self.assertEqual(self.es.call("HEAD", "/del_a")[0], 200)
        self.assertError(self.es.call("DELETE", "/del_a,missing_one"), 404, "index_not_found_exception")
        self.assertEqual(self.es.call("HEAD", "/del_a")[0], 200)  # nothing deleted on error
        self.es.ok("DELETE", "/del_a,del_b")
        self.assertEqual(self.es.call("GET", "/del_*")[1], {})

    def test_hidden_indices(self):
        self.es.ok("PUT", "/.hid_sys")
        self.es.ok("PUT", "/hid_visible")
        self.es.ok("PUT", "/hid_flagged", {"settings": {"index.hidden": True}})
        self.assertEqual(set(self.es.ok("GET", "/*")) & {".hid_sys", "hid_flagged"}, set())
        self.assertEqual(list(self.es.ok("GET", "/hid_*")), ["hid_visible"])
        for ew in ("all", "hidden", "open,hidden"):
            self.assertIn(".hid_sys", self.es.ok("GET", f"/*?expand_wildcards={ew}"))
        self.assertEqual(list(self.es.ok("GET", "/.hid_*")), [".hid_sys"])  # a dot pattern matches dot indices
        self.assertIn(".hid_sys", self.es.ok("GET", "/.hid_sys"))  # concrete names always work

    def test_mapping_round_trip(self):
        mapping = {"_source": {"excludes": ["secret"]}, "_routing": {"required": True},
                   "properties": {"vec": {"type": "dense_vector", "dims": 4, "index": True, "similarity": "cosine"},
                                  "knn": {"type": "knn_vector", "dimension": 2}, "title": {"type": "text"}}}
        self.es.ok("PUT", "/maps", {"mappings": mapping})
        self.assertEqual(self.es.ok("GET", "/maps")["maps"]["mappings"], mapping)
        self.assertEqual(self.es.ok("GET", "/maps/_mapping")["maps"]["mappings"], mapping)
        self.es.ok("PUT", "/maps/_mapping", {"properties": {"n": {"type": "long"}}})
        self.assertEqual(self.es.ok("GET", "/maps/_mapping")["maps"]["mappings"]["properties"]["n"], {"type": "long"})
        self.assertError(self.es.call("PUT", "/maps/_mapping", {"properties": {"n": {"type": "text"}}}), 400, "illegal_argument_exception", "cannot be changed")

    def test_dynamic_mapping(self):
        self.es.ok("PUT", "/dyn/_doc/1", {"s": "x", "i": 1, "f": 1.5, "b": True, "o": {"k": 2}, "d": "2024-01-02T03:04:05Z"})
        props = self.es.ok("GET", "/dyn/_mapping")["dyn"]["mappings"]["properties"]
        self.assertEqual(props["s"]["type"], "text")
        self.assertEqual(props["s"]["fields"]["keyword"]["type"], "keyword")
        self.assertEqual([props[k]["type"] for k in "ifbd"], ["long", "float", "boolean", "date"])
        self.assertEqual(props["o"], {"properties": {"k": {"type": "long"}}})

    def test_error_shapes_and_unknown_endpoints(self):
        self.assertEqual(self.es.call("PATCH", "/")[0], 405)
        self.assertEqual(self.es.call("POST", "/some_index")[0], 405)
        code, body, _ = self.es.call("GET", "/a/b/c/d")
        self.assertEqual((code, body["status"]), (400, 400))
        code, body, _ = self.es.call("POST", "/x/_search", raw=b"{not json")
        self.assertEqual((code, body["status"]), (400, 400))
        code, body, _ = self.es.call("POST", "/x/_search", raw=b"{}", headers={"Content-Type": "text/plain"})
        self.assertEqual(code, 406)
        self.assertError(self.es.call("POST", "/_search", {"query": {"bogus": {}}}), 400, "parsing_exception")

    def test_cat_and_health(self):
        self.es.ok("PUT", "/cat1", {"settings": {"number_of_replicas": 0}})
        self.es.ok("PUT", "/cat1/_doc/1?refresh=true", {"a": 1})
        rows = {r["index"]: r for r in self.es.ok("GET", "/_cat/indices?format=json")}
        self.assertEqual(rows["cat1"]["docs.count"], "1")
        self.assertEqual(rows["cat1"]["health"], "green")
        for k in ("status", "uuid", "pri", "rep"):
            self.assertIn(k, rows["cat1"])
        t0 = time.monotonic()
        out = self.es.ok("GET", "/_cluster/health?wait_for_status=yellow&timeout=5s")
        self.assertIn(out["status"], ("green", "yellow"))
        self.assertLess(time.monotonic() - t0, 1)

    def test_faults(self):
        self.es.ok("POST", "/_test/faults", {"fail_put_index": "doomed*", "bulk_429": 1, "bulk_item_errors": 1})
        self.assertEqual(self.es.ok("GET", "/_test/faults")["bulk_429"], 1)
        self.assertError(self.es.call("PUT", "/doomed_1"), 400, "mapper_parsing_exception")
        actions = [{"index": {"_index": "faulty", "_id": "1"}}, {"a": 1}, {"index": {"_index": "faulty", "_id": "2"}}, {"a": 2}]
        self.assertError(self.es.call("POST", "/_bulk", ndjson=actions), 429, "es_rejected_execution_exception")
        self.assertEqual(self.es.call("HEAD", "/faulty")[0], 404)  # nothing indexed
        out = self.es.ok("POST", "/_bulk?refresh=true", ndjson=actions)
        self.assertTrue(out["errors"])
        self.assertEqual([i["index"]["status"] for i in out["items"]], [400, 201])
        self.assertEqual(out["items"][0]["index"]["error"]["type"], "document_parsing_exception")
        self.es.ok("DELETE", "/_test/faults")
        self.assertEqual(self.es.ok("GET", "/_test/faults"), {})
        self.es.ok("PUT", "/doomed_1")


class DocumentTests(EsCase):
    def test_bulk_item_failures(self):
        self.es.ok("PUT", "/bulk1", {"mappings": {"properties": {"vec": {"type": "dense_vector", "dims": 3},
                                                                 "n": {"type": "long"}, "f": {"type": "float"}}}})
        self.es.ok("PUT", "/bulk_routed", {"mappings": {"_routing": {"required": True}}})
        actions = [{"index": {"_index": "bulk1", "_id": "1"}}, {"vec": [1, 2, 3], "n": 1},
                   {"create": {"_index": "bulk1", "_id": "1"}}, {"vec": [1, 2, 3]},
                   {"index": {"_index": "bulk1", "_id": "2"}}, {"vec": [1, 2]},
                   {"index": {"_index": "bulk1", "_id": "3"}}, {"n": "not a number"},
                   {"index": {"_index": "bulk1", "_id": "4"}}, {"f": "1.5x"},
                   {"index": {"_index": "bulk_routed", "_id": "5"}}, {"a": 1},
                   {"index": {"_index": "bulk_routed", "_id": "6", "routing": "r1"}}, {"a": 1},
                   {"update": {"_index": "bulk1", "_id": "1"}}, {"doc": {"n": 2}},
                   {"update": {"_index": "bulk1", "_id": "nope"}}, {"doc": {"n": 2}},
                   {"delete": {"_index": "bulk1", "_id": "nope"}},
                   {"index": {"_index": "bulk1"}}, {"n": 7},
                   {"delete": {"_index": "bulk_no_such_index", "_id": "1"}}]
        code, out, _ = self.es.call("POST", "/_bulk", ndjson=actions)
        self.assertEqual(code, 200)
        self.assertTrue(out["errors"])
        items = [next(iter(i.values())) for i in out["items"]]
        self.assertEqual([i["status"] for i in items], [201, 409, 400, 400, 400, 400, 201, 200, 404, 404, 201, 404])
        types = [i.get("error", {}).get("type") for i in items]
        self.assertEqual(types[1:6], ["version_conflict_engine_exception", "document_parsing_exception",
                                      "document_parsing_exception", "document_parsing_exception", "routing_missing_exception"])
        self.assertIn("different number of dimensions [2] than defined in the mapping [3]", items[2]["error"]["reason"])
        self.assertEqual(types[8], "document_missing_exception")
        self.assertEqual((items[9]["result"], types[9]), ("not_found", None))  # a missing delete is not an error
        self.assertEqual(len(items[10]["_id"]), 20)  # auto id
        self.assertEqual(types[11], "index_not_found_exception")  # deletes do not auto-create
        self.assertEqual(self.es.call("HEAD", "/bulk_no_such_index")[0], 404)
        self.assertEqual(self.es.ok("GET", "/bulk1/_doc/1")["_source"]["n"], 2)
        ok = self.es.ok("POST", "/bulk1/_bulk", ndjson=[{"index": {"_id": "9"}}, {"n": 9}])
        self.assertFalse(ok["errors"])

    def test_malformed_bulk(self):
        self.assertError(self.es.call("POST", "/_bulk", raw=b'{"index":{"_index":"m"}}\n{"a":1}', headers={"Content-Type": "application/x-ndjson"}),
                         400, "illegal_argument_exception", "terminated by a newline")
        self.assertError(self.es.call("POST", "/_bulk", raw=b'{"index":{"_index":"m"}\n{"a":1}\n', headers={"Content-Type": "application/x-ndjson"}),
                         400, "x_content_parse_exception")
        self.assertError(self.es.call("POST", "/_bulk", ndjson=[{"upsert": {"_index": "m"}}, {"a": 1}]), 400, "illegal_argument_exception", "Malformed action")
        self.assertError(self.es.call("POST", "/_bulk", ndjson=[{"index": {}}, {"a": 1}]), 400, "action_request_validation_exception", "index is missing")
        self.assertEqual(self.es.call("HEAD", "/m")[0], 404)

    def test_refresh_visibility(self):
        self.es.ok("PUT", "/vis", {"settings": {"refresh_interval": "-1"}})
        self.es.ok("POST", "/_bulk", ndjson=[x for i in range(5) for x in ({"index": {"_index": "vis", "_id": str(i)}}, {"i": i})])
        self.assertEqual(self.es.ok("GET", "/vis/_count")["count"], 0)
        self.assertEqual(self.es.ok("POST", "/vis/_search")["hits"]["total"]["value"], 0)
        self.assertTrue(self.es.ok("GET", "/vis/_doc/3")["found"])  # GET by id is realtime
        self.es.ok("POST", "/vis/_refresh")
        self.assertEqual(self.es.ok("GET", "/vis/_count")["count"], 5)
        self.es.ok("PUT", "/vis/_doc/9?refresh=wait_for", {"i": 9})
        self.assertEqual(self.es.ok("GET", "/vis/_count")["count"], 6)
        self.es.ok("DELETE", "/vis/_doc/9")
        self.assertEqual(self.es.ok("GET", "/vis/_count")["count"], 6)
        self.es.ok("POST", "/_refresh")
        self.assertEqual(self.es.ok("GET", "/vis/_count")["count"], 5)
        # the periodic refresh (index.refresh_interval) makes writes visible by itself
        self.es.ok("PUT", "/vis_auto", {"settings": {"refresh_interval": "200ms"}})
        self.es.ok("PUT", "/vis_auto/_doc/1", {"a": 1})
        self.assertEqual(self.es.ok("GET", "/vis_auto/_count")["count"], 0)
        time.sleep(0.3)
        self.assertEqual(self.es.ok("GET", "/vis_auto/_count")["count"], 1)

    def test_source_disabled_and_filtered(self):
        self.es.ok("PUT", "/nosrc", {"mappings": {"_source": {"enabled": False}, "properties": {"k": {"type": "keyword"}}}})
        self.es.ok("PUT", "/nosrc/_doc/1?refresh=true", {"k": "v"})
        hit = self.es.ok("POST", "/nosrc/_search", {"query": {"term": {"k": "v"}}})["hits"]["hits"][0]
        self.assertEqual(hit["_id"], "1")
        self.assertNotIn("_source", hit)
        got = self.es.ok("GET", "/nosrc/_doc/1")
        self.assertTrue(got["found"])
        self.assertNotIn("_source", got)
        self.es.ok("PUT", "/exsrc", {"mappings": {"_source": {"excludes": ["emb", "meta.secret"]}}})
        self.es.ok("PUT", "/exsrc/_doc/1?refresh=true", {"t": "x", "emb": [1, 2], "meta": {"secret": 1, "open": 2}})
        self.assertEqual(self.es.ok("POST", "/exsrc/_search")["hits"]["hits"][0]["_source"], {"t": "x", "meta": {"open": 2}})
        self.assertEqual(self.es.ok("POST", "/exsrc/_count", {"query": {"exists": {"field": "emb"}}})["count"], 1)
        hit = self.es.ok("POST", "/exsrc/_search", {"_source": ["meta.*"]})["hits"]["hits"][0]
        self.assertEqual(hit["_source"], {"meta": {"open": 2}})
        self.assertNotIn("_source", self.es.ok("POST", "/exsrc/_search", {"_source": False})["hits"]["hits"][0])

    def test_routing_kept(self):
        self.es.ok("PUT", "/routed", {"mappings": {"_routing": {"required": True}}})
        self.assertError(self.es.call("PUT", "/routed/_doc/1", {"a": 1}), 400, "routing_missing_exception", "routing is required")
        self.es.ok("PUT", "/routed/_doc/1?routing=user7&refresh=true", {"a": 1})
        hit = self.es.ok("GET", "/routed/_search")["hits"]["hits"][0]
        self.assertEqual((hit["_id"], hit["_routing"]), ("1", "user7"))
        self.assertEqual(self.es.ok("GET", "/routed/_doc/1?routing=user7")["_routing"], "user7")
        self.assertError(self.es.call("GET", "/routed/_doc/1"), 400, "routing_missing_exception")

    def test_doc_api(self):
        out = self.es.ok("POST", "/docs/_doc", {"a": 1}, expect=201)
        self.assertEqual(out["result"], "created")
        self.assertEqual(self.es.ok("PUT", f"/docs/_doc/{out['_id']}", {"a": 2})["result"], "updated")
        self.assertEqual(self.es.call("PUT", f"/docs/_create/{out['_id']}", {"a": 3})[0], 409)
        self.assertEqual(self.es.call("GET", "/docs/_doc/nope")[:2], (404, {"_index": "docs", "_id": "nope", "found": False}))
        self.assertEqual(self.es.ok("DELETE", f"/docs/_doc/{out['_id']}")["result"], "deleted")
        self.assertEqual(self.es.call("DELETE", f"/docs/_doc/{out['_id']}")[0], 404)

    def test_search_queries_and_sort(self):
        docs = [{"n": i, "tag": "even" if i % 2 == 0 else "odd", "title": f"Doc number {i}"} for i in range(10)]
        self.es.ok("POST", "/q/_bulk?refresh=true", ndjson=[x for i, d in enumerate(docs) for x in ({"index": {"_id": str(i)}}, d)])
        def ids(body):
            return [h["_id"] for h in self.es.ok("POST", "/q/_search", body)["hits"]["hits"]]
        self.assertEqual(ids({"query": {"term": {"tag.keyword": "odd"}}, "sort": [{"n": "desc"}], "size": 3}), ["9", "7", "5"])
        self.assertEqual(ids({"query": {"range": {"n": {"gte": 3, "lt": 5}}}, "sort": ["n"]}), ["3", "4"])
        self.assertEqual(ids({"query": {"bool": {"filter": [{"terms": {"n": [1, 2, 3]}}], "must_not": [{"ids": {"values": ["2"]}}]}}, "sort": "n"}), ["1", "3"])
        self.assertEqual(ids({"query": {"match": {"title": "NUMBER 4"}}, "sort": [{"n": "asc"}], "size": 2}), ["0", "1"])
        self.assertEqual(ids({"query": {"match": {"title": {"query": "number 4", "operator": "and"}}}}), ["4"])
        self.assertEqual(ids({"query": {"bool": {"should": [{"term": {"n": 1}}, {"term": {"n": 8}}]}}, "sort": [{"_doc": "asc"}]}), ["1", "8"])
        self.assertEqual(ids({"sort": [{"n": "asc"}], "from": 8}), ["8", "9"])
        self.assertError(self.es.call("POST", "/q/_search", {"sort": ["title"]}), 400, "search_phase_execution_exception", "Text fields are not optimised")


class AliasTests(EsCase):
    def test_alias_round_trip(self):
        self.es.ok("PUT", "/al_1", {"aliases": {"al_read": {}, "al_write": {"is_write_index": True, "routing": "r"},
                                                "al_filtered": {"filter": {"term": {"k": "v"}}}}})
        self.es.ok("PUT", "/al_2")
        self.es.ok("POST", "/_aliases", {"actions": [{"add": {"index": "al_2", "alias": "al_read"}},
                                                      {"add": {"indices": ["al_2"], "alias": "al_write", "is_write_index": False}}]})
        got = self.es.ok("GET", "/al_1/_alias")["al_1"]["aliases"]
        self.assertEqual(got["al_write"], {"is_write_index": True, "index_routing": "r", "search_routing": "r"})
        self.assertEqual(got["al_filtered"], {"filter": {"term": {"k": "v"}}})
        self.assertEqual(self.es.ok("GET", "/al_1")["al_1"]["aliases"], got)
        self.assertEqual(sorted(self.es.ok("GET", "/_alias/al_read")), ["al_1", "al_2"])
        self.assertEqual(self.es.call("GET", "/_alias/al_nope")[:2], (404, {"error": "alias [al_nope] missing", "status": 404}))
        # aliases resolve in writes, GET, search and count
        self.es.ok("PUT", "/al_write/_doc/1?refresh=true", {"k": "v"})
        self.assertEqual(self.es.ok("GET", "/al_1/_doc/1")["_routing"], "r")
        self.assertEqual(self.es.ok("GET", "/al_read/_count")["count"], 1)
        self.assertEqual(sorted(self.es.ok("GET", "/al_read")), ["al_1", "al_2"])
        self.assertError(self.es.call("PUT", "/al_read/_doc/2", {"k": 1}), 400, "illegal_argument_exception", "no write index")
        self.assertError(self.es.call("DELETE", "/al_read"), 400, "illegal_argument_exception", "matches an alias")
        self.es.ok("POST", "/_aliases", {"actions": [{"remove": {"index": "al_2", "alias": "al_read"}}]})
        self.assertEqual(list(self.es.ok("GET", "/_alias/al_read")), ["al_1"])
        self.assertError(self.es.call("POST", "/_aliases", {"actions": [{"remove": {"index": "al_2", "alias": "al_read"}}]}), 404, "aliases_not_found_exception")
        self.assertError(self.es.call("POST", "/_aliases", {"actions": [{"add": {"index": "al_2", "alias": "al_write", "is_write_index": True}}]}),
                         500, "illegal_state_exception", "alias [al_write] has more than one write index [al_1,al_2]")
        self.assertError(self.es.call("PUT", "/al_3", {"aliases": {"al_write": {"is_write_index": True}}}), 500, "illegal_state_exception")
        self.assertEqual(self.es.call("HEAD", "/al_3")[0], 404)
        self.assertError(self.es.call("PUT", "/al_4", {"aliases": {"al_1": {}}}), 400, "invalid_alias_name_exception")


class BlockTests(EsCase):
    WRITE_BLOCKED = "index [{}] blocked by: [FORBIDDEN/8/index write (api)];"

    def test_write_block(self):
        self.es.ok("PUT", "/blk_w", {"settings": {"number_of_replicas": 0}})
        self.es.ok("PUT", "/blk_w/_doc/1?refresh=true", {"a": 1})
        self.assertEqual(self.es.ok("PUT", "/blk_w/_block/write"),
                         {"acknowledged": True, "shards_acknowledged": True, "indices": [{"name": "blk_w", "blocked": True}]})
        # already blocked: nothing to do, and ES says so
        self.assertEqual(self.es.ok("PUT", "/blk_w/_block/write"), {"acknowledged": True, "shards_acknowledged": False, "indices": []})
        self.assertEqual(self.es.ok("GET", "/blk_w/_settings")["blk_w"]["settings"]["index"]["blocks"], {"write": "true"})
        msg = self.WRITE_BLOCKED.format("blk_w")
        for method, path, body in [("PUT", "/blk_w/_doc/2", {"a": 2}), ("POST", "/blk_w/_doc", {"a": 2}),
                                   ("PUT", "/blk_w/_create/3", {"a": 3}), ("DELETE", "/blk_w/_doc/1", None)]:
            with self.subTest(method=method, path=path):
                err = self.es.call(method, path, body)
                self.assertError(err, 403, "cluster_block_exception", msg)
                self.assertEqual(err[1]["error"]["reason"], msg)
        code, out, _ = self.es.call("POST", "/_bulk?refresh=true", ndjson=[
            {"index": {"_index": "blk_w", "_id": "5"}}, {"a": 5}, {"index": {"_index": "blk_other", "_id": "5"}}, {"a": 5},
            {"delete": {"_index": "blk_w", "_id": "1"}}, {"update": {"_index": "blk_w", "_id": "1"}}, {"doc": {"a": 9}}])
        self.assertEqual(code, 200)
        self.assertTrue(out["errors"])
        items = [next(iter(i.values())) for i in out["items"]]
        self.assertEqual([i["status"] for i in items], [403, 201, 403, 403])
        self.assertEqual(items[0]["error"], {"type": "cluster_block_exception", "reason": msg})
        self.assertEqual((items[0]["_index"], items[0]["_id"]), ("blk_w", "5"))
        # reads, refresh and metadata changes still work; the documents are untouched
        self.es.ok("POST", "/blk_w/_refresh")
        self.assertEqual(self.es.ok("GET", "/blk_w/_count")["count"], 1)
        self.assertEqual(self.es.ok("GET", "/blk_w/_doc/1")["_source"], {"a": 1})
        self.es.ok("PUT", "/blk_w/_settings", {"index": {"refresh_interval": "2s"}})
        self.es.ok("PUT", "/blk_w/_mapping", {"properties": {"k": {"type": "keyword"}}})
        # false unblocks and stays visible as "false"; null removes the setting
        self.es.ok("PUT", "/blk_w/_settings", {"index.blocks.write": False})
        self.assertEqual(self.es.ok("GET", "/blk_w/_settings")["blk_w"]["settings"]["index"]["blocks"], {"write": "false"})
        self.es.ok("PUT", "/blk_w/_doc/2", {"a": 2}, expect=201)
        self.es.ok("PUT", "/blk_w/_block/write")
        self.es.ok("PUT", "/blk_w/_settings", {"settings": {"index": {"blocks": {"write": None}}}})
        self.assertNotIn("blocks", self.es.ok("GET", "/blk_w/_settings")["blk_w"]["settings"]["index"])
        self.es.ok("PUT", "/blk_w/_doc/3", {"a": 3}, expect=201)
        # a write block does not stop deleting the index
        self.es.ok("PUT", "/blk_w/_block/write")
        self.es.ok("DELETE", "/blk_w")

    def test_block_api_errors(self):
        self.es.ok("PUT", "/blk_e")
        for pattern in ("blk_*", "_all", "*"):
            self.assertError(self.es.call("PUT", f"/{pattern}/_block/write"), 400, "illegal_argument_exception",
                             "Wildcard expressions or all indices are not allowed")
        self.assertError(self.es.call("PUT", "/blk_missing/_block/write"), 404, "index_not_found_exception")
        self.assertError(self.es.call("PUT", "/blk_e/_block/bogus"), 400, "illegal_argument_exception", "No block found with name [bogus]")
        self.assertEqual(self.es.call("POST", "/blk_e/_block/write")[0], 405)
        self.assertError(self.es.call("PUT", "/blk_e/_settings", {"index.blocks.write": "yes"}), 400, "illegal_argument_exception",
                         "Failed to parse value [yes] as only [true] or [false] are allowed.")
        self.assertNotIn("blocks", self.es.ok("GET", "/blk_e/_settings")["blk_e"]["settings"]["index"])

    def test_read_only_and_other_blocks(self):
        self.es.ok("PUT", "/blk_ro")
        self.es.ok("PUT", "/blk_ro/_doc/1?refresh=true", {"a": 1})
        self.assertEqual(self.es.ok("PUT", "/blk_ro/_block/read_only")["indices"], [{"name": "blk_ro", "blocked": True}])
        ro = "index [blk_ro] blocked by: [FORBIDDEN/5/index read-only (api)];"
        self.assertError(self.es.call("PUT", "/blk_ro/_doc/2", {"a": 2}), 403, "cluster_block_exception", ro)
        self.assertError(self.es.call("PUT", "/blk_ro/_mapping", {"properties": {"k": {"type": "keyword"}}}), 403, "cluster_block_exception", ro)
        self.assertError(self.es.call("PUT", "/blk_ro/_settings", {"index.number_of_replicas": 0}), 403, "cluster_block_exception", ro)
        self.assertError(self.es.call("PUT", "/blk_ro/_block/write"), 403, "cluster_block_exception", ro)
        self.assertError(self.es.call("POST", "/_aliases", {"actions": [{"add": {"index": "blk_ro", "alias": "blk_ro_a"}}]}),
                         403, "cluster_block_exception", ro)
        self.assertError(self.es.call("DELETE", "/blk_ro"), 403, "cluster_block_exception", ro)
        self.assertEqual(self.es.ok("GET", "/blk_ro/_count")["count"], 1)
        self.es.ok("PUT", "/blk_ro/_settings", {"index.blocks.read_only": False})
        self.es.ok("PUT", "/blk_ro/_doc/2", {"a": 2}, expect=201)
        # read_only_allow_delete (set by ES at the disk flood stage): 429, and the index may be deleted
        self.es.ok("PUT", "/blk_ro/_settings", {"index.blocks.read_only_allow_delete": True})
        self.assertError(self.es.call("PUT", "/blk_ro/_doc/3", {"a": 3}), 429, "cluster_block_exception",
                         "index [blk_ro] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];")
        self.es.ok("DELETE", "/blk_ro")
        # read blocks searches, counts and GETs; metadata blocks reading the definition
        self.es.ok("PUT", "/blk_rd/_doc/1?refresh=true", {"a": 1})
        self.es.ok("PUT", "/blk_rd/_block/read")
        rd = "index [blk_rd] blocked by: [FORBIDDEN/7/index read (api)];"
        for method, path in [("GET", "/blk_rd/_search"), ("GET", "/blk_rd/_count"), ("GET", "/blk_rd/_doc/1"),
                             ("POST", "/blk_rd/_pit?keep_alive=1m")]:
            self.assertError(self.es.call(method, path), 403, "cluster_block_exception", rd)
        self.es.ok("PUT", "/blk_rd/_doc/2", {"a": 2}, expect=201)
        self.es.ok("PUT", "/blk_rd/_block/metadata")
        md = "index [blk_rd] blocked by: [FORBIDDEN/9/index metadata (api)];"
        self.assertEqual(self.es.call("GET", "/blk_rd")[1]["error"]["reason"], md)
        self.assertError(self.es.call("GET", "/blk_rd/_mapping"), 403, "cluster_block_exception", md)
        self.assertError(self.es.call("GET", "/blk_rd/_count"), 403, "cluster_block_exception", rd)
        self.assertError(self.es.call("PUT", "/blk_rd/_settings", {"index.number_of_replicas": 0, "index.blocks.metadata": False}),
                         403, "cluster_block_exception", "FORBIDDEN/9/index metadata (api)")
        self.es.ok("PUT", "/blk_rd/_settings", {"index.blocks.metadata": False})
        self.es.ok("PUT", "/blk_rd/_settings", {"index.blocks.read": None})
        self.assertEqual(self.es.ok("GET", "/blk_rd/_count")["count"], 1)
        # several blocks: all named, in id order; the status is the highest
        self.es.ok("PUT", "/blk_rd/_block/write")
        self.es.ok("PUT", "/blk_rd/_settings", {"index.blocks.read_only_allow_delete": True})
        self.assertError(self.es.call("PUT", "/blk_rd/_doc/3", {"a": 3}), 429, "cluster_block_exception",
                         "index [blk_rd] blocked by: [FORBIDDEN/8/index write (api), TOO_MANY_REQUESTS/12/")

    def test_blocks_survive_restart(self):
        with tempfile.TemporaryDirectory() as d:
            srv = Server("--data-dir", d)
            srv.ok("PUT", "/keepblk/_doc/1", {"a": 1})
            srv.ok("PUT", "/keepblk/_block/write")
            srv.stop()
            srv = Server("--data-dir", d)
            try:
                self.assertEqual(srv.call("PUT", "/keepblk/_doc/2", {"a": 2})[0], 403)
            finally:
                srv.stop()


class CloneTests(EsCase):
    SOURCE = {"settings": {"number_of_shards": 2, "number_of_replicas": 0, "refresh_interval": "-1",
                           "analysis": {"analyzer": {"my": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}}}},
              "mappings": {"_routing": {"required": False},
                           "properties": {"vec": {"type": "dense_vector", "dims": 3, "index": True, "similarity": "cosine"},
                                          "t": {"type": "text", "analyzer": "my"}}}}

    def make_source(self, name, n=50):
        self.es.ok("PUT", f"/{name}", {**self.SOURCE, "aliases": {f"{name}_alias": {}, f"{name}_write": {"is_write_index": True}}})
        ops = []
        for i in range(n):
            meta = {"_index": name, "_id": f"d{i}"}
            if i % 3 == 0:
                meta["routing"] = f"r{i % 4}"
            ops += [{"index": meta}, {"t": f"doc {i}", "vec": [i, 1, 2]}]
        self.assertFalse(self.es.ok("POST", "/_bulk", ndjson=ops)["errors"])
        self.es.ok("POST", f"/{name}/_refresh")
        self.es.ok("PUT", f"/{name}/_doc/late?routing=rl", {"t": "not refreshed", "vec": [1, 1, 1]})  # refresh_interval -1
        self.es.ok("PUT", f"/{name}/_doc/d1", {"t": "updated", "vec": [9, 9, 9]})  # version 2

    def test_clone_needs_a_write_block(self):
        self.make_source("cl_a", 5)
        err = self.es.call("POST", "/cl_a/_clone/cl_a_copy")
        self.assertError(err, 500, "illegal_state_exception", 'index cl_a must be read-only to resize index. use "index.blocks.write=true"')
        self.assertEqual(self.es.call("HEAD", "/cl_a_copy")[0], 404)
        self.es.ok("PUT", "/cl_a/_block/read_only")  # any write-level block will do
        self.es.ok("PUT", "/cl_a/_clone/cl_a_copy")
        self.assertEqual(self.es.ok("GET", "/cl_a_copy/_settings")["cl_a_copy"]["settings"]["index"]["blocks"], {"read_only": "true"})

    def test_clone_copies_everything(self):
        self.make_source("cl_src", 50)
        self.es.ok("PUT", "/cl_src/_block/write")
        before = self.es.ok("GET", "/cl_src?flat_settings=true")["cl_src"]
        out = self.es.ok("POST", "/cl_src/_clone/cl_dst", {"settings": {"index.blocks.write": None}, "aliases": {"cl_dst_alias": {}}})
        self.assertEqual(out, {"acknowledged": True, "shards_acknowledged": True, "index": "cl_dst"})
        self.assertEqual(self.es.ok("GET", "/cl_src?flat_settings=true")["cl_src"], before)  # the source is unchanged
        got = self.es.ok("GET", "/cl_dst?flat_settings=true")["cl_dst"]
        self.assertEqual(got["mappings"], before["mappings"])
        self.assertEqual(got["aliases"], {"cl_dst_alias": {}})  # only the aliases of the request
        st, src_st = got["settings"], before["settings"]
        # what ES sets on a resized index
        self.assertEqual(st["index.resize.source.name"], "cl_src")
        self.assertEqual(st["index.resize.source.uuid"], src_st["index.uuid"])
        self.assertIsNone(st["index.routing.allocation.initial_recovery._id"])
        self.assertEqual(st["index.routing_partition_size"], "1")
        self.assertEqual(st["index.provided_name"], "cl_dst")
        self.assertNotEqual(st["index.uuid"], src_st["index.uuid"])
        self.assertEqual(st["index.version.created"], src_st["index.version.created"])
        self.assertEqual(st["index.number_of_replicas"], "1")  # not copied: the node default
        self.assertNotIn("index.blocks.write", st)
        own = {"index.uuid", "index.creation_date", "index.provided_name", "index.resize.source.name", "index.resize.source.uuid",
               "index.routing.allocation.initial_recovery._id", "index.routing_partition_size", "index.number_of_replicas", "index.blocks.write"}
        self.assertEqual({k: v for k, v in st.items() if k not in own}, {k: v for k, v in src_st.items() if k not in own})
        # every document, refreshed or not, searchable at once, with _routing, _version and _seq_no
        self.assertEqual(self.es.ok("GET", "/cl_src/_count")["count"], 50)
        self.assertEqual(self.es.ok("GET", "/cl_dst/_count")["count"], 51)
        for doc_id, q in [("late", "?routing=rl"), ("d1", ""), ("d3", "?routing=r3")]:
            a, b = (self.es.ok("GET", f"/{n}/_doc/{doc_id}{q}") for n in ("cl_src", "cl_dst"))
            self.assertEqual({**a, "_index": "cl_dst"}, b)
        self.assertEqual(self.es.ok("GET", "/cl_dst/_doc/d1")["_version"], 2)
        hits = self.es.ok("POST", "/cl_dst/_search", {"size": 100, "query": {"ids": {"values": ["d3", "late"]}}})["hits"]["hits"]
        self.assertEqual(sorted((h["_id"], h["_routing"]) for h in hits), [("d3", "r3"), ("late", "rl")])
        # the copy is independent and writable; the source stays blocked
        self.es.ok("PUT", "/cl_dst/_doc/new?refresh=true", {"t": "x", "vec": [1, 2, 3]}, expect=201)
        self.es.ok("PUT", "/cl_dst/_mapping", {"properties": {"extra": {"type": "keyword"}}})
        self.es.ok("DELETE", "/cl_dst/_doc/d0?refresh=true")
        self.assertNotIn("extra", self.es.ok("GET", "/cl_src/_mapping")["cl_src"]["mappings"]["properties"])
        self.assertTrue(self.es.ok("GET", "/cl_src/_doc/d0")["found"])
        self.assertEqual(self.es.call("PUT", "/cl_src/_doc/x", {"t": "x"})[0], 403)

    def test_clone_keeps_the_write_block_unless_told(self):
        self.make_source("cl_k", 3)
        self.es.ok("PUT", "/cl_k/_block/write")
        self.es.ok("POST", "/cl_k/_clone/cl_k2", {"settings": {"index.number_of_replicas": 0}})
        st = self.es.ok("GET", "/cl_k2/_settings")["cl_k2"]["settings"]["index"]
        self.assertEqual((st["blocks"]["write"], st["number_of_replicas"]), ("true", "0"))
        self.assertError(self.es.call("PUT", "/cl_k2/_doc/x", {"t": "x"}), 403, "cluster_block_exception", self.WRITE_BLOCKED("cl_k2"))

    @staticmethod
    def WRITE_BLOCKED(name):
        return BlockTests.WRITE_BLOCKED.format(name)

    def test_clone_errors_change_nothing(self):
        self.make_source("cl_e", 3)
        self.es.ok("PUT", "/cl_e/_block/write")
        self.es.ok("PUT", "/cl_taken", {"aliases": {"cl_taken_alias": {}}})
        self.es.ok("PUT", "/cl_taken/_doc/1?refresh=true", {"a": 1})
        taken = self.es.ok("GET", "/cl_taken")
        err = self.es.call("POST", "/cl_e/_clone/cl_taken")
        self.assertError(err, 400, "resource_already_exists_exception", "index [cl_taken/")
        self.assertEqual(err[1]["error"]["index"], "cl_taken")
        self.assertEqual(self.es.ok("GET", "/cl_taken"), taken)
        self.assertEqual(self.es.ok("GET", "/cl_taken/_count")["count"], 1)
        self.assertError(self.es.call("POST", "/cl_e/_clone/cl_taken_alias"), 400, "invalid_index_name_exception", "already exists as alias")
        self.assertError(self.es.call("POST", "/cl_missing/_clone/cl_e2"), 404, "index_not_found_exception", "no such index [cl_missing]")
        self.assertError(self.es.call("POST", "/cl_e_alias/_clone/cl_e2"), 404, "index_not_found_exception")  # aliases are no source
        self.assertError(self.es.call("POST", "/cl_e/_clone/CL_BAD"), 400, "invalid_index_name_exception", "must be lowercase")
        self.assertError(self.es.call("POST", "/cl_e/_clone/cl_e2", {"settings": {"index.number_of_shards": 3}}), 400,
                         "illegal_argument_exception", "the number of target shards (3) must be the same as the number of source shards (2)")
        self.assertError(self.es.call("POST", "/cl_e/_clone/cl_e2", {"mappings": {"properties": {}}}), 400,
                         "x_content_parse_exception", "[resize_request] unknown field [mappings]")
        self.assertError(self.es.call("POST", "/cl_e/_clone/cl_e2", {"settings": {"index.uuid": "x"}}), 400,
                         "illegal_argument_exception", "unknown setting [index.uuid]")
        self.assertError(self.es.call("POST", "/cl_e/_clone/cl_e2", {"aliases": {"cl_e": {}}}), 400, "invalid_alias_name_exception")
        # the source's write alias given to the copy too: two write indices for one alias
        self.assertError(self.es.call("POST", "/cl_e/_clone/cl_e2", {"aliases": {"cl_e_write": {"is_write_index": True}}}),
                         500, "illegal_state_exception", "alias [cl_e_write] has more than one write index [cl_e,cl_e2]")
        self.assertEqual(self.es.call("HEAD", "/cl_e2")[0], 404)
        self.es.ok("POST", "/cl_e/_clone/cl_e2", {"aliases": {"cl_e_write": {"is_write_index": False}}})


class LargeIndexTests(EsCase):
    """12,000 documents: more than max_result_window and the total-hits count."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.es.ok("PUT", "/big", {"settings": {"number_of_shards": 2, "refresh_interval": "-1"}})
        cls.es.ok("PUT", "/big_b")
        for start in range(0, N_BIG, 3000):
            out = cls.es.ok("POST", "/_bulk", ndjson=[x for i in range(start, start + 3000)
                                                      for x in ({"index": {"_index": "big", "_id": f"d{i}"}}, {"i": i, "t": "x"})])
            assert not out["errors"]
        cls.es.ok("POST", "/big_b/_doc/only?refresh=true", {"i": -1})
        cls.es.ok("POST", "/big/_refresh")

    def test_count_is_exact(self):
        self.assertEqual(self.es.ok("GET", "/big/_count"), {"count": N_BIG, "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0}})
        self.assertEqual(self.es.ok("POST", "/big/_count", {"query": {"range": {"i": {"lt": 100}}}})["count"], 100)

    def test_total_hits_capped(self):
        self.assertEqual(self.es.ok("GET", "/big/_search")["hits"]["total"], {"value": 10000, "relation": "gte"})
        self.assertEqual(self.es.ok("GET", "/big/_search?track_total_hits=true")["hits"]["total"], {"value": N_BIG, "relation": "eq"})
        self.assertEqual(self.es.ok("POST", "/big/_search", {"track_total_hits": 500})["hits"]["total"], {"value": 500, "relation": "gte"})
        self.assertEqual(len(self.es.ok("GET", "/big/_search")["hits"]["hits"]), 10)

    def test_result_window(self):
        self.assertError(self.es.call("GET", "/big/_search?from=9995&size=10"), 400, "search_phase_execution_exception",
                         "Result window is too large, from + size must be less than or equal to: [10000] but was [10005]")
        body = self.es.call("POST", "/big/_search", {"from": 10000, "size": 1})[1]
        self.assertEqual(body["error"]["root_cause"][0]["type"], "illegal_argument_exception")
        self.assertEqual(len(self.es.ok("POST", "/big/_search", {"from": 9990, "size": 10})["hits"]["hits"]), 10)

    def test_pit_reads_everything_once(self):
        pit = self.es.ok("POST", "/big,big_b/_pit?keep_alive=1m")["id"]
        self.es.ok("PUT", "/big/_doc/late?refresh=true", {"i": 99999})  # not in the frozen snapshot
        seen, after = [], None
        while True:
            body = {"pit": {"id": pit, "keep_alive": "1m"}, "size": 5000, "sort": [{"_shard_doc": "asc"}]}
            if after:
                body["search_after"] = after
            out = self.es.ok("POST", "/_search", body)
            self.assertEqual(out["pit_id"], pit)
            hits = out["hits"]["hits"]
            if not hits:
                break
            seen += [(h["_index"], h["_id"]) for h in hits]
            after = hits[-1]["sort"]
        self.assertEqual(len(seen), N_BIG + 1)
        self.assertEqual(len(set(seen)), N_BIG + 1)
        self.assertIn(("big_b", "only"), seen)
        self.assertNotIn(("big", "late"), seen)
        self.es.call("DELETE", "/big/_doc/late?refresh=true")
        self.assertError(self.es.call("POST", "/big/_search", {"pit": {"id": pit}}), 400, "action_request_validation_exception", "point in time")
        self.assertError(self.es.call("POST", "/_search", {"pit": {"id": pit}, "size": 10001}), 400, "search_phase_execution_exception")
        self.assertEqual(self.es.ok("DELETE", "/_pit", {"id": pit})["num_freed"], 1)
        self.assertError(self.es.call("POST", "/_search", {"pit": {"id": pit}}), 404, "search_context_missing_exception")
        short = self.es.ok("POST", "/big/_pit?keep_alive=100ms")["id"]
        time.sleep(0.2)
        self.assertError(self.es.call("POST", "/_search", {"pit": {"id": short}}), 404, "search_context_missing_exception")
        self.assertError(self.es.call("POST", "/big/_search", {"sort": ["_shard_doc"]}), 400, "action_request_validation_exception")

    def test_scroll_reads_everything_once(self):
        out = self.es.ok("POST", "/big/_search?scroll=1m", {"size": 4000, "sort": ["_doc"]})
        sid, seen = out["_scroll_id"], [h["_id"] for h in out["hits"]["hits"]]
        self.assertEqual(out["hits"]["total"]["value"], 10000)
        while True:
            out = self.es.ok("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": sid})
            if not out["hits"]["hits"]:
                break
            seen += [h["_id"] for h in out["hits"]["hits"]]
        self.assertEqual((len(seen), len(set(seen))), (N_BIG, N_BIG))
        self.assertEqual(self.es.ok("DELETE", "/_search/scroll", {"scroll_id": sid})["num_freed"], 1)
        self.assertError(self.es.call("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": sid}), 404, "search_context_missing_exception")
        self.assertError(self.es.call("POST", "/big/_search?scroll=1m", {"size": 10001}), 400, "search_phase_execution_exception", "Batch size is too large")


    def read_slices(self, max_, page=1500):
        """Every (index, _id) of the slices of one point in time, and each slice's total."""
        pit = self.es.ok("POST", "/big,big_b/_pit?keep_alive=1m")["id"]
        seen, totals = [], []
        for sid in range(max_):
            after, count = None, None
            while True:
                body = {"pit": {"id": pit}, "size": page, "sort": [{"_shard_doc": "asc"}], "slice": {"id": sid, "max": max_}}
                if count is None:
                    body["track_total_hits"] = True
                if after:
                    body["search_after"] = after
                out = self.es.ok("POST", "/_search", body)
                count = out["hits"].get("total", {}).get("value", count)
                hits = out["hits"]["hits"]
                seen += [(h["_index"], h["_id"]) for h in hits]
                if len(hits) < page:
                    break
                after = hits[-1]["sort"]
            totals.append(count)
        self.es.ok("DELETE", "/_pit", {"id": pit})
        return seen, totals

    def test_sliced_pit_and_scroll_partition_the_snapshot(self):
        seen, totals = self.read_slices(3)
        self.assertEqual((len(seen), len(set(seen)), sum(totals)), (N_BIG + 1, N_BIG + 1, N_BIG + 1))
        self.assertTrue(all(t > 0 for t in totals), totals)
        ids = set()
        for sid in range(4):
            out = self.es.ok("POST", "/big/_search?scroll=1m", {"size": 5000, "slice": {"id": sid, "max": 4}, "track_total_hits": True})
            part = [h["_id"] for h in out["hits"]["hits"]]
            self.assertEqual(out["hits"]["total"]["value"], len(part))
            self.assertFalse(ids & set(part))
            ids |= set(part)
            self.es.ok("DELETE", "/_search/scroll", {"scroll_id": out["_scroll_id"]})
        self.assertEqual(len(ids), N_BIG)
        self.assertError(self.es.call("POST", "/big/_search", {"slice": {"id": 0, "max": 2}}), 400, "illegal_argument_exception",
                         "[slice] can only be used with [scroll] or [point-in-time] requests")
        for bad, why in (({"id": 0, "max": 1}, "max must be greater than 1"), ({"id": 2, "max": 2}, "max must be greater than id"),
                         ({"id": 0, "max": 2000}, "The number of slices [2000] is too large")):
            self.assertError(self.es.call("POST", "/big/_search?scroll=1m", {"slice": bad}), 400, "illegal_argument_exception", why)

    def test_source_comes_back_as_sent(self):
        raw = '{"b": 1.50, "a":[1e3, 2],"t":"\u00e9"}'
        st, out, _ = self.es.call("POST", "/asis/_bulk?refresh=true", raw=('{"index":{"_id":"1"}}\n' + raw + "\n").encode(),
                                  headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual((st, out["errors"]), (200, False))
        for path in ("/asis/_search", "/asis/_doc/1"):
            conn = http.client.HTTPConnection("127.0.0.1", self.es.port, timeout=30)
            conn.request("GET", path)
            text = conn.getresponse().read().decode()
            conn.close()
            self.assertIn('"_source":' + raw, text)
        self.assertEqual(json.loads(text)["_source"], json.loads(raw))
        # Filtered on the way out: rebuilt from the parsed document, as ES does.
        hit = self.es.ok("POST", "/asis/_search", {"_source": ["a"]})["hits"]["hits"][0]
        self.assertEqual(hit["_source"], {"a": [1000.0, 2]})
        # Kept as text, the document still answers queries, field sorts, counts and updates.
        self.es.ok("PUT", "/asis/_doc/2?refresh=true", {"b": 0.5, "a": [7], "t": "x"})
        found = self.es.ok("POST", "/asis/_search", {"query": {"range": {"b": {"gt": 1}}}})["hits"]["hits"]
        self.assertEqual([h["_id"] for h in found], ["1"])
        by_b = self.es.ok("POST", "/asis/_search", {"sort": [{"b": "asc"}]})["hits"]["hits"]
        self.assertEqual([h["_id"] for h in by_b], ["2", "1"])
        self.assertEqual(self.es.ok("POST", "/asis/_count", {"query": {"term": {"t": "x"}}})["count"], 1)
        st, out, _ = self.es.call("POST", "/asis/_bulk?refresh=true", raw=b'{"update":{"_id":"1"}}\n{"doc":{"t":"y"}}\n',
                                  headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual((st, out["errors"]), (200, False))
        self.assertEqual(self.es.ok("GET", "/asis/_doc/1")["_source"], {"b": 1.5, "a": [1000.0, 2], "t": "y"})
        self.es.ok("DELETE", "/asis")

    def test_search_faults(self):
        self.es.ok("POST", "/_test/faults", {"search_429": 2, "drop_connections": 1})
        pit = self.es.ok("POST", "/big/_pit?keep_alive=1m")["id"]
        body = {"pit": {"id": pit}, "size": 10, "sort": [{"_shard_doc": "asc"}]}
        self.assertError(self.es.call("POST", "/_search", body), 429, "es_rejected_execution_exception")
        self.assertError(self.es.call("POST", "/_search/scroll", {"scroll_id": "x"}), 429, "es_rejected_execution_exception")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.es.call("POST", "/_search", body)
        self.assertEqual(len(self.es.ok("POST", "/_search", body)["hits"]["hits"]), 10)
        self.assertEqual(self.es.ok("GET", "/_test/faults"), {"search_429": 0, "drop_connections": 0})
        out = self.es.ok("POST", "/big/_search?scroll=1m", {"size": 10})
        self.es.ok("POST", "/_test/faults", {"drop_scrolls": 1})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.es.call("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": out["_scroll_id"]})
        page = self.es.ok("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": out["_scroll_id"]})["hits"]["hits"]
        last = int(out["hits"]["hits"][-1]["_id"][1:])
        self.assertEqual(page[0]["_id"], f"d{last + 11}", "the scroll moved past the dropped page")
        self.es.ok("DELETE", "/_test/faults")
        self.es.ok("DELETE", "/_pit", {"id": pit})

    def test_dropped_bulk_was_carried_out(self):
        self.es.ok("POST", "/_test/faults", {"drop_connections": 1})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.es.call("POST", "/dropped/_bulk?refresh=true", ndjson=[{"index": {"_id": "1"}}, {"x": 1}])
        self.assertEqual(self.es.ok("GET", "/dropped/_count")["count"], 1)
        self.es.ok("DELETE", "/dropped")
        self.es.ok("DELETE", "/_test/faults")

class ServerOptionTests(unittest.TestCase):
    def test_413_body_too_large(self):
        srv = Server("--max-body-bytes", "2000")
        try:
            code, body, _ = srv.call("POST", "/_bulk", ndjson=[{"index": {"_index": "x"}}, {"pad": "y" * 5000}])
            self.assertEqual(code, 413)
            self.assertEqual(srv.call("HEAD", "/x")[0], 404)
        finally:
            srv.stop()

    def test_reject_bulk_every(self):
        srv = Server("--reject-bulk-every", "3")
        try:
            codes = [srv.call("POST", "/_bulk", ndjson=[{"index": {"_index": "rj", "_id": str(i)}}, {"i": i}])[0] for i in range(6)]
            self.assertEqual(codes, [200, 200, 429, 200, 200, 429])
            srv.ok("POST", "/rj/_refresh")
            self.assertEqual(srv.ok("GET", "/rj/_count")["count"], 4)
        finally:
            srv.stop()

    def test_basic_auth(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("s3cret\n")
        srv = Server("--user", "elastic", "--password-file", f.name)
        try:
            code, body, headers = srv.call("GET", "/")
            self.assertEqual((code, body["error"]["type"], body["status"]), (401, "security_exception", 401))
            self.assertIn("Basic", headers["WWW-Authenticate"])
            import base64
            bad = {"Authorization": "Basic " + base64.b64encode(b"elastic:wrong").decode()}
            self.assertEqual(srv.call("GET", "/", headers=bad)[0], 401)
            good = {"Authorization": "Basic " + base64.b64encode(b"elastic:s3cret").decode()}
            self.assertEqual(srv.call("GET", "/", headers=good)[0], 200)
        finally:
            srv.stop()
            os.unlink(f.name)

    def test_version_and_no_pit(self):
        srv = Server("--version", "7.10.2", "--no-pit")
        try:
            self.assertEqual(srv.ok("GET", "/")["version"]["number"], "7.10.2")
            srv.ok("PUT", "/np")
            self.assertEqual(srv.call("POST", "/np/_pit?keep_alive=1m")[0], 400)
            self.assertEqual(srv.call("POST", "/_search", {"pit": {"id": "x"}})[0], 400)
            self.assertIn("_scroll_id", srv.ok("POST", "/np/_search?scroll=1m"))
        finally:
            srv.stop()

    def test_persistence_across_restart(self):
        with tempfile.TemporaryDirectory() as d:
            srv = Server("--data-dir", d)
            srv.ok("PUT", "/keep", {"settings": {"refresh_interval": "-1"}, "aliases": {"keep_alias": {}},
                                    "mappings": {"properties": {"v": {"type": "dense_vector", "dims": 2}}}})
            srv.ok("POST", "/_bulk", ndjson=[{"index": {"_index": "keep", "_id": "1", "routing": "r"}}, {"v": [1, 2]}])
            before = srv.ok("GET", "/keep")
            srv.stop()
            self.assertEqual(sorted(os.listdir(d)), ["state.json"])
            srv = Server("--data-dir", d)
            try:
                self.assertEqual(srv.ok("GET", "/keep"), before)
                self.assertEqual(srv.ok("GET", "/keep/_doc/1?routing=r")["_source"], {"v": [1, 2]})
                self.assertEqual(srv.ok("GET", "/keep_alias/_count")["count"], 1)  # recovery refreshes
            finally:
                srv.stop()

    def test_sigterm_exits_promptly(self):
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "es_test_server.py"), "--host", "127.0.0.1", "--port", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertIn(b"listening", proc.stdout.readline())
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=5), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
