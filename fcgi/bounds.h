/* bounds.h: every fixed bound on input from outside, in one place. */
#ifndef QP_BOUNDS_H
#define QP_BOUNDS_H

/* Request bodies: default for [server] max_request_body_bytes (413 beyond). */
#define QP_BODY_DEFAULT		(10 * 1024 * 1024)
/* Largest body [server] max_request_body_bytes may allow. */
#define QP_BODY_MAX		(64 * 1024 * 1024)
/* One request header value, e.g. Authorization (400 beyond). */
#define QP_HEADER_MAX		8192
/* One SSE line or unterminated event from upstream (the stream fails beyond). */
#define QP_SSE_LINE_MAX		(1024 * 1024)
/* Nesting depth of JSON accepted from clients and upstreams (400 beyond). */
#define QP_JSON_DEPTH_MAX	64
/* Nesting depth of template sections and partials (template error beyond). */
#define QP_TMPL_DEPTH_MAX	32
/* Size of a configuration file (rejected beyond). */
#define QP_CONFIG_MAX		(4 * 1024 * 1024)
/* Nesting depth of TOML arrays and inline tables (parse error beyond). */
#define QP_TOML_DEPTH_MAX	128
/* An upstream error body kept for classification (the rest is drained). */
#define QP_UPSTREAM_ERRBODY_MAX	(64 * 1024)
/*
 * A non-streaming upstream response body: default and largest value of
 * [upstream] max_response_body_bytes (502 beyond). Streams are relayed
 * in bounded memory whatever their length.
 */
#define QP_UPSTREAM_BODY_DEFAULT	(32 * 1024 * 1024)
#define QP_UPSTREAM_BODY_MAX	(64 * 1024 * 1024)
/* Worker threads: range of [server] threads. */
#define QP_THREADS_MIN		1
#define QP_THREADS_MAX		1024
/*
 * Worker threads waiting in accept at once; the others wait their turn,
 * the last one to finish a request first, so that light traffic keeps to
 * a few threads whose memory stays in the CPU caches. Each FastCGI
 * connection that stays open between requests (Apache's enablereuse=on,
 * never used) would hold one of them.
 */
#define QP_ACCEPTORS		8
/* Stack of each worker thread: small, so hundreds of streams fit in little memory. */
#define QP_THREAD_STACK		(256 * 1024)
/*
 * malloc arenas of quotapool.fcgi per online CPU (mallopt M_ARENA_MAX; glibc's default is
 * 8). Freed memory stays in the arena that held it, so with hundreds of threads spread
 * over 16 arenas a 2-core machine kept 114 MB after a load of 1 KB to 2 MB bodies, and
 * 50 MB with one arena per CPU, at the same CPU time per request.
 */
#define QP_MALLOC_ARENAS_PER_CPU	1
/*
 * Database connections a process keeps, lent to worker threads around their database work.
 * Each costs about 470 KB once its statements are prepared, and a burst of requests opens
 * them all; writes take turns anyway, and 4 served as many requests per second at
 * concurrency 32 as 8 did (2-core machine, docs/performance.md).
 */
#define QP_DB_POOL		4
/* Seconds a worker waits for a free database connection (503 beyond). */
#define QP_DB_POOL_WAIT_S	30
/*
 * The data plane's writes share one transaction for this long before it
 * commits (the most a crash can lose), or QP_WRITE_BATCH_MAX jobs.
 */
#define QP_WRITE_DELAY_MS	2
#define QP_WRITE_BATCH_MAX	512
/*
 * After each such commit no new transaction begins for this long, so that
 * other processes (quotapool-admin, a second copy of the app), whose
 * SQLite busy handler retries now and then, find the database free in
 * about one try out of eight even under full load.
 */
#define QP_WRITE_GAP_US		300
/* The WAL is checkpointed off the request path once it holds this many pages, or each second. */
#define QP_CHECKPOINT_PAGES	1000
#define QP_CHECKPOINT_S		1
/* WAL length (pages) at which the committer makes it start over from its beginning. */
#define QP_WAL_RESTART_PAGES	4000
/* WAL pages past which the writer checkpoints itself, should the committer not keep up. */
#define QP_CHECKPOINT_BACKSTOP	20000
/* Seconds a stopping process waits for in-flight requests before it exits anyway. */
#define QP_SHUTDOWN_GRACE_S	30
/* Client key: length of the random part in bytes. */
#define QP_KEY_RANDOM_BYTES	24
/* Query string length accepted on dashboard and API routes (414 beyond). */
#define QP_QUERY_MAX		4096
/*
 * Failed key checks and logins (fcgi/authfail.c): addresses followed at
 * once (the least recently seen give way), the window of the throttle and
 * of the log's one line per address, and log lines a minute over all
 * addresses.
 */
#define QP_AUTHFAIL_ADDRS	1024
#define QP_AUTHFAIL_WINDOW_MS	60000
#define QP_AUTHFAIL_LOG_LINES	60

/*
 * Translation between API families (fcgi/xlate*.c). A Responses client's stream repeats each
 * finished item and the whole output at its end, so that transform keeps the items of one
 * answer up to this many bytes (the stream fails beyond); the others keep no text.
 */
#define QP_XLATE_KEEP_MAX	(4 * 1024 * 1024)
/* Tool calls of one streamed answer that a transform tracks (the stream fails beyond). */
#define QP_XLATE_TOOLS_MAX	256
/* max_tokens sent to a Messages provider when the chat or Responses client set no limit. */
#define QP_XLATE_MAX_TOKENS	8192
/* An upstream error message carried into a translated error body (cut beyond). */
#define QP_XLATE_ERRMSG_MAX	1024
/* [aliases]: patterns in the file, and models one pattern lists (the file is refused beyond). */
#define QP_ALIASES_MAX		256
#define QP_ALIAS_TARGETS_MAX	16
/* A client's User-Agent kept with its request row (cut beyond, at a character boundary). */
#define QP_USER_AGENT_MAX	256

/*
 * Bytes of a model id that no configured provider serves (a 404 "model not
 * found") kept on that request's own rows, cut at a UTF-8 character
 * boundary. The rollups, pages and /metrics count every such request under
 * the one label "(unknown)" (STATS_UNKNOWN_MODEL), so made-up ids cannot
 * grow them.
 */
#define QP_UNKNOWN_MODEL_KEEP	128

/* Remote workers (docs/workers.md): a hello body (413 beyond). */
#define QP_WORKER_HELLO_MAX	(256 * 1024)
/* Models one worker registers; ids are at most QP_WORKER_MODEL_ID_MAX bytes. */
#define QP_WORKER_MODELS_MAX	512
#define QP_WORKER_MODEL_ID_MAX	128
/* A worker's name and version (bytes, printable). */
#define QP_WORKER_NAME_MAX	64
#define QP_WORKER_VERSION_MAX	64
/* Jobs one worker runs at once. */
#define QP_WORKER_CAPACITY_MAX	256
/* The head line of a result (400 beyond), and one result POST's body (413 beyond). */
#define QP_WORKER_HEAD_MAX	(16 * 1024)
#define QP_WORKER_POST_MAX	(4 * 1024 * 1024)
/* Longest long poll (s), and its default. */
#define QP_WORKER_WAIT_MAX_S	60
#define QP_WORKER_WAIT_DEFAULT_S 25
/* Bytes one hand-off read or write moves at most (the buffer of a job's relay). */
#define QP_HANDOFF_CHUNK	(64 * 1024)
/* Longest wait for a message's header on a hand-off connection (ms). */
#define QP_HANDOFF_HEADER_MS	2000
/* Workers one process keeps a routing name for (their attempts name them). */
#define QP_WORKER_NAMES_MAX	4096

#endif /* QP_BOUNDS_H */
