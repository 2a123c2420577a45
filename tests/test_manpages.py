#!/usr/bin/env python3
"""test_manpages.py: the man pages document everything, and lint clean.

- man/quotapool.conf.5 is what man/confman.py makes from docs/configuration.md
  (whose key part tests/unit/test_config checks against the key tables), and
  lists every key of every section under that section;
- man/quotapool-admin.8 has every command `quotapool-admin help` prints and
  every option of its usage lines;
- man/quotapool.fcgi.8 has every option of `quotapool.fcgi --help`;
- `mandoc -Tlint` finds nothing at warning level or above in any of them,
  and at style level nothing but cross-references among these pages (they
  resolve once installed).
"""

import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "integration"))
import qp  # noqa: E402
from qp import is_eq, ok  # noqa: E402

SRC = qp.SRCDIR
MAN = os.path.join(SRC, "man")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


conf = read(os.path.join(MAN, "quotapool.conf.5"))
gen = subprocess.run([qp.PYTHON, os.path.join(MAN, "confman.py")],
                     stdout=subprocess.PIPE, check=False).stdout.decode()
ok(gen == conf, "man/quotapool.conf.5 is up to date with "
   "docs/configuration.md", "regenerate it: python3 man/confman.py > "
   "man/quotapool.conf.5")

# Keys per section, from the generated reference.
doc = read(os.path.join(SRC, "docs", "configuration.md"))
doc = doc[doc.index("<!-- Everything below is generated"):]
want = {}
section = None
for line in doc.splitlines():
    m = re.match(r"^### `(.*)`$", line)
    if m:
        section = m.group(1)
        want[section] = []
        continue
    m = re.match(r"^\| `([^`]+)` \|", line)
    if m and section:
        want[section].append(m.group(1))
have = {}
section = None
for line in conf.splitlines():
    m = re.match(r"^\.Ss \\&(.*)\\&$", line)
    if m:
        section = m.group(1).replace("\\(dq", '"')
        have[section] = set()
        continue
    m = re.match(r"^\.It Ic (\S+)$", line)
    if m and section:
        have[section].add(m.group(1))
nkeys = sum(len(v) for v in want.values())
ok(nkeys > 90, "docs/configuration.md lists the keys (%d)" % nkeys)
missing = ["%s %s" % (s, k) for s, keys in want.items() for k in keys
           if k not in have.get(s, set())]
ok(not missing, "quotapool.conf(5) documents every key of every section "
   "(%d keys in %d sections)" % (nkeys, len(want)), repr(missing))

# Commands and options of quotapool-admin.
admin8 = read(os.path.join(MAN, "quotapool-admin.8"))
r = qp.run([qp.ADMIN, "help"])
cmds = []
for line in r.out.splitlines():
    m = re.match(r"^  ([a-z][a-z-]*)\s+(.*)$", line)
    if m:
        cmds.append((m.group(1), m.group(2)))
ok(len(cmds) >= 10, "quotapool-admin help lists the commands (%d)" %
   len(cmds), r.out)
documented = set(re.findall(r"^\.It (?:Cm|Xo\n\.Cm) ([a-z-]+)", admin8,
                            re.M))
documented |= set(re.findall(r"^\.It Xo\n\.Cm ([a-z-]+)", admin8, re.M))
missing = [c for c, _ in cmds if c not in documented]
ok(not missing, "quotapool-admin(8) has an entry for every command",
   repr(missing))
opts = set()
for c, _ in cmds:
    h = qp.run([qp.ADMIN, c, "--help"]) if c not in ("help", "version") \
        else None
    text = (h.out + h.err) if h is not None else ""
    for line in text.splitlines():
        if "usage:" in line or line.startswith(" " * 7):
            opts |= set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)", line))
for _, u in cmds:
    opts |= set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)", u))
opts.discard("help")
missing = sorted(o for o in opts if not re.search(r"Fl -%s\b" % re.escape(o),
                                                  admin8))
ok(opts and not missing, "quotapool-admin(8) documents every option of the "
   "usage lines (%d)" % len(opts), repr(missing))

fcgi8 = read(os.path.join(MAN, "quotapool.fcgi.8"))
r = qp.run([qp.FCGI, "--help"])
fopts = set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)", r.out)) | \
    {"version", "help"}
missing = sorted(o for o in fopts if "Fl -" + o not in fcgi8)
ok(not missing, "quotapool.fcgi(8) documents every option (%s)" %
   ", ".join(sorted(fopts)), repr(missing))

mandoc = shutil.which("mandoc")
pages = [os.path.join(MAN, p) for p in ("quotapool.conf.5",
                                        "quotapool-admin.8",
                                        "quotapool.fcgi.8")]
if mandoc is None:
    qp.skip("mandoc is not installed (Debian package mandoc)", 2)
else:
    r = qp.run([mandoc, "-Tlint", "-Wwarning"] + pages)
    is_eq(r.out + r.err, "", "mandoc -Tlint -Wwarning: nothing to report")
    r = qp.run([mandoc, "-Tlint"] + pages)
    other = [ln for ln in (r.out + r.err).splitlines() if ln and not re.search(
        r"STYLE: referenced manual not found: Xr quotapool(\.conf|\.fcgi|"
        r"-admin) [58]|Xr quotapool-worker 1", ln)]
    ok(not other, "mandoc -Tlint: nothing but cross-references among these "
       "pages", "\n".join(other))
qp.done()
