/* config_env.c: the variables *_env keys name: the environment, then the .env beside the file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "config_int.h"
#include "crypto.h"

/* Reads the .env file beside the configuration, once. */
static void
config_dotenv_load(struct config_ctx *c)
{
	struct config_dotenv *e = &c->dotenv;
	char path[PATH_MAX], *buf = NULL, *line, *end, *p, *q, *name, *val, **nn, **nv;
	size_t len = 0, nlen, vlen;
	ssize_t r;
	struct stat st;
	unsigned lineno = 0;
	int fd = -1, ncap;
	char quote;

	e->loaded = 1;
	if (snprintf(path, sizeof(path), "%s/.env", c->dir) >= (int)sizeof(path))
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			config_msg(c, CONFIG_WARNING, 0, 0, "%s cannot be read: %s", path,
			    strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > QP_CONFIG_MAX) {
		config_msg(c, CONFIG_WARNING, 0, 0, "%s is not a regular file of at most %d bytes",
		    path, QP_CONFIG_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		c->oom = 1;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	for (line = buf; line < buf + len; line = end + 1) {
		lineno++;
		if ((end = memchr(line, '\n', (size_t)(buf + len - line))) == NULL)
			end = buf + len;
		*end = '\0';
		if (end > line && end[-1] == '\r')
			end[-1] = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '#' || *p == '\0')
			continue;
		if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
			for (p += 6; *p == ' ' || *p == '\t'; p++)
				;
		for (name = p; (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'; p++)
			;
		nlen = (size_t)(p - name);
		while (*p == ' ' || *p == '\t')
			p++;
		if (nlen == 0 || *p != '=') {
			config_msg(c, CONFIG_WARNING, 0, 0, "%s line %u is not NAME=VALUE: skipped",
			    path, lineno);
			continue;
		}
		for (p++; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '"' || *p == '\'') {
			quote = *p++;
			val = q = p;
			while (*p != '\0' && *p != quote) {
				if (quote == '"' && *p == '\\' && p[1] != '\0') {
					p++;
					*q++ = *p == 'n' ? '\n' : *p;
					p++;
				} else
					*q++ = *p++;
			}
			if (*p != quote) {
				config_msg(c, CONFIG_WARNING, 0, 0, "%s line %u: unterminated quote: "
				    "skipped", path, lineno);
				continue;
			}
			vlen = (size_t)(q - val);
		} else {
			val = p;
			for (q = p; *q != '\0'; q++)
				if (*q == '#' && q > val && (q[-1] == ' ' || q[-1] == '\t'))
					break;
			while (q > val && (q[-1] == ' ' || q[-1] == '\t'))
				q--;
			vlen = (size_t)(q - val);
		}
		if (e->n == e->cap) {
			ncap = e->cap ? e->cap * 2 : 8;
			if ((nn = realloc(e->names, (size_t)ncap * sizeof(*nn))) == NULL) {
				c->oom = 1;
				goto out;
			}
			e->names = nn;
			if ((nv = realloc(e->values, (size_t)ncap * sizeof(*nv))) == NULL) {
				c->oom = 1;
				goto out;
			}
			e->values = nv;
			e->cap = ncap;
		}
		e->names[e->n] = config_strndup(c, name, nlen);
		e->values[e->n] = config_strndup(c, val, vlen);
		if (e->names[e->n] == NULL || e->values[e->n] == NULL) {
			free(e->names[e->n]);
			crypto_free_secret(e->values[e->n]);
			goto out;
		}
		e->n++;
	}
out:
	if (buf != NULL) {
		crypto_wipe(buf, len);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
}

void
config_dotenv_free(struct config_dotenv *e)
{
	int i;

	for (i = 0; i < e->n; i++) {
		free(e->names[i]);
		crypto_free_secret(e->values[i]);
	}
	free(e->names);
	free(e->values);
	memset(e, 0, sizeof(*e));
}

const char *
config_getenv(struct config_ctx *c, const char *name)
{
	const char *v;
	int i;

	if ((v = getenv(name)) != NULL)
		return v;
	if (!c->dotenv.loaded)
		config_dotenv_load(c);
	for (i = c->dotenv.n - 1; i >= 0; i--)
		if (strcmp(c->dotenv.names[i], name) == 0)
			return c->dotenv.values[i];
	return NULL;
}
