/* handoff.h: the per-process Unix socket that hands workers' jobs and result bytes between processes. */
#ifndef QP_HANDOFF_H
#define QP_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "workerproto.h"

/*
 * Every quotapool.fcgi process listens on <state_dir>/handoff-<pid>.sock
 * (0600, peers of another uid refused). A message is a fixed header,
 * then for a result its payload; the listener thread reads the header
 * only:
 * - WAKE (worker id): a job was queued for that worker: its long polls
 *   in this process look again. Sent to every process's socket.
 * - RESULT (job id, seq, end, length): the body of a result POST,
 *   served by another process, for a job this process owns (the job's
 *   row names the socket). The connection is handed to the thread
 *   serving the job, which reads the payload, writes it to its client and
 *   answers one reply byte; the sender answers the worker from it.
 * - FAIL (job id): the worker is gone (bye) before it took the job.
 * Buffers are bounded (the payload is read in QP_HANDOFF_CHUNK pieces by
 * the job's thread, straight from the connection); nobody busy-waits.
 */

/* Reply bytes to a RESULT. */
enum handoff_reply {
	HANDOFF_REPLY_OK = 'K',		/* passed to the client (204) */
	HANDOFF_REPLY_GONE = 'G',	/* the job is no longer wanted (410) */
	HANDOFF_REPLY_SEQ = 'S',	/* not the seq expected next (409) */
	HANDOFF_REPLY_HEAD = 'H',	/* a malformed head (400) */
	HANDOFF_REPLY_BUSY = 'B',	/* a POST for the job is being passed on already (409) */
};

/* One process's hand-off socket and its jobs (opaque, thread-safe). */
struct handoff;

/* A job this process owns (opaque; its thread's). */
struct handoff_job;

/* A RESULT taken by the job's thread. */
struct handoff_delivery {
	int		 fd;		/* the connection: read len payload bytes, then
					   handoff_reply(); -1 = none */
	uint32_t	 seq;		/* seq of the POST */
	int		 end;		/* 1: the last one */
	uint32_t	 len;		/* payload bytes to read */
};

/*
 * Creates the socket in state_dir (removing a stale one of the same
 * pid) and starts its listener thread. Returns NULL with *err set and a
 * reason in errbuf. Call once at start.
 */
struct handoff	*handoff_start(const char *state_dir, enum qp_err *err, char *errbuf,
		    size_t errlen);

/* Stops the listener, removes the socket and frees h. NULL is allowed. No job may be open. */
void		 handoff_stop(struct handoff *h);

/* Returns the socket's path (lives as long as h). */
const char	*handoff_path(const struct handoff *h);

/*
 * Registers job id (owned by the calling thread) so that RESULT and FAIL
 * messages for it reach handoff_job_poll_fd(). NULL with *err on failure.
 */
struct handoff_job *handoff_job_open(struct handoff *h, const char *id, enum qp_err *err);

/*
 * Unregisters and frees j; a delivery not taken is answered GONE. NULL is
 * allowed. From then on RESULTs for the id are answered GONE.
 */
void		 handoff_job_close(struct handoff *h, struct handoff_job *j);

/* Returns the descriptor that is readable when a delivery or a FAIL is waiting. */
int		 handoff_job_poll_fd(const struct handoff_job *j);

/*
 * Takes what arrived for j: returns 1 with *d filled (d->fd >= 0, now the
 * caller's), 2 if the job was failed (FAIL), 0 if nothing is waiting.
 * Drains the poll descriptor.
 */
int		 handoff_job_take(struct handoff *h, struct handoff_job *j,
		    struct handoff_delivery *d);

/*
 * Reads exactly len payload bytes from a delivery's connection into buf,
 * waiting at most timeout_ms for each piece. Returns 0, or -1 if the
 * sender went away or was silent too long.
 */
int		 handoff_read(int fd, void *buf, size_t len, int timeout_ms);

/*
 * Reads and drops len payload bytes (a delivery answered without them),
 * each piece within timeout_ms. 0, or -1 if the sender went away.
 */
int		 handoff_discard(int fd, size_t len, int timeout_ms);

/* Answers a delivery with one reply byte and closes its connection. */
void		 handoff_reply(int fd, enum handoff_reply code);

/*
 * Blocks until a WAKE for worker_id arrives after *gen was read (then
 * updates *gen and returns 1) or until deadline (monotonic ms; returns
 * 0) or the process stops (handoff_close_waits(); returns -1). Start with
 * handoff_worker_gen(). Thread-safe.
 */
int		 handoff_wait_worker(struct handoff *h, int64_t worker_id, uint64_t *gen,
		    int64_t deadline);

/* Ends every handoff_wait_worker() at once, and those that follow (shutdown). Thread-safe. */
void		 handoff_close_waits(struct handoff *h);

/* Returns the wake-up generation of worker_id, for handoff_wait_worker(). Thread-safe. */
uint64_t	 handoff_worker_gen(struct handoff *h, int64_t worker_id);

/*
 * Sends WAKE for worker_id to every process's socket in state_dir
 * (this one's included); stale sockets are skipped. Thread-safe.
 */
void		 handoff_wake_all(struct handoff *h, int64_t worker_id);

/*
 * Sends FAIL for job id to the socket at path. Returns 0, or -1 when
 * nobody listens there. Thread-safe.
 */
int		 handoff_send_fail(const char *path, const char *id);

/*
 * Sends a RESULT (payload buf, len bytes) for job id to the socket at
 * path and waits for its reply at most timeout_ms. Returns the reply
 * byte, or HANDOFF_REPLY_GONE when nobody listens there or no reply
 * came (the owner is gone). Thread-safe.
 */
enum handoff_reply handoff_send_result(const char *path, const char *id, uint32_t seq,
		    int end, const void *buf, size_t len, int timeout_ms);

#endif /* QP_HANDOFF_H */
