/* json.h: parsing untrusted JSON with quotapool's bounds (cJSON underneath). */
#ifndef QP_JSON_H
#define QP_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

/*
 * Parses one JSON value from buf[0..len) (untrusted, need not be
 * NUL-terminated). Only whitespace may follow the value. Returns the
 * tree, which the caller frees with cJSON_Delete(), or NULL with *err
 * set: QP_ETOOBIG if arrays and objects nest deeper than
 * QP_JSON_DEPTH_MAX, QP_EPARSE if the bytes are not JSON (cJSON does not
 * tell a failed allocation apart, so that reads as QP_EPARSE too).
 * Thread-safe.
 */
cJSON		*json_parse(const char *buf, size_t len, enum qp_err *err);

/*
 * Returns the last member of object o named key (exact, case-sensitive
 * match), or NULL if o is not an object or has no such member. JSON
 * parsers used by providers keep the last of duplicate keys, so this is
 * the one they see. Thread-safe; the result is borrowed from o.
 */
cJSON		*json_member(const cJSON *o, const char *key);

#endif /* QP_JSON_H */
