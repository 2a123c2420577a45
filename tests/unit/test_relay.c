/* test_relay.c: the SSE relay alone: what the client gets, however the stream is split. */
#include <stdlib.h>

#include "../tap.h"
#include "bounds.h"
#include "relay.h"
#include "xlate.h"

/* A client: every byte written, the length at the last flush, and a failure to inject. */
struct client {
	char	*buf;		/* bytes written */
	size_t	 len;		/* bytes in buf */
	size_t	 cap;		/* bytes allocated */
	size_t	 flushed;	/* len at the last flush */
	int	 flushes;	/* flushes so far */
	int	 writes;	/* writes so far */
	int	 fail_at;	/* the write that fails (1 = the first), 0 = none */
};

static int
client_write(void *arg, const char *p, size_t n)
{
	struct client *c = arg;

	c->writes++;
	if (c->fail_at > 0 && c->writes >= c->fail_at)
		return -1;
	if (c->len + n + 1 > c->cap) {
		c->cap = (c->len + n + 1) * 2;
		if ((c->buf = realloc(c->buf, c->cap)) == NULL)
			abort();
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return 0;
}

static int
client_flush(void *arg)
{
	struct client *c = arg;

	c->flushes++;
	c->flushed = c->len;
	return 0;
}

/* A relay writing to c; u is started for proto. */
static struct relay *
open_relay(struct client *c, struct usage *u, enum usage_proto proto, int show_usage)
{
	struct relay_sink sink;

	memset(c, 0, sizeof(*c));
	sink.write = client_write;
	sink.flush = client_flush;
	sink.arg = c;
	usage_init(u, proto, 0);
	return relay_new(&sink, u, show_usage, 65536, 0);
}

/* Relays s in pieces of step bytes (0: whole); returns what the client got (caller frees). */
static char *
relay_all(const char *s, size_t step, int show_usage, enum relay_state *st,
    struct usage *u)
{
	struct client c;
	struct relay *rl = open_relay(&c, u, USAGE_PROTO_OPENAI, show_usage);
	size_t len = strlen(s), off, n;

	*st = RELAY_OK;
	for (off = 0; off < len && *st == RELAY_OK; off += n) {
		n = step == 0 || len - off < step ? len - off : step;
		*st = relay_feed(rl, s + off, n, 0);
	}
	relay_free(rl);
	if (c.buf == NULL)
		c.buf = strdup("");
	return c.buf;
}

#define ROLE	"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n"
#define TEXT(t)	"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" t "\"}}]}\n\n"
#define FINISH	"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
#define USAGE	"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10," \
		"\"completion_tokens\":2}}\n\n"
#define DONE	"data: [DONE]\n\n"

static void
test_drop_usage_chunk(void)
{
	const char *in = ROLE TEXT("hello") TEXT(" world") FINISH USAGE DONE;
	const char *want = ROLE TEXT("hello") TEXT(" world") FINISH DONE;
	struct usage u;
	enum relay_state st;
	char *got, *again;
	size_t step;
	int same = 1;

	got = relay_all(in, 0, 0, &st, &u);
	is_int(st, RELAY_OK, "whole stream: relayed");
	is_str(got, want, "usage chunk the client did not ask for: cut out whole");
	ok(u.done && u.input_tokens == 10 && u.output_tokens == 2,
	    "its usage was observed all the same");
	free(got);
	got = relay_all(in, 0, 1, &st, &u);
	is_str(got, in, "client asked for usage: every byte as it came");
	free(got);
	for (step = 1; step < strlen(in); step++) {
		again = relay_all(in, step, 0, &st, &u);
		if (strcmp(again, want) != 0 || st != RELAY_OK) {
			printf("#   pieces of %zu bytes: %s\n", step, again);
			same = 0;
		}
		free(again);
	}
	ok(same, "the same bytes however the stream is cut into pieces");
}

static void
test_crlf_split(void)
{
	/* CRLF endings; the usage chunk's blank line split between its CR and LF. */
	const char *in = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\n"
	    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\r\n\r\n"
	    "data: [DONE]\r\n\r\n";
	const char *want = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\n"
	    "data: [DONE]\r\n\r\n";
	struct client c;
	struct usage u;
	struct relay *rl = open_relay(&c, &u, USAGE_PROTO_OPENAI, 0);
	const char *cut = strstr(in, "}}\r\n\r") + 5;
	size_t at = (size_t)(cut - in), i;
	int same = 1;
	enum relay_state st;
	char *got;

	relay_feed(rl, in, at, 0);
	relay_feed(rl, in + at, strlen(in) - at, 0);
	is_str(c.buf, want, "an LF completing a dropped event's CR goes with it");
	relay_free(rl);
	free(c.buf);
	for (i = 1; i < strlen(in); i++) {
		size_t step = i;

		got = relay_all(in, step, 0, &st, &u);
		if (strcmp(got, want) != 0)
			same = 0;
		free(got);
	}
	ok(same, "CRLF stream: the same bytes for every piece size");
}

static void
test_burst(void)
{
	enum { N = 10000 };
	static const char ev[] = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";
	struct client c;
	struct usage u;
	struct relay *rl = open_relay(&c, &u, USAGE_PROTO_OPENAI, 0);
	size_t el = sizeof(ev) - 1, i;
	char *in = malloc(el * N + sizeof(USAGE DONE));
	enum relay_state st;

	for (i = 0; i < N; i++)
		memcpy(in + i * el, ev, el);
	memcpy(in + N * el, USAGE DONE, sizeof(USAGE DONE));
	st = relay_feed(rl, in, strlen(in), 0);
	is_int(st, RELAY_OK, "%d events and a usage chunk in one read: relayed", N);
	ok(c.len == el * N + strlen(DONE) && memcmp(c.buf, in, el * N) == 0 &&
	    strcmp(c.buf + el * N, DONE) == 0, "every event written, the usage chunk cut "
	    "(%zu bytes)", c.len);
	is_int(c.flushes, 1, "one flush for the read");
	is_int((int)relay_events(rl), N + 2, "events observed");
	is_int((int)relay_dropped(rl), 1, "events dropped");
	relay_free(rl);
	free(c.buf);
	free(in);
}

static void
test_held_and_keepalive(void)
{
	struct client c;
	struct usage u;
	struct relay *rl = open_relay(&c, &u, USAGE_PROTO_ANTHROPIC, 0);
	static const char part1[] = ": comment\n\nevent: message_start\ndata: {\"type\":\"mess";
	static const char part2[] = "age_start\"}\n\n";

	is_int(relay_tick(rl, 999, 1000), RELAY_OK, "tick before the interval");
	is_int((int)c.len, 0, "no keepalive before the interval");
	relay_tick(rl, 1000, 1000);
	is_str(c.buf, ": keepalive\n\n", "a keepalive once the interval passed");
	is_int(c.flushes, 1, "and flushed");
	relay_feed(rl, part1, strlen(part1), 1500);
	is_str(c.buf, ": keepalive\n\n: comment\n\n", "bytes up to the last boundary written");
	is_int((int)relay_held(rl), (int)strlen(part1) - 11, "the unfinished event held back");
	relay_tick(rl, 5000, 1000);
	is_str(c.buf, ": keepalive\n\n: comment\n\n", "no keepalive in the middle of an event");
	relay_feed(rl, part2, strlen(part2), 5001);
	is_str(c.buf, ": keepalive\n\n: comment\n\nevent: message_start\n"
	    "data: {\"type\":\"message_start\"}\n\n", "the event goes out once complete");
	is_int((int)relay_held(rl), 0, "nothing held");
	is_int((int)relay_dropped(rl), 0, "an Anthropic stream loses nothing");
	relay_tick(rl, 5500, 1000);
	is_int((int)relay_held(rl), 0, "the last write restarts the interval");
	ok(strstr(c.buf, "}\n\n: keepalive") == NULL, "no keepalive 499 ms after a write");
	relay_free(rl);
	free(c.buf);
}

static void
test_client_gone(void)
{
	struct client c;
	struct usage u;
	struct relay *rl = open_relay(&c, &u, USAGE_PROTO_OPENAI, 0);
	const char *in = TEXT("a") USAGE TEXT("b");
	int writes;

	c.fail_at = 1;
	is_int(relay_feed(rl, in, strlen(in), 0), RELAY_CLIENT_GONE,
	    "a failed write: the client is gone");
	writes = c.writes;
	is_int(relay_feed(rl, DONE, strlen(DONE), 0), RELAY_CLIENT_GONE, "and stays gone");
	is_int(relay_tick(rl, 100000, 1), RELAY_CLIENT_GONE, "ticks too");
	is_int(c.writes, writes, "nothing more is written");
	relay_free(rl);
	free(c.buf);
}

static void
test_broken(void)
{
	struct client c;
	struct usage u;
	struct relay *rl = open_relay(&c, &u, USAGE_PROTO_OPENAI, 0);
	size_t n = 65536, fed = 0;
	char *line = malloc(n);
	enum relay_state st = RELAY_OK;

	memset(line, 'a', n);
	memcpy(line, "data: ", 6);
	while (st == RELAY_OK && fed <= QP_SSE_LINE_MAX + n) {
		st = relay_feed(rl, line, n, 0);
		fed += n;
		memset(line, 'a', 6);
	}
	is_int(st, RELAY_BROKEN, "a line past QP_SSE_LINE_MAX breaks the stream");
	ok(fed <= QP_SSE_LINE_MAX + n, "within one chunk of the bound (%zu bytes)", fed);
	is_int((int)c.len, 0, "nothing of it was written");
	relay_free(rl);
	free(line);
	relay_free(NULL);
}

/* A translating relay: a chat stream in pieces, Messages events out, usage observed upstream. */
static void
test_translating(void)
{
	static const char up[] =
	    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\","
	    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
	    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
	    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},"
	    "\"finish_reason\":\"stop\"}]}\n\n"
	    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
	    "\"completion_tokens\":2}}\n\n"
	    "data: [DONE]\n\n";
	static const char req[] = "{\"model\":\"claude-x\",\"max_tokens\":9,\"stream\":true,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
	struct relay_sink sink;
	struct xlate_ctx xc;
	struct client c;
	struct usage u;
	struct relay *rl;
	cJSON *root = cJSON_Parse(req);
	char *body = NULL;
	size_t blen, off, n;
	enum relay_state st = RELAY_OK;
	int flushes;

	xlate_ctx_init(&xc);
	is_int(xlate_request(&xc, XLATE_MESSAGES_VIA_CHAT, root, "m", XLATE_LOSS_WARN, 1, &body,
	    &blen), QP_OK, "a Messages request for a chat provider");
	memset(&c, 0, sizeof(c));
	sink.write = client_write;
	sink.flush = client_flush;
	sink.arg = &c;
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	rl = relay_new_xlate(&sink, &u, &xc, 0);
	ok(rl != NULL, "translating relay made");
	for (off = 0; rl != NULL && off < sizeof(up) - 1 && st == RELAY_OK; off += n) {
		n = sizeof(up) - 1 - off < 7 ? sizeof(up) - 1 - off : 7;
		flushes = c.flushes;
		st = relay_feed(rl, up + off, n, 0);
		ok(c.flushes - flushes <= 1, "at most one flush per chunk");
	}
	is_int(st, RELAY_OK, "the stream went through");
	ok(u.done && u.input_tokens == 12 && u.output_tokens == 2,
	    "usage observed on the upstream's own events");
	is_int(rl != NULL ? relay_finish(rl, 1, 0) : QP_EINVAL, QP_OK, "finished cleanly");
	ok(c.buf != NULL && strstr(c.buf, "event: message_start\n") != NULL &&
	    strstr(c.buf, "\"text\":\"Hel\"") != NULL &&
	    strstr(c.buf, "\"stop_reason\":\"end_turn\"") != NULL &&
	    strstr(c.buf, "event: message_stop\n") != NULL &&
	    strstr(c.buf, "[DONE]") == NULL, "the client got Messages events: %s",
	    c.buf != NULL ? c.buf : "");
	is_int(c.flushed, c.len, "everything written was flushed");
	ok(rl != NULL && relay_warn(rl) != NULL && relay_warn(rl)->count == 0, "no loss");
	relay_free(rl);
	free(c.buf);

	/* The upstream stops early: the client gets an error event of its family. */
	memset(&c, 0, sizeof(c));
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	rl = relay_new_xlate(&sink, &u, &xc, 0);
	st = relay_feed(rl, up, 120, 0);
	is_int(relay_finish(rl, 0, 0), QP_EUPSTREAM, "an incomplete stream is reported");
	ok(c.buf != NULL && strstr(c.buf, "event: error\n") != NULL, "with an error event: %s",
	    c.buf != NULL ? c.buf : "");
	relay_free(rl);
	free(c.buf);

	/* A client gone stops the transform. */
	memset(&c, 0, sizeof(c));
	c.fail_at = 1;
	usage_init(&u, USAGE_PROTO_OPENAI, 0);
	rl = relay_new_xlate(&sink, &u, &xc, 0);
	is_int(relay_feed(rl, up, sizeof(up) - 1, 0), RELAY_CLIENT_GONE, "client gone");
	is_int(relay_finish(rl, 1, 0), QP_OK, "nothing to finish for a client gone");
	relay_free(rl);
	free(c.buf);
	xlate_ctx_free(&xc);
	free(body);
	cJSON_Delete(root);
}

int
main(void)
{

	test_drop_usage_chunk();
	test_crlf_split();
	test_burst();
	test_held_and_keepalive();
	test_client_gone();
	test_broken();
	test_translating();
	return done_testing();
}
