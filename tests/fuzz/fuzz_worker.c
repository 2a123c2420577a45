/*
 * fuzz_worker.c: the remote workers' wire formats on arbitrary bytes.
 * Input: 1 byte choosing the parser (low 2 bits: 0 hello body, 1 result
 * head, 2 job JSON, 3 query string), then its bytes. Whatever comes in,
 * a parse that succeeds holds only values within the bounds of
 * docs/workers.md, and a job read back builds again and reads back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workerproto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_hello(const char *p, size_t n)
{
	struct workerproto_hello h;
	int i;

	if (workerproto_hello_parse(p, n, &h) == QP_OK) {
		if (h.capacity < 1 || h.capacity > QP_WORKER_CAPACITY_MAX || h.name[0] == '\0' ||
		    h.nmodels < 0 || h.nmodels > QP_WORKER_MODELS_MAX ||
		    !workerproto_printable(h.name, strlen(h.name)) ||
		    strstr(h.protocols, "openai") == NULL)
			abort();
		for (i = 0; i < h.nmodels; i++)
			if (h.models[i].id[0] == '\0' ||
			    strlen(h.models[i].id) > QP_WORKER_MODEL_ID_MAX ||
			    h.models[i].context_length < 0)
				abort();
	}
	workerproto_hello_free(&h);
}

static void
fuzz_head(const char *p, size_t n)
{
	struct workerproto_head h;
	size_t used;

	if (workerproto_head_parse(p, n, &h, &used) != QP_OK)
		return;
	if (h.status < 100 || h.status > 599 || used == 0 || used > n ||
	    used > QP_WORKER_HEAD_MAX + 1 || p[used - 1] != '\n' ||
	    h.raw_len != strlen(h.raw) || h.raw_len >= sizeof(h.raw))
		abort();
}

static void
fuzz_job(const char *p, size_t n)
{
	struct workerproto_job j, k;
	void *t1 = NULL, *t2 = NULL;
	char *out = NULL;
	size_t len;

	if (workerproto_job_parse(p, n, &j, &t1) != QP_OK)
		return;
	if (!workerproto_job_id_valid(j.id, strlen(j.id)))
		abort();
	if (workerproto_job_json(&j, &out, &len) == QP_OK) {
		if (workerproto_job_parse(out, len, &k, &t2) != QP_OK ||
		    strcmp(j.id, k.id) != 0 || strcmp(j.model, k.model) != 0 ||
		    strcmp(j.path, k.path) != 0 || j.stream != k.stream ||
		    j.body_len != k.body_len || memcmp(j.body, k.body, j.body_len) != 0)
			abort();
	}
	free(out);
	workerproto_job_tree_free(t2);
	workerproto_job_tree_free(t1);
}

static void
fuzz_query(const char *p, size_t n)
{
	struct workerproto_query q;
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		return;
	memcpy(s, p, n);
	s[n] = '\0';
	if (workerproto_query_parse(s, &q) == QP_OK &&
	    (q.wait == 0 || q.wait < -1 || q.wait > QP_WORKER_WAIT_MAX_S || q.seq < -1 ||
	    q.seq > 4294967295LL || (q.has_name && (q.name[0] == '\0' ||
	    !workerproto_printable(q.name, strlen(q.name))))))
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;

	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
		fuzz_hello(p, size - 1);
		break;
	case 1:
		fuzz_head(p, size - 1);
		break;
	case 2:
		fuzz_job(p, size - 1);
		break;
	default:
		fuzz_query(p, size - 1);
		break;
	}
	return 0;
}
