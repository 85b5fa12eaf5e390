#!/usr/bin/env python3
"""Helper for scripts/mutants.sh: the scratch copy and the *.mutant files (docs/testing.md).

  mutant.py sync SRC DST [REV]      copy SRC's working tree (git ls-files -co --exclude-standard),
                                    or commit REV, into DST; a file is rewritten only when its
                                    content differs, so its mtime is fresh exactly when ninja
                                    must rebuild it
  mutant.py get FILE KEY            print a header field (claim, build, tests, timeout)
  mutant.py check FILE TREE         exit 3 unless every hunk's `find` occurs exactly once
  mutant.py apply FILE TREE BACKUP  save the originals under BACKUP, then apply the hunks
  mutant.py restore TREE BACKUP     write the originals back (fresh mtime) and empty BACKUP
  mutant.py programs BUILD REGEX    the programs under BUILD that the tests matching REGEX run
  mutant.py unmatched REGEX NAMES   the alternatives of REGEX (^(a|b)rest) that match no test
                                    named in file NAMES: a renamed suite or a typo
  mutant.py baseline BUILD NAMES JOBS TIMEOUT LOGPREFIX
                                    run the tests named in file NAMES (ctest, in batches: CMake's
                                    regex allows few groups); print those that failed or did not run

Format of a .mutant file: `key: value` header lines (claim, build, tests, optional timeout;
`#` starts a comment), then one or more hunks:

  @@@ file src/resilience/backoff.cpp
  @@@ find
  <exact lines, verbatim>
  @@@ replace
  <replacement lines, verbatim; may be empty>
  @@@ end

The find lines must occur exactly once in the file, as consecutive whole lines (compared
without leading and trailing white space, so re-indenting does not break a mutant; after the
mutant's earlier hunks are applied); anything else is a stale mutant, never a kill.
"""
import json
import os
import shutil
import subprocess
import sys

HEADER_KEYS = {"claim", "build", "tests", "timeout"}


class Stale(Exception):
    pass


def parse(path):
    header, hunks = {}, []
    cur, section = None, None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        if line.startswith("@@@"):
            words = line[3:].strip().split(None, 1)
            tag = words[0] if words else ""
            if tag == "file":
                if cur is not None:
                    sys.exit(f"{path}:{n}: '@@@ file' before '@@@ end'")
                cur = {"file": words[1].strip(), "find": [], "replace": []}
                section = None
            elif tag in ("find", "replace"):
                if cur is None:
                    sys.exit(f"{path}:{n}: '@@@ {tag}' outside a hunk")
                section = tag
            elif tag == "end":
                if cur is None:
                    sys.exit(f"{path}:{n}: '@@@ end' outside a hunk")
                for k in ("find", "replace"):  # blank lines around a block are layout
                    while cur[k] and not cur[k][-1].strip():
                        cur[k].pop()
                    while cur[k] and not cur[k][0].strip():
                        cur[k].pop(0)
                if not cur["find"]:
                    sys.exit(f"{path}:{n}: a hunk needs a non-empty find")
                hunks.append(cur)
                cur, section = None, None
            else:
                sys.exit(f"{path}:{n}: unknown directive {line!r}")
        elif cur is not None:
            if section is None:
                sys.exit(f"{path}:{n}: text before '@@@ find'")
            cur[section].append(line)
        elif line.strip() == "" or line.lstrip().startswith("#"):
            continue
        else:
            key, sep, value = line.partition(":")
            key = key.strip()
            if not sep or key not in HEADER_KEYS:
                sys.exit(f"{path}:{n}: expected one of {sorted(HEADER_KEYS)}: value")
            header[key] = value.strip()
    if cur is not None:
        sys.exit(f"{path}: hunk without '@@@ end'")
    for key in ("claim", "build", "tests"):
        if not header.get(key):
            sys.exit(f"{path}: missing '{key}:'")
    if not hunks:
        sys.exit(f"{path}: no hunks")
    return header, hunks


def find_lines(lines, find):
    """Start indexes where `find` matches whole lines, each compared without its indentation
    and trailing white space (a re-indented line is the same line; any other change is not)."""
    want = [x.strip() for x in find]
    got = [x.strip() for x in lines]
    return [i for i in range(len(got) - len(want) + 1) if got[i:i + len(want)] == want]


def mutate(hunks, tree):
    """Returns {relative path: (original, mutated)}; raises Stale."""
    texts = {}
    for h in hunks:
        rel = h["file"]
        if rel not in texts:
            p = os.path.join(tree, rel)
            if not os.path.isfile(p):
                raise Stale(f"{rel}: no such file")
            with open(p, encoding="utf-8") as f:
                orig = f.read()
            texts[rel] = [orig, orig]
        lines = texts[rel][1].split("\n")
        at = find_lines(lines, h["find"])
        if len(at) != 1:
            first = h["find"][0].strip()
            raise Stale(f"{rel}: the snippet starting {first!r} occurs {len(at)} times, not once")
        i = at[0]
        lines[i:i + len(h["find"])] = h["replace"]
        texts[rel][1] = "\n".join(lines)
    return {rel: tuple(v) for rel, v in texts.items()}


def write(path, text):
    # A plain write: the mtime is now, so ninja rebuilds what depends on the file.
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def tree_files(src, rev):
    """(relative path, bytes, executable) of the working tree, or of commit `rev`."""
    if not rev:
        files = subprocess.run(
            ["git", "-C", src, "ls-files", "-z", "-co", "--exclude-standard"],
            check=True, capture_output=True).stdout.decode().split("\0")
        for rel in files:
            s = os.path.join(src, rel)
            if rel and os.path.isfile(s) and not os.path.islink(s):  # not deleted, not a link
                with open(s, "rb") as f:
                    yield rel, f.read(), os.access(s, os.X_OK)
        return
    listing = subprocess.run(["git", "-C", src, "ls-tree", "-r", "-z", rev],
                             check=True, capture_output=True).stdout.decode().split("\0")
    blobs = []
    for entry in listing:
        if not entry:
            continue
        meta, rel = entry.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob" and mode in ("100644", "100755"):
            blobs.append((rel, sha, mode == "100755"))
    cat = subprocess.Popen(["git", "-C", src, "cat-file", "--batch"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    for rel, sha, exe in blobs:
        cat.stdin.write(sha.encode() + b"\n")
        cat.stdin.flush()
        size = int(cat.stdout.readline().split()[2])
        data = cat.stdout.read(size)
        cat.stdout.read(1)
        yield rel, data, exe
    cat.stdin.close()
    cat.wait()


def cmd_sync(src, dst, rev=None):
    keep, changed = set(), 0
    for rel, data, exe in tree_files(src, rev):
        keep.add(rel)
        d = os.path.join(dst, rel)
        try:
            with open(d, "rb") as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            os.makedirs(os.path.dirname(d), exist_ok=True)
        with open(d, "wb") as f:
            f.write(data)
        os.chmod(d, 0o755 if exe else 0o644)
        changed += 1
    removed = 0
    for root, dirs, names in os.walk(dst):
        dirs[:] = [x for x in dirs if x != "node_modules"]
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), dst)
            if rel not in keep:
                os.remove(os.path.join(root, name))
                removed += 1
    # The browser test's npm packages are not in git: link them rather than copy them.
    nm = "tests/browser/node_modules"
    if os.path.isdir(os.path.join(src, nm)) and not os.path.lexists(os.path.join(dst, nm)):
        os.symlink(os.path.join(os.path.abspath(src), nm), os.path.join(dst, nm))
    print(f"scratch copy of {rev or 'the working tree'}: {len(keep)} files, {changed} updated, "
          f"{removed} removed")


def alternatives(regex):
    """^(a|b)rest -> [^a rest, ^b rest]; any other regex -> [regex]."""
    if not regex.startswith("^("):
        return [regex]
    depth, start, alts = 0, 2, []
    for i in range(1, len(regex)):
        c = regex[i]
        if regex[i - 1] == "\\":
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                alts.append(regex[start:i])
                return ["^" + a + regex[i + 1:] for a in alts]
        elif c == "|" and depth == 1:
            alts.append(regex[start:i])
            start = i + 1
    return [regex]


def cmake_regex_escape(s):
    return "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in s)


def junit(path):
    """(test name, "pass" | "fail" | "notrun") for each test case of a ctest --output-junit file."""
    import xml.etree.ElementTree as ET
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return []
    out = []
    for tc in root.iter("testcase"):
        status = tc.get("status")
        if status == "fail" or tc.find("failure") is not None or tc.find("error") is not None:
            out.append((tc.get("name"), "fail"))
        elif status in (None, "run") and tc.find("skipped") is None:
            out.append((tc.get("name"), "pass"))
        else:
            out.append((tc.get("name"), "notrun"))
    return out


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "sync" and len(args) in (2, 3):
        cmd_sync(*args)
    elif cmd == "get" and len(args) == 2:
        header, _ = parse(args[0])
        print(header.get(args[1], ""))
    elif cmd == "check" and len(args) == 2:
        _, hunks = parse(args[0])
        try:
            mutate(hunks, args[1])
        except Stale as e:
            print(e)
            return 3
    elif cmd == "apply" and len(args) == 3:
        _, hunks = parse(args[0])
        tree, backup = args[1], args[2]
        try:
            texts = mutate(hunks, tree)
        except Stale as e:
            print(e)
            return 3
        for rel, (orig, mutated) in texts.items():
            b = os.path.join(backup, rel)
            os.makedirs(os.path.dirname(b), exist_ok=True)
            write(b, orig)
        for rel, (orig, mutated) in texts.items():
            write(os.path.join(tree, rel), mutated)
    elif cmd == "programs" and len(args) == 2:
        build, regex = args
        out = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1", "-R", regex],
                             check=True, capture_output=True).stdout
        progs = set()
        for t in json.loads(out).get("tests", []):
            command = t.get("command") or []
            if command and os.path.realpath(command[0]).startswith(os.path.realpath(build) + "/"):
                progs.add(os.path.basename(command[0]))
        for p in sorted(progs):
            print(p)
    elif cmd == "baseline" and len(args) == 5:
        build, names_file, jobs, timeout, prefix = args
        with open(names_file, encoding="utf-8") as f:
            names = sorted({x.strip() for x in f if x.strip()})
        ran, failed = set(), set()
        for k in range(0, len(names), 25):
            batch = names[k:k + 25]
            regex = "^(" + "|".join(cmake_regex_escape(n) for n in batch) + ")$"
            xml = f"{prefix}{k // 25}.xml"
            with open(f"{prefix}{k // 25}.log", "w") as log:
                subprocess.run(["ctest", "--test-dir", build, "-R", regex, "-j", jobs,
                                "--timeout", timeout, "--output-junit", xml],
                               stdout=log, stderr=subprocess.STDOUT)
            for name, result in junit(xml):
                ran.add(name)
                if result != "pass":
                    failed.add(name)
        for n in names:
            if n in failed or n not in ran:
                print(n)
    elif cmd == "unmatched" and len(args) == 2:
        import re
        with open(args[1], encoding="utf-8") as f:
            names = [x.rstrip("\n") for x in f if x.strip()]
        for alt in alternatives(args[0]):
            if not any(re.search(alt, n) for n in names):
                print(alt)
    elif cmd == "junit" and len(args) == 1:
        for name, result in junit(args[0]):
            print(result + "\t" + name)
    elif cmd == "restore" and len(args) == 2:
        tree, backup = args
        if os.path.isdir(backup):
            for root, _, names in os.walk(backup):
                for name in names:
                    b = os.path.join(root, name)
                    rel = os.path.relpath(b, backup)
                    with open(b, encoding="utf-8") as f:
                        write(os.path.join(tree, rel), f.read())
            shutil.rmtree(backup)
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
