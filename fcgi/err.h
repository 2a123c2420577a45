/* err.h: the error codes every fallible quotapool function returns. */
#ifndef QP_ERR_H
#define QP_ERR_H

enum qp_err {
	QP_OK = 0,	/* success */
	QP_ENOMEM,	/* out of memory */
	QP_EINVAL,	/* invalid argument or malformed input */
	QP_EIO,		/* operating-system I/O error (errno tells more) */
	QP_EDB,		/* SQLite error */
	QP_ECONFIG,	/* configuration invalid */
	QP_ENOTFOUND,	/* the thing asked for does not exist */
	QP_ETOOBIG,	/* input larger than its bound */
	QP_EPARSE,	/* syntax error in parsed input */
	QP_ECRYPTO,	/* libcrypto failed (randomness, hashing) */
	QP_EBUSY,	/* resource in use (port, lock, running instance) */
	QP_EUPSTREAM,	/* upstream provider failed */
	QP_ETIMEOUT,	/* a bounded wait ran out */
	QP_EAUTH,	/* authentication failed */
	QP_ECLOSED,	/* the client went away */
	QP_ESCHEMA,	/* database schema unknown, missing or altered */
	QP_EEXIST,	/* the thing to create exists already */
	QP_EEXPIRED,	/* a credential past its expiry */
	QP_ERR__MAX
};

/*
 * Returns a constant English sentence fragment describing err.
 * Thread-safe; the string is static and must not be freed.
 */
const char	*qp_strerror(enum qp_err err);

#endif /* QP_ERR_H */
