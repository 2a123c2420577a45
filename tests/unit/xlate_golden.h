/*
 * xlate_golden.h: golden input/output pairs of a translation, shared by the
 * tests/unit/test_xlate_*.c programs. A case directory holds, per case NAME:
 *
 *   req-NAME.in.json    a client request        -> req-NAME.out.json (the upstream body)
 *                                                  or req-NAME.why (the 400 message)
 *   resp-NAME.in.json   an upstream answer      -> resp-NAME.out.json (the client's)
 *   stream-NAME.in.sse  an upstream SSE stream  -> stream-NAME.out.sse (the client's)
 *   err-NAME.in         an upstream error body  -> err-NAME.out.json
 *
 * and optionally NAME.req.json (the client request that answers and streams
 * are for; a minimal one otherwise), NAME.warn (the losses: a count on the
 * first line, the reasons on the second; none otherwise), stream-NAME.end
 * ("ok" or "upstream": what xlate_stream_finish() returns; "ok" otherwise;
 * "unclean" on a second line: the transfer ended with an error), and
 * err-NAME.status (the HTTP status, 500 otherwise). JSON is compared as
 * values, SSE event by event (names, then data as JSON or as text). Each
 * stream is also fed in many splits of its bytes (the relay's chunks), and
 * every split must give the same output bytes as the whole.
 *
 * With XLATE_GOLDEN_WRITE=1 in the environment the outputs are (re)written
 * instead of compared, for a new case to be reviewed by hand.
 */
#ifndef QP_XLATE_GOLDEN_H
#define QP_XLATE_GOLDEN_H

#include <dirent.h>
#include <errno.h>

#include "../tap.h"
#include "json.h"
#include "sse.h"
#include "xlate.h"

/* The upstream model and clock every golden case is translated with. */
#define GOLDEN_MODEL	"up-model"
#define GOLDEN_NOW	1700000000

/* Reads a whole file into a NUL-terminated buffer (free()); NULL if absent. */
static char *
golden_read(const char *dir, const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			if (len != NULL)
				*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static void
golden_write(const char *dir, const char *name, const char *buf, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(buf, 1, len, f) != len)
		printf("# cannot write %s\n", path);
	if (f != NULL)
		fclose(f);
}

static int
golden_writing(void)
{
	const char *w = getenv("XLATE_GOLDEN_WRITE");

	return w != NULL && strcmp(w, "1") == 0;
}

/* Writes v formatted as the expected output file name. */
static void
golden_write_json(const char *dir, const char *name, const cJSON *v)
{
	struct xlate_buf b = { 0 };
	char *s = cJSON_Print(v);

	if (s != NULL) {
		xlate_buf_puts(&b, s);
		xlate_buf_puts(&b, "\n");
		golden_write(dir, name, b.p, b.len);
	}
	xlate_buf_free(&b);
	cJSON_free(s);
}

/* Compares got (len bytes of JSON) with the expected file; one test point. */
static void
golden_cmp_json(const char *dir, const char *expname, const char *got, size_t len)
{
	cJSON *g, *w = NULL;
	enum qp_err err;
	char *want;
	size_t wlen;

	g = json_parse(got, len, &err);
	if (golden_writing() && g != NULL) {
		golden_write_json(dir, expname, g);
		ok(1, "%s written", expname);
		cJSON_Delete(g);
		return;
	}
	want = golden_read(dir, expname, &wlen);
	if (want != NULL)
		w = json_parse(want, wlen, &err);
	if (!ok(g != NULL && w != NULL && cJSON_Compare(g, w, 1), "%s", expname)) {
		char *pg = g != NULL ? cJSON_Print(g) : NULL;

		printf("# expected (%s):\n%s\n# actual:\n%s\n", expname,
		    want != NULL ? want : "(missing)", pg != NULL ? pg : got);
		cJSON_free(pg);
	}
	cJSON_Delete(g);
	cJSON_Delete(w);
	free(want);
}

/* The warnings file of case base: "count\nreasons\n", compared with w. */
static void
golden_cmp_warn(const char *dir, const char *base, const struct xlate_warn *w)
{
	char name[512], line[XLATE_WARN_TEXT + 64], *want, *nl;
	unsigned count = 0;

	snprintf(name, sizeof(name), "%s.warn", base);
	snprintf(line, sizeof(line), "%u\n%s\n", w->count, w->text);
	if (golden_writing()) {
		if (w->count > 0)
			golden_write(dir, name, line, strlen(line));
		else {
			char path[1024];

			snprintf(path, sizeof(path), "%s/%s", dir, name);
			remove(path);
		}
		return;
	}
	if ((want = golden_read(dir, name, NULL)) != NULL) {
		count = (unsigned)strtoul(want, NULL, 10);
		if ((nl = strchr(want, '\n')) != NULL) {
			nl++;
			nl[strcspn(nl, "\n")] = '\0';
		}
	} else
		nl = NULL;
	is_int(w->count, count, "%s: warning count", base);
	is_str(w->text, nl != NULL ? nl : "", "%s: warnings", base);
	free(want);
}

/* Parses the client request of a case (NAME.req.json, or dflt) into a context. */
static cJSON *
golden_req(const char *dir, const char *base, const char *dflt)
{
	char name[512], *s;
	enum qp_err err;
	cJSON *req;

	snprintf(name, sizeof(name), "%s.req.json", base);
	if ((s = golden_read(dir, name, NULL)) == NULL)
		return json_parse(dflt, strlen(dflt), &err);
	req = json_parse(s, strlen(s), &err);
	free(s);
	return req;
}

/* Fills c for a case's request; returns 1 if the request translated. */
static int
golden_ctx(struct xlate_ctx *c, enum xlate_dir dir, const cJSON *req)
{
	char *body = NULL;
	size_t len;
	enum qp_err err;

	xlate_ctx_init(c);
	err = xlate_request(c, dir, req, GOLDEN_MODEL, XLATE_LOSS_WARN, GOLDEN_NOW, &body, &len);
	free(body);
	if (err != QP_OK)
		printf("# request failed: %s (%s)\n", qp_strerror(err), c->why);
	return err == QP_OK;
}

static void
golden_request(const char *dir, enum xlate_dir xd, const char *base, const char *file)
{
	char name[512], *in, *out = NULL, *want;
	struct xlate_ctx c;
	enum qp_err err;
	cJSON *req;
	size_t len, olen;

	in = golden_read(dir, file, &len);
	req = in != NULL ? json_parse(in, len, &err) : NULL;
	if (!ok(req != NULL, "%s parses", file))
		goto out;
	xlate_ctx_init(&c);
	err = xlate_request(&c, xd, req, GOLDEN_MODEL, XLATE_LOSS_WARN, GOLDEN_NOW, &out, &olen);
	snprintf(name, sizeof(name), "%s.why", base);
	if ((want = golden_read(dir, name, NULL)) != NULL) {
		want[strcspn(want, "\n")] = '\0';
		is_int(err, QP_EINVAL, "%s: refused", base);
		is_str(c.why, want, "%s: reason", base);
		free(want);
	} else if (ok(err == QP_OK, "%s: translates (%s)", base, c.why)) {
		snprintf(name, sizeof(name), "%s.out.json", base);
		golden_cmp_json(dir, name, out, olen);
		golden_cmp_warn(dir, base, &c.warn);
		ok(out[olen] == '\0' && strlen(out) == olen, "%s: NUL-terminated", base);
	}
	xlate_ctx_free(&c);
out:
	free(out);
	cJSON_Delete(req);
	free(in);
}

static void
golden_response(const char *dir, enum xlate_dir xd, const char *base, const char *file,
    const char *dflt_req)
{
	char name[512], *in, *out = NULL;
	struct xlate_ctx c;
	cJSON *req;
	size_t len, olen;
	enum qp_err err;

	in = golden_read(dir, file, &len);
	req = golden_req(dir, base, dflt_req);
	if (!ok(in != NULL && req != NULL && golden_ctx(&c, xd, req), "%s: context", base))
		goto out;
	memset(&c.warn, 0, sizeof(c.warn));
	err = xlate_response(&c, in, len, &out, &olen);
	if (ok(err == QP_OK, "%s: translates (%s)", base, qp_strerror(err))) {
		snprintf(name, sizeof(name), "%s.out.json", base);
		golden_cmp_json(dir, name, out, olen);
		golden_cmp_warn(dir, base, &c.warn);
	}
	xlate_ctx_free(&c);
out:
	free(out);
	cJSON_Delete(req);
	free(in);
}

/* The client's bytes of one stream run. */
struct golden_sink {
	struct xlate_buf out;		/* everything written */
	int		 calls;		/* write calls */
	int		 partial;	/* 1 if a call did not end on an event boundary */
};

static enum qp_err
golden_sink_write(const char *buf, size_t len, void *arg)
{
	struct golden_sink *k = arg;

	k->calls++;
	if (len < 2 || buf[len - 1] != '\n' || buf[len - 2] != '\n')
		k->partial = 1;
	xlate_buf_put(&k->out, buf, len);
	return QP_OK;
}

/* Feeds each upstream event to the transform. */
static enum qp_err
golden_feed_event(const struct sse_event *ev, void *arg)
{

	return xlate_stream_event(arg, ev->event, ev->event_len, ev->data, ev->data_len);
}

/*
 * Runs the stream in[0..len) cut at cuts[0..ncut) through the SSE parser
 * into a transform for c; returns finish's code, output in k.
 */
static enum qp_err
golden_run(const struct xlate_ctx *c, const char *in, size_t len, const size_t *cuts,
    size_t ncut, int clean, struct golden_sink *k, struct xlate_warn *warn)
{
	struct xlate_stream *s;
	struct sse_parser *p;
	size_t from = 0, i, to;
	enum qp_err err = QP_OK;

	memset(k, 0, sizeof(*k));
	s = xlate_stream_new(c, golden_sink_write, k);
	p = s != NULL ? sse_new(0, golden_feed_event, s) : NULL;
	if (p == NULL) {
		xlate_stream_free(s);
		return QP_ENOMEM;
	}
	for (i = 0; i <= ncut && err == QP_OK; i++) {
		to = i < ncut ? cuts[i] : len;
		err = sse_feed(p, in + from, to - from, NULL);
		from = to;
	}
	if (err == QP_OK && sse_finish(p) != QP_OK)
		clean = 0;
	if (err == QP_OK)
		err = xlate_stream_finish(s, clean);
	if (warn != NULL)
		*warn = *xlate_stream_warn(s);
	sse_free(p);
	xlate_stream_free(s);
	return err;
}

/* One SSE event of a comparison list. */
struct golden_ev {
	char		*name;		/* event name, "" if none */
	char		*data;		/* data */
};

struct golden_evs {
	struct golden_ev ev[4096];	/* events */
	size_t		 n;		/* used */
};

static enum qp_err
golden_collect(const struct sse_event *ev, void *arg)
{
	struct golden_evs *l = arg;

	if (l->n == sizeof(l->ev) / sizeof(l->ev[0]))
		return QP_ETOOBIG;
	l->ev[l->n].name = strdup(ev->event);
	l->ev[l->n].data = strdup(ev->data);
	l->n++;
	return QP_OK;
}

static void
golden_evs_free(struct golden_evs *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->ev[i].name);
		free(l->ev[i].data);
	}
	free(l);
}

/* Parses SSE text into events; NULL if it is not whole events. */
static struct golden_evs *
golden_events(const char *s, size_t len)
{
	struct golden_evs *l = calloc(1, sizeof(*l));
	struct sse_parser *p = sse_new(0, golden_collect, l);

	if (l == NULL || p == NULL || sse_feed(p, s, len, NULL) != QP_OK ||
	    sse_finish(p) != QP_OK) {
		sse_free(p);
		if (l != NULL)
			golden_evs_free(l);
		return NULL;
	}
	sse_free(p);
	return l;
}

/* Returns 1 if two event data are equal: as JSON values, or as text. */
static int
golden_same_data(const char *a, const char *b)
{
	cJSON *ja, *jb;
	enum qp_err err;
	int same;

	ja = json_parse(a, strlen(a), &err);
	jb = json_parse(b, strlen(b), &err);
	same = ja != NULL && jb != NULL ? cJSON_Compare(ja, jb, 1) : strcmp(a, b) == 0;
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	return same;
}

/* Compares the client's stream with the expected file; one test point. */
static void
golden_cmp_sse(const char *dir, const char *expname, const char *got, size_t len)
{
	struct golden_evs *g, *w = NULL;
	size_t wlen, i;
	char *want;
	int same;

	if (golden_writing()) {
		golden_write(dir, expname, got, len);
		ok(1, "%s written", expname);
		return;
	}
	want = golden_read(dir, expname, &wlen);
	g = golden_events(got, len);
	if (want != NULL)
		w = golden_events(want, wlen);
	same = g != NULL && w != NULL && g->n == w->n;
	for (i = 0; same && i < g->n; i++)
		if (strcmp(g->ev[i].name, w->ev[i].name) != 0 ||
		    !golden_same_data(g->ev[i].data, w->ev[i].data)) {
			printf("# event %zu differs: %s %s\n#  expected: %s %s\n", i,
			    g->ev[i].name, g->ev[i].data, w->ev[i].name, w->ev[i].data);
			same = 0;
		}
	if (!ok(same, "%s", expname))
		printf("# expected:\n%s\n# actual:\n%.*s\n", want != NULL ? want : "(missing)",
		    (int)len, got);
	if (g != NULL)
		golden_evs_free(g);
	if (w != NULL)
		golden_evs_free(w);
	free(want);
}

/* A small deterministic generator for the split points. */
static uint32_t
golden_rand(uint32_t *state)
{

	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

static int
golden_cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void
golden_stream(const char *dir, enum xlate_dir xd, const char *base, const char *file,
    const char *dflt_req)
{
	static const size_t steps[] = { 1, 2, 3, 5, 7, 13, 64, 1000 };
	char name[512], *in, *end, want_end[32] = "ok";
	struct golden_sink whole, part;
	struct xlate_warn warn;
	struct xlate_ctx c;
	size_t len, i, j, cuts[64], ncut;
	enum qp_err err, e2;
	uint32_t seed = 7;
	cJSON *req;
	int clean = 1, same = 1;

	in = golden_read(dir, file, &len);
	req = golden_req(dir, base, dflt_req);
	if (!ok(in != NULL && req != NULL && golden_ctx(&c, xd, req), "%s: context", base))
		goto out;
	snprintf(name, sizeof(name), "%s.end", base);
	if ((end = golden_read(dir, name, NULL)) != NULL) {
		sscanf(end, "%31s", want_end);
		clean = strstr(end, "unclean") == NULL;
		free(end);
	}
	err = golden_run(&c, in, len, NULL, 0, clean, &whole, &warn);
	is_str(err == QP_OK ? "ok" : err == QP_EUPSTREAM ? "upstream" : qp_strerror(err),
	    want_end, "%s: end of stream", base);
	ok(!whole.partial && whole.out.err == QP_OK, "%s: whole events per write", base);
	snprintf(name, sizeof(name), "%s.out.sse", base);
	golden_cmp_sse(dir, name, whole.out.p != NULL ? whole.out.p : "", whole.out.len);
	golden_cmp_warn(dir, base, &warn);
	/* The same stream in the relay's chunks of every size, and cut at random. */
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]) + 40 && same; i++) {
		if (i < sizeof(steps) / sizeof(steps[0])) {
			for (ncut = 0, j = steps[i]; j < len && ncut < 64; j += steps[i])
				cuts[ncut++] = j;
			if (ncut == 64)
				continue;
		} else {
			ncut = golden_rand(&seed) % 16;
			for (j = 0; j < ncut; j++)
				cuts[j] = len > 0 ? golden_rand(&seed) % len : 0;
			qsort(cuts, ncut, sizeof(cuts[0]), golden_cmp_size);
		}
		e2 = golden_run(&c, in, len, cuts, ncut, clean, &part, NULL);
		same = e2 == err && part.out.len == whole.out.len &&
		    (part.out.len == 0 || memcmp(part.out.p, whole.out.p, part.out.len) == 0) &&
		    !part.partial;
		xlate_buf_free(&part.out);
	}
	ok(same, "%s: same output in every split", base);
	xlate_buf_free(&whole.out);
	xlate_ctx_free(&c);
out:
	cJSON_Delete(req);
	free(in);
}

static void
golden_error(const char *dir, enum xlate_dir xd, const char *base, const char *file)
{
	char name[512], *in, *st, *out = NULL;
	size_t len = 0, olen;
	int status = 500;
	enum qp_err err;

	in = golden_read(dir, file, &len);
	snprintf(name, sizeof(name), "%s.status", base);
	if ((st = golden_read(dir, name, NULL)) != NULL) {
		status = atoi(st);
		free(st);
	}
	err = xlate_error(xd, status, in, len, &out, &olen);
	if (ok(err == QP_OK, "%s: translates", base)) {
		snprintf(name, sizeof(name), "%s.out.json", base);
		golden_cmp_json(dir, name, out, olen);
	}
	free(out);
	free(in);
}

static int
golden_cmp_name(const void *a, const void *b)
{

	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every case of $QP_SRCDIR/tests/data/xlate/sub for the translation xd. */
static void
golden_run_dir(const char *sub, enum xlate_dir xd, const char *dflt_req,
    const char *dflt_stream_req)
{
	char dir[1024], base[256], *names[1024];
	const char *src = getenv("QP_SRCDIR");
	struct dirent *de;
	size_t n = 0, i, l;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/data/xlate/%s", src != NULL ? src : QP_SRCDIR, sub);
	if ((d = opendir(dir)) == NULL) {
		ok(0, "open %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL && n < 1024)
		if (strstr(de->d_name, ".in.") != NULL ||
		    (strlen(de->d_name) > 3 && strcmp(de->d_name + strlen(de->d_name) - 3,
		    ".in") == 0))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), golden_cmp_name);
	ok(n > 0, "%s: %zu cases", sub, n);
	for (i = 0; i < n; i++) {
		l = strstr(names[i], ".in") - names[i];
		snprintf(base, sizeof(base), "%.*s", (int)l, names[i]);
		if (strncmp(names[i], "req-", 4) == 0)
			golden_request(dir, xd, base, names[i]);
		else if (strncmp(names[i], "resp-", 5) == 0)
			golden_response(dir, xd, base, names[i], dflt_req);
		else if (strncmp(names[i], "stream-", 7) == 0)
			golden_stream(dir, xd, base, names[i], dflt_stream_req);
		else if (strncmp(names[i], "err-", 4) == 0)
			golden_error(dir, xd, base, names[i]);
		free(names[i]);
	}
}

#endif /* QP_XLATE_GOLDEN_H */
