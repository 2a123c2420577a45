/* serve.c: quotapool-admin serve: lighttpd and quotapool.fcgi in the foreground. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "paths.h"

#define SERVE_TEMPLATE_MAX	(64 * 1024)
#define SERVE_START_WAIT_MS	10000
#define SERVE_STOP_WAIT_MS	10000
/* lighttpd's server.max-fds when the process may have that many. */
#define SERVE_MAX_FDS		16384

/* One @NAME@ and its value. */
struct serve_var {
	const char	*name;
	const char	*value;
};

/* Returns 1 if s can go inside a lighttpd string and a bin-path argument. */
static int
serve_safe(const char *s)
{

	for (; *s != '\0'; s++)
		if (*s == '"' || *s == '\\' || *s == ' ' || *s == '\t' ||
		    (unsigned char)*s < 0x20)
			return 0;
	return 1;
}

/* Replaces every @NAME@ of tmpl; returns malloc'd text or NULL. */
static char *
serve_expand(const char *tmpl, const struct serve_var *vars, size_t nvars)
{
	char *out = NULL, *o;
	const char *p, *end;
	size_t cap, i, n, vl;

	cap = strlen(tmpl) + 1;
	for (i = 0; i < nvars; i++)
		cap += 8 * strlen(vars[i].value);
	if ((out = malloc(cap)) == NULL)
		return NULL;
	o = out;
	for (p = tmpl; *p != '\0'; ) {
		if (*p == '@' && (end = strchr(p + 1, '@')) != NULL) {
			n = (size_t)(end - p - 1);
			for (i = 0; i < nvars; i++)
				if (strlen(vars[i].name) == n &&
				    strncmp(p + 1, vars[i].name, n) == 0)
					break;
			if (i < nvars) {
				vl = strlen(vars[i].value);
				if ((size_t)(o - out) + vl + 1 > cap) {
					free(out);
					return NULL;
				}
				memcpy(o, vars[i].value, vl);
				o += vl;
				p = end + 1;
				continue;
			}
		}
		if ((size_t)(o - out) + 2 > cap) {
			free(out);
			return NULL;
		}
		*o++ = *p++;
	}
	*o = '\0';
	return out;
}

/* Reads the template file; NULL with a message printed on failure. */
static char *
serve_read_template(const char *path)
{
	FILE *f;
	char *buf;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		admin_err("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(SERVE_TEMPLATE_MAX + 1)) == NULL) {
		fclose(f);
		admin_err("out of memory");
		return NULL;
	}
	n = fread(buf, 1, SERVE_TEMPLATE_MAX, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Writes text to path (mode 0600), replacing it. 0 or -1 (message printed). */
static int
serve_write(const char *path, const char *text)
{
	FILE *f;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		admin_err("cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fputs(text, f) == EOF || fclose(f) != 0) {
		admin_err("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Returns lighttpd's server.max-fds: SERVE_MAX_FDS, or less when the hard
 * RLIMIT_NOFILE is lower and lighttpd, not root, cannot raise it (lighttpd
 * would otherwise count on descriptors it never gets).
 */
static long
serve_max_fds(void)
{
	struct rlimit rl;

	if (geteuid() == 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
	    rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= SERVE_MAX_FDS)
		return SERVE_MAX_FDS;
	return rl.rlim_max < 64 ? 64 : (long)rl.rlim_max;
}

/* Returns 1 if something accepts TCP connections on host:port. */
static int
serve_port_answers(const char *host, int port)
{
	struct sockaddr_in sa;
	int fd, ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return 0;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Returns 0 if host:port can be bound now, else errno. */
static int
serve_port_free(const char *host, int port)
{
	struct sockaddr_in sa;
	int fd, e = 0, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return EINVAL;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return errno;
	/* As lighttpd does: connections in TIME_WAIT do not make a port busy. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		e = errno;
	close(fd);
	return e;
}

/* Returns the pid in a pid file if that process is alive, else 0. */
static long
serve_running_pid(const char *pidfile)
{
	FILE *f;
	char comm[64];
	long pid = 0;

	if ((f = fopen(pidfile, "r")) == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 1 || kill((pid_t)pid, 0) != 0)
		return 0;
	/* A stale file may name a pid reused by something else. */
	snprintf(comm, sizeof(comm), "/proc/%ld/comm", pid);
	if ((f = fopen(comm, "r")) == NULL)
		return 0;
	if (fgets(comm, sizeof(comm), f) == NULL || strncmp(comm, "lighttpd", 8) != 0)
		pid = 0;
	fclose(f);
	return pid;
}

static int64_t
serve_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to ms for child to exit; returns 1 and fills *status if it did. */
static int
serve_wait(pid_t child, int ms, int *status)
{
	int64_t until = serve_now_ms() + ms;
	pid_t p;

	for (;;) {
		p = waitpid(child, status, WNOHANG);
		if (p == child)
			return 1;
		if (p < 0 && errno != EINTR)
			return 1;
		if (serve_now_ms() >= until)
			return 0;
		usleep(20000);
	}
}

/* Sends sig to every process whose parent is this one. */
static void
serve_signal_children(int sig)
{
	DIR *d;
	struct dirent *e;
	char path[300], line[256];
	FILE *f;
	long pid, ppid;

	if ((d = opendir("/proc")) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		ppid = -1;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "PPid: %ld", &ppid) == 1)
				break;
		fclose(f);
		pid = strtol(e->d_name, NULL, 10);
		if (ppid == (long)getpid() && pid > 1)
			kill((pid_t)pid, sig);
	}
	closedir(d);
}

/*
 * Reaps what lighttpd left behind (its FastCGI children are reparented
 * here, as this process is a subreaper), killing them after ms.
 */
static void
serve_reap_orphans(int ms)
{
	int64_t until = serve_now_ms() + ms;
	int status, killed = 0;
	pid_t p;

	for (;;) {
		p = waitpid(-1, &status, WNOHANG);
		if (p < 0 && errno == ECHILD)
			return;
		if (p > 0)
			continue;
		if (serve_now_ms() >= until) {
			if (killed)
				return;
			serve_signal_children(SIGKILL);
			killed = 1;
			until = serve_now_ms() + 2000;
		}
		usleep(20000);
	}
}

int
cmd_serve(struct admin *a, int argc, char **argv)
{
	const struct config *cfg;
	char data[PATH_MAX], tpath[PATH_MAX], conf[PATH_MAX], fcgi[PATH_MAX];
	char sub[PATH_MAX], pidfile[PATH_MAX], portstr[16], kb[32];
	char fds[32], conns[32], procstr[16];
	const char *lighttpd, *host;
	char *tmpl = NULL, *text = NULL;
	struct serve_var vars[10];
	sigset_t ss, old;
	struct timespec tick = { 0, 100000000 };
	siginfo_t si;
	pid_t child = -1;
	long other, nprocs;
	char *end;
	int64_t until;
	int i, port = 0, procs = 1, status = 0, e, rc = 1, sig, reaper = 0;
	const char *subdirs[] = { "www", "tmp" };

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			if ((port = admin_parse_port(argv[++i])) < 0) {
				admin_err("--port: expected a number from 1 to 65535");
				return 1;
			}
		} else if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc) {
			/* More than one quotapool.fcgi behind lighttpd (max-procs). */
			errno = 0;
			nprocs = strtol(argv[++i], &end, 10);
			procs = (int)nprocs;
			if (errno != 0 || *end != '\0' || nprocs < 1 || nprocs > 64) {
				admin_err("--procs: expected a number from 1 to 64");
				return 1;
			}
		} else {
			admin_err("usage: quotapool-admin serve [--port N] [--procs N]");
			return 1;
		}
	}
	if (admin_load_config(a) != 0)
		return 1;
	cfg = a->cfg;
	if (port == 0)
		port = cfg->server.port;
	host = cfg->server.host;
	lighttpd = getenv("LIGHTTPD");
	if (lighttpd == NULL || lighttpd[0] == '\0')
		lighttpd = QP_LIGHTTPD;
	if (access(lighttpd, X_OK) != 0) {
		admin_err("lighttpd not found at %s (install the Debian package "
		    "lighttpd, or set LIGHTTPD)", lighttpd);
		return 1;
	}

	if (paths_mkdirs(cfg->server.state_dir, 0700) != QP_OK) {
		admin_err("cannot create %s: %s", cfg->server.state_dir, strerror(errno));
		return 1;
	}
	for (i = 0; i < 2; i++) {
		if (paths_join(sub, sizeof(sub), cfg->server.state_dir,
		    subdirs[i]) != QP_OK || paths_mkdirs(sub, 0700) != QP_OK) {
			admin_err("cannot create %s/%s", cfg->server.state_dir, subdirs[i]);
			return 1;
		}
	}
	if (paths_join(pidfile, sizeof(pidfile), cfg->server.state_dir,
	    "lighttpd.pid") != QP_OK ||
	    paths_join(conf, sizeof(conf), cfg->server.state_dir,
	    "lighttpd.conf") != QP_OK) {
		admin_err("state directory path too long");
		return 1;
	}
	if ((other = serve_running_pid(pidfile)) > 0) {
		admin_err("this instance is already running (lighttpd pid %ld, "
		    "state in %s)", other, cfg->server.state_dir);
		return 1;
	}
	if ((e = serve_port_free(host, port)) != 0) {
		if (e == EADDRINUSE)
			admin_err("port %d on %s is already in use (another quotapool "
			    "or server is running there; choose one with --port)",
			    port, host);
		else
			admin_err("cannot listen on %s:%d: %s", host, port, strerror(e));
		return 1;
	}

	if (paths_datadir(data, sizeof(data)) != QP_OK ||
	    paths_join(tpath, sizeof(tpath), data, "lighttpd/standalone.conf") != QP_OK ||
	    paths_fcgi_binary(fcgi, sizeof(fcgi)) != QP_OK) {
		admin_err("cannot locate quotapool's data files");
		return 1;
	}
	if (access(fcgi, X_OK) != 0) {
		admin_err("cannot run %s: %s", fcgi, strerror(errno));
		return 1;
	}
	if (!serve_safe(cfg->server.state_dir) || !serve_safe(a->config_path) ||
	    !serve_safe(fcgi) || !serve_safe(data)) {
		admin_err("paths with spaces, quotes or backslashes cannot be used "
		    "with lighttpd: move the instance (state %s)",
		    cfg->server.state_dir);
		return 1;
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	/* lighttpd's own cut-off sits well above quotapool's 413. */
	snprintf(kb, sizeof(kb), "%lld",
	    (long long)(cfg->server.max_request_body_bytes / 1024) * 2 + 1024);
	vars[0] = (struct serve_var){ "HOST", host };
	vars[1] = (struct serve_var){ "PORT", portstr };
	vars[2] = (struct serve_var){ "STATE_DIR", cfg->server.state_dir };
	vars[3] = (struct serve_var){ "FCGI", fcgi };
	vars[4] = (struct serve_var){ "CONFIG", a->config_path };
	vars[5] = (struct serve_var){ "MAX_REQUEST_KB", kb };
	/* lighttpd allows at most half its descriptors as connections. */
	snprintf(fds, sizeof(fds), "%ld", serve_max_fds());
	snprintf(conns, sizeof(conns), "%ld", serve_max_fds() / 2);
	vars[6] = (struct serve_var){ "MAX_FDS", fds };
	vars[7] = (struct serve_var){ "MAX_CONNECTIONS", conns };
	vars[8] = (struct serve_var){ "DATA_DIR", data };
	snprintf(procstr, sizeof(procstr), "%d", procs);
	vars[9] = (struct serve_var){ "MAX_PROCS", procstr };
	if ((tmpl = serve_read_template(tpath)) == NULL)
		goto out;
	if ((text = serve_expand(tmpl, vars, 10)) == NULL) {
		admin_err("out of memory");
		goto out;
	}
	if (serve_write(conf, text) != 0)
		goto out;

	/* Signals are taken synchronously; the child gets them unblocked. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, &old);
	fflush(stdout);
	/* quotapool.fcgi outlives lighttpd by a moment: reap it here. */
	reaper = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
	if ((child = fork()) < 0) {
		admin_err("cannot start lighttpd: %s", strerror(errno));
		goto out;
	}
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execl(lighttpd, "lighttpd", "-D", "-f", conf, (char *)NULL);
		fprintf(stderr, "quotapool-admin: cannot run %s: %s\n", lighttpd,
		    strerror(errno));
		_exit(127);
	}

	/* Wait until lighttpd answers, or fails. */
	until = serve_now_ms() + SERVE_START_WAIT_MS;
	while (!serve_port_answers(host, port)) {
		if (waitpid(child, &status, WNOHANG) == child) {
			child = -1;
			admin_err("lighttpd stopped at start (status %d); see %s/error.log",
			    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
			    cfg->server.state_dir);
			goto out;
		}
		if (serve_now_ms() > until) {
			admin_err("lighttpd did not start listening within %d s; see "
			    "%s/error.log", SERVE_START_WAIT_MS / 1000,
			    cfg->server.state_dir);
			goto stop;
		}
		usleep(20000);
	}
	printf("quotapool listening on http://%s:%d%s/\n", host, port,
	    cfg->server.base_path != NULL ? cfg->server.base_path : "");
	printf("logs: %s/error.log; press Ctrl-C to stop\n", cfg->server.state_dir);
	fflush(stdout);

	for (;;) {
		sig = sigtimedwait(&ss, &si, &tick);
		if (sig == SIGCHLD || sig < 0) {
			if (waitpid(child, &status, WNOHANG) == child) {
				child = -1;
				admin_err("lighttpd exited unexpectedly (status %d); see "
				    "%s/error.log", WIFEXITED(status) ?
				    WEXITSTATUS(status) : 128 + WTERMSIG(status),
				    cfg->server.state_dir);
				goto out;
			}
			continue;
		}
		if (sig == SIGHUP) {
			fprintf(stderr, "quotapool-admin: SIGHUP ignored: restart serve "
			    "to apply configuration changes\n");
			continue;
		}
		break;		/* SIGINT or SIGTERM */
	}
	rc = 0;
stop:
	/* lighttpd stops its FastCGI children when it stops. */
	kill(child, SIGTERM);
	if (!serve_wait(child, SERVE_STOP_WAIT_MS, &status)) {
		admin_err("lighttpd did not stop within %d s; killing it",
		    SERVE_STOP_WAIT_MS / 1000);
		kill(child, SIGKILL);
		serve_wait(child, 2000, &status);
		rc = 1;
	}
	child = -1;
	if (rc == 0)
		printf("stopped\n");
out:
	if (reaper) {
		/* After lighttpd, its FastCGI child; then say nothing more. */
		serve_reap_orphans(SERVE_STOP_WAIT_MS);
	}
	free(text);
	free(tmpl);
	return rc;
}
