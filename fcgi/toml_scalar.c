/* toml_scalar.c: TOML's bare values: booleans, integers, floats, dates and times. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"
#include "toml_int.h"

/* Reads n digits at s into *out; -1 if any is not a digit. */
static int
toml_digits(const unsigned char *s, size_t n, int *out)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++) {
		if (!toml_is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
toml_days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Reads YYYY-MM-DD at s (10 bytes available). */
static int
toml_date(struct toml_parser *p, const unsigned char *s, size_t at, struct toml_datetime *dt)
{

	if (toml_digits(s, 4, &dt->year) != 0 || s[4] != '-' ||
	    toml_digits(s + 5, 2, &dt->month) != 0 || s[7] != '-' ||
	    toml_digits(s + 8, 2, &dt->day) != 0)
		return toml_fail(p, at, "malformed date: expected YYYY-MM-DD");
	if (dt->month < 1 || dt->month > 12)
		return toml_fail(p, at, "month %02d out of range", dt->month);
	if (dt->day < 1 || dt->day > toml_days_in_month(dt->year, dt->month))
		return toml_fail(p, at, "day %02d out of range for %04d-%02d",
		    dt->day, dt->year, dt->month);
	return 0;
}

/* Reads HH:MM:SS[.frac] at s (n bytes); returns bytes used or -1. */
static long
toml_time(struct toml_parser *p, const unsigned char *s, size_t n, size_t at,
    struct toml_datetime *dt)
{
	size_t i;
	int k;

	if (n < 8 || toml_digits(s, 2, &dt->hour) != 0 || s[2] != ':' ||
	    toml_digits(s + 3, 2, &dt->minute) != 0 || s[5] != ':' ||
	    toml_digits(s + 6, 2, &dt->second) != 0)
		return toml_fail(p, at, "malformed time: expected HH:MM:SS");
	if (dt->hour > 23)
		return toml_fail(p, at, "hour %02d out of range", dt->hour);
	if (dt->minute > 59)
		return toml_fail(p, at, "minute %02d out of range", dt->minute);
	if (dt->second > 60)
		return toml_fail(p, at, "second %02d out of range", dt->second);
	i = 8;
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !toml_is_digit(s[i]))
			return toml_fail(p, at, "fractional seconds need a digit after '.'");
		while (i < n && toml_is_digit(s[i])) {
			/* Precision beyond nanoseconds is truncated, as the spec asks. */
			if (dt->frac_digits < 9) {
				dt->nanosecond = dt->nanosecond * 10 + (s[i] - '0');
				dt->frac_digits++;
			}
			i++;
		}
		for (k = dt->frac_digits; k < 9; k++)
			dt->nanosecond *= 10;
	}
	return (long)i;
}

/* Parses a date, date-time or time token (s, n at offset at) into nd. */
static int
toml_datetime_token(struct toml_parser *p, const unsigned char *s, size_t n, size_t at,
    struct toml_node *nd)
{
	struct toml_datetime *dt = &nd->v.u.dt;
	size_t i;
	long used;
	int oh, om;

	memset(dt, 0, sizeof(*dt));
	if (n >= 3 && s[2] == ':') {
		used = toml_time(p, s, n, at, dt);
		if (used < 0)
			return -1;
		if ((size_t)used != n)
			return toml_fail(p, at + (size_t)used, "unexpected text after a time");
		nd->v.type = TOML_TIME_LOCAL;
		return 0;
	}
	if (n < 10 || toml_date(p, s, at, dt) != 0)
		return p->failed ? -1 : toml_fail(p, at, "malformed date: expected YYYY-MM-DD");
	if (n == 10) {
		nd->v.type = TOML_DATE_LOCAL;
		return 0;
	}
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return toml_fail(p, at + 10, "expected 'T' between date and time");
	used = toml_time(p, s + 11, n - 11, at + 11, dt);
	if (used < 0)
		return -1;
	i = 11 + (size_t)used;
	if (i == n) {
		nd->v.type = TOML_DATETIME_LOCAL;
		return 0;
	}
	if (s[i] == 'Z' || s[i] == 'z') {
		dt->offset_z = 1;
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		if (n - i < 6 || toml_digits(s + i + 1, 2, &oh) != 0 || s[i + 3] != ':' ||
		    toml_digits(s + i + 4, 2, &om) != 0)
			return toml_fail(p, at + i, "malformed offset: expected +HH:MM or -HH:MM");
		if (oh > 23 || om > 59)
			return toml_fail(p, at + i, "offset out of range");
		dt->offset_minutes = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
		i += 6;
	} else
		return toml_fail(p, at + i, "unexpected text after a date-time");
	if (i != n)
		return toml_fail(p, at + i, "unexpected text after a date-time");
	nd->v.type = TOML_DATETIME;
	return 0;
}

/*
 * Checks a run of digits with underscores at s[*i..n) in base 10 ('d'),
 * 16, 8 or 2, each underscore between two digits. Returns digits seen.
 */
static size_t
toml_digit_run(const unsigned char *s, size_t n, size_t *i, int base, int *bad)
{
	size_t cnt = 0;
	int prev_digit = 0, d;

	while (*i < n) {
		if (s[*i] == '_') {
			if (!prev_digit || *i + 1 >= n) {
				*bad = 1;
				return cnt;
			}
			prev_digit = 0;
			(*i)++;
			continue;
		}
		d = toml_hexval(s[*i]);
		if (d < 0 || d >= base)
			break;
		prev_digit = 1;
		cnt++;
		(*i)++;
	}
	if (cnt > 0 && !prev_digit)
		*bad = 1;
	return cnt;
}

/* Parses a number token (s, n at offset at) into nd. */
static int
toml_number_token(struct toml_parser *p, const unsigned char *s, size_t n, size_t at,
    struct toml_node *nd)
{
	size_t i = 0, j, intstart;
	int neg = 0, bad = 0, base = 10, isfloat = 0, d;
	uint64_t mag = 0, lim;
	double f;
	char *end;

	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		i = 1;
	}
	if (n - i == 3 && (memcmp(s + i, "inf", 3) == 0 || memcmp(s + i, "nan", 3) == 0)) {
		nd->v.type = TOML_FLOAT;
		if (s[i] == 'i')
			nd->v.u.f = neg ? -HUGE_VAL : HUGE_VAL;
		else
			nd->v.u.f = neg ? -NAN : NAN;
		return 0;
	}
	if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o' ||
	    s[i + 1] == 'b')) {
		if (i != 0)
			return toml_fail(p, at, "a sign is not allowed on hex, octal or "
			    "binary integers");
		base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		i = 2;
		if (i < n && s[i] == '_')
			return toml_fail(p, at, "malformed integer: '_' after the prefix");
		if (toml_digit_run(s, n, &i, base, &bad) == 0 || bad || i != n)
			return toml_fail(p, at, "malformed %s integer",
			    base == 16 ? "hexadecimal" : base == 8 ? "octal" : "binary");
		for (j = 2; j < n; j++) {
			if (s[j] == '_')
				continue;
			d = toml_hexval(s[j]);
			if (mag > ((uint64_t)INT64_MAX - (uint64_t)d) / (uint64_t)base)
				return toml_fail(p, at, "integer does not fit in 64 bits");
			mag = mag * (uint64_t)base + (uint64_t)d;
		}
		nd->v.type = TOML_INTEGER;
		nd->v.u.i = (int64_t)mag;
		return 0;
	}
	intstart = i;
	if (toml_digit_run(s, n, &i, 10, &bad) == 0 || bad)
		return toml_fail(p, at, "malformed number");
	if (s[intstart] == '0' && i - intstart > 1)
		return toml_fail(p, at, "leading zeros are not allowed");
	if (i < n && s[i] == '.') {
		isfloat = 1;
		i++;
		if (toml_digit_run(s, n, &i, 10, &bad) == 0 || bad)
			return toml_fail(p, at, "malformed float: expected digits after '.'");
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		isfloat = 1;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (toml_digit_run(s, n, &i, 10, &bad) == 0 || bad)
			return toml_fail(p, at, "malformed float: expected digits in the exponent");
	}
	if (i != n)
		return toml_fail(p, at, "malformed number");
	if (!isfloat) {
		lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		for (j = intstart; j < n; j++) {
			if (s[j] == '_')
				continue;
			d = s[j] - '0';
			if (mag > (lim - (uint64_t)d) / 10)
				return toml_fail(p, at, "integer does not fit in 64 bits");
			mag = mag * 10 + (uint64_t)d;
		}
		nd->v.type = TOML_INTEGER;
		if (neg)
			nd->v.u.i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
		else
			nd->v.u.i = (int64_t)mag;
		return 0;
	}
	p->sb.len = 0;
	for (j = 0; j < n; j++) {
		if (s[j] != '_' && toml_buf_putc(&p->sb, s[j]) != 0)
			return toml_fail(p, at, "out of memory");
	}
	errno = 0;
	f = strtod(p->sb.p, &end);
	if (end != p->sb.p + p->sb.len)
		return toml_fail(p, at, "malformed float");
	if (errno == ERANGE && isinf(f))
		return toml_fail(p, at, "float out of range");
	nd->v.type = TOML_FLOAT;
	nd->v.u.f = f;
	return 0;
}

/* Parses a number, boolean, date or time at pos into nd. */
int
toml_scalar(struct toml_parser *p, struct toml_node *nd)
{
	size_t start = p->pos, end = p->pos;
	const unsigned char *s = p->buf + start;
	int c;

	while (end < p->len) {
		c = p->buf[end];
		if (!toml_is_bare(c) && c != '+' && c != '.' && c != ':')
			break;
		end++;
	}
	/* A date followed by a space and a time is one date-time. */
	if (end - start == 10 && s[4] == '-' && end + 3 < p->len && p->buf[end] == ' ' &&
	    toml_is_digit(p->buf[end + 1]) && toml_is_digit(p->buf[end + 2]) &&
	    p->buf[end + 3] == ':') {
		end++;
		while (end < p->len) {
			c = p->buf[end];
			if (!toml_is_bare(c) && c != '+' && c != '.' && c != ':')
				break;
			end++;
		}
	}
	if (end == start) {
		c = toml_peek(p);
		if (c < 0 || c == '\n' || c == '\r')
			return toml_fail(p, start, "expected a value");
		if (c >= 0x20 && c < 0x7f)
			return toml_fail(p, start, "expected a value, found '%c'", c);
		return toml_fail(p, start, "expected a value");
	}
	p->pos = end;
	if (end - start == 4 && memcmp(s, "true", 4) == 0) {
		nd->v.type = TOML_BOOL;
		nd->v.u.b = 1;
		return 0;
	}
	if (end - start == 5 && memcmp(s, "false", 5) == 0) {
		nd->v.type = TOML_BOOL;
		nd->v.u.b = 0;
		return 0;
	}
	if ((end - start >= 5 && toml_is_digit(s[0]) && toml_is_digit(s[1]) &&
	    toml_is_digit(s[2]) && toml_is_digit(s[3]) && s[4] == '-') ||
	    (end - start >= 3 && toml_is_digit(s[0]) && toml_is_digit(s[1]) && s[2] == ':'))
		return toml_datetime_token(p, s, end - start, start, nd);
	if (!toml_is_digit(s[0]) && s[0] != '+' && s[0] != '-' && s[0] != 'i' && s[0] != 'n')
		return toml_fail(p, start, "expected a value (strings need quotes)");
	return toml_number_token(p, s, end - start, start, nd);
}
