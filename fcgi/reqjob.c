/* reqjob.c: the database work of a request's steps (choose an account, end an attempt, finish), shared by chat and passthrough. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "keys.h"
#include "reqjob.h"
#include "workerjob.h"

enum qp_err
reqjob_choose(const struct server_db *d, void *arg)
{
	struct reqjob *j = arg;
	struct keylimit_policy pol;
	struct keylimit_usage use;
	enum qp_err err;

	j->key = KEYLIMIT_OK;
	if (j->req->attempts == 0 && j->req->client_key_id > 0) {
		err = keys_limits_read(d->keys, j->req->client_key_id, j->q->now, &pol, &use);
		if (err != QP_OK && err != QP_ENOTFOUND)
			return err;
		if (err == QP_OK && (j->key = keylimit_judge(&pol, &use, j->keymodel, j->keybase,
		    j->q->now, &j->key_retry_at)) != KEYLIMIT_OK)
			return QP_OK;
	}
	/* The writer's selector chooses among this request's accounts. */
	if ((err = select_bind(d->sel, j->cfg, j->cfg_gen)) != QP_OK ||
	    (err = select_choose(d->sel, j->q, j->sel)) != QP_OK ||
	    (j->workers && (err = workerjob_choose(d, j->cfg, j->q, j->sel)) != QP_OK))
		return err;
	if (j->sel->status == SELECT_OK)
		return accounting_attempt_start(d->acc, j->req, j->sel, j->q->now);
	/* The selector's buffer is the next job's: keep the refusal's own copy. */
	free(j->detail);
	if ((j->detail = strdup(j->sel->detail_json != NULL ? j->sel->detail_json :
	    "{}")) == NULL)
		return QP_ENOMEM;
	j->sel->detail_json = j->detail;
	return QP_OK;
}

enum qp_err
reqjob_end(const struct server_db *d, void *arg)
{
	struct reqjob *j = arg;

	/* What the answer said of the quota holds for every process from now on. */
	if (j->rl != NULL && ratelimit_store(d->db, j->rl_account,
	    j->rl_model != NULL ? j->rl_model : "", j->rl, db_now_ms()) != 0)
		return QP_EDB;
	return accounting_attempt_end(d->acc, j->req, j->att, j->v, j->routing, j->fin);
}

enum qp_err
reqjob_finish(const struct server_db *d, void *arg)
{
	struct reqjob *j = arg;

	return accounting_finish(d->acc, j->req, j->sel, j->fin);
}
