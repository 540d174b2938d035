/* tlsfit_heap.h - accounting first-fit allocator over a static arena. */
#ifndef TLSFIT_HEAP_H
#define TLSFIT_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t peak_requested;    /* peak of live requested bytes */
    size_t overhead_at_peak;  /* headers + alignment padding when that peak was reached */
    size_t failed;            /* allocations refused (arena exhausted) */
} tlsfit_heap_stats_t;

/* Work counted inside the allocator, so the harness can take it out of the
 * handshake figure (the allocator is the harness's, not mbedTLS's). All -1
 * in the instruction fields when the port has no work clock. */
typedef struct {
    uint32_t allocs;          /* tlsfit_heap_calloc calls */
    uint32_t frees;           /* tlsfit_heap_free calls (NULL included) */
    int64_t work;             /* the allocator's own instructions */
    int64_t probe;            /* the cost of counting them (clock reads, bookkeeping) */
    int64_t clock_read;       /* one tlsfit_clock_read()'s own cost, as calibrated */
} tlsfit_heap_work_t;

void tlsfit_heap_init(void);
void *tlsfit_heap_calloc(size_t n, size_t size);
void tlsfit_heap_free(void *ptr);
tlsfit_heap_stats_t tlsfit_heap_stats(void);
tlsfit_heap_work_t tlsfit_heap_work(void);
/* work + probe of tlsfit_heap_work() so far, cheaply (per handshake step);
 * -1 without a work clock */
int64_t tlsfit_heap_counted(void);

#endif /* TLSFIT_HEAP_H */
