/* tap.h: a tiny Test Anything Protocol emitter for quotapool's unit tests. */
#ifndef QP_TAP_H
#define QP_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

/*
 * Prints a test name as the Python helper (tests/integration/qp.py) does: "#"
 * becomes "\#" so that a name never reads as a "# SKIP" or "# TODO"
 * directive, and a line break becomes a space so that the name stays on its
 * line.
 */
static inline void tap_vname(const char *fmt, va_list ap)
{
	char small[512], *buf = small;
	const char *p;
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(small, sizeof(small), fmt, aq);
	va_end(aq);
	if (n < 0)
		small[0] = '\0';
	else if ((size_t)n >= sizeof(small)) {
		/* A long name: printed whole, or cut if memory is short. */
		buf = malloc((size_t)n + 1);
		if (buf != NULL)
			vsnprintf(buf, (size_t)n + 1, fmt, ap);
		else
			buf = small;
	}
	for (p = buf; *p != '\0'; p++) {
		if (*p == '#')
			fputs("\\#", stdout);
		else
			putchar(*p == '\n' || *p == '\r' ? ' ' : *p);
	}
	if (buf != small)
		free(buf);
}

static inline void tap_vok(int cond, const char *file, int line, const char *fmt, va_list ap)
{
	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	tap_vname(fmt, ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
}

static inline int tap_ok_at(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vok(cond, file, line, fmt, ap);
	va_end(ap);
	return cond;
}

static inline int tap_is_str_at(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;
	int cond = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);

	va_start(ap, fmt);
	tap_vok(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#   expected: \"%s\"\n#   actual:   \"%s\"\n",
		    want ? want : "(null)", got ? got : "(null)");
	return cond;
}

static inline int tap_is_int_at(intmax_t got, intmax_t want, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;
	int cond = got == want;

	va_start(ap, fmt);
	tap_vok(cond, file, line, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#   expected: %jd\n#   actual:   %jd\n", want, got);
	return cond;
}

static inline void tap_skip(const char *why)
{
	tap_n++;
	printf("ok %d # SKIP %s\n", tap_n, why);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#define ok(c, ...)		tap_ok_at(!!(c), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(g, w, ...)	tap_is_str_at((g), (w), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(g, w, ...)	tap_is_int_at((intmax_t)(g), (intmax_t)(w), __FILE__, __LINE__, __VA_ARGS__)
#define skip(why)		tap_skip(why)
#define done_testing()		tap_done()

#endif /* QP_TAP_H */
