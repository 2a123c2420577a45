/* coredump.h: whether this process may be dumped (core files, ptrace and /proc by its own user). */
#ifndef QP_COREDUMP_H
#define QP_COREDUMP_H

#include "err.h"

/*
 * Makes the process dumpable (allow = 1) or not (allow = 0) with
 * prctl(PR_SET_DUMPABLE). Not dumpable: no core file is written, and
 * neither ptrace nor /proc/PID/{mem,environ,maps} is open to the process's
 * own user, so the account keys and client keys it holds do not leave it.
 * A change of user (setuid) resets the flag: call it again after dropping
 * privileges. Returns QP_OK, or QP_EIO (errno kept). Thread-safe (it
 * applies to the whole process).
 */
enum qp_err	 coredump_set(int allow);

/* Returns 1 if the process is dumpable now, 0 if not, -1 if unknown. Thread-safe. */
int		 coredump_allowed(void);

#endif /* QP_COREDUMP_H */
