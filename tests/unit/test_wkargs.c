/* test_wkargs.c: quotapool-worker's command line. */
#include <string.h>

#include "../tap.h"
#include "wkargs.h"
#include "wkbounds.h"

#define ARGC(v)	((int)(sizeof(v) / sizeof(*(v))))

static int
parse(int argc, char *const *argv, struct wkargs *a, char *err)
{

	return wkargs_parse(argc, argv, a, err, 256);
}

/* Inputs that must fail and a piece of their message. */
static const struct {
	const char	*args[6];
	const char	*msg;
} bad[] = {
	{ { "--server", "ftp://gw", NULL }, "--server: expected an http:// or https:// URL" },
	{ { "--server", "http://", NULL }, "--server: expected" },
	{ { "--server", "http:///x", NULL }, "--server: expected" },
	{ { "--server", "http://gw/a b", NULL }, "--server: expected" },
	{ { "--server", "http://gw/?q=1", NULL }, "--server: expected" },
	{ { "--upstream", "localhost:11434", NULL }, "--upstream: expected" },
	{ { "--key-env", "qp_abcdef-ghi", NULL }, "--key-env: expected the name of an environment variable" },
	{ { "--key-env", "1KEY", NULL }, "--key-env: expected the name" },
	{ { "--key-env", "", NULL }, "--key-env: expected the name" },
	{ { "--runtime-key-env", "A=B", NULL }, "--runtime-key-env: expected the name" },
	{ { "--max-concurrency", "0", NULL }, "--max-concurrency: expected an integer from 1 to 256" },
	{ { "--max-concurrency", "257", NULL }, "--max-concurrency: expected an integer from 1 to 256" },
	{ { "--max-concurrency", "4x", NULL }, "--max-concurrency: expected an integer" },
	{ { "--max-concurrency", "", NULL }, "--max-concurrency: expected an integer" },
	{ { "--max-concurrency", "99999999999999999999", NULL }, "--max-concurrency: expected" },
	{ { "--drain-timeout", "-1", NULL }, "--drain-timeout: expected an integer from 0 to 86400" },
	{ { "--poll-wait", "61", NULL }, "--poll-wait: expected an integer from 1 to 60" },
	{ { "--name", "", NULL }, "--name: expected 1 to 128 bytes" },
	{ { "--max-concurrency", NULL }, "--max-concurrency needs a value" },
	{ { "--help=yes", NULL }, "--help takes no value" },
	{ { "--bogus", NULL }, "unknown option '--bogus' (see --help)" },
	{ { "--bogus=secret", NULL }, "unknown option '--bogus' (see --help)" },
	{ { "-s", NULL }, "unexpected argument '-s' (see --help)" },
	{ { "stray", NULL }, "unexpected argument 'stray'" },
	{ { "--", NULL }, "unexpected argument '--'" },
	{ { "--server", "http://gw", NULL }, "--server, --key-env and --upstream are required" },
	{ { "--upstream", "http://rt/v1", "--key-env", "K", NULL }, "are required" },
};

int
main(void)
{
	char *full[] = { "quotapool-worker", "--server", "https://gw.example/qp/",
	    "--key-env", "QP_WORKER_KEY", "--upstream", "http://127.0.0.1:11434/v1",
	    "--name", "gpu1", "--max-concurrency", "4", "--runtime-key-env", "RT_KEY",
	    "--ca-file", "/etc/ssl/ca.pem", "--runtime-ca-file", "/etc/rt.pem",
	    "--drain-timeout", "0", "--poll-wait", "10" };
	char *eq[] = { "quotapool-worker", "--server=http://gw:8080", "--key-env=K",
	    "--upstream=http://rt:8000/v1//", "--max-concurrency=256" };
	char *help[] = { "quotapool-worker", "--help" };
	char *ver[] = { "quotapool-worker", "--version" };
	char *big[] = { "quotapool-worker", "--name", NULL };
	char *argv[8], err[256], name[WK_NAME_MAX + 2];
	struct wkargs a;
	size_t i, k;
	int argc;

	is_int(parse(ARGC(full), full, &a, err), 0, "a full command line");
	is_str(a.server, "https://gw.example/qp", "server without its trailing slash");
	is_str(a.upstream, "http://127.0.0.1:11434/v1", "upstream");
	is_str(a.key_env, "QP_WORKER_KEY", "key-env");
	is_str(a.runtime_key_env, "RT_KEY", "runtime-key-env");
	is_str(a.name, "gpu1", "name");
	is_str(a.ca_file, "/etc/ssl/ca.pem", "ca-file");
	is_str(a.runtime_ca_file, "/etc/rt.pem", "runtime-ca-file");
	is_int(a.capacity, 4, "max-concurrency");
	is_int(a.drain_s, 0, "drain-timeout 0");
	is_int(a.poll_wait_s, 10, "poll-wait");
	ok(!a.help && !a.version, "neither help nor version");
	wkargs_free(&a);
	wkargs_free(&a);
	wkargs_free(NULL);

	is_int(parse(ARGC(eq), eq, &a, err), 0, "--opt=value forms");
	is_str(a.server, "http://gw:8080", "server");
	is_str(a.upstream, "http://rt:8000/v1", "every trailing slash of upstream removed");
	is_int(a.capacity, 256, "max-concurrency 256");
	is_int(a.drain_s, 30, "drain-timeout defaults to 30");
	is_int(a.poll_wait_s, 25, "poll-wait defaults to 25");
	ok(a.name == NULL && a.runtime_key_env == NULL && a.ca_file == NULL,
	    "no name, runtime key or CA file by default");
	wkargs_free(&a);
	eq[4] = "--key-env=K";
	is_int(parse(ARGC(eq) - 1, eq, &a, err), 0, "max-concurrency left out");
	is_int(a.capacity, 1, "... defaults to 1");
	wkargs_free(&a);

	is_int(parse(ARGC(help), help, &a, err), 0, "--help alone is fine");
	ok(a.help, "... help set");
	wkargs_free(&a);
	is_int(parse(ARGC(ver), ver, &a, err), 0, "--version alone is fine");
	ok(a.version, "... version set");
	wkargs_free(&a);

	memset(name, 'n', sizeof(name));
	name[WK_NAME_MAX] = '\0';
	big[2] = name;
	parse(ARGC(big), big, &a, err);
	ok(strstr(err, "--name") == NULL, "a name of 128 bytes is accepted");
	wkargs_free(&a);
	name[WK_NAME_MAX] = 'n';
	name[WK_NAME_MAX + 1] = '\0';
	is_int(parse(ARGC(big), big, &a, err), -1, "a name of 129 bytes is refused");
	wkargs_free(&a);

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		argv[0] = "quotapool-worker";
		for (k = 0; bad[i].args[k] != NULL; k++)
			argv[k + 1] = (char *)bad[i].args[k];
		argc = (int)k + 1;
		is_int(parse(argc, argv, &a, err), -1, "refused: %s %s", bad[i].args[0],
		    bad[i].args[1] != NULL ? bad[i].args[1] : "");
		ok(strstr(err, bad[i].msg) != NULL && strchr(err, '\n') == NULL,
		    "... one line saying \"%s\" (got \"%s\")", bad[i].msg, err);
		ok(strstr(err, "secret") == NULL, "... never echoing a value after '='");
		wkargs_free(&a);
	}

	for (i = 0; i < 3; i++) {
		static const char *const urls[] = { "http://127.0.0.1:11434/v1",
		    "HTTPS://gw.example", "https://[::1]:8443/base" };

		is_int(wkargs_url_ok(urls[i]), 0, "URL accepted: %s", urls[i]);
	}
	ok(strstr(wkargs_usage(), "--server URL") != NULL &&
	    strstr(wkargs_usage(), "--max-concurrency N") != NULL &&
	    strstr(wkargs_usage(), "--drain-timeout S") != NULL,
	    "the usage names the options");
	return done_testing();
}
