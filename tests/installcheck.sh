#!/bin/sh
# tests/installcheck.sh: checks an installed quotapool (make installcheck,
# run by make distcheck): the programs, data, configuration and man pages
# are where configure said, and the installed programs run from the
# installed data directory, with no source or build tree to fall back on.
# Arguments: DESTDIR bindir pkglibexecdir pkgdatadir pkgsysconfdir man5dir
# man8dir abs_top_srcdir abs_top_builddir pkgrundir.
set -u
destdir=$1 bindir=$2 libexecdir=$3 datadir=$4 sysconfdir=$5 man5=$6 man8=$7
srcdir=$8 builddir=$9 rundir=${10}
fail=0 n=0
t() { # t NAME COMMAND...: one TAP line
	name=$1; shift
	n=$((n + 1))
	if "$@" >/dev/null 2>&1; then echo "ok $n - $name"
	else echo "not ok $n - $name"; fail=1; fi
}
admin=$destdir$bindir/quotapool-admin
fcgi=$destdir$libexecdir/quotapool.fcgi
for f in "$admin" "$fcgi"; do t "installed: $f" test -x "$f"; done
for f in config.example.toml schema/0001_initial.sql views/layout_head.html \
    views/dashboard.css lighttpd/standalone.conf \
    lighttpd/conf-available/50-quotapool.conf providers/templates.toml; do
	t "installed: $datadir/$f" test -f "$destdir$datadir/$f"
done
t "installed: $sysconfdir/config.toml, mode 0640" \
    sh -c "test \"\$(stat -c %a '$destdir$sysconfdir/config.toml')\" = 640"
t "the web server templates name the socket under the configured runstatedir" \
    sh -c "grep -q '$rundir/quotapool.sock' '$destdir$datadir/lighttpd/conf-available/50-quotapool.conf' && grep -q '$rundir/quotapool.sock' '$destdir$datadir/apache/quotapool.conf'"
t "lighttpd's snippet names the error pages under the installed datadir" \
    grep -q "\"$datadir/lighttpd/errors/\"" "$destdir$datadir/lighttpd/conf-available/50-quotapool.conf"
for f in "$man5/quotapool.conf.5" "$man5/quotapool.toml.5" \
    "$man8/quotapool-admin.8" "$man8/quotapool.fcgi.8"; do
	t "installed: $f" test -f "$destdir$f"
done
if [ -z "$destdir" ]; then
	# Without DESTDIR the programs run where they were installed: they
	# must find the data there, so hide the source and build trees.
	work=$(mktemp -d)
	t "quotapool-admin version" env -u QUOTAPOOL_DATADIR "$admin" version
	t "quotapool.fcgi --version" "$fcgi" --version
	t "quotapool-admin init (example config and schema from $datadir)" \
	    env -u QUOTAPOOL_DATADIR HOME="$work" "$admin" init "$work/inst" --no-probe
	t "the instance's database is migrated" env -u QUOTAPOOL_DATADIR \
	    "$admin" --config "$work/inst/config.toml" migrate
	t "the installed system configuration passes check-config" \
	    env -u QUOTAPOOL_DATADIR "$admin" --config "$sysconfdir/config.toml" check-config
	t "nothing installed names the source or build tree" \
	    sh -c "! grep -rlF -e '$srcdir/' -e '$builddir/' '$datadir' '$sysconfdir' 2>/dev/null | grep -q ."
	rm -rf "$work"
fi
echo "1..$n"
exit $fail
