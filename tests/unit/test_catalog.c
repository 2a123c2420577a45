/* test_catalog.c: models lists are parsed, stored, fetched with pings, and served as /v1/models. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../tap.h"
#include "catalog.h"
#include "db.h"
#include "migrate.h"

static char tmpdir[] = "/tmp/qp-test-catalog-XXXXXX";

/* ---- helpers -------------------------------------------------------------- */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum qp_err
parse_str(const char *s, struct catalog_list *l)
{

	return catalog_parse(s, strlen(s), l);
}

/* Returns the ids of l joined by ',' (static buffer of the test). */
static const char *
ids(const struct catalog_list *l)
{
	static char buf[8192];
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < l->n && off < sizeof(buf) - 1; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? "," : "",
		    l->models[i].id);
	return buf;
}

/* Runs sql and returns the first column of the first row as an integer (-1 if none). */
static int64_t
q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		printf("# bad query %s: %s\n", sql, sqlite3_errmsg(db));
		return -2;
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Runs sql and joins every row's columns with '|' and rows with ';'. */
static const char *
q_rows(sqlite3 *db, const char *sql)
{
	static char buf[4096];
	sqlite3_stmt *st;
	size_t off = 0;
	int i, rows = 0;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(buf, sizeof(buf), "error: %s", sqlite3_errmsg(db));
		return buf;
	}
	while (sqlite3_step(st) == SQLITE_ROW && off < sizeof(buf) - 1) {
		if (rows++)
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, ";");
		for (i = 0; i < sqlite3_column_count(st) && off < sizeof(buf) - 1; i++) {
			const char *t = (const char *)sqlite3_column_text(st, i);

			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
			    i ? "|" : "", t != NULL ? t : "NULL");
		}
	}
	sqlite3_finalize(st);
	return buf;
}

/* Returns the ids of a /v1/models list joined by ','. */
static const char *
json_ids(const cJSON *list)
{
	static char buf[4096];
	const cJSON *e, *id;
	size_t off = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(list, "data")) {
		id = cJSON_GetObjectItemCaseSensitive(e, "id");
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", off ? "," : "",
		    cJSON_IsString(id) ? id->valuestring : "?");
		if (off >= sizeof(buf))
			break;
	}
	return buf;
}

/* Returns entry id of a /v1/models list, or NULL. */
static const cJSON *
json_entry(const cJSON *list, const char *id)
{
	const cJSON *e, *v;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(list, "data")) {
		v = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
			return e;
	}
	return NULL;
}

static const char *
json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t
json_int(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

/* ---- a tiny HTTP server on 127.0.0.1 --------------------------------------- */

struct srv {
	int		 fd;		/* listening socket */
	int		 port;		/* its port */
	pthread_t	 th;		/* serving thread */
	atomic_int	 stop;		/* 1 = return */
	pthread_mutex_t	 lock;		/* guards head */
	char		 head[4096];	/* last request head */
	atomic_int	 requests;	/* requests answered */
};

static void
send_all(int c, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(c, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void
reply(int c, int status, const char *body)
{
	char head[256];

	snprintf(head, sizeof(head), "HTTP/1.1 %d Test\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, strlen(body));
	send_all(c, head, strlen(head));
	send_all(c, body, strlen(body));
}

/* Answers one request by its path. */
static void
serve_one(struct srv *s, int c)
{
	char head[4096], target[1024], *sp, *q;
	size_t len = 0;
	ssize_t r;
	struct pollfd pfd;

	head[0] = '\0';
	while (len < sizeof(head) - 1 && strstr(head, "\r\n\r\n") == NULL) {
		pfd.fd = c;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 2000) <= 0)
			return;
		if ((r = recv(c, head + len, sizeof(head) - 1 - len, 0)) <= 0)
			return;
		len += (size_t)r;
		head[len] = '\0';
	}
	pthread_mutex_lock(&s->lock);
	memcpy(s->head, head, sizeof(head));
	pthread_mutex_unlock(&s->lock);
	/* "GET target HTTP/1.1"; a proxied request has an absolute target. */
	if ((sp = strchr(head, ' ')) == NULL)
		return;
	snprintf(target, sizeof(target), "%s", sp + 1);
	if ((sp = strchr(target, ' ')) != NULL)
		*sp = '\0';
	sp = target;
	if (strncmp(sp, "http://", 7) == 0 && (sp = strchr(sp + 7, '/')) == NULL)
		sp = target;
	q = strchr(sp, '?');
	if (q != NULL)
		*q++ = '\0';
	atomic_fetch_add(&s->requests, 1);
	if (strcmp(sp, "/ok/models") == 0)
		reply(c, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o\",\"object\":\"model\","
		    "\"created\":1,\"owned_by\":\"x\"},{\"id\":\"o3\"},{\"id\":\"gpt-4.1\"}]}");
	else if (strcmp(sp, "/auth/models") == 0)
		reply(c, 401, "{\"error\":{\"message\":\"Invalid API key\",\"type\":\"auth\"}}");
	else if (strcmp(sp, "/empty/models") == 0)
		reply(c, 200, "{\"object\":\"list\",\"data\":[]}");
	else if (strcmp(sp, "/junk/models") == 0)
		reply(c, 200, "<html>gateway</html>");
	else if (strcmp(sp, "/anth/v1/models") == 0) {
		if (q != NULL && strstr(q, "after_id=claude-b") != NULL)
			reply(c, 200, "{\"data\":[{\"type\":\"model\",\"id\":\"claude-c\","
			    "\"display_name\":\"Claude C\"}],\"has_more\":false,"
			    "\"first_id\":\"claude-c\",\"last_id\":\"claude-c\"}");
		else
			reply(c, 200, "{\"data\":[{\"type\":\"model\",\"id\":\"claude-a\","
			    "\"display_name\":\"Claude A\",\"created_at\":\"2025-01-01T00:00:00Z\"},"
			    "{\"type\":\"model\",\"id\":\"claude-b\",\"display_name\":\"Claude B\"}],"
			    "\"has_more\":true,\"first_id\":\"claude-a\",\"last_id\":\"claude-b\"}");
	} else if (strcmp(sp, "/slow/models") == 0) {
		/* Answer late, unless the client gives up first. */
		pfd.fd = c;
		pfd.events = POLLIN;
		poll(&pfd, 1, 3000);
		reply(c, 200, "{\"data\":[{\"id\":\"late\"}]}");
	} else
		reply(c, 404, "{\"error\":\"no such path\"}");
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	struct pollfd pfd;
	int c;

	while (!atomic_load(&s->stop)) {
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((c = accept(s->fd, NULL, NULL)) < 0)
			continue;
		serve_one(s, c);
		close(c);
	}
	return NULL;
}

static int
srv_start(struct srv *s)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	if ((s->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->fd, 16) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->th, NULL, srv_main, s) == 0 ? 0 : -1;
}

static void
srv_stop(struct srv *s)
{

	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
}

/* Returns 1 if the last request head contains text (case-sensitive). */
static int
srv_saw(struct srv *s, const char *text)
{
	int found;

	pthread_mutex_lock(&s->lock);
	found = strstr(s->head, text) != NULL;
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* Returns a port on 127.0.0.1 that nobody listens on. */
static int
closed_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd, port = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return port;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* ---- configuration ---------------------------------------------------------- */

static void
prov_init(struct config_provider *p, const char *id, const char *base, const char *path,
    unsigned protocols, enum config_auth auth, struct config_account *a, int na)
{

	memset(p, 0, sizeof(*p));
	p->id = (char *)id;
	p->base_url = (char *)base;
	p->models_path = (char *)path;
	p->protocols = protocols;
	p->auth = auth;
	p->enabled = 1;
	p->accounts = a;
	p->naccounts = na;
	p->connect_timeout_ms = 1000;
	p->first_byte_timeout_ms = 2000;
}

static void
acc_init(struct config_account *a, const char *name, const char *key)
{

	memset(a, 0, sizeof(*a));
	a->name = (char *)name;
	a->api_key = (char *)key;
	a->enabled = 1;
	a->weight = 1.0;
}

/* ---- parsing ------------------------------------------------------------------ */

static void
test_parse(void)
{
	struct catalog_list l;
	char big[200000], id[CATALOG_ID_MAX + 2];
	size_t off;
	int i;

	memset(&l, 0, sizeof(l));
	is_int(parse_str("{\"object\":\"list\",\"data\":[{\"id\":\"o3\",\"object\":\"model\","
	    "\"created\":1,\"owned_by\":\"openai\"},{\"id\":\"gpt-4o\",\"object\":\"model\"}]}",
	    &l), QP_OK, "OpenAI list parses");
	is_str(ids(&l), "gpt-4o,o3", "OpenAI ids, sorted");
	is_str(catalog_shape_name(l.shape), "openai", "OpenAI shape recognised");
	is_int(l.models[0].protocol, 0, "OpenAI items say no protocol");
	is_int(l.has_more, 0, "no pagination");
	catalog_list_free(&l);

	is_int(parse_str("{\"data\":[{\"type\":\"model\",\"id\":\"claude-sonnet-4-20250514\","
	    "\"display_name\":\"Claude Sonnet 4\",\"created_at\":\"2025-05-22T00:00:00Z\"}],"
	    "\"has_more\":true,\"first_id\":\"claude-sonnet-4-20250514\","
	    "\"last_id\":\"claude-sonnet-4-20250514\"}", &l), QP_OK, "Anthropic list parses");
	is_str(ids(&l), "claude-sonnet-4-20250514", "Anthropic id");
	is_str(catalog_shape_name(l.shape), "anthropic", "Anthropic shape recognised");
	is_str(l.models[0].display_name, "Claude Sonnet 4", "display_name kept");
	is_int(l.models[0].protocol, CONFIG_PROTO_ANTHROPIC, "Anthropic items speak anthropic");
	is_int(l.has_more, 1, "has_more read");
	is_str(l.last_id, "claude-sonnet-4-20250514", "last_id read");
	catalog_list_free(&l);

	is_int(parse_str("[{\"id\":\"llama3.2:3b\"},{\"id\":\"qwen2.5-coder:7b\",\"extra\":"
	    "{\"size\":[1,2,{\"x\":null}]}}]", &l), QP_OK, "bare array parses");
	is_str(ids(&l), "llama3.2:3b,qwen2.5-coder:7b", "bare array ids, extra fields ignored");
	is_str(catalog_shape_name(l.shape), "array", "array shape");
	catalog_list_free(&l);

	is_int(parse_str("{\"data\":[{\"id\":\"\"},{\"id\":5},\"text\",null,{\"noid\":1},"
	    "{\"id\":\"has space\"},{\"id\":\"ok-model\"},{\"id\":\"ctl\\u0001x\"},"
	    "{\"id\":\"tab\\tx\"},{\"id\":\"del\\u007fx\"}]}", &l), QP_OK,
	    "malformed items do not fail the list");
	is_str(ids(&l), "ok-model", "only the valid item is kept");
	is_int(l.skipped, 9, "malformed items counted");
	catalog_list_free(&l);

	is_int(parse_str("{\"data\":[{\"id\":\"x\"},{\"id\":\"x\",\"display_name\":\"X\"},"
	    "{\"id\":\"y\",\"name\":\"Why\"},{\"id\":\"z\",\"title\":\"Zed\"}]}", &l), QP_OK,
	    "duplicates parse");
	is_str(ids(&l), "x,y,z", "duplicate ids kept once");
	is_str(l.models[0].display_name, "X", "the duplicate with a name wins");
	is_str(l.models[1].display_name, "Why", "name used as display name");
	is_str(l.models[2].display_name, "Zed", "title used as display name");
	ok(catalog_list_has(&l, "y") && !catalog_list_has(&l, "w"), "catalog_list_has");
	catalog_list_free(&l);

	is_int(parse_str("{\"models\":[{\"name\":\"models/gemini-2.0-flash\","
	    "\"displayName\":\"G\"}]}", &l), QP_OK, "a list under \"models\" parses");
	is_str(ids(&l), "models/gemini-2.0-flash", "its name is the id");
	is_str(l.models[0].display_name, "", "no display name when name is the id");
	catalog_list_free(&l);

	is_int(parse_str("{\"data\":[{\"id\":\"m\",\"protocol\":\"anthropic\"},"
	    "{\"id\":\"n\",\"api_type\":\"openai\"}]}", &l), QP_OK, "protocol fields parse");
	is_int(l.models[0].protocol, CONFIG_PROTO_ANTHROPIC, "protocol anthropic read");
	is_int(l.models[1].protocol, CONFIG_PROTO_OPENAI, "api_type openai read");
	catalog_list_free(&l);

	/* UTF-8: valid kept, invalid and surrogates refused. */
	is_int(parse_str("{\"data\":[{\"id\":\"bad\xc3\x28\"},{\"id\":\"caf\xc3\xa9\"},"
	    "{\"id\":\"\xed\xa0\x80s\"},{\"id\":\"\xc0\xafover\"}]}", &l), QP_OK,
	    "UTF-8 list parses");
	is_str(ids(&l), "caf\xc3\xa9", "only valid UTF-8 ids kept");
	is_int(l.skipped, 3, "invalid UTF-8 ids skipped");
	catalog_list_free(&l);

	/* Length bound of an id. */
	memset(id, 'a', sizeof(id));
	id[CATALOG_ID_MAX] = '\0';
	snprintf(big, sizeof(big), "[{\"id\":\"%s\"},{\"id\":\"%sb\"}]", id, id);
	is_int(parse_str(big, &l), QP_OK, "long ids parse");
	is_int(l.n, 1, "an id of CATALOG_ID_MAX bytes is kept, one longer is not");
	catalog_list_free(&l);

	/* Count bound. */
	off = (size_t)snprintf(big, sizeof(big), "{\"data\":[");
	for (i = 0; i < CATALOG_MODELS_MAX + 500 && off < sizeof(big) - 40; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off, "%s{\"id\":\"m%05d\"}",
		    i ? "," : "", i);
	snprintf(big + off, sizeof(big) - off, "]}");
	is_int(parse_str(big, &l), QP_OK, "a huge list parses");
	is_int(l.n, CATALOG_MODELS_MAX, "count bounded at CATALOG_MODELS_MAX");
	is_int(l.truncated, 1, "truncation reported");
	catalog_list_free(&l);

	/* Junk. */
	is_int(parse_str("not json", &l), QP_EPARSE, "not JSON refused");
	is_int(catalog_parse("", 0, &l), QP_EPARSE, "empty body refused");
	is_int(parse_str("{\"error\":{\"message\":\"bad key\"}}", &l), QP_EPARSE,
	    "an error object is not a list");
	is_int(parse_str("{\"data\":{\"id\":\"x\"}}", &l), QP_EPARSE, "data not an array refused");
	is_int(parse_str("42", &l), QP_EPARSE, "a number refused");
	is_int(parse_str("{\"data\":[]} x", &l), QP_EPARSE, "trailing bytes refused");
	memset(big, '[', 100);
	memset(big + 100, ']', 100);
	is_int(catalog_parse(big, 200, &l), QP_ETOOBIG, "deep nesting refused");
	is_int(catalog_parse("{\"data\":[{\"id\":\"a\"}]}", 10, &l), QP_EPARSE,
	    "length is honoured (no NUL needed)");
	is_int(l.n, 0, "nothing added by junk");

	is_int(parse_str("{\"object\":\"list\",\"data\":[]}", &l), QP_OK, "empty list parses");
	is_int(l.n, 0, "empty list holds nothing");

	/* Pages add up; an error keeps what was there. */
	parse_str("{\"data\":[{\"id\":\"b\"},{\"id\":\"a\"}],\"has_more\":true,\"last_id\":\"b\"}",
	    &l);
	is_int(parse_str("garbage", &l), QP_EPARSE, "bad second page refused");
	is_str(ids(&l), "a,b", "first page kept after a bad one");
	is_int(parse_str("{\"data\":[{\"id\":\"c\"},{\"id\":\"a\"}],\"has_more\":false}", &l),
	    QP_OK, "second page parses");
	is_str(ids(&l), "a,b,c", "pages merge without duplicates");
	is_int(l.has_more, 0, "the last page ends pagination");
	catalog_list_free(&l);
}

/* ---- storage ------------------------------------------------------------------- */

static void
list_of(struct catalog_list *l, const char *json)
{

	memset(l, 0, sizeof(*l));
	if (parse_str(json, l) != QP_OK)
		printf("# cannot parse %s\n", json);
}

static void
test_store(sqlite3 *db, struct catalog_db *c)
{
	struct config_account acc[2];
	struct config_provider prov[2];
	struct config cfg;
	struct catalog_list l;
	char *statics1[1] = { "b" }, *statics2[2] = { "static-1", "bad id" };
	int n = -1;
	int64_t pruned = -1;
	struct catalog_ping ping;

	list_of(&l, "{\"data\":[{\"id\":\"a\"},{\"id\":\"b\",\"display_name\":\"Bee\"}]}");
	is_int(catalog_store(c, "p1", CONFIG_PROTO_OPENAI, &l, 1000), QP_OK, "store p1 [a,b]");
	catalog_list_free(&l);
	is_str(q_rows(db, "SELECT model_id, source, first_seen_at, last_seen_at, display_name "
	    "FROM model_catalog WHERE provider_id = 'p1' ORDER BY model_id"),
	    "a|upstream|1000|1000|NULL;b|upstream|1000|1000|Bee", "rows stored as upstream");

	list_of(&l, "{\"data\":[{\"id\":\"b\"},{\"id\":\"c\"}]}");
	is_int(catalog_store(c, "p1", CONFIG_PROTO_OPENAI, &l, 2000), QP_OK, "store p1 [b,c]");
	catalog_list_free(&l);
	is_str(q_rows(db, "SELECT model_id, first_seen_at, last_seen_at, display_name "
	    "FROM model_catalog WHERE provider_id = 'p1' ORDER BY model_id"),
	    "b|1000|2000|Bee;c|2000|2000|NULL",
	    "new list replaces the old: a gone, b keeps first_seen_at and its name");

	memset(&l, 0, sizeof(l));
	is_int(catalog_store(c, "p1", CONFIG_PROTO_OPENAI, &l, 3000), QP_OK, "store empty list");
	is_str(q_rows(db, "SELECT model_id, last_seen_at FROM model_catalog "
	    "WHERE provider_id = 'p1' ORDER BY model_id"), "b|2000;c|2000",
	    "an empty list keeps the last good catalog");

	list_of(&l, "{\"data\":[{\"type\":\"model\",\"id\":\"claude-x\"}],\"has_more\":false}");
	is_int(catalog_store(c, "p2", CONFIG_PROTO_OPENAI | CONFIG_PROTO_ANTHROPIC, &l, 1000),
	    QP_OK, "store an Anthropic-shaped list");
	is_int(catalog_store(c, "p3", CONFIG_PROTO_OPENAI, &l, 1000), QP_OK,
	    "store it for an OpenAI-only provider");
	catalog_list_free(&l);
	is_str(q_rows(db, "SELECT provider_id, protocol FROM model_catalog "
	    "WHERE model_id = 'claude-x' ORDER BY provider_id"), "p2|anthropic;p3|NULL",
	    "a protocol is stored only if the provider speaks it");

	/* Static models. */
	memset(&cfg, 0, sizeof(cfg));
	acc_init(&acc[0], "a1", "k1");
	acc_init(&acc[1], "a2", "k2");
	prov_init(&prov[0], "p1", "http://127.0.0.1:1", "/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[0], 1);
	prov_init(&prov[1], "p2", "http://127.0.0.1:1", NULL, CONFIG_PROTO_ANTHROPIC,
	    CONFIG_AUTH_DEFAULT, &acc[1], 1);
	prov[0].models = statics1;
	prov[0].nmodels = 1;
	prov[1].models = statics2;
	prov[1].nmodels = 2;
	cfg.providers = prov;
	cfg.nproviders = 2;
	is_int(catalog_store_static(c, &cfg, 4000, &n), QP_OK, "store static models");
	is_int(n, 2, "two valid static models (an id with a space is ignored)");
	is_str(q_rows(db, "SELECT provider_id, model_id, source, first_seen_at FROM model_catalog "
	    "WHERE source = 'static' ORDER BY provider_id, model_id"),
	    "p1|b|static|1000;p2|static-1|static|4000",
	    "static rows, an upstream row turned static keeps first_seen_at");

	list_of(&l, "{\"data\":[{\"id\":\"c\"}]}");
	catalog_store(c, "p1", CONFIG_PROTO_OPENAI, &l, 5000);
	catalog_list_free(&l);
	is_str(q_rows(db, "SELECT model_id, source FROM model_catalog WHERE provider_id = 'p1' "
	    "ORDER BY model_id"), "b|static;c|upstream",
	    "a static model survives a list without it");

	prov[0].nmodels = 0;
	is_int(catalog_store_static(c, &cfg, 6000, &n), QP_OK, "store static models again");
	is_str(q_rows(db, "SELECT model_id, source FROM model_catalog WHERE provider_id = 'p1' "
	    "ORDER BY model_id"), "c|upstream", "a static model dropped from the config goes");

	/* Pings and pruning. */
	memset(&ping, 0, sizeof(ping));
	ping.probed_at = 100;
	ping.latency_ms = -1;
	ping.model_count = -1;
	snprintf(ping.error, sizeof(ping.error), "timeout");
	is_int(catalog_record_ping(c, "p1", NULL, &ping), QP_OK, "record a failed ping");
	ping.probed_at = 10000;
	ping.latency_ms = 12;
	ping.status_code = 200;
	ping.ok = 1;
	ping.error[0] = '\0';
	ping.model_count = 3;
	is_int(catalog_record_ping(c, "p1", "a1", &ping), QP_OK, "record a good ping");
	is_str(q_rows(db, "SELECT provider_id, account_name, probed_at, latency_ms, status_code, "
	    "ok, error, model_count FROM provider_pings ORDER BY id"),
	    "p1|NULL|100|NULL|NULL|0|timeout|NULL;p1|a1|10000|12|200|1|NULL|3",
	    "ping rows, unknowns as NULL");
	is_int(catalog_prune_pings(c, 5000, &pruned), QP_OK, "prune pings");
	is_int(pruned, 1, "one old ping pruned");
	is_int(q_int(db, "SELECT count(*) FROM provider_pings"), 1, "the recent ping stays");
	sqlite3_exec(db, "DELETE FROM provider_pings; DELETE FROM model_catalog", NULL, NULL, NULL);
}

/* ---- /v1/models ----------------------------------------------------------------- */

static void
test_build(void)
{
	struct config_account acc[4];
	struct config_provider prov[4];
	struct config cfg;
	struct catalog_row rows[8];
	char *statics[2] = { "static-1", "gpt-4o" };
	const cJSON *e, *ext;
	cJSON *list;
	char *text;
	int n = 0;

	memset(&cfg, 0, sizeof(cfg));
	acc_init(&acc[0], "a1", "k1");
	acc_init(&acc[1], "a2", "k2");
	acc_init(&acc[2], "a3", "k3");
	acc_init(&acc[3], "a4", NULL);
	acc[3].api_key_env = "UNSET_VARIABLE";
	prov_init(&prov[0], "p1", "http://x", "/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[0], 1);
	prov_init(&prov[1], "p2", "http://x", "/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[1], 1);
	prov_init(&prov[2], "off", "http://x", "/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[2], 1);
	prov_init(&prov[3], "nokey", "http://x", "/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[3], 1);
	prov[0].routing_priority = 1;
	prov[1].routing_priority = 2;
	prov[2].enabled = 0;
	prov[1].models = statics;
	prov[1].nmodels = 2;
	cfg.providers = prov;
	cfg.nproviders = 4;

	memset(rows, 0, sizeof(rows));
	rows[n++] = (struct catalog_row){ "p1", "gpt-4o", "GPT-4o", 5000, 0, 0 };
	rows[n++] = (struct catalog_row){ "p2", "gpt-4o", NULL, 3000, 0, 0 };
	rows[n++] = (struct catalog_row){ "p1", "a", NULL, 1000, 0, 0 };
	rows[n++] = (struct catalog_row){ "p1", "a-b", NULL, 1000, 0, 0 };
	rows[n++] = (struct catalog_row){ "off", "hidden", NULL, 1000, 0, 0 };
	rows[n++] = (struct catalog_row){ "nokey", "hidden2", NULL, 1000, 0, 0 };
	rows[n++] = (struct catalog_row){ "gone", "hidden3", NULL, 1000, 0, 0 };

	ok(catalog_provider_served(&prov[0]), "provider with an account is served");
	ok(!catalog_provider_served(&prov[2]), "disabled provider is not served");
	ok(!catalog_provider_served(&prov[3]), "provider whose key variable is unset is not served");

	list = catalog_models_build(&cfg, rows, n, 7000000);
	ok(list != NULL, "suffixed list built");
	is_str(json_str(list, "object"), "list", "object list");
	is_str(json_ids(list), "a-b/p1,a/p1,gpt-4o/p1,gpt-4o/p2,static-1/p2",
	    "one suffixed id per (model, provider), sorted by id, hidden providers left out");
	e = json_entry(list, "gpt-4o/p1");
	is_str(json_str(e, "object"), "model", "entry object model");
	is_int(json_int(e, "created"), 5, "created = first seen in seconds");
	is_str(json_str(e, "owned_by"), "p1", "owned_by the provider");
	is_str(json_str(e, "name"), "GPT-4o", "name = display name");
	ext = cJSON_GetObjectItemCaseSensitive(e, "quotapool");
	is_str(json_str(ext, "model"), "gpt-4o", "quotapool.model is the base id");
	is_int(json_int(ext, "routing_priority"), 1, "quotapool.routing_priority");
	e = json_entry(list, "static-1/p2");
	is_int(json_int(e, "created"), 7000, "a static model not yet stored is created now");
	is_str(json_str(e, "name"), "static-1", "name falls back to the id");
	e = json_entry(list, "gpt-4o/p2");
	is_int(json_int(e, "created"), 3, "a static model that is stored keeps its row");
	cJSON_Delete(list);

	cfg.models.collapse_models = 1;
	list = catalog_models_build(&cfg, rows, n, 7000000);
	ok(list != NULL, "collapsed list built");
	is_str(json_ids(list), "a,a-b,gpt-4o,static-1", "one unsuffixed id per model, sorted");
	e = json_entry(list, "gpt-4o");
	is_str(json_str(e, "owned_by"), "p2", "owned_by the provider of highest priority");
	is_int(json_int(e, "created"), 3, "created = earliest first seen");
	is_str(json_str(e, "name"), "GPT-4o", "name from a provider that has one");
	ext = cJSON_GetObjectItemCaseSensitive(e, "quotapool");
	text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ext, "providers"));
	is_str(text, "[\"p2\",\"p1\"]", "providers in priority order");
	cJSON_free(text);
	prov[1].routing_priority = 1;
	cJSON_Delete(list);
	list = catalog_models_build(&cfg, rows, n, 7000000);
	is_str(json_str(json_entry(list, "gpt-4o"), "owned_by"), "p1",
	    "equal priorities: file order");
	cJSON_Delete(list);

	list = catalog_models_build(&cfg, NULL, 0, 7000000);
	is_str(json_ids(list), "gpt-4o,static-1", "static models alone");
	cJSON_Delete(list);
	prov[1].nmodels = 0;
	list = catalog_models_build(&cfg, NULL, 0, 7000000);
	text = cJSON_PrintUnformatted(list);
	is_str(text, "{\"object\":\"list\",\"data\":[]}", "empty catalog: empty list");
	cJSON_free(text);
	cJSON_Delete(list);
}

static void
test_models_json(sqlite3 *db, struct catalog_db *c)
{
	struct config_account acc[1];
	struct config_provider prov[1];
	struct config cfg;
	struct catalog_list l;
	enum qp_err err;
	cJSON *list;
	int n = -1;

	memset(&cfg, 0, sizeof(cfg));
	acc_init(&acc[0], "a1", "k1");
	prov_init(&prov[0], "p1", "http://x", "/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[0], 1);
	cfg.providers = prov;
	cfg.nproviders = 1;
	is_int(catalog_count(c, &cfg, &n), QP_OK, "count an empty catalog");
	is_int(n, 0, "no usable model catalog");
	list_of(&l, "{\"data\":[{\"id\":\"m2\"},{\"id\":\"m1\",\"display_name\":\"One\"}]}");
	catalog_store(c, "p1", CONFIG_PROTO_OPENAI, &l, 9000);
	catalog_store(c, "other", CONFIG_PROTO_OPENAI, &l, 9000);
	catalog_list_free(&l);
	list = catalog_models_json(c, &cfg, 10000, &err);
	is_int(err, QP_OK, "models json from the database");
	is_str(json_ids(list), "m1/p1,m2/p1", "database rows of configured providers");
	is_str(json_str(json_entry(list, "m1/p1"), "name"), "One", "display name from the row");
	is_int(json_int(json_entry(list, "m1/p1"), "created"), 9, "created from first_seen_at");
	cJSON_Delete(list);
	is_int(catalog_count(c, &cfg, &n), QP_OK, "count the catalog");
	is_int(n, 2, "two models served");
	sqlite3_exec(db, "DELETE FROM model_catalog", NULL, NULL, NULL);
}

/* ---- fetching ------------------------------------------------------------------- */

struct canceller {
	atomic_int	*flag;
	int		 after_ms;
};

static void *
cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct timespec ts = { 0, (long)c->after_ms * 1000000 };

	nanosleep(&ts, NULL);
	atomic_store(c->flag, 1);
	return NULL;
}

static void
test_fetch(sqlite3 *db, struct catalog_db *c)
{
	struct srv s;
	struct config_account acc[8];
	struct config_provider prov[8];
	struct config cfg;
	struct catalog_fetcher *f;
	struct catalog_list l;
	struct catalog_ping ping;
	struct catalog_report rep;
	struct canceller cn;
	pthread_t th;
	atomic_int cancel;
	char base[128], dead[128], proxy[128];
	enum qp_err err;
	int64_t t0, took;

	if (srv_start(&s) != 0) {
		printf("Bail out! cannot start the test HTTP server\n");
		exit(1);
	}
	atomic_init(&cancel, 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", closed_port());
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", s.port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.upstream.connect_timeout_ms = 1000;
	cfg.upstream.first_byte_timeout_ms = 2000;
	acc_init(&acc[0], "ok-acc", "sk-test-openai");
	acc_init(&acc[1], "anth-acc", "sk-ant-test");
	acc_init(&acc[2], "auth-acc", "sk-wrong");
	acc_init(&acc[3], "slow-acc", "k");
	acc_init(&acc[4], "local", NULL);
	acc_init(&acc[5], "empty-acc", "k");
	acc_init(&acc[6], "dead-acc", "k");
	acc_init(&acc[7], "proxied", "k");
	acc[7].proxy_url = proxy;
	prov_init(&prov[0], "okp", base, "/ok/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[0], 1);
	prov_init(&prov[1], "anth", base, "/anth/v1/models", CONFIG_PROTO_ANTHROPIC,
	    CONFIG_AUTH_DEFAULT, &acc[1], 1);
	prov_init(&prov[2], "authp", base, "/auth/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_BEARER, &acc[2], 1);
	prov_init(&prov[3], "slowp", base, "/slow/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[3], 1);
	prov[3].first_byte_timeout_ms = 500;
	prov_init(&prov[4], "localp", base, "/ok/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_NONE, &acc[4], 1);
	prov_init(&prov[5], "emptyp", base, "/empty/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[5], 1);
	prov_init(&prov[6], "deadp", dead, "/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[6], 1);
	prov_init(&prov[7], "proxyp", dead, "/ok/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[7], 1);
	cfg.providers = prov;
	cfg.nproviders = 8;

	f = catalog_fetcher_new(&cancel, &err);
	ok(f != NULL, "fetcher made");

	memset(&l, 0, sizeof(l));
	is_int(catalog_fetch(f, &cfg, &prov[0], &acc[0], &l, &ping), QP_OK, "fetch an OpenAI list");
	is_str(ids(&l), "gpt-4.1,gpt-4o,o3", "its models");
	ok(ping.ok && ping.status_code == 200 && ping.model_count == 3 && ping.latency_ms >= 0,
	    "ping: ok, 200, 3 models, latency %lld ms", (long long)ping.latency_ms);
	ok(srv_saw(&s, "GET /ok/models HTTP/1.1"), "GET {base_url}{models_path}");
	ok(srv_saw(&s, "Authorization: Bearer sk-test-openai\r\n"), "Bearer key sent");
	ok(!srv_saw(&s, "x-api-key"), "no x-api-key for an OpenAI provider");
	ok(srv_saw(&s, "Accept: application/json"), "Accept: application/json");
	catalog_list_free(&l);

	is_int(catalog_fetch(f, &cfg, &prov[1], &acc[1], &l, &ping), QP_OK,
	    "fetch a paginated Anthropic list");
	is_str(ids(&l), "claude-a,claude-b,claude-c", "both pages read");
	is_int(ping.pages, 2, "two pages fetched");
	ok(srv_saw(&s, "after_id=claude-b"), "second page asked with after_id");
	ok(srv_saw(&s, "x-api-key: sk-ant-test\r\n"), "x-api-key for an Anthropic-only provider");
	ok(srv_saw(&s, "anthropic-version: 2023-06-01\r\n"), "anthropic-version sent");
	ok(!srv_saw(&s, "Authorization:"), "no Authorization header then");
	catalog_list_free(&l);

	is_int(catalog_fetch(f, &cfg, &prov[4], &acc[4], &l, &ping), QP_OK,
	    "fetch from a provider with auth none");
	ok(!srv_saw(&s, "Authorization:") && !srv_saw(&s, "x-api-key"), "no credentials sent");
	catalog_list_free(&l);

	is_int(catalog_fetch(f, &cfg, &prov[2], &acc[2], &l, &ping), QP_EUPSTREAM, "401 fails");
	ok(!ping.ok && ping.status_code == 401, "ping: not ok, status 401");
	is_str(ping.error, "HTTP 401", "ping error names the status");
	is_int(l.n, 0, "nothing parsed from an error");

	t0 = mono_ms();
	is_int(catalog_fetch(f, &cfg, &prov[3], &acc[3], &l, &ping), QP_ETIMEOUT,
	    "slow answer times out");
	took = mono_ms() - t0;
	/* Only the timeout ends it before the answer comes at 3000 ms. */
	ok(took >= 400 && took < 2500, "within the 500 ms timeout (%lld ms)", (long long)took);
	is_str(ping.error, "timeout", "ping error timeout");
	ok(ping.status_code == 0 && ping.latency_ms == -1, "no status, no latency");

	is_int(catalog_fetch(f, &cfg, &prov[6], &acc[6], &l, &ping), QP_EUPSTREAM,
	    "refused connection fails");
	ok(strncmp(ping.error, "transport: ", 11) == 0, "transport error: %s", ping.error);

	is_int(catalog_fetch(f, &cfg, &prov[7], &acc[7], &l, &ping), QP_OK,
	    "fetch through the account's proxy");
	ok(srv_saw(&s, "GET http://127.0.0.1:"), "the proxy got the absolute URL");
	catalog_list_free(&l);

	/* Cancellation aborts a transfer in progress. */
	prov[3].first_byte_timeout_ms = 20000;
	cn.flag = &cancel;
	cn.after_ms = 200;
	pthread_create(&th, NULL, cancel_later, &cn);
	t0 = mono_ms();
	is_int(catalog_fetch(f, &cfg, &prov[3], &acc[3], &l, &ping), QP_ECLOSED,
	    "cancelled fetch returns QP_ECLOSED");
	took = mono_ms() - t0;
	pthread_join(th, NULL);
	/* Cancelled at 200 ms; uncancelled it would wait for the answer at 3000. */
	ok(took < 2500, "cancelled promptly (%lld ms)", (long long)took);
	atomic_store(&cancel, 0);
	prov[3].first_byte_timeout_ms = 500;

	/* A whole refresh: pings for every provider, failures keep the last good list. */
	list_of(&l, "{\"data\":[{\"id\":\"kept-1\"},{\"id\":\"kept-2\"}]}");
	catalog_store(c, "authp", CONFIG_PROTO_OPENAI, &l, 1000);
	catalog_store(c, "emptyp", CONFIG_PROTO_OPENAI, &l, 1000);
	catalog_store(c, "slowp", CONFIG_PROTO_OPENAI, &l, 1000);
	catalog_list_free(&l);
	prov[1].enabled = 0;
	prov[7].enabled = 0;
	acc[6].enabled = 0;
	is_int(catalog_refresh(c, f, &cfg, 1, &rep), QP_OK, "refresh the catalog");
	is_int(rep.providers, 5, "five providers fetched (disabled ones skipped)");
	is_int(rep.failed, 3, "three failed (401, empty, slow)");
	is_int(rep.models, 6, "six models listed");
	is_str(q_rows(db, "SELECT provider_id, account_name, ok, COALESCE(status_code, '-'), "
	    "COALESCE(error, '-'), COALESCE(model_count, '-'), latency_ms IS NOT NULL "
	    "FROM provider_pings ORDER BY id"),
	    "okp|ok-acc|1|200|-|3|1;authp|auth-acc|0|401|HTTP 401|-|1;"
	    "slowp|slow-acc|0|-|timeout|-|0;localp|local|1|200|-|3|1;"
	    "emptyp|empty-acc|0|200|empty models list|0|1",
	    "one ping row per fetch");
	is_str(q_rows(db, "SELECT provider_id, group_concat(model_id) FROM (SELECT * FROM "
	    "model_catalog ORDER BY provider_id, model_id) GROUP BY provider_id "
	    "ORDER BY provider_id"),
	    "authp|kept-1,kept-2;emptyp|kept-1,kept-2;localp|gpt-4.1,gpt-4o,o3;"
	    "okp|gpt-4.1,gpt-4o,o3;slowp|kept-1,kept-2",
	    "failed and empty fetches keep the last good catalog");
	is_int(q_int(db, "SELECT count(*) FROM model_catalog WHERE provider_id = 'deadp'"), 0,
	    "a provider without a usable account is not fetched");

	is_int(catalog_refresh(c, f, &cfg, 0, &rep), QP_OK, "refresh without fetching");
	is_int(rep.providers, 0, "nothing fetched");
	is_int(q_int(db, "SELECT count(*) FROM provider_pings"), 5, "and no ping written");

	catalog_fetcher_free(f);
	srv_stop(&s);
}

/* A ping goes out with an account that is not backing off; providers without models are named. */
static void
test_ping_account(sqlite3 *db, struct catalog_db *c)
{
	struct srv s;
	struct config_account acc[5];
	struct config_provider prov[5];
	struct config cfg;
	struct catalog_fetcher *f;
	struct catalog_ping ping;
	char base[128], *statics[1] = { "static-1" }, sql[256];
	int missing[5], n = -1;
	atomic_int cancel;
	enum qp_err err;
	int64_t now = db_now_ms();

	if (srv_start(&s) != 0) {
		printf("Bail out! cannot start the test HTTP server\n");
		exit(1);
	}
	atomic_init(&cancel, 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.upstream.connect_timeout_ms = 1000;
	cfg.upstream.first_byte_timeout_ms = 2000;
	acc_init(&acc[0], "p1", "k1");
	acc_init(&acc[1], "p2", "k2");
	acc_init(&acc[2], "p3", "k3");
	acc[2].enabled = 0;
	acc_init(&acc[3], "s1", "k");
	acc_init(&acc[4], "d1", "k");
	prov_init(&prov[0], "pingp", base, "/ok/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[0], 3);
	prov_init(&prov[1], "staticp", base, NULL, CONFIG_PROTO_OPENAI, CONFIG_AUTH_DEFAULT,
	    &acc[3], 1);
	prov[1].models = statics;
	prov[1].nmodels = 1;
	prov_init(&prov[2], "offp", base, "/ok/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[4], 1);
	prov[2].enabled = 0;
	prov_init(&prov[3], "nokeyp", base, "/ok/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[2], 1);
	prov_init(&prov[4], "okp", base, "/ok/models", CONFIG_PROTO_OPENAI,
	    CONFIG_AUTH_DEFAULT, &acc[0], 1);
	cfg.providers = prov;
	cfg.nproviders = 5;
	sqlite3_exec(db, "DELETE FROM account_backoffs", NULL, NULL, NULL);

	ok(catalog_ping_account(c, &prov[0], now) == &acc[0], "no backoff: the first account");
	snprintf(sql, sizeof(sql), "INSERT INTO account_backoffs (account_name, reason, "
	    "backoff_until, updated_at) VALUES ('p1', 'auth_failure', %lld, 1)",
	    (long long)(now + 60000));
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	ok(catalog_ping_account(c, &prov[0], now) == &acc[1],
	    "the first account backing off: the next one");
	snprintf(sql, sizeof(sql), "INSERT INTO account_backoffs (account_name, model_id, scope, "
	    "reason, backoff_until, updated_at) VALUES ('p2', 'm1', 'model', 'transient', "
	    "%lld, 1)", (long long)(now + 60000));
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	ok(catalog_ping_account(c, &prov[0], now) == &acc[1],
	    "a backoff for one model does not count");
	ok(catalog_ping_account(c, &prov[0], now + 60000) == &acc[0],
	    "a backoff that ended does not count");

	f = catalog_fetcher_new(&cancel, &err);
	sqlite3_exec(db, "DELETE FROM provider_pings", NULL, NULL, NULL);
	is_int(catalog_refresh_provider(c, f, &cfg, &prov[0], &ping), QP_OK,
	    "refresh with the first account backing off");
	ok(ping.ok, "the ping succeeded");
	is_str(q_rows(db, "SELECT account_name FROM provider_pings"), "p2",
	    "the ping used the account that is not backing off");
	ok(srv_saw(&s, "Authorization: Bearer k2\r\n"), "with its key");

	snprintf(sql, sizeof(sql), "INSERT INTO account_backoffs (account_name, reason, "
	    "backoff_until, updated_at) VALUES ('p2', 'rate_limited', %lld, 1)",
	    (long long)(now + 60000));
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	ok(catalog_ping_account(c, &prov[0], now) == &acc[0],
	    "every usable account backing off: the first one all the same");
	ok(catalog_ping_account(c, &prov[3], now) == NULL, "no usable account: none");
	catalog_fetcher_free(f);
	sqlite3_exec(db, "DELETE FROM account_backoffs; DELETE FROM model_catalog WHERE "
	    "provider_id IN ('pingp', 'staticp', 'offp', 'nokeyp')", NULL, NULL, NULL);

	/* Which providers have no catalog. */
	is_int(catalog_missing(c, &cfg, missing, &n), QP_OK, "catalog_missing");
	is_int(n, 1, "one provider without a catalog");
	ok(missing[0] == 1 && missing[1] == 0 && missing[2] == 0 && missing[3] == 0 &&
	    missing[4] == 0, "pingp (static models, disabled, no key and listed ones are not) "
	    "%d%d%d%d%d", missing[0], missing[1], missing[2], missing[3], missing[4]);
	sqlite3_exec(db, "INSERT INTO model_catalog (provider_id, model_id, source, "
	    "first_seen_at, last_seen_at) VALUES ('pingp', 'gpt-4o', 'upstream', 1, 1)",
	    NULL, NULL, NULL);
	catalog_missing(c, &cfg, missing, &n);
	ok(n == 0 && missing[0] == 0, "a listed model gives pingp its catalog");
	sqlite3_exec(db, "DELETE FROM model_catalog WHERE provider_id = 'pingp'", NULL, NULL,
	    NULL);
	srv_stop(&s);
}

int
main(void)
{
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 5000, NULL, 0, 0 };
	struct catalog_db *c;
	char dir[512], dbpath[600], errbuf[512];
	sqlite3 *db;
	enum qp_err err;
	int n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || mkdtemp(tmpdir) == NULL) {
		printf("Bail out! cannot set up\n");
		return 1;
	}
	test_parse();
	test_build();

	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	snprintf(dbpath, sizeof(dbpath), "%s/catalog.db", tmpdir);
	db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf));
	if (db == NULL || migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! cannot set up database: %s\n", errbuf);
		return 1;
	}
	c = catalog_db_new(db, &err, errbuf, sizeof(errbuf));
	ok(c != NULL, "statements prepare on the shipped schema: %s", c ? "" : errbuf);
	if (c == NULL)
		return done_testing();
	test_store(db, c);
	test_models_json(db, c);
	test_fetch(db, c);
	test_ping_account(db, c);

	catalog_db_free(c);
	db_close(db);
	migrate_set_free(&set);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/catalog.db-wal", tmpdir);
	unlink(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s/catalog.db-shm", tmpdir);
	unlink(dbpath);
	rmdir(tmpdir);
	curl_global_cleanup();
	return done_testing();
}
