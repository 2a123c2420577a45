/* clientaddr.c: a request's client address and scheme; X-Forwarded-* only from trusted proxies. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clientaddr.h"

/* An address as compared: IPv4 is kept as 4 bytes, IPv4-mapped IPv6 too. */
struct clientaddr_ip {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 b[16];		/* 4 or 16 bytes used */
};

/* Parses a bare IPv4 or IPv6 literal of len bytes at s. 0 or -1. */
static int
clientaddr_literal(const char *s, size_t len, struct clientaddr_ip *ip)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char buf[CLIENTADDR_ELEM_MAX + 1];

	if (len == 0 || len > CLIENTADDR_ELEM_MAX)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, ip->b) == 1) {
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, ip->b) != 1)
		return -1;
	ip->family = AF_INET6;
	if (memcmp(ip->b, mapped, sizeof(mapped)) == 0) {
		memmove(ip->b, ip->b + 12, 4);
		ip->family = AF_INET;
	}
	return 0;
}

/* 1 if s[0..len) is a port number. */
static int
clientaddr_port(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 5)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/*
 * Parses one address as proxies write it: "1.2.3.4", "1.2.3.4:port",
 * "::1", "[::1]", "[::1]:port". 0 or -1.
 */
static int
clientaddr_parse(const char *s, size_t len, struct clientaddr_ip *ip)
{
	const char *colon, *close;

	if (len > 0 && s[0] == '[') {
		if ((close = memchr(s, ']', len)) == NULL)
			return -1;
		if ((size_t)(close - s) + 1 != len && (close[1] != ':' ||
		    !clientaddr_port(close + 2, len - (size_t)(close - s) - 2)))
			return -1;
		if (clientaddr_literal(s + 1, (size_t)(close - s) - 1, ip) != 0)
			return -1;
		return 0;
	}
	if (clientaddr_literal(s, len, ip) == 0)
		return 0;
	/* IPv4 with a port: one colon only. */
	colon = memchr(s, ':', len);
	if (colon == NULL || memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) != NULL ||
	    !clientaddr_port(colon + 1, len - (size_t)(colon - s) - 1))
		return -1;
	if (clientaddr_literal(s, (size_t)(colon - s), ip) != 0 || ip->family != AF_INET)
		return -1;
	return 0;
}

/* 1 if ip is one of the trusted addresses. */
static int
clientaddr_trusted(const struct clientaddr_ip *ip, char *const *trusted, int ntrusted)
{
	struct clientaddr_ip t;
	int i;

	for (i = 0; i < ntrusted; i++) {
		if (trusted[i] == NULL ||
		    clientaddr_literal(trusted[i], strlen(trusted[i]), &t) != 0)
			continue;
		if (t.family == ip->family &&
		    memcmp(t.b, ip->b, ip->family == AF_INET ? 4 : 16) == 0)
			return 1;
	}
	return 0;
}

/* Writes ip's canonical text into out. */
static void
clientaddr_text(const struct clientaddr_ip *ip, char *out, size_t outlen)
{
	char buf[INET6_ADDRSTRLEN];

	if (inet_ntop(ip->family, ip->b, buf, sizeof(buf)) == NULL)
		buf[0] = '\0';
	snprintf(out, outlen, "%s", buf);
}

/* Trims spaces and tabs around s[*start..*end). */
static void
clientaddr_trim(const char *s, size_t *start, size_t *end)
{

	while (*start < *end && (s[*start] == ' ' || s[*start] == '\t'))
		(*start)++;
	while (*end > *start && (s[*end - 1] == ' ' || s[*end - 1] == '\t'))
		(*end)--;
}

void
clientaddr_resolve(const struct clientaddr_in *in, char *const *trusted, int ntrusted,
    char *out, size_t outlen, int *secure)
{
	struct clientaddr_ip ip, client;
	size_t start, end, n;
	const char *v;

	*secure = in->https != NULL && strcasecmp(in->https, "on") == 0;
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (in->peer == NULL)
		return;
	if (clientaddr_literal(in->peer, strlen(in->peer), &client) != 0 ||
	    !clientaddr_trusted(&client, trusted, ntrusted)) {
		/* The web server's own word: kept as it gave it. */
		snprintf(out, outlen, "%s", in->peer);
		return;
	}
	/* A trusted proxy: its X-Forwarded-For, from the right. */
	if ((v = in->xff) != NULL) {
		end = strlen(v);
		for (;;) {
			for (start = end; start > 0 && v[start - 1] != ','; start--)
				;
			n = start;	/* where the next element to the left ends (its comma) */
			clientaddr_trim(v, &start, &end);
			if (clientaddr_parse(v + start, end - start, &ip) != 0)
				break;
			client = ip;
			if (!clientaddr_trusted(&ip, trusted, ntrusted) || n == 0)
				break;
			end = n - 1;
		}
	}
	clientaddr_text(&client, out, outlen);
	/* Its X-Forwarded-Proto: the right-most value, set by the proxy itself. */
	if ((v = in->xfp) != NULL) {
		end = strlen(v);
		for (start = end; start > 0 && v[start - 1] != ','; start--)
			;
		clientaddr_trim(v, &start, &end);
		if (end > start)
			*secure = end - start == 5 && strncasecmp(v + start, "https", 5) == 0;
	}
}
