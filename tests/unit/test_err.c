/* test_err.c: every error code has a distinct name. */
#include "../tap.h"
#include "err.h"

int
main(void)
{
	int i, j;

	for (i = 0; i < QP_ERR__MAX; i++) {
		ok(strcmp(qp_strerror(i), "unknown error") != 0, "code %d has a name", i);
		for (j = 0; j < i; j++)
			if (strcmp(qp_strerror(i), qp_strerror(j)) == 0)
				ok(0, "codes %d and %d share a name", i, j);
	}
	is_str(qp_strerror(QP_ERR__MAX), "unknown error", "out of range code");
	is_str(qp_strerror(-1), "unknown error", "negative code");
	return done_testing();
}
