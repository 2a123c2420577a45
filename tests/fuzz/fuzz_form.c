/* fuzz_form.c: fuzz target of the login form and cookie parsers of the dashboard. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dashboard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DASHBOARD_VALUE_MAX], small[4];
	size_t n = 0;

	if (dashboard_form_get((const char *)data, size, "key", out, sizeof(out), &n) == QP_OK &&
	    (n >= sizeof(out) || strlen(out) != n))
		__builtin_trap();
	(void)dashboard_form_get((const char *)data, size, "t", small, sizeof(small), &n);
	if (dashboard_cookie_get((const char *)data, size, DASHBOARD_COOKIE, out, sizeof(out)) ==
	    QP_OK && strlen(out) >= sizeof(out))
		__builtin_trap();
	(void)dashboard_cookie_get((const char *)data, size, "theme", small, sizeof(small));
	return 0;
}
