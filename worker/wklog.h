/* wklog.h: quotapool-worker's log, one line per event on stderr. */
#ifndef WK_LOG_H
#define WK_LOG_H

/*
 * Writes "YYYY-MM-DDTHH:MM:SSZ quotapool-worker: MESSAGE\n" to stderr in
 * one write; control characters of the message become spaces, so that an
 * event is always one line. Callers never pass a key. Thread-safe.
 */
void	wklog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* WK_LOG_H */
