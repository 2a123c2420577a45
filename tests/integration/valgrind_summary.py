#!/usr/bin/env python3
"""valgrind_summary.py: the verdict of `make check-valgrind`.

Usage: valgrind_summary.py LOGDIR TEST...
LOGDIR holds one memcheck log per quotapool.fcgi process, named
TEST.PID.log (valgrind --log-file=LOGDIR/%q{QP_TEST_SCRIPT}.%p.log, the
wrapper qp.py writes exports QP_TEST_SCRIPT). Prints one line per log:
errors (from memcheck's ERROR SUMMARY, or, for a process killed by SIGKILL
before it could write one, the error reports in the log; death by a signal
other than SIGTERM counts as one), bytes definitely lost, and how the
process ended; then the error reports themselves.
Exit status 0 when every TEST has at least one log and no log has an error,
1 otherwise.
"""

import os
import re
import sys

SUMMARY = re.compile(r"^==\d+== ERROR SUMMARY: (\d+) errors? from (\d+) "
                     r"contexts?", re.M)
DEFINITE = re.compile(r"^==\d+==\s+definitely lost: ([\d,]+) bytes", re.M)
# The first line of a memcheck error report.
REPORT = re.compile(
    r"^==\d+== (Invalid (read|write|free)|Conditional jump|Use of "
    r"uninitialised|Syscall param|Mismatched free|Source and destination "
    r"overlap|Argument '.*' of function|[\d,]+ (\([\d,]+ direct, [\d,]+ "
    r"indirect\) )?bytes in [\d,]+ blocks are definitely lost|Invalid "
    r"(alignment|size)|Process terminating)", re.M)


def blocks(text):
    """The error reports of a log: each first line and what follows up to
    the next blank "==PID==" line."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if REPORT.match(lines[i]) and "Process terminating" not in lines[i]:
            j = i + 1
            while j < len(lines) and not re.match(r"^==\d+== ?$", lines[j]):
                j += 1
            out.append("\n".join(lines[i:j]))
            i = j
        else:
            i += 1
    return out


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: valgrind_summary.py LOGDIR TEST...\n")
        return 2
    logdir, tests = argv[0], argv[1:]
    names = sorted(n for n in os.listdir(logdir) if n.endswith(".log"))
    bad = 0
    seen = {t: 0 for t in tests}
    reports = []
    print("%-24s %7s %8s %10s %s" % ("test", "pid", "errors", "def.lost",
                                      "end"))
    for n in names:
        m = re.match(r"^(.*)\.(\d+)\.log$", n)
        test, pid = (m.group(1), m.group(2)) if m else (n, "?")
        with open(os.path.join(logdir, n), errors="replace") as f:
            text = f.read()
        s = SUMMARY.search(text)
        blk = blocks(text)
        errors = int(s.group(1)) if s else len(blk)
        d = DEFINITE.search(text)
        lost = d.group(1) if d else "0"
        sig = re.search(r"Process terminating with default action of "
                        r"signal (\d+)", text)
        if sig and sig.group(1) not in ("15",):
            end = "died of signal %s" % sig.group(1)
            errors += 1
        elif s:
            end = "exit" if not sig else "exit on SIGTERM"
        else:
            end = "no summary (killed by SIGKILL)"
        for t in tests:
            if test == os.path.basename(t):
                seen[t] += 1
        print("%-24s %7s %8d %10s %s" % (test, pid, errors, lost, end))
        if errors:
            bad += 1
            reports.append("---- %s (%d errors)\n%s" % (
                n, errors, "\n\n".join(blk[:20])))
    missing = [t for t, k in seen.items() if k == 0]
    for t in missing:
        print("%-24s no quotapool.fcgi log: was it run under valgrind?" %
              os.path.basename(t))
    for r in reports:
        print(r)
    print("%d logs, %d with errors%s" % (
        len(names), bad, ", tests without a log: " + " ".join(missing)
        if missing else ""))
    return 1 if bad or missing or not names else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
