/*
 * Backends, servers and balancing (core/ layer). Every algorithm chooses
 * among the same candidates: the UP servers of the first tier that has one
 * (primaries, else backups), minus the excluded server of a retry when it is
 * not the only one. Server states are atomics written by the health checker;
 * a pick reads them without a lock.
 *  - roundrobin: smooth weighted round robin (the interleaving variant:
 *    weights 5,1,1 give a a b a c a a rather than five a's in a row): each
 *    pick adds every candidate's weight to its current weight, takes the
 *    largest, and subtracts the total from the winner.
 *  - leastconn: the lowest (sessions + 1) / weight, i.e. the server that
 *    would be least loaded once it has this session; ties go round robin.
 *  - source: weighted rendezvous hashing of the client IP address: every
 *    candidate gets the score weight / -ln(u), u uniform from hash(client,
 *    server name), and the highest wins. A client keeps its server while that
 *    server is UP; when a server goes down only its own clients move, and
 *    they come back when it returns. Shares follow the weights.
 *  - random: power of two choices: two draws in proportion to the weights,
 *    the one with the lower sessions / weight wins (the first on a tie).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/backend.h"

#define FNV_INIT 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv1a(uint64_t h, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

/* MurmurHash3's finaliser: every input bit affects every output bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

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
			struct sl_server *s = &be->servers[j];

			s->conf = &be->conf->servers[j];
			s->be = be;
			atomic_init(&s->state, SL_SRV_UP);
			atomic_init(&s->admin, s->conf->disabled ? SL_SRV_ADMIN_MAINT
								 : SL_SRV_ADMIN_READY);
			atomic_init(&s->weight, s->conf->weight);
			/* by name, so that reordering server lines keeps affinities */
			s->name_hash = mix64(fnv1a(FNV_INIT, s->conf->name, strlen(s->conf->name)));
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

void sl_backend_count_up(const struct sl_backend *be, int *primaries, int *backups)
{
	int up[2] = { 0, 0 };

	for (int i = 0; i < be->nservers; i++)
		if (sl_server_status(&be->servers[i]) == SL_SRV_UP)
			up[be->servers[i].conf->backup]++;
	*primaries = up[0];
	*backups = up[1];
}

/* The candidates of one pick (see the top of the file). */
struct pick {
	int backup;                     /* tier: 0 primaries, 1 backups */
	const struct sl_server *exclude;
};

static bool candidate(const struct pick *p, const struct sl_server *s)
{
	return s != p->exclude && s->conf->backup == p->backup && sl_server_usable(s);
}

/* Fills p; false when no server is UP. */
static bool pick_init(const struct sl_backend *be, const struct sl_server *exclude,
		      struct pick *p)
{
	int up[2] = { 0, 0 };

	for (int i = 0; i < be->nservers; i++)
		if (sl_server_usable(&be->servers[i]))
			up[be->servers[i].conf->backup]++;
	p->backup = up[0] ? 0 : 1;
	p->exclude = NULL;
	if (!up[p->backup])
		return false;
	/* the excluded server stays a candidate when it is the only one */
	if (exclude && up[p->backup] > 1)
		p->exclude = exclude;
	return true;
}

static struct sl_server *swrr(struct sl_backend *be, const struct pick *p)
{
	struct sl_server *best = NULL;
	int total = 0;

	pthread_mutex_lock(&be->lock);
	for (int i = 0; i < be->nservers; i++) {
		struct sl_server *s = &be->servers[i];

		int wt = sl_server_weight(s);

		if (!candidate(p, s))
			continue;
		s->cur_weight += wt;
		total += wt;
		if (!best || s->cur_weight > best->cur_weight)
			best = s;
	}
	if (best)
		best->cur_weight -= total;
	pthread_mutex_unlock(&be->lock);
	return best;
}

/* a is less loaded than b: (sa + extra) / wa < (sb + extra) / wb, without
 * division. leastconn counts the session being placed (extra 1), so that the
 * heavier server takes it when both are empty; random does not (extra 0), so
 * that equal relative loads keep the weighted draw as it is. */
static bool lighter(const struct sl_server *a, const struct sl_server *b, unsigned extra)
{
	uint64_t la = (uint64_t)atomic_load(&a->sessions) + extra;
	uint64_t lb = (uint64_t)atomic_load(&b->sessions) + extra;

	return la * (uint64_t)sl_server_weight(b) < lb * (uint64_t)sl_server_weight(a);
}

static struct sl_server *leastconn(struct sl_backend *be, const struct pick *p)
{
	struct sl_server *best = NULL;
	int n = be->nservers, start;

	pthread_mutex_lock(&be->lock);
	start = be->lc_next;
	for (int k = 0; k < n; k++) {
		struct sl_server *s = &be->servers[(start + k) % n];

		if (candidate(p, s) && (!best || lighter(s, best, 1)))
			best = s;
	}
	/* the next tie starts after the winner: equal loads rotate */
	if (best)
		be->lc_next = (int)(best - be->servers + 1) % n;
	pthread_mutex_unlock(&be->lock);
	return best;
}

/* Natural logarithm of u in (0, 1] without libm (the build does not link
 * it): u = m * 2^e with m in [1, 2), ln u = e ln 2 + 2 atanh((m-1)/(m+1)),
 * the series converging fast since (m-1)/(m+1) < 1/3. Error below 1e-11. */
static double ln_unit(double u)
{
	uint64_t bits;
	double m, t, t2, term, sum = 0;
	int e;

	memcpy(&bits, &u, sizeof(bits));
	e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0xfffffffffffffULL) | (1023ULL << 52);
	memcpy(&m, &bits, sizeof(m));
	t = (m - 1) / (m + 1);
	t2 = t * t;
	term = t;
	for (int k = 1; k < 26; k += 2) {
		sum += term / k;
		term *= t2;
	}
	return e * 0.69314718055994530942 + 2 * sum;
}

/* The client's IP address (not its port), IPv4-mapped IPv6 as IPv4. */
static uint64_t client_hash(const union sl_sockaddr *c)
{
	const struct sockaddr_in6 *s6 = &c->in6;
	const struct sockaddr_in *s4 = &c->in4;

	if (c->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return fnv1a(FNV_INIT, &s6->sin6_addr.s6_addr[12], 4);
	if (c->sa.sa_family == AF_INET6)
		return fnv1a(FNV_INIT, &s6->sin6_addr, sizeof(s6->sin6_addr));
	return fnv1a(FNV_INIT, &s4->sin_addr, sizeof(s4->sin_addr));
}

/* -ln(u) for the (client, server) pair, u uniform in (0, 1]. */
static double rendezvous_cost(uint64_t ch, const struct sl_server *s)
{
	uint64_t h = mix64(ch ^ s->name_hash);

	return -ln_unit((double)((h >> 11) + 1) * 0x1p-53);
}

static struct sl_server *source(struct sl_backend *be, const struct pick *p,
				const union sl_sockaddr *client)
{
	uint64_t ch = client_hash(client);
	struct sl_server *best = NULL;
	double best_cost = 0;

	for (int i = 0; i < be->nservers; i++) {
		struct sl_server *s = &be->servers[i];
		double cost;

		if (!candidate(p, s))
			continue;
		/* highest weight / cost wins: compare crosswise, no division */
		cost = rendezvous_cost(ch, s);
		if (!best || sl_server_weight(s) * best_cost > sl_server_weight(best) * cost) {
			best = s;
			best_cost = cost;
		}
	}
	return best;
}

/* xorshift64*, one generator per thread, seeded from the kernel. */
static uint64_t rng_next(void)
{
	static _Thread_local uint64_t x;

	while (!x) {
		struct timespec ts;

		if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x)) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			x = mix64((uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&x);
		}
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return x * 0x2545f4914f6cdd1dULL;
}

/* One candidate drawn with probability weight / total. */
static struct sl_server *draw(struct sl_backend *be, const struct pick *p, uint64_t total)
{
	uint64_t r = rng_next() % total;
	struct sl_server *last = NULL;

	for (int i = 0; i < be->nservers; i++) {
		struct sl_server *s = &be->servers[i];

		if (!candidate(p, s))
			continue;
		last = s;
		if (r < (uint64_t)sl_server_weight(s))
			return s;
		r -= (uint64_t)sl_server_weight(s);
	}
	return last; /* a state changed under us: any candidate will do */
}

static struct sl_server *random2(struct sl_backend *be, const struct pick *p)
{
	struct sl_server *a, *b;
	uint64_t total = 0;

	for (int i = 0; i < be->nservers; i++)
		if (candidate(p, &be->servers[i]))
			total += (uint64_t)sl_server_weight(&be->servers[i]);
	if (!total)
		return NULL;
	a = draw(be, p, total);
	b = draw(be, p, total);
	if (!a || !b)
		return a ? a : b;
	return lighter(b, a, 0) ? b : a;
}

struct sl_server *sl_backend_pick(struct sl_backend *be, const union sl_sockaddr *client,
				  const struct sl_server *exclude)
{
	struct sl_server *s = NULL;
	struct pick p;

	/* Twice at most: a state may change between pick_init and the choice,
	 * leaving no candidate in the tier that was chosen. */
	for (int tries = 0; tries < 2 && !s; tries++) {
		if (!pick_init(be, exclude, &p))
			return NULL;
		switch (be->conf->balance) {
		case SL_BAL_LEASTCONN:
			s = leastconn(be, &p);
			break;
		case SL_BAL_SOURCE:
			s = client ? source(be, &p, client) : swrr(be, &p);
			break;
		case SL_BAL_RANDOM:
			s = random2(be, &p);
			break;
		case SL_BAL_ROUNDROBIN:
		default:
			s = swrr(be, &p);
			break;
		}
	}
	return s;
}
