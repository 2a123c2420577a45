/* main.c: quotapool.fcgi, the persistent FastCGI application. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "bounds.h"
#include "config.h"
#include "coredump.h"
#include "log.h"
#include "server.h"

/*
 * GnuTLS comes into the process only as a dependency of libcurl's own
 * dependencies (librtmp); quotapool never uses it, and Debian's libcurl4
 * does TLS with OpenSSL. GnuTLS initialises itself from a library
 * constructor (CPU detection, ASN.1 trees, random generator, priority
 * file) unless the program defines this hook returning non-zero. Code that
 * does use GnuTLS calls gnutls_global_init() itself (librtmp and the GnuTLS
 * flavour of libcurl both do), so skipping the implicit call changes
 * nothing but the memory: about 0.9 MB less RSS (docs/performance.md).
 * The linker exports the definition because libgnutls refers to it.
 */
int	_gnutls_global_init_skip(void);

int
_gnutls_global_init_skip(void)
{

	return 1;
}

static void
usage(FILE *fp)
{

	fprintf(fp, "usage: quotapool.fcgi [--config PATH] [--socket PATH|127.0.0.1:PORT]\n"
	    "Run by the web server (lighttpd bin-path passes the socket as fd 0),\n"
	    "by systemd socket activation (quotapool-fcgi.socket), or on its own\n"
	    "socket with --socket (spawn-fcgi).\n");
}

/* Returns 1 if fd 0 is a listening socket handed over by the web server. */
static int
stdin_is_socket(void)
{
	struct stat st;
	int listening = 0;
	socklen_t len = sizeof(listening);

	if (fstat(0, &st) != 0 || !S_ISSOCK(st.st_mode))
		return 0;
	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0)
		return 0;
	return listening != 0;
}

/*
 * Returns the listening socket systemd passed (socket activation: $LISTEN_PID
 * is this process and $LISTEN_FDS is 1; the socket is fd 3, and also fd 0
 * with StandardInput=socket), or -1 if it passed none.
 */
static int
systemd_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int listening = 0;
	socklen_t len = sizeof(listening);

	if (pid == NULL || n == NULL || atol(pid) != (long)getpid() || strcmp(n, "1") != 0)
		return -1;
	if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
		return -1;
	return 3;
}

/*
 * Accepts a Unix socket path or a loopback "127.0.0.1:PORT"; libfcgi would
 * bind every interface for ":PORT", which this refuses.
 */
static int
socket_arg_ok(const char *s)
{

	if (s[0] == '/')
		return 1;
	return strncmp(s, "127.", 4) == 0 && strchr(s, ':') != NULL;
}

/*
 * Caps glibc's malloc arenas at QP_MALLOC_ARENAS_PER_CPU per online CPU
 * (fcgi/bounds.h says why). Call before any thread starts.
 */
static void
limit_malloc_arenas(void)
{
#ifdef M_ARENA_MAX
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	mallopt(M_ARENA_MAX, (int)n * QP_MALLOC_ARENAS_PER_CPU);
#endif
}

/* Drops root privileges to [server] user, or warns once when running as root. */
static int
drop_privileges(const struct config *cfg)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (cfg->server.user == NULL) {
		log_msg(LOG_WARNING, "running as root: set [server] user to drop privileges");
		return 0;
	}
	if ((pw = getpwnam(cfg->server.user)) == NULL) {
		log_msg(LOG_ERROR, "[server] user %s: no such user", cfg->server.user);
		return -1;
	}
	if (setgid(pw->pw_gid) != 0 || setgroups(1, &pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		log_msg(LOG_ERROR, "cannot drop privileges to %s: %s",
		    cfg->server.user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_msg(LOG_ERROR, "privileges could be regained after dropping them");
		return -1;
	}
	log_msg(LOG_INFO, "running as user %s", cfg->server.user);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct config *cfg = NULL;
	struct config_diag diag = { NULL, 0, 0 };
	const char *config_arg = NULL, *socket_arg = NULL;
	char path[PATH_MAX], made[PATH_MAX];
	enum qp_err err;
	int i, fd = -1, rc = 1, made_socket = 0;

	umask(077);
	/* Before the configuration and its keys are read. */
	if (coredump_set(0) != QP_OK) {
		log_msg(LOG_ERROR, "cannot make the process non-dumpable: %s", strerror(errno));
		return 1;
	}
	limit_malloc_arenas();
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_arg = argv[++i];
		else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			socket_arg = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("quotapool.fcgi %s\n", QP_VERSION);
			return 0;
		} else {
			fprintf(stderr, "quotapool.fcgi: unknown argument %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}

	if (config_find_path(config_arg, path, sizeof(path)) != QP_OK) {
		log_msg(LOG_ERROR, "no configuration file found (tried --config, "
		    "$QUOTAPOOL_CONFIG, ./config.toml, ~/.config/quotapool, "
		    "/etc/quotapool)");
		return 1;
	}
	if ((cfg = config_load(path, &diag, &err)) == NULL) {
		config_diag_print(&diag, path, stderr);
		log_msg(LOG_ERROR, "%s: %s", path, qp_strerror(err));
		goto out;
	}
	config_diag_print(&diag, path, stderr);
	log_set_level((enum log_level)cfg->server.log_level);

	if (FCGX_Init() != 0) {
		log_msg(LOG_ERROR, "cannot initialise libfcgi");
		goto out;
	}
	/* After FCGX_Init, which installs its own SIGPIPE handler. */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Whoever started us may ignore SIGCHLD, which the children we wait
	 * for (command health checks, automatic backups) inherit as
	 * auto-reaping: their exit status would be lost.
	 */
	signal(SIGCHLD, SIG_DFL);

	if (socket_arg == NULL && cfg->server.socket != NULL && !stdin_is_socket() &&
	    systemd_socket() < 0)
		socket_arg = cfg->server.socket;
	if (socket_arg == NULL && (fd = systemd_socket()) >= 0) {
		/* systemd owns the socket: it is not unlinked at exit. */
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		log_msg(LOG_INFO, "listening on the socket systemd passed");
	} else if (socket_arg != NULL) {
		if (!socket_arg_ok(socket_arg)) {
			log_msg(LOG_ERROR, "--socket %s: give a Unix socket path or "
			    "127.0.0.1:PORT", socket_arg);
			goto out;
		}
		if (socket_arg[0] == '/')
			unlink(socket_arg);
		if ((fd = FCGX_OpenSocket(socket_arg, 128)) < 0) {
			log_msg(LOG_ERROR, "cannot listen on %s: %s", socket_arg,
			    strerror(errno));
			goto out;
		}
		/* Kept here: socket_arg may belong to the configuration. */
		made_socket = socket_arg[0] == '/' &&
		    snprintf(made, sizeof(made), "%s", socket_arg) < (int)sizeof(made);
	} else if (stdin_is_socket()) {
		fd = 0;
		/* Spawned by the web server: do not outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1) {
			log_msg(LOG_ERROR, "the web server that spawned this process is gone");
			goto out;
		}
	} else {
		log_msg(LOG_ERROR, "no FastCGI socket: run from the web server "
		    "(lighttpd bin-path) or give --socket PATH");
		usage(stderr);
		rc = 2;
		goto out;
	}

	if (drop_privileges(cfg) != 0)
		goto out;
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* After the change of user, which resets the flag. */
	if (coredump_set(cfg->server.allow_core_dumps) != QP_OK) {
		log_msg(LOG_ERROR, "cannot set whether the process is dumpable: %s",
		    strerror(errno));
		goto out;
	}
	if (cfg->server.allow_core_dumps)
		log_msg(LOG_WARNING, "[server] allow_core_dumps is on: core files and "
		    "debuggers see the account keys this process holds");

	/* The server owns the configuration from here on (a reload replaces it). */
	err = server_run(cfg, fd);
	cfg = NULL;
	if (err != QP_OK)
		log_msg(LOG_ERROR, "server stopped: %s", qp_strerror(err));
	else
		rc = 0;
out:
	if (made_socket)
		unlink(made);
	config_diag_free(&diag);
	config_free(cfg);
	return rc;
}
