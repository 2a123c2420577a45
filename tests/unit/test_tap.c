/* test_tap.c: tap.h prints test names the way the TAP driver must read them. */
#include <unistd.h>

#include "../tap.h"

/* Runs ok(1, name) with stdout sent to a file and returns what it printed. */
static char *
captured(const char *name, int *n_before)
{
	static char out[4096];
	FILE *f = tmpfile();
	int saved, len;

	out[0] = '\0';
	if (f == NULL)
		return out;
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fileno(f), STDOUT_FILENO);
	*n_before = tap_n;
	ok(1, "%s", name);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	tap_n = *n_before;	/* the captured line is not one of this test's */
	rewind(f);
	len = (int)fread(out, 1, sizeof(out) - 1, f);
	out[len < 0 ? 0 : len] = '\0';
	fclose(f);
	return out;
}

int
main(void)
{
	char want[5000], big[1200];
	const char *got;
	int n;

	got = captured("escapes # SKIP in a name", &n);
	snprintf(want, sizeof(want), "ok %d - escapes \\# SKIP in a name\n", n + 1);
	is_str(got, want, "a \"#\" in a name is printed as \"\\#\"");

	got = captured("two\nlines #1", &n);
	snprintf(want, sizeof(want), "ok %d - two lines \\#1\n", n + 1);
	is_str(got, want, "a newline in a name becomes a space");

	/* Longer than the name buffer on the stack: printed whole. */
	memset(big, '#', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	got = captured(big, &n);
	snprintf(want, sizeof(want), "ok %d - ", n + 1);
	for (n = 0; n < (int)sizeof(big) - 1; n++)
		strcat(want, "\\#");
	strcat(want, "\n");
	ok(strcmp(got, want) == 0, "a long name is escaped whole (%zu bytes printed)",
	    strlen(got));

	/*
	 * Read by the TAP driver: unescaped, these would be a TODO test that
	 * passed (XPASS, a failure of the suite) and a skip.
	 */
	ok(1, "a passing test whose name says # TODO is not a TODO");
	ok(1, "nor is one whose name says # SKIP a skip");
	return done_testing();
}
