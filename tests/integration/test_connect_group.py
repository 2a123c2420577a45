#!/usr/bin/env python3
"""test_connect_group.py: `quotapool-admin connect` run by root on a
configuration that root owns and a service group reads (0640 root:GROUP, as
the Debian package installs /etc/quotapool/config.toml) keeps it readable by
that group: the rewritten configuration and the new .env are 0640 with the
same group, never readable by others. A configuration of one's own (0600)
stays 0600, and so does its .env."""

import grp
import os
import stat
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
from qp import is_eq  # noqa: E402

if not os.access(qp.ADMIN, os.X_OK):
    qp.skip_all("quotapool-admin is not built")
groups = [g for g in os.getgroups() if g != os.getegid()]
if os.geteuid() == 0:
    try:
        groups = [grp.getgrnam("daemon").gr_gid]
    except KeyError:
        groups = []
if not groups:
    qp.skip_all("needs root, or a supplementary group to give the files")
gid = groups[0]


def mode_group(path):
    st = os.stat(path)
    return (oct(stat.S_IMODE(st.st_mode)), st.st_gid)


def connect(conf):
    return qp.run([qp.ADMIN, "--config", conf, "connect", "openai",
                   "--base-url", "http://127.0.0.1:9/v1", "--key-stdin",
                   "--no-check"], input_text="test-provider-key-0123456789\n")


for shared in (True, False):
    d = qp.tempdir("qp-cg-")
    conf = os.path.join(d, "config.toml")
    with open(conf, "w") as f:
        f.write("[server]\nport = 11399\n\n[database]\npath = \"q.db\"\n")
    if shared:
        os.chown(d, -1, gid)
        os.chmod(d, 0o750)
        os.chown(conf, -1, gid)
        os.chmod(conf, 0o640)
        want = ("0o640", gid)
        what = "0640 with the service's group"
    else:
        os.chmod(d, 0o700)
        os.chmod(conf, 0o600)
        want = ("0o600", os.getegid())
        what = "0600, the caller's own"
    r = connect(conf)
    is_eq(r.rc, 0, "connect (%s configuration)" % ("shared" if shared else
                                                    "private"))
    is_eq(mode_group(conf), want, "the rewritten configuration stays %s"
          % what)
    env = os.path.join(d, ".env")
    is_eq(mode_group(env) if os.path.exists(env) else None, want,
          "the new .env is %s" % what)
qp.done()
