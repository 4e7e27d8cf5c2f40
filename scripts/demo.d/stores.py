#!/usr/bin/env python3
"""The demo's hands on the stand-in stack's S3 server and Elasticsearch: clear a module's scope,
seed its sample objects and documents, damage them and count them.

Usage: stores.py clear-scope < plan.ndjson   (the output of `ai-backup plan MODULE --json`)
       stores.py seed | damage | count MODULE

Credentials come from MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in the environment, never from
arguments. The S3 endpoint is http://127.0.0.1:9000, Elasticsearch http://127.0.0.1:9200.
"""
import datetime
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

S3 = "http://127.0.0.1:9000"
ES = "http://127.0.0.1:9200"
REGION = "us-east-1"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
SAMPLES = 5


def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def s3(method, path, query=None, body=b"", headers=None):
    """One signed (SigV4) S3 request; returns the response body. Raises on HTTP errors."""
    access, secret = os.environ["MINIO_ROOT_USER"], os.environ["MINIO_ROOT_PASSWORD"]
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    path = urllib.parse.quote(path, safe="/-_.~")
    qs = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted((query or {}).items())
    )
    h = {"host": "127.0.0.1:9000", "x-amz-date": stamp,
         "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    h.update({k.lower(): v for k, v in (headers or {}).items()})
    names = ";".join(sorted(h))
    canonical = "\n".join([method, path, qs, "".join(f"{k}:{h[k]}\n" for k in sorted(h)),
                           names, h["x-amz-content-sha256"]])
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(("AWS4" + secret).encode(), day), REGION), "s3"), "aws4_request")
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                          f"SignedHeaders={names}, Signature={sig}")
    del h["host"]
    url = S3 + path + ("?" + qs if qs else "")
    req = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None,
                                 method=method, headers=h)
    with urllib.request.urlopen(req) as r:
        return r.read()


def es(method, path, body=None, ndjson=False):
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    ctype = "application/x-ndjson" if ndjson else "application/json"
    req = urllib.request.Request(ES + path, data=data, method=method,
                                 headers={"Content-Type": ctype})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"{}")


def keys(bucket, prefix=""):
    """Every key under `prefix`, following continuation tokens."""
    out, token = [], None
    while True:
        q = {"list-type": "2", "prefix": prefix}
        if token:
            q["continuation-token"] = token
        root = ET.fromstring(s3("GET", f"/{bucket}", q))
        out += [c.findtext(f"{NS}Key") for c in root.iter(f"{NS}Contents")]
        token = root.findtext(f"{NS}NextContinuationToken")
        if root.findtext(f"{NS}IsTruncated") != "true" or not token:
            return out


def clear_scope(plan):
    """Empty each bucket/prefix of the plan (and remove whole buckets), delete each index."""
    for bucket, prefix, _, _ in plan["object_counts"]:
        for key in keys(bucket, prefix):
            s3("DELETE", f"/{bucket}/{key}")
        if prefix == "":
            s3("DELETE", f"/{bucket}")
    for index, _ in plan["index_counts"]:
        es("DELETE", f"/{urllib.parse.quote(index)}")


def seed(module):
    bucket, index = f"{module}-files", f"{module}-docs"
    s3("PUT", f"/{bucket}")
    for i in range(1, SAMPLES + 1):
        s3("PUT", f"/{bucket}/docs/file {i}.txt", body=f"file {i} of {module}\n".encode(),
           headers={"content-type": "text/plain"})
    es("PUT", f"/{index}", {"mappings": {"properties": {
        "text": {"type": "text"}, "vector": {"type": "dense_vector", "dims": 3}}}})
    lines = "".join(
        json.dumps({"index": {"_id": str(i)}}) + "\n"
        + json.dumps({"text": f"chunk {i}", "vector": [i, 1, 0]}) + "\n"
        for i in range(1, SAMPLES + 1))
    res = es("POST", f"/{index}/_bulk?refresh=true", lines, ndjson=True)
    if res.get("errors"):
        raise SystemExit(f"seeding {index} failed: {res}")


def damage(module):
    s3("DELETE", f"/{module}-files/docs/file 1.txt")
    es("DELETE", f"/{module}-docs/_doc/1?refresh=true")


def count(module):
    try:
        objects = len(keys(f"{module}-files"))
    except urllib.error.HTTPError as e:
        objects = 0 if e.code == 404 else sys.exit(f"listing {module}-files: {e}")
    try:
        docs = es("GET", f"/{module}-docs/_count")["count"]
    except urllib.error.HTTPError as e:
        docs = 0 if e.code == 404 else sys.exit(f"counting {module}-docs: {e}")
    print(f"{objects} objects, {docs} documents")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "clear-scope":
        plans = [json.loads(l)["plan"] for l in sys.stdin if '"event":"plan"' in l]
        if len(plans) != 1:
            sys.exit("clear-scope: expected the output of `ai-backup plan MODULE --json`")
        clear_scope(plans[0])
    elif cmd in ("seed", "damage", "count") and len(sys.argv) == 3:
        {"seed": seed, "damage": damage, "count": count}[cmd](sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
