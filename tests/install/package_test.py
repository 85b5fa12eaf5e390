#!/usr/bin/env python3
"""`make package`: the Debian package holds the service and everything it needs, declares its
libraries, marks its /etc files as conffiles, ships a hardened systemd unit whose paths are
in the package, and the packaged binary, extracted anywhere, serves with the packaged config
and drains on SIGTERM. Builds the package from BUILD_DIR with cpack into a temporary
directory; installs nothing on this machine (no dpkg -i; the maintainer scripts run against
stub commands). Usage: package_test.py BUILD_DIR."""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request

build_dir = os.path.abspath(sys.argv[1])
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAILED:", what, file=sys.stderr)
    return ok


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def cache_value(name):
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split("=", 1)[1].strip()
    return None


def parse_unit(text):
    """{section: {key: [values...]}}; a key may repeat, an empty value is kept."""
    unit, section = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = unit.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def seconds(span):
    """A systemd time span ("10s", "1min 30s", "90") in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    return sum(float(n) * units[u or "s"] for n, u in parts) if parts else None


tmp = tempfile.mkdtemp(prefix="ma-package-")
try:
    # --- Build the package from the build tree --------------------------------------------
    out = os.path.join(tmp, "out")
    run(["cpack", "-G", "DEB", "-B", out, "--config", os.path.join(build_dir, "CPackConfig.cmake")],
        cwd=build_dir)
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    if len(debs) != 1:
        raise SystemExit(f"expected one .deb in {out}, found {debs}")
    deb = os.path.join(out, debs[0])
    print("package:", debs[0], os.path.getsize(deb), "bytes")
    ddebs = [f for f in os.listdir(out) if f.startswith("mangaassist-dbgsym_") and
             f.endswith(".ddeb")]
    check(len(ddebs) == 1, f"the debug symbols beside it: {os.listdir(out)}")

    # --- Its files (dpkg-deb -c) ----------------------------------------------------------
    entries = {}  # path -> (mode string, owner)
    for line in run(["dpkg-deb", "-c", deb]).splitlines():
        cols = line.split(None, 5)  # mode owner size date time path
        path = cols[5].split(" -> ")[0]
        entries[os.path.normpath(path.removeprefix("."))] = (cols[0], cols[1])

    unit_dir = cache_value("MA_SYSTEMD_UNIT_DIR") or "/lib/systemd/system"
    unit_path = unit_dir + "/mangaassist.service"
    expected = {
        "/usr/bin/mangaassist": "-rwxr-xr-x",
        unit_path: "-rw-r--r--",
        "/usr/share/mangaassist/data/manga_series.jsonl": "-rw-r--r--",
        "/usr/share/mangaassist/data/events.json": "-rw-r--r--",
        "/usr/share/mangaassist/web/index.html": "-rw-r--r--",
        "/usr/share/mangaassist/web/ops.html": "-rw-r--r--",
        # The dashboard's chart library (npm), its files only, with its licence.
        "/usr/share/mangaassist/web/vendor/uPlot.iife.min.js": "-rw-r--r--",
        "/usr/share/mangaassist/web/vendor/uPlot.min.css": "-rw-r--r--",
        "/usr/share/mangaassist/web/vendor/uPlot.LICENSE": "-rw-r--r--",
        "/usr/share/mangaassist/scenarios/s1-backoff-storm.toml": "-rw-r--r--",
        "/usr/share/mangaassist/config/default.toml": "-rw-r--r--",
        "/etc/mangaassist/mangaassist.toml": "-rw-r--r--",
        "/etc/default/mangaassist": "-rw-------",  # secrets go there
        "/etc/logrotate.d/mangaassist": "-rw-r--r--",
    }
    for path, mode in expected.items():
        got = entries.get(path)
        check(got is not None, f"the package holds {path}")
        if got:
            check(got[0] == mode, f"{path} is {mode}, not {got[0]}")
    check(not any("node_modules" in p or p.endswith("package.json") for p in entries),
          "the package holds no node_modules and no package.json")
    for path, (mode, owner) in entries.items():
        check(owner == "root/root", f"{path} belongs to root, not {owner}")
        check(mode[8] != "w" and "s" not in mode and "S" not in mode,
              f"{path} is neither world-writable nor setuid/setgid: {mode}")
        if mode.startswith("d"):
            check(mode == "drwxr-xr-x", f"directory {path} is 0755, not {mode}")
        check(path == "/" or path.split("/")[1] in ("usr", "etc", "lib"),
              f"{path}: the package writes only /usr, /etc and /lib")
        check("/usr/local" not in path and build_dir not in path, f"{path}: no build path")

    # --- Its control fields (dpkg-deb -f) and control files (dpkg-deb -e) -----------------
    fields = {}
    for line in run(["dpkg-deb", "-f", deb]).splitlines():
        if line[:1] not in (" ", "\t") and ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    print("Depends:", fields.get("Depends"))
    check(fields.get("Package") == "mangaassist", "Package: mangaassist")
    version = cache_value("CMAKE_PROJECT_VERSION")
    check(fields.get("Version", "").startswith(version), f"Version from project(): {version}")
    for key in ("Maintainer", "Description", "Section", "Architecture"):
        check(fields.get(key), f"control field {key}")
    depends = {re.split(r"[\s(]", d.strip())[0] for d in fields.get("Depends", "").split(",")}
    check("adduser" in depends, "Depends: adduser (the postinst's system user)")
    # Every shared library the binary needs comes from a declared package.
    root = os.path.join(tmp, "root")
    run(["dpkg-deb", "-x", deb, root])
    binary = os.path.join(root, "usr", "bin", "mangaassist")
    # Stripped; its debug info in the dbgsym package under its build id (gdb finds it there).
    elf = run(["readelf", "-S", "-n", binary])
    check(".debug_info" not in elf, "the packaged binary is stripped")
    build_id = re.search(r"Build ID: ([0-9a-f]+)", elf)
    if check(build_id is not None, "the binary has a build id") and ddebs:
        debug = f"/usr/lib/debug/.build-id/{build_id[1][:2]}/{build_id[1][2:]}.debug"
        check("." + debug in run(["dpkg-deb", "-c", os.path.join(out, ddebs[0])]),
              f"the dbgsym package holds {debug}")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-d", binary]))
    check(len(needed) >= 3, f"the binary's libraries read: {needed}")
    cache = run(["ldconfig", "-p"])
    for lib in needed:
        m = re.search(r"^\s*" + re.escape(lib) + r" \(libc6,x86-64[^)]*\) => (\S+)", cache, re.M)
        if not check(m is not None, f"{lib} found on this machine"):
            continue
        # The package that owns it; with merged /usr, dpkg knows one of /lib and /usr/lib.
        pkgs = set()
        for spelling in {m.group(1), os.path.realpath(m.group(1))}:
            for candidate in (spelling, re.sub(r"^/usr/lib/", "/lib/", spelling),
                              re.sub(r"^/lib/", "/usr/lib/", spelling)):
                owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                if owner.returncode == 0:
                    pkgs |= {p.split(":")[0] for p in owner.stdout.split(": ", 1)[0].split(", ")}
        check(pkgs & depends, f"{lib} (from {pkgs or 'no package'}) is in Depends")
    for lib in ("libsqlite3-0", "libssl3", "libc6", "libstdc++6"):
        check(lib in depends, f"Depends declares {lib}")

    control = os.path.join(tmp, "control")
    run(["dpkg-deb", "-e", deb, control])
    with open(os.path.join(control, "conffiles")) as f:
        conffiles = set(f.read().split())
    etc_files = {p for p, (mode, _) in entries.items() if p.startswith("/etc/") and mode[0] == "-"}
    check(etc_files and conffiles == etc_files,
          f"every /etc file is a conffile: {sorted(conffiles)} vs {sorted(etc_files)}")
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control, script)
        if not check(os.path.isfile(path), f"maintainer script {script}"):
            continue
        check(os.stat(path).st_mode & 0o777 == 0o755, f"{script} is 0755")
        with open(path) as f:
            text = f.read()
        check(text.startswith("#!/bin/sh\n") and "\nset -e\n" in text, f"{script}: /bin/sh, set -e")
        check(subprocess.run(["sh", "-n", path]).returncode == 0, f"{script}: sh -n")

    # The maintainer scripts against stub commands (PATH holds only the stubs: nothing real
    # runs, so nothing on this machine changes). What each one calls, in order.
    stubs = os.path.join(tmp, "stubs")
    os.makedirs(stubs)
    calls = os.path.join(tmp, "calls")
    for cmd in ("getent", "adduser", "deb-systemd-helper", "deb-systemd-invoke", "systemctl",
                "rm"):
        with open(os.path.join(stubs, cmd), "w") as f:
            f.write(f'#!/bin/sh\necho "{cmd} $*" >> "{calls}"\n')
            if cmd == "getent":
                f.write('[ -n "$STUB_USER_EXISTS" ]\n')  # exit 2 when the user is missing
        os.chmod(os.path.join(stubs, cmd), 0o755)

    def script(name, *args, user_exists=False):
        open(calls, "w").close()
        env = {"PATH": stubs, "STUB_USER_EXISTS": "1" if user_exists else ""}
        r = subprocess.run(["/bin/sh", os.path.join(control, name), *args], env=env,
                           capture_output=True, text=True)
        check(r.returncode == 0, f"{name} {' '.join(args)} exits 0: {r.stderr}")
        with open(calls) as f:
            return f.read()

    first = script("postinst", "configure", "")
    check(re.search(r"^adduser --system .*mangaassist$", first, re.M) is not None,
          "postinst configure creates the system user: " + first)
    check("deb-systemd-helper enable mangaassist.service" in first,
          "postinst enables the service on first installation: " + first)
    again = script("postinst", "configure", version, user_exists=True)
    check("adduser" not in again, "postinst again (an upgrade) keeps the existing user: " + again)
    purge = script("postrm", "purge")
    check("rm -rf /var/lib/mangaassist /var/log/mangaassist" in purge,
          "postrm purge removes the state and the logs: " + purge)
    removed = script("postrm", "remove")
    check("rm -rf" not in removed, "postrm remove keeps the state and the logs")
    if os.access("/usr/bin/deb-systemd-helper", os.X_OK):
        check("deb-systemd-helper mask mangaassist.service" in removed,
              "postrm remove masks the unit, as dh_installsystemd does: " + removed)
    script("prerm", "remove")

    # --- The unit -------------------------------------------------------------------------
    with open(os.path.join(root, unit_path.lstrip("/"))) as f:
        unit_text = f.read()
    unit = parse_unit(unit_text)
    svc = unit.get("Service", {})

    def one(key):
        values = svc.get(key, [])
        return values[-1] if values else None

    with open(os.path.join(root, "etc/mangaassist/mangaassist.toml"), "rb") as f:
        packaged = tomllib.load(f)
    grace_ms = packaged.get("server", {}).get("shutdown_grace_ms", 5000)

    dynamic = one("DynamicUser") in ("yes", "true")
    check(dynamic or (one("User") == "mangaassist" and one("Group") == "mangaassist"),
          "its own user: User=/Group=mangaassist or DynamicUser=yes")
    required = {
        "StateDirectory": "mangaassist",
        "LogsDirectory": "mangaassist",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "Restart": "on-failure",
        "RestartPreventExitStatus": "2",
        "KillSignal": "SIGTERM",
    }
    for key, value in required.items():
        check(one(key) == value, f"{key}={value} (unit: {one(key)!r})")
    families = " ".join(svc.get("RestrictAddressFamilies", [])).split()
    check({"AF_INET", "AF_INET6"} <= set(families) and
          not set(families) - {"AF_INET", "AF_INET6", "AF_UNIX"},
          f"RestrictAddressFamilies: Internet (and local) sockets only: {families}")
    stop = seconds(one("TimeoutStopSec") or "")
    check(stop is not None and grace_ms / 1000 < stop <= grace_ms / 1000 + 30,
          f"TimeoutStopSec ({one('TimeoutStopSec')}) a bit above shutdown_grace_ms ({grace_ms})")
    exec_start = (one("ExecStart") or "").split()
    check(exec_start[:4] == ["/usr/bin/mangaassist", "serve", "--config",
                             "/etc/mangaassist/mangaassist.toml"],
          f"ExecStart serves the packaged config: {exec_start}")
    for path in exec_start[:1] + exec_start[3:4]:
        check(path in entries, f"ExecStart's {path} is in the package")
    env_file = (one("EnvironmentFile") or "").lstrip("-")
    check(not env_file or env_file in entries, f"EnvironmentFile {env_file} is in the package")
    check("multi-user.target" in unit.get("Install", {}).get("WantedBy", []),
          "WantedBy=multi-user.target")

    # Every path the packaged config makes the server write is in the unit's writable
    # directories (ProtectSystem=strict leaves nothing else).
    writable = ["/var/lib/" + one("StateDirectory"), "/var/log/" + one("LogsDirectory")]
    written = {
        "server.auth_secret_file": packaged.get("server", {}).get("auth_secret_file"),
        "catalog.db_path": packaged.get("catalog", {}).get("db_path"),
        "observe.log_file": packaged.get("observe", {}).get("log_file"),
        "observe.trace_file": packaged.get("observe", {}).get("trace_file"),
    }
    for key, path in written.items():
        check(path and any(path.startswith(w + "/") for w in writable),
              f"{key} ({path}) is under {writable}")

    analyze = shutil.which("systemd-analyze")
    if analyze:
        # verify: with the unit's binary path as extracted here (verify checks it exists);
        # any warning (an unknown key, a bad value) fails.
        vdir = os.path.join(tmp, "verify")
        os.makedirs(vdir)
        with open(os.path.join(vdir, "mangaassist.service"), "w") as f:
            f.write(unit_text.replace("ExecStart=/usr/bin/mangaassist", "ExecStart=" + binary))
        v = subprocess.run([analyze, "verify", os.path.join(vdir, "mangaassist.service")],
                           capture_output=True, text=True)
        check(v.returncode == 0 and not v.stdout.strip() and not v.stderr.strip(),
              "systemd-analyze verify is clean: " + v.stdout + v.stderr)
        sec = subprocess.run([analyze, "security", "--offline=yes",
                              os.path.join(vdir, "mangaassist.service")],
                             capture_output=True, text=True)
        m = re.search(r"Overall exposure level for mangaassist.service: ([\d.]+)", sec.stdout)
        check(m is not None and float(m.group(1)) <= 2.0,
              "systemd-analyze security: exposure at most 2.0 (OK): " +
              (m.group(0) if m else sec.stdout + sec.stderr))
        print("systemd-analyze:", m.group(0) if m else "no exposure level")
    else:
        print("systemd-analyze not installed: the unit's directives were checked by parsing")

    # --- The extracted binary serves with the packaged config, then drains ----------------
    state = os.path.join(root, "var", "lib", "mangaassist")
    logs = os.path.join(root, "var", "log", "mangaassist")
    for d in (state, logs):  # what StateDirectory= and LogsDirectory= create
        os.makedirs(d, mode=0o750)
    with open(os.path.join(root, "etc/mangaassist/mangaassist.toml")) as f:
        config = f.read()
    config = config.replace('"/var/lib/mangaassist/', f'"{state}/')
    config = config.replace('"/var/log/mangaassist/', f'"{logs}/')
    # The server runs only if every path it is given is under the temporary root.
    outside = [q for q in re.findall(r'"(/[^"]*)"', config) if not q.startswith(tmp + "/")]
    if not check(not outside, f"the packaged config names no other absolute path: {outside}"):
        raise SystemExit(1)
    config = re.sub(r"(?m)^port = \d+", "port = 0", config)
    config = re.sub(r'(?m)^host = "[^"]*"', 'host = "127.0.0.1"', config)
    local_config = os.path.join(tmp, "mangaassist.toml")
    with open(local_config, "w") as f:
        f.write(config)

    cwd = os.path.join(tmp, "cwd")  # the server must write nothing here
    os.makedirs(cwd)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MANGAASSIST_") and k not in ("RETRY_MAX_ATTEMPTS", "FM_MODE",
                                                             "PRIMARY_MODEL")}
    p = subprocess.Popen([binary, "serve", "--config", local_config, "--threads", "1"], cwd=cwd,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = p.stdout.readline()  # "mangaassist: serving on http://localhost:PORT ..."
        if "serving on" not in line:
            p.kill()
            raise SystemExit("the packaged server did not start: " + line + p.stdout.read())
        port = int(line.split("localhost:")[1].split()[0])

        def get(path, body=None):
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()

        status, _ = get("/healthz")
        check(status == 200, "/healthz answers")
        status, reply = get("/v1/chat",
                            json.dumps({"message": "How much is One Piece volume 1?"}).encode())
        check(status == 200 and "¥" in json.loads(reply).get("reply", ""),
              "a price from the packaged catalog: " + reply)
        started = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout=grace_ms / 1000 + 2)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
        check(code == 0, f"SIGTERM: exits 0 (exit status {code})")
        check(took <= grace_ms / 1000, f"SIGTERM: exits within the grace period ({took:.2f} s)")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        rest = p.stdout.read()
        if failures:
            print(rest, file=sys.stderr)

    check(os.listdir(cwd) == [], f"nothing written to the working directory: {os.listdir(cwd)}")
    secret = os.path.join(state, "auth.secret")
    check(os.path.isfile(secret) and stat.S_IMODE(os.stat(secret).st_mode) == 0o600,
          "the auth secret is created 0600 in the state directory")
    check(os.path.isfile(os.path.join(state, "mangaassist.db")), "the catalog database is there")
    request_log = os.path.join(logs, "requests.log")
    check(os.path.isfile(request_log) and os.path.getsize(request_log) > 0,
          "the request log is written in the logs directory")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    sys.exit(1)
print("package: ok")
