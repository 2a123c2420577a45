/* test_coredump.c: the process is made non-dumpable, and dumpable again when allowed. */
#include <sys/prctl.h>

#include "../tap.h"
#include "coredump.h"

int
main(void)
{

	is_int(coredump_set(0), QP_OK, "coredump_set(0) succeeds");
	is_int(prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L), 0, "then the kernel says not dumpable");
	is_int(coredump_allowed(), 0, "and coredump_allowed() says 0");
	is_int(coredump_set(1), QP_OK, "coredump_set(1) succeeds");
	is_int(prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L), 1, "then the kernel says dumpable");
	is_int(coredump_allowed(), 1, "and coredump_allowed() says 1");
	is_int(coredump_set(0), QP_OK, "coredump_set(0) again");
	is_int(prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L), 0, "not dumpable again");
	return done_testing();
}
