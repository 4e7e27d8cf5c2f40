#!/usr/bin/env python3
"""The bench's instrument: time one command, its peak memory and the disk it needed beyond what
it left behind; and print the results as a table.

Usage: measure.py run RESULT ID LOG PATH... -- COMMAND...
           Runs COMMAND, its output going to LOG, sampling the free space of each filesystem holding a PATH every
           0.2 s. Appends one JSON line to RESULT, named ID: seconds, peak RSS in KiB (of COMMAND itself,
           through /usr/bin/time -f %M) and extra disk: on each filesystem, the lowest free space
           seen against the free space when COMMAND ended, summed. That is the room the command
           needed beyond its output (an archive, a restored database), which stays on disk.
       measure.py table RESULTS
           One line per comparison: the ai-backup figure against each anchor.

RESULTS lines are {"kind": "run", "id", "secs", "rss_kb", "extra", "cpu", "stores", "rc"} from
`run` (cpu: the busy CPU-seconds of the whole machine during the run, containers included, which
shows when 2 cores bound a run; stores: the CPU-seconds each store's container spent, from its
cgroup, for the containers named in BENCH_STORES="key=container ..."), and {"kind": "case",
"case", "anchor", "tool", "anchor_id", "target", "store"} written by scripts/bench, which names
which run is the tool's and which is the anchor's ("a|b": the slower of two runs), the ratio the
issue asks for at most and the store both read or write.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

INTERVAL = 0.2


def filesystems(paths):
    """One existing path per filesystem (st_dev), so a shared filesystem is counted once."""
    seen = {}
    for p in paths:
        while p and not os.path.exists(p):
            p = os.path.dirname(p)
        if p:
            seen.setdefault(os.stat(p).st_dev, p)
    return list(seen.values())


def free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def busy_cpu_secs():
    """CPU time the whole machine has spent busy (every process, containers too), in seconds."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cgroup_cpu_file(pid):
    """The file holding the CPU time of the cgroup of process `pid` (cgroup v1 or v2)."""
    with open(f"/proc/{pid}/cgroup", encoding="ascii") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    for _, controllers, path in lines:
        if "cpuacct" in controllers.split(","):
            for mount in ("cpu,cpuacct", "cpuacct", "cpuacct,cpu"):
                p = f"/sys/fs/cgroup/{mount}{path}/cpuacct.usage"
                if os.path.exists(p):
                    return p
    for hierarchy, _, path in lines:
        if hierarchy == "0":
            return f"/sys/fs/cgroup{path}/cpu.stat"
    return None


def cgroup_cpu_secs(path):
    with open(path, encoding="ascii") as f:
        text = f.read()
    if path.endswith("cpuacct.usage"):
        return int(text) / 1e9
    usage = dict(line.split() for line in text.splitlines())
    return int(usage["usage_usec"]) / 1e6


def store_cpu_files():
    """{key: cgroup CPU file} of the running containers named in BENCH_STORES."""
    files = {}
    for pair in os.environ.get("BENCH_STORES", "").split():
        key, _, name = pair.partition("=")
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", name],
                             capture_output=True, text=True, check=False).stdout.strip()
        if pid.isdigit() and pid != "0":
            path = cgroup_cpu_file(pid)
            if path and os.path.exists(path):
                files[key] = path
    return files


def run(result, run_id, log, paths, cmd):
    fss = filesystems(paths)
    lowest = {p: free(p) for p in fss}
    done = threading.Event()

    def sample():
        while not done.wait(INTERVAL):
            for p in fss:
                lowest[p] = min(lowest[p], free(p))

    stores = store_cpu_files()
    store0 = {k: cgroup_cpu_secs(p) for k, p in stores.items()}
    with tempfile.NamedTemporaryFile("r", prefix="bench-time.") as tf:
        sampler = threading.Thread(target=sample, daemon=True)
        t0, cpu0 = time.monotonic(), busy_cpu_secs()
        sampler.start()
        with open(log, "ab") as out:
            rc = subprocess.call(["/usr/bin/time", "-f", "%M", "-o", tf.name, *cmd],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        secs, cpu = time.monotonic() - t0, busy_cpu_secs() - cpu0
        store_cpu = {k: cgroup_cpu_secs(p) - store0[k] for k, p in stores.items()}
        done.set()
        sampler.join()
        last = (tf.read().strip().splitlines() or ["0"])[-1]
        rss = int(last) if last.isdigit() else 0
    end = {p: free(p) for p in fss}
    extra = sum(max(0, end[p] - min(lowest[p], end[p])) for p in fss)
    with open(result, "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": "run", "id": run_id, "secs": secs, "rss_kb": rss,
                            "extra": extra, "cpu": cpu, "stores": store_cpu,
                            "rc": rc}) + "\n")
    return rc


def mib(n):
    return f"{n / (1 << 20):.0f} MiB" if n >= 10 << 20 else f"{n / (1 << 20):.1f} MiB"


def anchor_run(runs, anchor_id):
    """The anchor's run; "a|b" is the slower of two runs (e.g. the dump and the compression)."""
    found = [runs.get(i) for i in anchor_id.split("|")]
    if not all(found):
        return None
    return max(found, key=lambda r: (r["rc"] != 0, r["secs"]))


def store_cpu(tool, anchor, store):
    """The store's CPU-seconds in the tool's run and in the anchor's, e.g. "12.0/11.5"."""
    if not store:
        return ""
    got = [r.get("stores", {}).get(store) for r in (tool, anchor)]
    return "/".join("-" if g is None else f"{g:.1f}" for g in got)


def verdict(ratio, target):
    if not target:
        return ""
    return f"<= {target}: " + ("met" if ratio <= float(target) else "MISSED")


def table(result):
    runs, cases = {}, []
    with open(result, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["kind"] == "run":
                runs[r["id"]] = r
            else:
                cases.append(r)
    head = ("case", "anchor", "ratio", "ai-backup s", "anchor s", "cpu s", "anchor cpu",
            "store cpu", "peak RSS", "extra disk", "anchor disk", "target")
    fmt = "{:<29} {:<38} {:>6} {:>11} {:>9} {:>6} {:>10} {:>11} {:>9} {:>10} {:>11}  {}"
    print(fmt.format(*head))
    for c in cases:
        tool, anchor = runs.get(c["tool"]), anchor_run(runs, c["anchor_id"])
        if not tool or not anchor:
            print(fmt.format(c["case"], c["anchor"], "-", "-", "-", "-", "-", "-", "-", "-", "-",
                             ""))
            continue
        if tool["rc"] or anchor["rc"]:
            print(fmt.format(c["case"], c["anchor"], "failed",
                             "failed" if tool["rc"] else f"{tool['secs']:.1f}",
                             "failed" if anchor["rc"] else f"{anchor['secs']:.1f}",
                             "-", "-", "-", "-", "-", "-", ""))
            continue
        ratio = tool["secs"] / anchor["secs"] if anchor["secs"] > 0 else float("inf")
        print(fmt.format(c["case"], c["anchor"], f"{ratio:.2f}", f"{tool['secs']:.1f}",
                         f"{anchor['secs']:.1f}", f"{tool.get('cpu', 0):.1f}",
                         f"{anchor.get('cpu', 0):.1f}", store_cpu(tool, anchor, c.get("store")),
                         mib(tool["rss_kb"] * 1024),
                         mib(tool["extra"]), mib(anchor["extra"]), verdict(ratio, c.get("target"))))


def main():
    a = sys.argv[1:]
    if len(a) >= 6 and a[0] == "run" and "--" in a:
        sep = a.index("--")
        sys.exit(run(a[1], a[2], a[3], a[4:sep], a[sep + 1:]))
    elif len(a) == 2 and a[0] == "table":
        table(a[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
