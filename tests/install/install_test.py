#!/usr/bin/env python3
"""`make install PREFIX=...` works anywhere: the installed binary, run from another working
directory, finds its catalog, web pages and scenarios under PREFIX/share/mangaassist (never
through the source tree it was built from), also after the prefix is moved; a binary copied
alone says how to point it at its data. Usage: install_test.py BUILD_DIR."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

build_dir = sys.argv[1]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAILED:", what, file=sys.stderr)


def serve(binary, cwd):
    """Starts `binary serve --port 0` in `cwd`; returns (process, port) once it says where."""
    p = subprocess.Popen([binary, "serve", "--port", "0", "--threads", "1"], cwd=cwd,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()  # the event: "mangaassist: serving on http://localhost:PORT ..."
    if "serving on" not in line:
        p.kill()
        raise SystemExit("the installed server did not start: " + line + p.stdout.read())
    port = int(line.split("localhost:")[1].split()[0])
    return p, port


def get(port, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


with tempfile.TemporaryDirectory() as tmp:
    prefix = os.path.join(tmp, "prefix")
    subprocess.run(["cmake", "--install", build_dir, "--prefix", prefix], check=True,
                   stdout=subprocess.DEVNULL)
    share = os.path.join(prefix, "share", "mangaassist")
    for part in ["data/manga_series.jsonl", "web/index.html", "scenarios/s1-backoff-storm.toml",
                 "config/default.toml", "reference/brooker_backoff_sim_reproduced.csv",
                 "web/ops.html", "web/ops.js", "web/ops.css", "web/vendor/uPlot.iife.min.js",
                 "web/vendor/uPlot.min.css", "web/vendor/uPlot.LICENSE"]:
        check(os.path.isfile(os.path.join(share, part)), "installed " + part)
    # The dashboard's chart library ships as its files, never as node_modules or npm's manifests.
    for part in ["web/node_modules", "web/package.json", "web/package-lock.json"]:
        check(not os.path.exists(os.path.join(share, part)), "not installed: " + part)

    # Moved after installing: the binary still finds its files relative to itself.
    moved = os.path.join(tmp, "moved")
    shutil.move(prefix, moved)
    work = os.path.join(tmp, "elsewhere")
    os.makedirs(work)
    p, port = serve(os.path.join(moved, "bin", "mangaassist"), work)
    try:
        status, _ = get(port, "/healthz")
        check(status == 200, "/healthz answers")
        status, page = get(port, "/")
        check(status == 200 and "<html" in page.lower(), "the chat page is served from share/web")
        status, page = get(port, "/ops")
        check(status == 200 and 'id="login-form"' in page, "the dashboard is served from share/web")
        status, lib = get(port, "/ops/vendor/uPlot.iife.min.js")
        check(status == 200 and "uPlot" in lib, "the chart library is served from share/web/vendor")
        status, reply = get(port, "/v1/chat",
                            json.dumps({"message": "How much is One Piece volume 1?"}).encode())
        r = json.loads(reply)
        check(status == 200 and "¥" in r.get("reply", ""), "a price from the installed catalog: " +
              r.get("reply", reply))
    finally:
        p.terminate()
        p.wait(timeout=20)

    # The simulator too, from the other directory, with the installed scenarios.
    sim = subprocess.run([os.path.join(moved, "bin", "mangaassist"), "sim",
                          os.path.join(moved, "share", "mangaassist", "scenarios",
                                       "s1-backoff-storm.toml"),
                          "--variant", "fixed", "--duration", "20", "--json", "--out",
                          os.path.join(work, "sim")], cwd=work, capture_output=True, text=True)
    check(sim.returncode == 0 and '"scenario":"s1-backoff-storm"' in sim.stdout,
          "sim runs from the installed tree: " + sim.stderr)
    jitter = subprocess.run([os.path.join(moved, "bin", "mangaassist"), "sim", "--jitter"],
                            cwd=work, capture_output=True, text=True)
    check(jitter.returncode == 0 and "reference: " + moved in jitter.stdout and
          "reference: not found" not in jitter.stdout,
          "sim --jitter finds the installed reference run: " + jitter.stdout[-200:])

    # A binary copied alone finds no data, and says how to give it.
    alone = os.path.join(tmp, "alone")
    os.makedirs(alone)
    shutil.copy(os.path.join(moved, "bin", "mangaassist"), alone)
    out = subprocess.run([os.path.join(alone, "mangaassist"), "serve", "--port", "0"],
                         cwd=alone, capture_output=True, text=True, timeout=30,
                         env={k: v for k, v in os.environ.items() if k != "MANGAASSIST_DATA_DIR"})
    check(out.returncode == 2 and "--data-dir" in out.stderr,
          "a lone binary names --data-dir: " + out.stderr)
    # ... and serves once told.
    os.environ["MANGAASSIST_DATA_DIR"] = os.path.join(moved, "share", "mangaassist", "data")
    p, port = serve(os.path.join(alone, "mangaassist"), alone)
    try:
        status, _ = get(port, "/healthz")
        check(status == 200, "MANGAASSIST_DATA_DIR points a lone binary at its data")
    finally:
        p.terminate()
        p.wait(timeout=20)

if failures:
    sys.exit(1)
print("install: ok")
