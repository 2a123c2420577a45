/* wkargs.h: the command line of quotapool-worker. */
#ifndef WK_ARGS_H
#define WK_ARGS_H

#include <stddef.h>

/* What the command line says; strings are borrowed from argv unless noted. */
struct wkargs {
	const char	*server;	/* --server: gateway URL, no trailing '/' (owned copy) */
	const char	*upstream;	/* --upstream: runtime's OpenAI base URL, no trailing '/' (owned copy) */
	const char	*key_env;	/* --key-env: variable holding the worker key */
	const char	*runtime_key_env; /* --runtime-key-env: variable holding the runtime's key, or NULL */
	const char	*name;		/* --name, or NULL (the host name) */
	const char	*ca_file;	/* --ca-file: CA bundle for the gateway, or NULL */
	const char	*runtime_ca_file; /* --runtime-ca-file: CA bundle for the runtime, or NULL */
	int		 capacity;	/* --max-concurrency (1..WK_CAPACITY_MAX, default 1) */
	int		 drain_s;	/* --drain-timeout seconds (default 30) */
	int		 poll_wait_s;	/* --poll-wait seconds (default 25) */
	int		 help;		/* --help was given */
	int		 version;	/* --version was given */
	char		*owned[2];	/* copies of server and upstream, freed by wkargs_free() */
};

/*
 * Parses argv (argv[0] is the program). Options take "--opt VALUE" or
 * "--opt=VALUE". Returns 0, or -1 with a one-line message (no trailing
 * newline, never the value of a key) in err. --help and --version stop the
 * checks of required options. Release with wkargs_free() in both cases.
 */
int		 wkargs_parse(int argc, char *const argv[], struct wkargs *a,
		    char *err, size_t errlen);

/* Releases what wkargs_parse() copied; accepts NULL. */
void		 wkargs_free(struct wkargs *a);

/* The text of --help (static). */
const char	*wkargs_usage(void);

/*
 * Checks a URL given for --server or --upstream: http:// or https://, a
 * host, printable ASCII without spaces, at most WK_URL_MAX bytes. 0 or -1.
 */
int		 wkargs_url_ok(const char *url);

#endif /* WK_ARGS_H */
