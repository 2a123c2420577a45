/*
 * config_int.h: what the configuration's own files (fcgi/config*.c) share: the
 * key and section tables, the state of one load, and the helpers they call
 * across files. Private: included only by those files; every other module
 * sees config.h alone.
 */
#ifndef QP_CONFIG_INT_H
#define QP_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "toml.h"

#define CONFIG_NOFIELD		((size_t)-1)	/* key fills no field */
#define CONFIG_KEYS_MAX		48		/* keys of the largest section table */
#define CONFIG_NAME_MAX		64		/* account and proxy names, provider ids */
#define CONFIG_ENVNAME_MAX	128		/* variable names of *_env keys */
#define CONFIG_MODEL_MAX	256		/* model ids */

/* How a key's value is read and stored. */
enum config_kind {
	CONFIG_KIND_BOOL,	/* int 0 or 1 */
	CONFIG_KIND_INT,	/* int, range-checked */
	CONFIG_KIND_INT64,	/* int64_t, range-checked */
	CONFIG_KIND_FLOAT,	/* double; integers accepted */
	CONFIG_KIND_MS,		/* int milliseconds, written as seconds (integer or float) */
	CONFIG_KIND_PRICE,	/* int64_t microdollars per million tokens, written as dollars per 1K */
	CONFIG_KIND_STRING,	/* char *, printable text */
	CONFIG_KIND_PATH,	/* char *, made absolute against the config's directory */
	CONFIG_KIND_NAME,	/* char *, [A-Za-z0-9_.-]{1,64} */
	CONFIG_KIND_CHOICE,	/* int, the value of one of choices */
	CONFIG_KIND_CHOICE_STR,	/* char *, the canonical spelling of one of choices */
	CONFIG_KIND_PROTOCOLS,	/* unsigned CONFIG_PROTO_* mask from an array of names */
	CONFIG_KIND_STRINGS,	/* char ** at off, int count at off2 */
	CONFIG_KIND_ADDRS,	/* like STRINGS, each an IPv4 or IPv6 address */
	CONFIG_KIND_SECRET,	/* char *, an inline secret */
	CONFIG_KIND_ENV,	/* names a variable whose value fills off; the name goes to off2 */
	CONFIG_KIND_BASE_URL,	/* char *, absolute http(s) URL without trailing '/' */
	CONFIG_KIND_PROXY_URL,	/* char *, secret, http/https/socks5/socks5h URL */
	CONFIG_KIND_URLPATH,	/* char *, starting with '/' */
	CONFIG_KIND_PATHGLOBS,	/* like STRINGS, each "*" or a glob starting with '/'; a
				   lone string is a list of one */
	CONFIG_KIND_TABLES,	/* array of tables, read by the caller */
	CONFIG_KIND_SUBTABLE,	/* table read by section sub into the same struct */
	CONFIG_KIND_IGNORED,	/* EggPool key quotapool does not use: a warning */
	CONFIG_KIND_STATUSES,	/* int[CONFIG_CHECK_STATUS_MAX] at off, int count at off2 */
	CONFIG_KIND__MAX
};

/* Per kind: its name in the docs, and what a type error says was expected. */
struct config_kind_info {
	const char	*doc;		/* "integer", "string", ... */
	const char	*expected;	/* "an integer", ... */
};

/* Flags of a key. */
#define CONFIG_F_REQUIRED	0x01	/* must be given */
#define CONFIG_F_ABOVE_MIN	0x02	/* the value must be strictly above min */
#define CONFIG_F_EMPTY_NULL	0x04	/* "" leaves the field NULL */
#define CONFIG_F_ONE_REQUIRED	0x08	/* one key of the group must be given */
#define CONFIG_F_EGGPOOL	0x10	/* EggPool's name for a quotapool setting */
#define CONFIG_F_OR_TABLE	0x20	/* a table value is read by section sub */

/* One accepted spelling of a choice. */
struct config_choice {
	const char	*name;		/* compared without case */
	int		 value;		/* stored; -1 = known but not supported */
	int		 alias;		/* 1 = accepted, not listed in the docs */
};

/* One key of a section: everything parsing, defaults, checks and docs need. */
struct config_key {
	const char		*name;		/* key as written in the file */
	enum config_kind	 kind;		/* how the value is read and stored */
	size_t			 off;		/* field filled in the section's struct */
	size_t			 off2;		/* STRINGS: count; ENV: variable name or NOFIELD */
	unsigned		 flags;		/* CONFIG_F_* */
	int			 group;		/* keys sharing a non-zero group exclude each other */
	double			 min, max;	/* range as written (seconds, dollars per 1K, ...) */
	int64_t			 idef;		/* default of integer, boolean and choice kinds */
	double			 fdef;		/* default of FLOAT and MS (in seconds) */
	const char		*sdef;		/* default of string kinds; NULL = none */
	int64_t			 bias;		/* added to an integer as written */
	const struct config_choice *choices;	/* CHOICE kinds and PROTOCOLS; NULL-terminated */
	enum config_kind	 vkind;		/* ENV: SECRET or PROXY_URL, how the value is checked */
	int			 sub;		/* SUBTABLE and OR_TABLE: section reading the table */
	const char		*defdoc;	/* default as documented, when not a constant */
	const char		*doc;		/* one-line description */
	const char		*noeffect;	/* not NULL: read and checked, but nothing uses it
						   in this version, which a warning says, with why */
};

/* Sections, in the order of the docs. */
enum config_sec {
	CONFIG_SEC_SERVER,
	CONFIG_SEC_UPSTREAM,
	CONFIG_SEC_DATABASE,
	CONFIG_SEC_MODELS,
	CONFIG_SEC_ROUTING,
	CONFIG_SEC_LIMITS,
	CONFIG_SEC_DASHBOARD,
	CONFIG_SEC_SECURITY,
	CONFIG_SEC_BACKUP,
	CONFIG_SEC_TRANSLATION,
	CONFIG_SEC_RETENTION,
	CONFIG_SEC_WORKERS,
	CONFIG_SEC_PROVIDER,
	CONFIG_SEC_AUTH,
	CONFIG_SEC_STREAM,
	CONFIG_SEC_ACCOUNT,
	CONFIG_SEC_REFRESH,
	CONFIG_SEC_PROXY,
	CONFIG_SEC_OVERRIDE,
	CONFIG_SEC_CHECK,
	CONFIG_SEC__MAX
};

struct config_section {
	const char		*title;		/* as in the docs: "[server]" */
	const struct config_key	*keys;		/* the table */
	size_t			 nkeys;		/* entries in keys */
	size_t			 off;		/* struct inside struct config; NOFIELD if repeated */
	const char		*doc;		/* paragraph of the docs */
};

/* What a top-level key of the file is. */
enum config_root_kind {
	CONFIG_ROOT_SECTION,	/* one fixed section */
	CONFIG_ROOT_PROVIDERS,	/* [providers.<id>] tables */
	CONFIG_ROOT_PROXIES,	/* [proxies.<name>] tables */
	CONFIG_ROOT_OVERRIDES,	/* [model_overrides."<model>"] tables */
	CONFIG_ROOT_ALIASES,	/* [aliases]: "glob" = model id or [model ids] */
	CONFIG_ROOT_IGNORED,	/* EggPool section quotapool does not use */
	CONFIG_ROOT_LEGACY,	/* EggPool's top-level [[accounts]] */
	CONFIG_ROOT__MAX
};

struct config_root {
	const char		*name;	/* top-level key */
	enum config_root_kind	 kind;	/* how it is read */
	int			 sec;	/* CONFIG_SEC_* of SECTION */
};

/* The tables of config.c: per kind, per section (enum config_sec), the top-level keys. */
extern const struct config_kind_info config_kinds[CONFIG_KIND__MAX];
extern const struct config_section config_sections[CONFIG_SEC__MAX];
extern const struct config_root config_roots[];
extern const size_t config_nroots;		/* entries in config_roots */

/* Variables of the .env file beside the configuration. */
struct config_dotenv {
	char		**names;	/* owned */
	char		**values;	/* owned secrets */
	int		  n;		/* pairs */
	int		  cap;		/* allocated pairs */
	int		  loaded;	/* 1 once read (or found absent) */
};

/* An account's proxy = "name", resolved once every [proxies] is known. */
struct config_ref {
	int		 prov;		/* provider index */
	int		 acct;		/* account index */
	unsigned	 line, col;	/* where the name is written */
};

/* State of one load. */
struct config_ctx {
	struct config		*cfg;		/* being filled */
	struct config_diag	*diag;		/* messages go here */
	int			 cap;		/* allocated messages */
	int			 dropped;	/* messages beyond CONFIG_DIAG_MAX */
	int			 dropped_errors;	/* how many of them were errors */
	int			 summary;	/* 1 = room for the message counting them */
	int			 oom;		/* an allocation failed */
	const char		*dir;		/* directory of the file */
	struct config_dotenv	 dotenv;	/* read when a variable is not in the environment */
	struct config_ref	*refs;		/* proxy names to resolve */
	int			 nrefs, refcap;
	unsigned		 sec_line[CONFIG_SEC__MAX];	/* line of each fixed section */
	char			 where[300];	/* dotted name of the table read, for messages */
	char			 title[320];	/* its bracketed name */
};

/* Keeps the closest of the names offered to s within distance 2. */
struct config_near {
	const char	*s;		/* the unknown name */
	size_t		 len;		/* its bytes */
	const char	*best;		/* closest name so far, NULL = none */
	int		 dist;		/* its distance */
};

/* config_diag.c: the messages. */

/* Appends a message (printf format); beyond CONFIG_DIAG_MAX only counts it. */
void		 config_msg(struct config_ctx *c, enum config_severity sev, unsigned line,
		    unsigned col, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Copies untrusted text for a message into buf: printable ASCII, '?' for
 * the rest, cut with "...". Returns buf.
 */
const char	*config_show(const char *s, size_t len, char *buf, size_t size);

/* Line of a key: where it is written, else where its value is. */
unsigned	 config_kv_line(const struct toml_kv *kv);

/* "an integer", "a string": the TOML type of v with its article, in buf. Returns buf. */
const char	*config_got(const struct toml_value *v, char *buf, size_t size);

/* Offers name to n: kept when it is the closest to n->s so far within distance 2. */
void		 config_near_offer(struct config_near *n, const char *name);

/* Sorts the messages from index from on by line (stable), line 0 last. */
void		 config_diag_sort(struct config_diag *d, int from);

/* config_value.c: values by kind. */

/*
 * A malloc'd NUL-terminated copy of len bytes of s (of s), the caller frees;
 * NULL with c->oom set when out of memory.
 */
char		*config_strndup(struct config_ctx *c, const char *s, size_t len);
char		*config_strdup(struct config_ctx *c, const char *s);

/* Frees a string field, wiping it (any string may be a secret), and stores s (owned). */
void		 config_set_str(char **field, char *s);

/* Formats the range of a numeric key: "1 to 65535", "above 0, at most 600". Returns buf. */
const char	*config_range(const struct config_key *k, char *buf, size_t size);

/* Lists the documented choices: "debug, info, warning, error". Returns buf. */
const char	*config_choice_list(const struct config_choice *ch, char *buf, size_t size);

/* 1 if s is a name: [A-Za-z0-9_.-]{1,64} */
int		 config_name_ok(const char *s, size_t len);

/* 1 if s is a provider id: [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? */
int		 config_id_ok(const char *s, size_t len);

/* 1 if s has no control characters and no NUL. */
int		 config_text_ok(const char *s, size_t len);

/*
 * Makes p absolute: "~/" from $HOME, relative against dir; normalized.
 * Returns a malloc'd path the caller frees, NULL if impossible.
 */
char		*config_abspath(const char *dir, const char *p);

/* Reads the value of key k from kv into the struct at base. */
void		 config_set(struct config_ctx *c, const struct config_key *k,
		    const struct toml_kv *kv, void *base);

/* config_env.c: variables. */

/* Frees the .env variables read, wiping their values, and zeroes e. */
void		 config_dotenv_free(struct config_dotenv *e);

/*
 * Value of a variable: the environment, then .env (the last line wins),
 * read on first use. NULL if unset. Borrowed: lives until the load ends.
 */
const char	*config_getenv(struct config_ctx *c, const char *name);

/* config_table.c: one section's table. */

/* Fills the struct at base with the defaults of section sec. */
void		 config_defaults(struct config_ctx *c, int sec, void *base);

/* Frees the pointer fields of the struct at base, wiping them. */
void		 config_section_free(int sec, void *base);

/*
 * Reads table tab with section sec into base: every key known, typed and in
 * range, groups exclusive, required keys present.
 */
void		 config_parse_table(struct config_ctx *c, int sec, const struct toml_value *tab,
		    void *base);

/* Reads the table value of key k with its section sub, naming it where.k in messages. */
void		 config_parse_sub(struct config_ctx *c, const struct config_key *k,
		    const struct toml_value *v, void *base);

/* Sets where/title for messages about a table. */
void		 config_where(struct config_ctx *c, const char *where, const char *title);

/* Checks that v is a table; reports it otherwise. 1 if it is. */
int		 config_is_table(struct config_ctx *c, const char *what,
		    const struct toml_value *v);

#endif /* QP_CONFIG_INT_H */
