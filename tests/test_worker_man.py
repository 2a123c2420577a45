#!/usr/bin/env python3
"""test_worker_man.py: quotapool-worker(1) documents every option of
`quotapool-worker --help`, and `mandoc -Tlint` finds nothing at warning
level or above, and at style level nothing but cross-references to the
other quotapool pages (they resolve once installed)."""

import os
import re
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "integration"))
import qp  # noqa: E402
from qp import is_eq, ok  # noqa: E402

PAGE = os.path.join(qp.SRCDIR, "man", "quotapool-worker.1")
WORKER = os.path.join(qp.BUILDDIR, "worker", "quotapool-worker")

with open(PAGE, encoding="utf-8") as f:
    page = f.read()
r = qp.run([WORKER, "--help"])
is_eq(r.rc, 0, "quotapool-worker --help exits 0")
# "--worker" in the help text is quotapool-admin's option, not this one's.
opts = sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)", r.out)) -
              {"worker"})
ok(len(opts) >= 10, "--help lists the options (%d)" % len(opts), r.out)
missing = [o for o in opts if not re.search(r"^\.It Fl -%s\b" % re.escape(o),
                                            page, re.M)]
ok(not missing, "quotapool-worker(1) has an entry for every option (%s)"
   % ", ".join(opts), repr(missing))
documented = re.findall(r"^\.It Fl -([a-z-]+)", page, re.M)
extra = [o for o in documented if o not in opts]
ok(not extra, "and none that --help does not know", repr(extra))

mandoc = shutil.which("mandoc")
if mandoc is None:
    qp.skip("mandoc is not installed (Debian package mandoc)", 2)
else:
    r = qp.run([mandoc, "-Tlint", "-Wwarning", PAGE])
    is_eq(r.out + r.err, "", "mandoc -Tlint -Wwarning: nothing to report")
    r = qp.run([mandoc, "-Tlint", PAGE])
    other = [ln for ln in (r.out + r.err).splitlines() if ln and not re.search(
        r"STYLE: referenced manual not found: Xr quotapool(\.conf|\.fcgi|"
        r"-admin) [58]", ln)]
    ok(not other, "mandoc -Tlint: nothing but cross-references to the other "
       "pages", "\n".join(other))
qp.done()
