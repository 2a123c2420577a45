/* wklog.c: quotapool-worker's log, one line per event on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wklog.h"

void
wklog(const char *fmt, ...)
{
	char line[2048];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;
	size_t n, i, start;
	int m;

	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ quotapool-worker: ", &tm);
	start = n;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
	for (i = start; i < n; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	}
	line[n++] = '\n';
	/* One write: lines of several threads never mix. */
	(void)!write(STDERR_FILENO, line, n);
}
