/* toml.h: a TOML 1.0 parser producing a tree of typed values. */
#ifndef QP_TOML_H
#define QP_TOML_H

#include <stddef.h>
#include <stdint.h>

enum toml_type {
	TOML_STRING,		/* u.str */
	TOML_INTEGER,		/* u.i */
	TOML_FLOAT,		/* u.f (may be inf or nan) */
	TOML_BOOL,		/* u.b, 0 or 1 */
	TOML_DATETIME,		/* u.dt, offset date-time */
	TOML_DATETIME_LOCAL,	/* u.dt, local date-time */
	TOML_DATE_LOCAL,	/* u.dt, local date */
	TOML_TIME_LOCAL,	/* u.dt, local time */
	TOML_ARRAY,		/* u.arr */
	TOML_TABLE,		/* u.tab */
	TOML__MAX
};

/* A date, time or both; which fields count depends on the value's type. */
struct toml_datetime {
	int		 year, month, day;	/* date part */
	int		 hour, minute, second;	/* time part */
	long		 nanosecond;		/* fraction of the second, 0..999999999 */
	int		 frac_digits;		/* digits of fraction given, 0 = none */
	int		 offset_minutes;	/* TOML_DATETIME: offset east of UTC */
	int		 offset_z;		/* TOML_DATETIME: offset written as Z */
};

struct toml_kv;

/* One value; every value remembers where it was written. */
struct toml_value {
	enum toml_type	 type;		/* which member of u is valid */
	unsigned	 line;		/* 1-based line of the value (tables: of their header or first key) */
	unsigned	 col;		/* 1-based column */
	union {
		struct {
			char	*ptr;	/* NUL-terminated UTF-8; may hold NUL bytes (see len) */
			size_t	 len;	/* bytes, without the terminator */
		} str;
		int64_t		 i;
		double		 f;
		int		 b;
		struct toml_datetime dt;
		struct {
			struct toml_value **items;	/* owned */
			size_t		 n;
		} arr;
		struct {
			struct toml_kv	*items;		/* owned, in document order */
			size_t		 n;
		} tab;
	} u;
};

/* One key of a table. */
struct toml_kv {
	char			*key;	/* NUL-terminated UTF-8 (owned) */
	size_t			 keylen;/* bytes of key, which may hold NUL */
	unsigned		 line;	/* 1-based line where the key was written */
	unsigned		 col;	/* 1-based column of its first (or only) part */
	struct toml_value	*val;	/* owned */
};

/* Why a parse failed. */
struct toml_error {
	unsigned	 line;		/* 1-based line of the error */
	unsigned	 col;		/* 1-based column of the error */
	char		 msg[200];	/* one sentence, no trailing newline */
};

/*
 * Parses len bytes of TOML 1.0 from buf (need not be NUL-terminated).
 * Returns the root table, to be freed with toml_free(), or NULL on error
 * with err filled in (if err is not NULL). Holds no global state:
 * thread-safe. Input is bounded by QP_CONFIG_MAX and QP_TOML_DEPTH_MAX.
 * String values may be secrets: every scratch copy is wiped before it is
 * freed, also when the parse fails.
 */
struct toml_value	*toml_parse(const char *buf, size_t len, struct toml_error *err);

/* Frees a tree returned by toml_parse(), wiping its string values; NULL is allowed. */
void			 toml_free(struct toml_value *v);

/*
 * Looks up key in table tab. Returns a borrowed pointer that lives as
 * long as the tree, or NULL if tab is NULL, not a table, or lacks key.
 */
const struct toml_value	*toml_get(const struct toml_value *tab, const char *key);

/* Looks up key in tab and returns its toml_kv (for the key's line), or NULL. */
const struct toml_kv	*toml_get_kv(const struct toml_value *tab, const char *key);

/* Returns the name of a type ("string", "integer", ...), static. */
const char		*toml_type_name(enum toml_type t);

#endif /* QP_TOML_H */
