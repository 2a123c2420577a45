/* wkhttp.h: one bounded HTTP call of quotapool-worker over a reused curl handle. */
#ifndef WK_HTTP_H
#define WK_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

/* The answer of a call: heap memory released by wkhttp_answer_free(). */
struct wkhttp_answer {
	long	 status;		/* HTTP status, 0 when no answer came */
	char	*body;			/* the first max bytes of the body, NUL-terminated, or NULL */
	size_t	 len;			/* bytes in body */
	int	 truncated;		/* the body had more than max bytes */
	int	 aborted;		/* the stop callback ended the call */
	char	 err[CURL_ERROR_SIZE];	/* one-line transport error when status is 0 */
};

/* One call. */
struct wkhttp_call {
	const char		*method;	/* "GET", "POST" */
	const char		*url;
	const char		*bearer;	/* key sent as Authorization: Bearer, or NULL */
	const char		*content_type;	/* of body, or NULL */
	const char		*body;		/* request body, or NULL */
	size_t			 body_len;
	long			 timeout_s;	/* whole call */
	const char		*ca_file;	/* CA bundle, or NULL for the system's */
	size_t			 max;		/* body bytes kept */
	int			(*stop)(void *); /* polled about once a second: nonzero aborts */
	void			*stop_arg;
};

/*
 * Makes the call c on the handle h (which keeps its connections between
 * calls; one thread at a time). Returns 0 when an answer came (ans->status
 * set, maybe truncated), -1 on a transport failure or abort (ans->err).
 * The key goes only into the request's Authorization header and is wiped
 * from the header list before it is freed.
 */
int	wkhttp_do(CURL *h, const struct wkhttp_call *c, struct wkhttp_answer *ans);

/* Releases ans->body; accepts NULL. */
void	wkhttp_answer_free(struct wkhttp_answer *ans);

/*
 * Appends "Authorization: Bearer KEY" to l (wkhttp_slist_free() wipes it).
 * Returns the new list, or NULL when out of memory (l is then freed).
 */
struct curl_slist *wkhttp_bearer(struct curl_slist *l, const char *key);

/* Wipes every string of l, then frees it; accepts NULL. */
void	wkhttp_slist_free(struct curl_slist *l);

/* Applies the options every transfer of the worker shares (no signal, timeouts, protocols). */
CURLcode wkhttp_common(CURL *h, const char *ca_file);

#endif /* WK_HTTP_H */
