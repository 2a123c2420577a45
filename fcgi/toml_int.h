/* toml_int.h: what the TOML parser's files share (toml.c, toml_scalar.c); not for callers. */
#ifndef QP_TOML_INT_H
#define QP_TOML_INT_H

#include <stddef.h>
#include <stdint.h>

#include "toml.h"

/* How a table or array came to exist; decides what may extend it later. */
enum toml_origin {
	TOML_ORIGIN_VALUE,	/* a scalar or an array literal: never extended */
	TOML_ORIGIN_IMPLICIT,	/* table named on the way to a [header], not yet defined */
	TOML_ORIGIN_HEADER,	/* table defined by [header], an element of [[header]], the root */
	TOML_ORIGIN_DOTTED,	/* table made by a dotted key */
	TOML_ORIGIN_INLINE,	/* inline table: immutable once written */
	TOML_ORIGIN_AOT,	/* array made by [[header]]: later [[header]]s append */
	TOML_ORIGIN__MAX
};

/* Every value is allocated as a node; the public value is its first member. */
struct toml_node {
	struct toml_value	 v;	/* what callers see */
	enum toml_origin	 origin;/* what may extend this table or array */
	unsigned		 depth;	/* nesting below the root table (root = 0) */
	size_t			 cap;	/* slots allocated for v.u.arr.items or v.u.tab.items */
	uint32_t		*index;	/* tables: hash slots holding item index + 1, or NULL */
	size_t			 icap;	/* slots of index, a power of two (0 without index) */
};

/* A growable byte buffer for decoded strings. */
struct toml_buf {
	char	*p;	/* bytes, NUL-terminated when not NULL */
	size_t	 len;	/* bytes used, without the terminator */
	size_t	 cap;	/* bytes allocated */
};

/* One part of a (possibly dotted) key. */
struct toml_keypart {
	char	*s;	/* decoded key, NUL-terminated (owned) */
	size_t	 len;	/* bytes of s */
	size_t	 at;	/* offset of the part in the input */
	unsigned line;	/* 1-based line of the part */
	unsigned col;	/* 1-based column of the part */
};

/* A whole key: the parts between dots. */
struct toml_key {
	struct toml_keypart	*parts;	/* owned */
	size_t			 n;	/* parts used */
	size_t			 cap;	/* parts allocated */
};

/* State of one parse; lives on the caller's stack. */
struct toml_parser {
	const unsigned char	*buf;	/* input */
	size_t			 len;	/* bytes of input */
	size_t			 pos;	/* next byte to read */
	struct toml_error	*err;	/* where the first error goes */
	int			 failed;/* an error has been recorded */
	size_t			 lc_pos;/* position cache: offset ... */
	unsigned		 lc_line;/* ... its line ... */
	unsigned		 lc_col;/* ... and column */
	struct toml_node	*root;	/* the document */
	struct toml_node	*cur;	/* table the current section adds keys to */
	struct toml_buf		 sb;	/* scratch for strings and floats */
};

/* Records the first error, at input offset at. Always returns -1. */
int	toml_fail(struct toml_parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends byte c to b. 0, or -1 when out of memory. */
int	toml_buf_putc(struct toml_buf *b, unsigned char c);
/* The next byte, or -1 at the end of the input. */
int	toml_peek(const struct toml_parser *p);
/* Character classes of the grammar. */
int	toml_is_bare(int c);
int	toml_is_digit(int c);
/* The value of hex digit c, or -1. */
int	toml_hexval(int c);

/* Parses a number, boolean, date or time at pos into nd (toml_scalar.c). */
int	toml_scalar(struct toml_parser *p, struct toml_node *nd);

#endif /* QP_TOML_INT_H */
