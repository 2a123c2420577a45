/* workerproto.h: the remote workers' wire formats: hello body, job JSON, result head. */
#ifndef QP_WORKERPROTO_H
#define QP_WORKERPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "err.h"

/* Hex digits of a job id. */
#define WORKERPROTO_JOB_ID_LEN	32
/* Longest error text kept from a parse, for the 400's message. */
#define WORKERPROTO_WHY_MAX	160
/* Header lines of a result head kept (as "name: value\r\n"), bytes. */
#define WORKERPROTO_RAW_MAX	4096
/* Longest Content-Type kept. */
#define WORKERPROTO_CTYPE_MAX	255

/* One model a worker registers. */
struct workerproto_model {
	char		 id[QP_WORKER_MODEL_ID_MAX + 1];	/* as its runtime names it */
	int64_t		 context_length;	/* 0 = not said */
};

/* A parsed hello body. Owns models (free with workerproto_hello_free()). */
struct workerproto_hello {
	char		 name[QP_WORKER_NAME_MAX + 1];	/* printable, 1 or more bytes */
	char		 version[QP_WORKER_VERSION_MAX + 1]; /* printable, "" = not said */
	int		 capacity;		/* 1..QP_WORKER_CAPACITY_MAX */
	char		 protocols[64];		/* comma-separated known families, "openai" */
	struct workerproto_model *models;	/* owned array */
	int		 nmodels;		/* 0..QP_WORKER_MODELS_MAX */
	char		 why[WORKERPROTO_WHY_MAX];	/* what was wrong, on QP_EINVAL */
};

/* The head line of a result's seq=0 POST. */
struct workerproto_head {
	int		 status;		/* 100..599 */
	char		 ctype[WORKERPROTO_CTYPE_MAX + 1]; /* headers' content-type, "" = none */
	char		 raw[WORKERPROTO_RAW_MAX];	/* "name: value\r\n" lines of the string
						   headers that fit, NUL-terminated */
	size_t		 raw_len;		/* bytes in raw */
	char		 error[WORKERPROTO_WHY_MAX];	/* "error" member (printable), "" = none */
	char		 why[WORKERPROTO_WHY_MAX];	/* what was wrong, on QP_EINVAL */
};

/* A job as sent to a worker (and read back by tests and the fuzzer). */
struct workerproto_job {
	char		 id[WORKERPROTO_JOB_ID_LEN + 1];
	const char	*model;			/* model id the runtime knows */
	const char	*method;		/* "POST" */
	const char	*path;			/* under the runtime's OpenAI base URL */
	int		 stream;		/* 1 if an event stream is asked for */
	const char	*content_type;		/* headers sent: content-type */
	const char	*accept;		/* and accept */
	const char	*body;			/* request body, len bytes (may hold NULs) */
	size_t		 body_len;
};

/*
 * Parses a hello body (buf, len: untrusted). Fills h (which owns its
 * models afterwards even on failure: free it) and returns QP_OK, or
 * QP_EINVAL with h->why set, QP_ETOOBIG past QP_WORKER_HELLO_MAX, or
 * QP_ENOMEM. Thread-safe.
 */
enum qp_err	 workerproto_hello_parse(const char *buf, size_t len,
		    struct workerproto_hello *h);

/* Frees what a hello parse allocated; h may be zeroed. */
void		 workerproto_hello_free(struct workerproto_hello *h);

/*
 * Parses the head line at the start of a seq=0 POST's body (buf, len: the
 * body's first bytes, at least QP_WORKER_HEAD_MAX + 1 of them unless the
 * body is shorter): returns QP_OK with *used = the line's length with its
 * '\n', or QP_EINVAL (h->why says why) when no '\n' ends a line of at
 * most QP_WORKER_HEAD_MAX bytes, or the line is not a JSON object with a
 * status between 100 and 599, or its headers are not an object.
 * Thread-safe.
 */
enum qp_err	 workerproto_head_parse(const char *buf, size_t len,
		    struct workerproto_head *h, size_t *used);

/*
 * Builds the job JSON of docs/workers.md into *out (malloc'd, NUL-terminated,
 * the caller frees) with its length in *outlen. QP_ENOMEM, or QP_EINVAL
 * when a field is missing. Thread-safe.
 */
enum qp_err	 workerproto_job_json(const struct workerproto_job *j, char **out,
		    size_t *outlen);

/*
 * Reads a job JSON back (buf, len: untrusted) into j, whose pointers then
 * point into *tree (the caller frees it with workerproto_job_tree_free());
 * the body is decoded into a string of the tree. QP_EINVAL when a member
 * is missing or of the wrong type. Thread-safe.
 */
enum qp_err	 workerproto_job_parse(const char *buf, size_t len, struct workerproto_job *j,
		    void **tree);

/* Frees the tree of workerproto_job_parse(). NULL is allowed. */
void		 workerproto_job_tree_free(void *tree);

/* The query of a /worker/v1/... call. */
struct workerproto_query {
	int		 wait;			/* wait=S (1..QP_WORKER_WAIT_MAX_S), -1 = absent */
	int64_t		 seq;			/* seq=N (0..2^32-1), -1 = absent */
	int		 end;			/* 1 if end=1 */
	int		 has_name;		/* 1 if name= was given */
	char		 name[QP_WORKER_NAME_MAX + 1];	/* name=, percent-decoded */
	char		 why[WORKERPROTO_WHY_MAX];	/* what was wrong, on QP_EINVAL */
};

/*
 * Parses a query string (q: untrusted, after '?', may be ""): wait, seq,
 * end (0 or 1) and name (percent-decoded, printable); other parameters are
 * ignored. QP_EINVAL with q->why when one of these is malformed or out of
 * range. Thread-safe.
 */
enum qp_err	 workerproto_query_parse(const char *q, struct workerproto_query *out);

/* Returns 1 if s (len bytes) is a job id: exactly 32 lowercase hex digits. */
int		 workerproto_job_id_valid(const char *s, size_t len);

/* Returns 1 if s (len bytes) is printable UTF-8 (no control characters). */
int		 workerproto_printable(const char *s, size_t len);

#endif /* QP_WORKERPROTO_H */
