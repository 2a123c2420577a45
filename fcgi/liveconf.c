/* liveconf.c: the configuration in force in a running process, replaced whole by a reload. */
#include <pthread.h>
#include <stdlib.h>

#include "liveconf.h"

/* One configuration and the pins on it. */
struct liveconf_entry {
	struct config		*cfg;	/* owned */
	uint64_t		 gen;	/* its generation, 1 = the one loaded at start */
	int64_t			 pins;	/* users now */
	struct liveconf_entry	*next;	/* an older one still pinned */
};

struct liveconf {
	pthread_mutex_t		 lock;	/* guards everything below */
	struct liveconf_entry	*head;	/* the one in force, then the superseded */
	uint64_t		 gen;	/* generation of head */
};

struct liveconf *
liveconf_new(struct config *cfg, enum qp_err *err)
{
	struct liveconf *lc;

	if ((lc = calloc(1, sizeof(*lc))) == NULL ||
	    (lc->head = calloc(1, sizeof(*lc->head))) == NULL) {
		free(lc);
		*err = QP_ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&lc->lock, NULL);
	lc->head->cfg = cfg;
	lc->head->gen = lc->gen = 1;
	*err = QP_OK;
	return lc;
}

void
liveconf_free(struct liveconf *lc)
{
	struct liveconf_entry *e, *next;

	if (lc == NULL)
		return;
	for (e = lc->head; e != NULL; e = next) {
		next = e->next;
		config_free(e->cfg);
		free(e);
	}
	pthread_mutex_destroy(&lc->lock);
	free(lc);
}

const struct config *
liveconf_pin(struct liveconf *lc, uint64_t *gen)
{
	const struct config *cfg;

	pthread_mutex_lock(&lc->lock);
	lc->head->pins++;
	cfg = lc->head->cfg;
	if (gen != NULL)
		*gen = lc->head->gen;
	pthread_mutex_unlock(&lc->lock);
	return cfg;
}

void
liveconf_unpin(struct liveconf *lc, const struct config *cfg)
{
	struct liveconf_entry **pp, *gone = NULL;

	if (cfg == NULL)
		return;
	pthread_mutex_lock(&lc->lock);
	for (pp = &lc->head; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->cfg != cfg)
			continue;
		(*pp)->pins--;
		/* The one in force stays, pinned or not. */
		if ((*pp)->pins <= 0 && *pp != lc->head) {
			gone = *pp;
			*pp = gone->next;
		}
		break;
	}
	pthread_mutex_unlock(&lc->lock);
	if (gone != NULL) {
		config_free(gone->cfg);
		free(gone);
	}
}

uint64_t
liveconf_publish(struct liveconf *lc, struct config *cfg)
{
	struct liveconf_entry *e, *old, *gone = NULL;
	uint64_t gen;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return 0;
	e->cfg = cfg;
	pthread_mutex_lock(&lc->lock);
	old = lc->head;
	e->gen = gen = ++lc->gen;
	if (old->pins <= 0) {
		gone = old;
		e->next = old->next;
	} else
		e->next = old;
	lc->head = e;
	pthread_mutex_unlock(&lc->lock);
	if (gone != NULL) {
		config_free(gone->cfg);
		free(gone);
	}
	return gen;
}

uint64_t
liveconf_generation(struct liveconf *lc)
{
	uint64_t gen;

	pthread_mutex_lock(&lc->lock);
	gen = lc->gen;
	pthread_mutex_unlock(&lc->lock);
	return gen;
}

int
liveconf_superseded(struct liveconf *lc)
{
	struct liveconf_entry *e;
	int n = 0;

	pthread_mutex_lock(&lc->lock);
	for (e = lc->head->next; e != NULL; e = e->next)
		n++;
	pthread_mutex_unlock(&lc->lock);
	return n;
}
