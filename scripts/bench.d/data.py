#!/usr/bin/env python3
"""The bench's data: rows, documents and objects shaped like the modules' real ones, with random
ids and values so that they compress about 3:1 (objects far less), generated as a stream so that
no size needs its data in memory.

Usage: data.py n8n BYTES      > a psql script: COPY execution_data, then execution_entity
       data.py oneapi BYTES   > tab-separated rows of logs, for LOAD DATA
       data.py es-docs BYTES  the number of chunks for BYTES (200,000 per GiB)
       data.py es COUNT URL INDEX   bulk-loads COUNT chunks with 768-dimension vectors (~6 KB each)
       data.py objects BYTES DIR    writes the objects as files under DIR; prints count and bytes
       data.py objects-plan BYTES   the object counts and sizes for BYTES, without writing
"""
import json
import os
import random
import sys
import urllib.request

GIB = 1 << 30
WORDS = ("the customer order invoice payment shipped pending refund account email address status "
         "report summary agent workflow node trigger webhook http request response token model "
         "prompt completion document chunk dataset embedding vector search retrieval answer "
         "question context source page section table figure result error retry timeout").split()
NODES = ("Webhook", "HTTP Request", "Set", "IF", "Code", "Postgres", "Slack", "OpenAI",
         "Merge", "Split In Batches", "Google Sheets", "Gmail")
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo", "claude-3-5-sonnet", "qwen-max",
          "deepseek-chat", "text-embedding-3-small", "glm-4")
STATUSES = ("paid", "pending", "refunded", "failed", "shipped")
rng = random.Random(20240611)


def hexid(n=16):
    return rng.randbytes(n).hex()


def uuid():
    h = hexid()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def words(n):
    return " ".join(rng.choices(WORDS, k=n))


def limit(total):
    """Yield row numbers while `total` bytes are not yet written; rows report their size."""
    written, i = 0, 0
    while written < total:
        i += 1
        written += yield i


# ---------------------------------------------------------------- n8n
def n8n_item():
    return ('{"json":{"id":"%s","email":"user%d@example.com","amount":%d.%02d,"status":"%s",'
            '"createdAt":"2024-%02d-%02dT%02d:%02d:%02d.%03dZ","note":"%s","ref":"%s"}}'
            % (uuid(), rng.randrange(100000), rng.randrange(10000), rng.randrange(100),
               rng.choice(STATUSES), rng.randrange(1, 13), rng.randrange(1, 29),
               rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(1000),
               words(rng.randrange(3, 12)), hexid(12)))


def n8n(total):
    """execution_entity (one short row per execution), then execution_data: the workflow as it
    ran and the run data with items, in n8n's shape (JSON text)."""
    executions = []
    out = sys.stdout
    out.write('COPY execution_data ("executionId", "workflowData", data) FROM STDIN;\n')
    gen = limit(total)
    i = next(gen)
    try:
        while True:
            wf = rng.randrange(1, 200)
            nodes = rng.sample(NODES, rng.randrange(3, 7))
            workflow = ('{"id":"%d","name":"workflow %d","active":true,"nodes":[%s],"connections":{}}'
                        % (wf, wf, ",".join(
                            '{"id":"%s","name":"%s","type":"n8n-nodes-base.%s","typeVersion":1,'
                            '"position":[%d,%d],"parameters":{}}'
                            % (uuid(), n, n.replace(" ", "").lower(), rng.randrange(0, 2000, 20),
                               rng.randrange(0, 1000, 20)) for n in nodes)))
            run = ('{"resultData":{"runData":{%s},"lastNodeExecuted":"%s"},"executionData":'
                   '{"waitingExecution":{}}}' % (",".join(
                       '"%s":[{"startTime":%d,"executionTime":%d,"source":[],"data":{"main":[[%s]]}}]'
                       % (n, 1700000000000 + rng.randrange(10**10), rng.randrange(5000),
                          ",".join(n8n_item() for _ in range(rng.randrange(1, 8))))
                       for n in nodes), nodes[-1]))
            line = f"{i}\t{workflow}\t{run}\n"
            out.write(line)
            executions.append(wf)
            i = gen.send(len(line))
    except StopIteration:
        pass
    out.write("\\.\nCOPY execution_entity FROM STDIN;\n")
    for n, wf in enumerate(executions, 1):
        out.write(f"{n}\t{wf}\tsuccess\tt\t2024-06-01 12:00:00+00\t2024-06-01 12:00:0{n % 10}+00\n")
    out.write("\\.\n")


# ---------------------------------------------------------------- One API
def oneapi(total):
    """logs: one row per API call, as One API writes them."""
    out = sys.stdout
    gen = limit(total)
    i = next(gen)
    users = [f"user{n}" for n in range(500)]
    try:
        while True:
            prompt, completion = rng.randrange(5, 8000), rng.randrange(0, 4000)
            line = ("%d\t%d\t%d\t2\tmodel ratio %.2f, group ratio 1.00, completion ratio %.2f, %s\t"
                    "%s\ttoken-%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%d\n"
                    % (i, rng.randrange(1, 500), 1700000000 + rng.randrange(3 * 10**7),
                       rng.choice((0.5, 1.0, 2.5, 7.5, 15.0)), rng.choice((1.0, 2.0, 3.0, 4.0)),
                       words(rng.randrange(0, 6)), rng.choice(users), hexid(6), rng.choice(MODELS),
                       (prompt + completion) * rng.randrange(1, 30), prompt, completion,
                       rng.randrange(1, 40), hexid(16), rng.randrange(50, 60000), rng.randrange(2)))
            out.write(line)
            i = gen.send(len(line))
    except StopIteration:
        pass


# ---------------------------------------------------------------- Elasticsearch
DOCS_PER_GIB = 200_000
FLOATS = ["%.4f" % (rng.random() * 2 - 1) for _ in range(65536)]


def es_docs(total):
    return max(1000, -(-total * DOCS_PER_GIB // GIB))


def es(n, url, index):
    """Dify/RAGFlow chunks: text, ids and a 768-dimension embedding, bulk-loaded in ~8 MB
    requests into a new index mapped as Dify maps it."""
    def call(method, path, body, ctype="application/json"):
        req = urllib.request.Request(url + path, data=body, method=method,
                                     headers={"Content-Type": ctype})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    call("PUT", f"/{index}", json.dumps({
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"properties": {
            "page_content": {"type": "text"}, "metadata": {"type": "object"},
            "vector": {"type": "dense_vector", "dims": 768, "index": True,
                       "similarity": "cosine"}}}}).encode())
    datasets = [uuid() for _ in range(20)]
    batch = []
    for i in range(1, n + 1):
        ds = rng.choice(datasets)
        doc = ('{"page_content":"%s","metadata":{"doc_id":"%s","doc_hash":"%s","document_id":"%s",'
               '"dataset_id":"%s"},"vector":[%s]}'
               % (words(rng.randrange(40, 120)), uuid(), hexid(32), uuid(), ds,
                  ",".join(rng.choices(FLOATS, k=768))))
        batch.append('{"index":{"_id":"%s"}}\n%s\n' % (uuid(), doc))
        if len(batch) == 1000 or i == n:
            res = call("POST", f"/{index}/_bulk", "".join(batch).encode(), "application/x-ndjson")
            if res.get("errors"):
                sys.exit(f"bulk load into {index} failed: {json.dumps(res)[:500]}")
            batch = []
    call("POST", f"/{index}/_refresh", b"")


# ---------------------------------------------------------------- objects
SMALL_PER_GIB = 20_000


def objects_plan(total):
    """About two thirds of the bytes in small objects (4-64 KiB, 20,000 per GiB), the rest in
    four large ones, which hold at least 1 GiB in all whatever the size."""
    small = max(100, total * SMALL_PER_GIB // GIB)
    sizes = [rng.randrange(4 << 10, (64 << 10) + 1) for _ in range(small)]
    large = max(GIB, total - sum(sizes)) // 4
    return sizes, [large] * 4


def objects(total, root):
    """Uploads, images and PDFs: random bytes (incompressible), one object in ten a text file."""
    sizes, large = objects_plan(total)
    count = size = 0
    for n, s in enumerate(sizes):
        d = os.path.join(root, "upload_files", f"{n % 64:02x}")
        os.makedirs(d, exist_ok=True)
        if n % 10 == 0:
            data = (words(s // 6 + 1) + "\n").encode()[:s]
            name = f"{uuid()}.txt"
        else:
            data = rng.randbytes(s)
            name = f"{uuid()}.{rng.choice(('pdf', 'png', 'jpg', 'docx'))}"
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        count, size = count + 1, size + len(data)
    os.makedirs(os.path.join(root, "datasets"), exist_ok=True)
    for s in large:
        with open(os.path.join(root, "datasets", f"{uuid()}.bin"), "wb") as f:
            left = s
            while left:
                chunk = rng.randbytes(min(left, 8 << 20))
                f.write(chunk)
                left -= len(chunk)
        count, size = count + 1, size + s
    print(count, size)


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "n8n":
        n8n(int(a[1]))
    elif len(a) == 2 and a[0] == "oneapi":
        oneapi(int(a[1]))
    elif len(a) == 4 and a[0] == "es":
        es(int(a[1]), a[2], a[3])
    elif len(a) == 2 and a[0] == "es-docs":
        print(es_docs(int(a[1])))
    elif len(a) == 3 and a[0] == "objects":
        objects(int(a[1]), a[2])
    elif len(a) == 2 and a[0] == "objects-plan":
        sizes, large = objects_plan(int(a[1]))
        print(len(sizes), sum(sizes), len(large), large[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
