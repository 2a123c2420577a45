/* log.c: one-line log records on standard error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level log_level = LOG_INFO;

static const char *const log_names[LOG__MAX] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARNING] = "warning",
	[LOG_ERROR] = "error",
};

void
log_set_level(enum log_level level)
{

	log_level = level;
}

int
log_level_parse(const char *name)
{
	int i;

	for (i = 0; i < LOG__MAX; i++)
		if (strcmp(name, log_names[i]) == 0)
			return i;
	if (strcmp(name, "warn") == 0)
		return LOG_WARNING;
	return -1;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level < log_level || (unsigned)level >= LOG__MAX)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ quotapool[%ld]: %s: ", stamp,
	    ts.tv_nsec / 1000000, (long)getpid(), log_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write(2) per line keeps lines whole across threads. */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}
