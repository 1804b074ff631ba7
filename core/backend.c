/*
 * Backends and servers at run time (core/ layer). Smooth weighted round robin
 * (the interleaving variant: weights 5,1,1 give a a b a c a a rather than
 * five a's in a row): each pick adds every candidate's weight to its current
 * weight, takes the largest, and subtracts the total from the winner.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/backend.h"

int sl_backends_init(const struct sl_config *conf, struct sl_backend **out)
{
	struct sl_backend *bes = calloc((size_t)conf->nbackends, sizeof(*bes));
	int i, j;

	if (!bes)
		return -ENOMEM;
	for (i = 0; i < conf->nbackends; i++) {
		struct sl_backend *be = &bes[i];

		be->conf = &conf->backends[i];
		be->nservers = be->conf->nservers;
		pthread_mutex_init(&be->lock, NULL);
		be->servers = calloc((size_t)be->nservers, sizeof(*be->servers));
		if (!be->servers) {
			sl_backends_free(bes, i + 1);
			return -ENOMEM;
		}
		for (j = 0; j < be->nservers; j++) {
			be->servers[j].conf = &be->conf->servers[j];
			be->servers[j].be = be;
		}
	}
	*out = bes;
	return 0;
}

void sl_backends_free(struct sl_backend *bes, int n)
{
	if (!bes)
		return;
	for (int i = 0; i < n; i++) {
		free(bes[i].servers);
		pthread_mutex_destroy(&bes[i].lock);
	}
	free(bes);
}

static int usable(const struct sl_server *s, int backup)
{
	return !s->conf->disabled && s->conf->backup == backup;
}

/* One smooth-WRR round over the servers matching backup, skipping exclude
 * unless it is the only candidate. Caller holds be->lock. */
static struct sl_server *swrr(struct sl_backend *be, int backup, const struct sl_server *exclude)
{
	struct sl_server *best = NULL;
	int total = 0, n = 0;

	for (int i = 0; i < be->nservers; i++)
		if (usable(&be->servers[i], backup) && &be->servers[i] != exclude)
			n++;
	for (int i = 0; i < be->nservers; i++) {
		struct sl_server *s = &be->servers[i];

		if (!usable(s, backup) || (n > 0 && s == exclude))
			continue;
		s->cur_weight += s->conf->weight;
		total += s->conf->weight;
		if (!best || s->cur_weight > best->cur_weight)
			best = s;
	}
	if (best)
		best->cur_weight -= total;
	return best;
}

struct sl_server *sl_backend_pick(struct sl_backend *be, const struct sl_server *exclude)
{
	struct sl_server *s;

	pthread_mutex_lock(&be->lock);
	s = swrr(be, 0, exclude);
	if (!s)
		s = swrr(be, 1, exclude);
	pthread_mutex_unlock(&be->lock);
	return s;
}
