/*
 * Big fixed tables (core/ layer): a worker's sessions, connections and
 * deadline heap are sized for maxconn but used as load comes. They are
 * mapped straight from the kernel, not malloc'd: pages are touched only
 * when a slot is first used and all of them go back at munmap. (From
 * malloc, a table freed at a reload raises glibc's mmap threshold, the next
 * worker's table then comes from an arena, calloc clears it whole, and the
 * arena keeps it: measured, 10 reloads left 41 MB resident for 5 MB.)
 */
#ifndef SL_CORE_TABLE_H
#define SL_CORE_TABLE_H

#include <stddef.h>
#include <sys/mman.h>

/* n zeroed entries of size bytes, or NULL. */
static inline void *sl_table_alloc(size_t n, size_t size)
{
	void *p;

	if (!n || n > (size_t)-1 / size)
		return NULL;
	p = mmap(NULL, n * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* What sl_table_alloc(n, size) returned (NULL: nothing). */
static inline void sl_table_free(void *p, size_t n, size_t size)
{
	if (p)
		munmap(p, n * size);
}

#endif
