/* err.c: names of quotapool's error codes. */
#include <stddef.h>

#include "err.h"

static const char *const err_names[QP_ERR__MAX] = {
	[QP_OK] = "success",
	[QP_ENOMEM] = "out of memory",
	[QP_EINVAL] = "invalid input",
	[QP_EIO] = "input/output error",
	[QP_EDB] = "database error",
	[QP_ECONFIG] = "invalid configuration",
	[QP_ENOTFOUND] = "not found",
	[QP_ETOOBIG] = "too large",
	[QP_EPARSE] = "syntax error",
	[QP_ECRYPTO] = "cryptography library error",
	[QP_EBUSY] = "resource busy",
	[QP_EUPSTREAM] = "upstream failure",
	[QP_ETIMEOUT] = "timed out",
	[QP_EAUTH] = "authentication failed",
	[QP_ECLOSED] = "client closed the connection",
	[QP_ESCHEMA] = "database schema mismatch",
	[QP_EEXIST] = "already exists",
	[QP_EEXPIRED] = "expired",
};

const char *
qp_strerror(enum qp_err err)
{

	if ((unsigned)err >= QP_ERR__MAX || err_names[err] == NULL)
		return "unknown error";
	return err_names[err];
}
