/* coredump.c: whether this process may be dumped (core files, ptrace and /proc by its own user). */
#include <sys/prctl.h>

#include "coredump.h"

enum qp_err
coredump_set(int allow)
{

	if (prctl(PR_SET_DUMPABLE, allow ? 1L : 0L, 0L, 0L, 0L) != 0)
		return QP_EIO;
	return QP_OK;
}

int
coredump_allowed(void)
{
	int v = prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L);

	if (v < 0)
		return -1;
	return v != 0;
}
