/* liveconf.h: the configuration in force in a running process, replaced whole by a reload. */
#ifndef QP_LIVECONF_H
#define QP_LIVECONF_H

#include <stdint.h>

#include "config.h"
#include "err.h"

/*
 * How a configuration is shared and replaced.
 *
 * One configuration is published at a time. Whoever reads it pins it
 * first (liveconf_pin()) and uses that same configuration until it
 * unpins it: a request pins once at its start and keeps its copy to its
 * end, however long its stream lasts; the maintenance thread pins once
 * per pass. A reload publishes a new configuration (liveconf_publish());
 * the pins taken before it keep the old one alive, and the old one is
 * freed (its secrets wiped by config_free()) when its last pin goes.
 *
 * A reference count rather than keeping every old configuration until
 * exit: a superseded configuration holds account keys, and a key removed
 * or replaced by a reload must leave memory once no request can still
 * use it, not when the process ends months later; a process reloaded
 * every few minutes must not grow either. The count is kept under one
 * mutex: a pin is a lock, an increment and an unlock, nothing beside a
 * request; a lock-free scheme would save nothing measurable.
 *
 * What may not hold a pin keeps the generation with the pointer instead
 * (the selectors of pooled connections, select_bind()): a pointer alone
 * could name a new configuration allocated where a freed one was.
 */

/* The published configuration and the superseded ones still pinned (opaque). */
struct liveconf;

/*
 * Publishes cfg as generation 1; the liveconf owns it from then on.
 * Returns NULL with *err = QP_ENOMEM (cfg is then still the caller's).
 */
struct liveconf	*liveconf_new(struct config *cfg, enum qp_err *err);

/*
 * Frees lc and every configuration it holds, pinned or not. Only once no
 * other thread runs that could still use one (process exit). NULL is
 * allowed.
 */
void		 liveconf_free(struct liveconf *lc);

/*
 * Pins the configuration in force and returns it (never NULL); *gen
 * (may be NULL) receives its generation. The configuration stays valid
 * and unchanged until the matching liveconf_unpin(). Thread-safe.
 */
const struct config *liveconf_pin(struct liveconf *lc, uint64_t *gen);

/*
 * Lets go of a pin taken by liveconf_pin(). A superseded configuration
 * is freed here when this was its last pin. NULL cfg is allowed.
 * Thread-safe.
 */
void		 liveconf_unpin(struct liveconf *lc, const struct config *cfg);

/*
 * Makes cfg the configuration in force (lc owns it from then on) and
 * returns its generation, one more than the last. The previous one is
 * freed at once if nothing pins it, else at its last unpin. Returns 0
 * with nothing changed (cfg still the caller's) on out of memory.
 * Thread-safe.
 */
uint64_t	 liveconf_publish(struct liveconf *lc, struct config *cfg);

/* Returns the generation in force. Thread-safe. */
uint64_t	 liveconf_generation(struct liveconf *lc);

/* Returns how many superseded configurations are still pinned. Thread-safe. */
int		 liveconf_superseded(struct liveconf *lc);

#endif /* QP_LIVECONF_H */
