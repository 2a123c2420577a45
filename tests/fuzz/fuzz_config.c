/*
 * fuzz_config.c: the configuration loader and the instance-text rewriter
 * on arbitrary bytes. A load must either give a configuration with no
 * error, or no configuration with at least one error; a configuration
 * must hold the invariants config.h promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks what config.h promises of a loaded configuration. */
static void
check(const struct config *cfg)
{
	const struct config_provider *p;
	const struct config_account *a;
	int i, j;

	if (cfg->server.port < 1 || cfg->server.port > 65535 || cfg->server.state_dir == NULL ||
	    cfg->server.state_dir[0] != '/' || cfg->database.path == NULL ||
	    cfg->database.path[0] != '/' || cfg->backup.directory == NULL ||
	    cfg->routing.max_attempts < 1)
		abort();
	for (i = 0; i < cfg->nproviders; i++) {
		p = &cfg->providers[i];
		if (p->id == NULL || p->base_url == NULL || p->protocols == 0 ||
		    p->naccounts < 1 || config_provider(cfg, p->id) == NULL)
			abort();
		for (j = 0; j < p->naccounts; j++) {
			a = &p->accounts[j];
			if (a->name == NULL || !(a->weight > 0) ||
			    (p->auth != CONFIG_AUTH_NONE && a->api_key == NULL))
				abort();
		}
	}
	for (i = 0; i < cfg->nproxies; i++)
		if (cfg->proxies[i].url == NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_diag d = { NULL, 0, 0 };
	struct config *cfg;
	enum qp_err err;
	char *text;

	/* A directory that does not exist: no .env is read. */
	cfg = config_load_buf((const char *)data, size, "/nonexistent-qp-fuzz/config.toml", &d,
	    &err);
	if (cfg != NULL && (d.nerrors != 0 || err != QP_OK))
		abort();
	if (cfg == NULL && err == QP_ECONFIG && d.nerrors == 0)
		abort();
	if (d.n > CONFIG_DIAG_MAX + 1)
		abort();
	if (cfg != NULL)
		check(cfg);
	config_free(cfg);
	config_diag_free(&d);

	text = config_instance_text((const char *)data, size, 8080, "st", "q.db", &err);
	if ((text == NULL) == (err == QP_OK))
		abort();
	free(text);
	return 0;
}
