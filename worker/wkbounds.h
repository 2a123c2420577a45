/* wkbounds.h: every fixed bound of quotapool-worker on input from outside, in one place. */
#ifndef WK_BOUNDS_H
#define WK_BOUNDS_H

/* A job as the gateway sends it (GET /worker/v1/jobs answer); refused beyond. */
#define WK_JOB_MAX		(64 * 1024 * 1024)
/* Hex digits of a job id. */
#define WK_JOB_ID_LEN		32
/* A job's method: upper-case letters only. */
#define WK_METHOD_MAX		16
/* A job's path, relative to the runtime's base URL. */
#define WK_PATH_MAX		4096
/* Headers of one job, and the size of one name and one value. */
#define WK_HEADERS_MAX		64
#define WK_HEADER_NAME_MAX	256
#define WK_HEADER_VALUE_MAX	8192
/* The runtime's model list: body read, entries kept, bytes of one id. */
#define WK_MODELS_BODY_MAX	(4 * 1024 * 1024)
#define WK_MODELS_MAX		512
#define WK_MODEL_ID_MAX		128
/* The head line of a result (the gateway refuses one over 16 KiB). */
#define WK_HEAD_MAX		(16 * 1024)
/* Room the runtime's response headers may take in the head line. */
#define WK_HEAD_HEADERS_MAX	(12 * 1024)
/* Bytes of a one-line error in a 502 head. */
#define WK_HEAD_ERROR_MAX	200
/*
 * Answer bytes one job holds between the runtime and the gateway: when the
 * gateway is slower, the runtime transfer waits (its TCP window fills).
 */
#define WK_JOB_BUFFER		(64 * 1024)
/* Answers of hello, bye and refused calls that are read (the rest is dropped). */
#define WK_ANSWER_MAX		(64 * 1024)
/* Range of --max-concurrency (the protocol's capacity). */
#define WK_CAPACITY_MAX		256
/* Range of heartbeat_s accepted from the gateway, and the default. */
#define WK_HEARTBEAT_MIN_S	1
#define WK_HEARTBEAT_MAX_S	3600
#define WK_HEARTBEAT_DEFAULT_S	10
/* Reconnect backoff: first delay and cap, in milliseconds. */
#define WK_BACKOFF_BASE_MS	500
#define WK_BACKOFF_CAP_MS	30000
/* Bytes of --name (the protocol's worker name). */
#define WK_NAME_MAX		128
/* Bytes of a key read from the environment. */
#define WK_KEY_MAX		4096
/* Bytes of a URL given on the command line. */
#define WK_URL_MAX		2048
/* Range of --drain-timeout, seconds. */
#define WK_DRAIN_MAX_S		86400
/* Range of --poll-wait, seconds (the protocol's wait). */
#define WK_POLL_WAIT_MIN_S	1
#define WK_POLL_WAIT_MAX_S	60
/* Seconds to connect to the gateway or the runtime. */
#define WK_CONNECT_TIMEOUT_S	10
/* Seconds one result POST may take before the job is given up. */
#define WK_RESULT_TIMEOUT_S	120
/* Attempts of one result POST that met a network error or a 5xx. */
#define WK_RESULT_TRIES		4

#endif /* WK_BOUNDS_H */
