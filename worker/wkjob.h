/* wkjob.h: one job of quotapool-worker: the runtime call and the result POSTs. */
#ifndef WK_JOB_H
#define WK_JOB_H

#include <curl/curl.h>

#include "wk.h"
#include "wkproto.h"

/*
 * Starts a job in its own threads (one sends the result POSTs, one reads
 * the runtime's answer into a buffer of WK_JOB_BUFFER bytes, waiting when
 * it is full). Takes ownership of *job (left empty). The caller holds
 * wk->mu and has found slot free; the job puts itself in wk->slots[slot]
 * and wk->inflight, and takes itself out (signalling wk->cv) when done.
 * Returns 0, or -1 when no thread could be made (the job is then refused
 * to the gateway with a 502 head by the caller).
 */
int	wkjob_start(struct wk *wk, struct wkproto_job *job, int slot);

/*
 * Stops a running job at once: the runtime call is aborted (its
 * connection closed) and nothing more is sent for the job. The caller
 * holds wk->mu (which keeps run alive). Thread-safe.
 */
void	wkjob_cancel(struct wkjob_run *run);

/*
 * Sends a job the worker cannot run back as a 502 head with end=1, using
 * a handle of the caller's thread. error is one line, never a key.
 */
void	wkjob_refuse(struct wk *wk, CURL *h, const char *id, const char *error);

#endif /* WK_JOB_H */
