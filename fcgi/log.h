/* log.h: one-line log records on standard error. */
#ifndef QP_LOG_H
#define QP_LOG_H

enum log_level {
	LOG_DEBUG,	/* detail for developers */
	LOG_INFO,	/* normal operation */
	LOG_WARNING,	/* something an operator should look at */
	LOG_ERROR,	/* a request or task failed */
	LOG__MAX
};

/*
 * Sets the least severe level written. Call before starting threads;
 * not thread-safe with concurrent log_msg().
 */
void		 log_set_level(enum log_level level);

/* Parses "debug", "info", "warning" or "error"; returns -1 if unknown. */
int		 log_level_parse(const char *name);

/*
 * Writes one line "TIME quotapool[PID]: LEVEL: message" to stderr if level
 * is enabled. Never pass secrets. Thread-safe (one write per line).
 */
void		 log_msg(enum log_level level, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

#endif /* QP_LOG_H */
