#!/usr/bin/env python3
"""Stand-in for the web apps of the AI stack (n8n, One API, Dify, RAGFlow).

It answers the app's health endpoint and mimics the bits of the real app's
start-up that matter to backups (n8n: the encryption key in ~/.n8n/config;
Dify: SECRET_KEY must be set).

Usage: standin.py APP [--port PORT]

Adding an app: add an entry to APPS (port, routes, optional startup hook).
"""

import argparse
import json
import os
import secrets
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def fail(msg):
    print(msg, file=sys.stderr, flush=True)
    sys.exit(1)


def n8n_startup():
    """Mimics n8n's InstanceSettings: create or check ~/.n8n/config."""
    user_folder = os.environ.get("N8N_USER_FOLDER") or os.path.expanduser("~")
    n8n_dir = os.path.join(user_folder, ".n8n")
    config = os.path.join(n8n_dir, "config")
    env_key = os.environ.get("N8N_ENCRYPTION_KEY") or None
    if os.path.exists(config):
        try:
            with open(config, encoding="utf-8") as f:
                settings = json.load(f)
        except (OSError, ValueError) as e:
            fail(f"Error: could not read the settings file {config}: {e}")
        file_key = settings.get("encryptionKey") if isinstance(settings, dict) else None
        if not file_key:
            fail(f"Error: the settings file {config} holds no encryptionKey")
        if env_key is not None and env_key != file_key:
            fail(
                "Error: Mismatching encryption keys. The encryption key in the settings "
                f"file {config} does not match the N8N_ENCRYPTION_KEY env var. Please "
                "make sure both keys match."
            )
        print(f"n8n stand-in: using the encryption key from {config}", flush=True)
    else:
        key = env_key or secrets.token_hex(16)
        os.makedirs(n8n_dir, exist_ok=True)
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"encryptionKey": key}, f, indent="\t")
        print(f"n8n stand-in: created the settings file {config}", flush=True)


def require_env(*names):
    """Returns a start-up hook that fails like the real app when NAMES are unset."""

    def startup():
        missing = [n for n in names if not os.environ.get(n)]
        if missing:
            fail(f"Error: {', '.join(missing)} must be set")

    return startup


DIFY_HEALTH = {"pid": os.getpid(), "status": "ok", "version": "stand-in"}
RAGFLOW_HEALTH = {"db": "ok", "redis": "ok", "doc_engine": "ok", "storage": "ok", "status": "ok"}

# path -> (status, json body); HEALTH marks the endpoint probed by docker.
APPS = {
    "n8n": {
        "port": 5678,
        "health": "/healthz",
        "routes": {
            "/healthz": (200, {"status": "ok"}),
            "/healthz/readiness": (200, {"status": "ok"}),
        },
        "startup": n8n_startup,
    },
    "oneapi": {
        "port": 3000,
        "health": "/api/status",
        "routes": {
            "/api/status": (200, {"success": True, "message": "", "data": {"version": "stand-in"}}),
        },
    },
    # Dify: api (Flask), worker (Celery: no HTTP upstream, here an internal
    # health port for the docker health check) and web (Next.js).
    "dify-api": {
        "port": 5001,
        "health": "/health",
        "routes": {"/health": (200, DIFY_HEALTH)},
        "startup": require_env("SECRET_KEY"),
    },
    "dify-worker": {
        "port": 5001,
        "health": "/health",
        "routes": {"/health": (200, {**DIFY_HEALTH, "mode": "worker"})},
        "startup": require_env("SECRET_KEY"),
    },
    "dify-web": {
        "port": 3000,
        "health": "/apps",
        "routes": {"/": (200, {"app": "dify-web"}), "/apps": (200, {"app": "dify-web"})},
    },
    "ragflow": {
        "port": 9380,
        "health": "/v1/system/healthz",
        "routes": {"/v1/system/healthz": (200, RAGFLOW_HEALTH)},
    },
}


def make_handler(app_name, app):
    routes = app["routes"]
    health = app.get("health")

    class Handler(BaseHTTPRequestHandler):
        server_version = f"{app_name}-standin/1.0"

        def _answer(self, with_body):
            path = self.path.split("?", 1)[0]
            status, body = routes.get(path, (404, {"error": "not found", "path": path}))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if with_body:
                self.wfile.write(data)

        def do_GET(self):
            self._answer(True)

        def do_HEAD(self):
            self._answer(False)

        def log_message(self, fmt, *args):
            if self.path.split("?", 1)[0] == health:
                return  # the health check runs every 2 s; keep the log readable
            sys.stdout.write("%s - %s\n" % (self.address_string(), fmt % args))
            sys.stdout.flush()

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    app = APPS[args.app]

    def on_term(signum, _frame):
        print(f"{args.app} stand-in: got signal {signum}, exiting", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    startup = app.get("startup")
    if startup:
        startup()

    port = args.port or app["port"]
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    httpd = ThreadingHTTPServer(("0.0.0.0", port), make_handler(args.app, app))
    print(f"{args.app} stand-in: listening on port {port}", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.5)
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
