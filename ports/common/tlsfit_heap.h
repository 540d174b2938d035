/* tlsfit_heap.h - accounting first-fit allocator over a static arena. */
#ifndef TLSFIT_HEAP_H
#define TLSFIT_HEAP_H

#include <stddef.h>

typedef struct {
    size_t peak_requested;    /* peak of live requested bytes */
    size_t overhead_at_peak;  /* headers + alignment padding when that peak was reached */
    size_t failed;            /* allocations refused (arena exhausted) */
} tlsfit_heap_stats_t;

void tlsfit_heap_init(void);
void *tlsfit_heap_calloc(size_t n, size_t size);
void tlsfit_heap_free(void *ptr);
tlsfit_heap_stats_t tlsfit_heap_stats(void);

#endif /* TLSFIT_HEAP_H */
