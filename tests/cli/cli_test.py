#!/usr/bin/env python3
"""The command line, as an operator meets it: every subcommand answers --help; an unknown
option or a bad value is named, in one error shape, with exit status 2; `check-config` passes
a good file and lists what is wrong with broken ones (unknown keys, bad values, unreadable
files, a Redis that does not answer), with the effective configuration and its secrets
masked; against a real Redis it passes. Usage: cli_test.py BUILD_DIR SOURCE_DIR."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

build_dir, source_dir = sys.argv[1], os.path.abspath(sys.argv[2])
binary = os.path.abspath(os.path.join(build_dir, "mangaassist"))
failures = []


def check(ok, what, detail=""):
    if not ok:
        failures.append(what)
        print("FAILED:", what, "\n" + detail if detail else "", file=sys.stderr)


def run(*args, env=None, cwd=None):
    full_env = dict(os.environ)
    for k in ["MANGAASSIST_ADMIN_TOKEN", "MANGAASSIST_AUTH_SECRET", "RETRY_MAX_ATTEMPTS"]:
        full_env.pop(k, None)
    full_env.update(env or {})
    p = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, env=full_env,
                       cwd=cwd)
    return p.returncode, p.stdout, p.stderr


# Each subcommand and options its help must list.
commands = {
    "serve": ["--config", "--port", "--threads", "--redis", "--data-dir"],
    "chat": ["--url", "--token", "question"],
    "token": ["--ttl", "--config", "user"],
    "sim": ["--variant", "--seed", "--duration", "--sweep", "--threads", "--out", "--day",
            "--json", "--jitter", "scenario"],
    "logs": ["file", "query"],
    "check-config": ["file"],
    "report": ["stale-prices"],
}

rc, out, err = run("--help")
check(rc == 0, "mangaassist --help exits 0", err)
for c in commands:
    check(c in out, f"mangaassist --help lists {c}", out)
rc, out, err = run()
check(rc == 2 and "subcommand" in err.lower(), "mangaassist alone exits 2 and asks for one", err)
rc, out, err = run("frobnicate")
check(rc == 2 and "frobnicate" in err, "an unknown command is named", err)

for c, opts in commands.items():
    rc, out, err = run(c, "--help")
    check(rc == 0, f"{c} --help exits 0", err)
    check(f"mangaassist {c}" in out, f"{c} --help shows its usage", out)
    for o in opts:
        check(o in out, f"{c} --help lists {o}", out)
    rc, out, err = run(c, "--bogus")
    check(rc == 2, f"{c} --bogus exits 2", f"rc {rc}: {err}")
    check("--bogus" in err and err.startswith(f"mangaassist {c}: ") and f"mangaassist {c} --help"
          in err, f"{c} --bogus names the option in the one error shape", err)
    check(out == "", f"{c} --bogus prints nothing on stdout", out)

scenario = os.path.join(source_dir, "scenarios", "s1-backoff-storm.toml")
bad_values = [
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--port", "0x50"], "--port"),
    (["sim", "--jitter", "--json"], "--json"),
    (["serve", "--threads", "many"], "--threads"),
    (["serve", "--config", "/no/such.toml"], "--config"),
    (["token", "alice", "--ttl", "5y"], "--ttl"),
    (["token"], "user"),
    (["chat", "hi", "--url", "ftp://x"], "--url"),
    (["sim", scenario, "--variant", "worst"], "--variant"),
    (["sim", scenario, "--seed", "-4"], "--seed"),
    (["sim", scenario, "--threads", "2"], "--sweep"),
    (["sim", scenario, "--sweep", "tasks=1,2", "--day"], "--day"),
    (["sim"], "scenario"),
    (["sim", scenario, "--jitter"], "--jitter"),
    (["logs", "-"], "query"),
]
for args, names in bad_values:
    rc, out, err = run(*args)
    check(rc == 2 and names in err and err.startswith("mangaassist "),
          f"{' '.join(args)} is refused naming {names}", f"rc {rc}: {err}")

# --sweep is repeatable and takes one value each time: the scenario after it stays the
# scenario (no run: the bad key is refused by the scenario, after parsing).
rc, out, err = run("sim", "--sweep", "tasks=1,2", "--sweep", "nosuchkey=1", scenario)
check(rc == 2 and "nosuchkey" in err, "--sweep KEY=V --sweep KEY=V SCENARIO parses", err)

# check-config ---------------------------------------------------------------------------
with tempfile.TemporaryDirectory() as tmp:
    def write(name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    writable = (f'[catalog]\ndb_path = "{tmp}/ma.db"\n'
                f'[observe]\nlog_file = "{tmp}/requests.log"\ntrace_file = "{tmp}/t.jsonl"\n')

    rc, out, err = run("check-config", os.path.join(source_dir, "config", "default.toml"),
                       cwd=tmp)
    check(rc == 0 and err.strip().endswith(": ok"), "the shipped default.toml checks ok", err)
    check("[server]" in out and "port = 8080" in out, "check-config prints the effective config",
          out)

    good = write("good.toml", writable + '[server]\nport = 9000\nadmin_token = "Sup3r-Secret"\n')
    rc, out, err = run("check-config", good, cwd=tmp,
                       env={"MANGAASSIST_AUTH_SECRET": "0123456789abcdef0123"})
    check(rc == 0, "a good file checks ok", err)
    check("port = 9000" in out and "deadline_ms" in out,
          "the effective config has the file's values and the defaults", out)
    check("Sup3r-Secret" not in out + err and "0123456789abcdef0123" not in out + err,
          "secrets are masked", out)
    check("MANGAASSIST_AUTH_SECRET" in out, "the environment's overrides are shown", out)

    broken = write("broken.toml", writable + "[server]\nprot = 80\nport = \"eighty\"\n"
                   "[retry]\njiter = \"full\"\n")
    rc, out, err = run("check-config", broken, cwd=tmp)
    check(rc == 1, "a broken file exits 1", err)
    for says in ["unknown key server.prot", "server.port", "unknown key retry.jiter",
                 "3 error(s)"]:
        check(says in err, f"check-config names '{says}'", err)

    rc, out, err = run("check-config", write("syntax.toml", "[server\n"), cwd=tmp)
    check(rc == 1 and "syntax.toml:1" in err, "a syntax error is located", err)

    missing = write("files.toml", f'[catalog]\ndb_path = "{tmp}/ma.db"\n'
                    f'[observe]\nlog_file = "{tmp}/requests.log"\ntrace_file = "{tmp}/t.jsonl"\n'
                    f'sampling_rules = "{tmp}/none.json"\n')
    rc, out, err = run("check-config", missing, cwd=tmp)
    check(rc == 1 and f"observe.sampling_rules: cannot read {tmp}/none.json" in err,
          "an unreadable file it names is an error", err)

    # A Redis: none on a closed port, then a real one.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = write("dead.toml", writable + f'[fleet]\nredis = "redis://:pa55word@127.0.0.1:{port}"\n')
    rc, out, err = run("check-config", dead, cwd=tmp)
    check(rc == 1 and f"fleet.redis: redis://:********@127.0.0.1:{port} does not answer" in err,
          "a Redis that does not answer is an error", err)
    check("pa55word" not in out + err, "the Redis password is masked", out + err)

    redis = shutil.which("redis-server")
    check(redis is not None, "redis-server is installed (scripts/install-deps.sh)")
    if redis:
        server = subprocess.Popen([redis, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                   "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                                  cwd=tmp)
        try:
            deadline = time.monotonic() + 20
            up = False
            while time.monotonic() < deadline and not up:  # the event: the port answers
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    up = True
                except OSError:
                    time.sleep(0.02)
            live = write("live.toml", writable + f'[fleet]\nredis = "redis://127.0.0.1:{port}"\n')
            rc, out, err = run("check-config", live, cwd=tmp)
            check(up and rc == 0, "a Redis that answers PING passes", err)
        finally:
            server.terminate()
            server.wait(timeout=10)

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("cli: every check passed")
