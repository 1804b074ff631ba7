/*
 * Per-source connection counts (core/ layer): a chained hash table keyed by
 * (frontend, IP address) under one mutex. An entry exists only while its
 * count is positive, so the table holds as many entries as there are
 * distinct connected sources, whatever the history.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"

#define BUCKETS 4096u

struct src {
	struct src *next;
	int fe;
	uint8_t fam;
	uint8_t ip[16];
	uint32_t count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct src *table[BUCKETS];
static uint32_t nsrc;

static void key_of(const union sl_sockaddr *a, uint8_t *fam, uint8_t ip[16])
{
	memset(ip, 0, 16);
	*fam = (uint8_t)a->sa.sa_family;
	if (a->sa.sa_family == AF_INET)
		memcpy(ip, &a->in4.sin_addr, 4);
	else if (a->sa.sa_family == AF_INET6)
		memcpy(ip, &a->in6.sin6_addr, 16);
}

static uint32_t hash(int fe, uint8_t fam, const uint8_t ip[16])
{
	uint32_t h = 2166136261u ^ (uint32_t)fe ^ ((uint32_t)fam << 8);

	for (int i = 0; i < 16; i++)
		h = (h ^ ip[i]) * 16777619u;
	return h % BUCKETS;
}

static struct src **find(int fe, uint8_t fam, const uint8_t ip[16])
{
	struct src **pp = &table[hash(fe, fam, ip)];

	while (*pp && ((*pp)->fe != fe || (*pp)->fam != fam || memcmp((*pp)->ip, ip, 16)))
		pp = &(*pp)->next;
	return pp;
}

bool sl_limits_source_get(int fe_idx, const union sl_sockaddr *addr, uint32_t limit)
{
	uint8_t fam, ip[16];
	struct src **pp, *e;
	bool ok = true;

	key_of(addr, &fam, ip);
	pthread_mutex_lock(&lock);
	pp = find(fe_idx, fam, ip);
	e = *pp;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (e) {
			e->fe = fe_idx;
			e->fam = fam;
			memcpy(e->ip, ip, 16);
			*pp = e;
			nsrc++;
		}
	}
	if (!e || e->count >= limit)
		ok = false; /* out of memory counts as over the limit: fail closed */
	else
		e->count++;
	pthread_mutex_unlock(&lock);
	return ok;
}

void sl_limits_source_put(int fe_idx, const union sl_sockaddr *addr)
{
	uint8_t fam, ip[16];
	struct src **pp, *e;

	key_of(addr, &fam, ip);
	pthread_mutex_lock(&lock);
	pp = find(fe_idx, fam, ip);
	e = *pp;
	if (e && e->count && --e->count == 0) {
		*pp = e->next;
		free(e);
		nsrc--;
	}
	pthread_mutex_unlock(&lock);
}

uint32_t sl_limits_source_count(void)
{
	uint32_t n;

	pthread_mutex_lock(&lock);
	n = nsrc;
	pthread_mutex_unlock(&lock);
	return n;
}

void sl_limits_free(void)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < BUCKETS; i++) {
		while (table[i]) {
			struct src *e = table[i];

			table[i] = e->next;
			free(e);
		}
	}
	nsrc = 0;
	pthread_mutex_unlock(&lock);
}
