/*
 * heap.c - accounting first-fit allocator over one static arena.
 *
 * The arena lives in its own NOLOAD section (.heap_arena) so the figures can
 * tell the reservation apart from the static RAM the profile really needs.
 * Blocks carry a header {size|used, requested}; free neighbours are merged
 * lazily while searching. The accounting is the point, not speed.
 *
 * Work counting: first-fit costs a few hundred instructions per call and a
 * handshake makes up to ~10^5 calls, all of it the harness's, not mbedTLS's.
 * Each public entry reads the port's work clock before and after the real
 * allocator (a window) and sums the windows. Calibration at init measures
 *   c  = one clock read (two reads back to back differ by exactly one read's
 *        cost: the tail of the first plus the head of the second), and
 *   r  = what an instrumented call costs outside its window (the call, the
 *        head of the first read, the tail of the second, the accumulation),
 *        per entry point, from a call that does no allocator work;
 * so per call the allocator's own work is window - c, and the figure the
 * harness subtracts is window + r. What remains in the handshake figure per
 * call is only what mbedTLS itself spends to make the call.
 */
#include "tlsfit_heap.h"

#include <stdint.h>
#include <string.h>

#include "tlsfit_port.h"

/* 64 KiB: a default profile needs two 16 KiB+ record buffers plus the
 * handshake's bignum/X.509 working set; this fits them with room. */
#ifndef TLSFIT_HEAP_ARENA_SIZE
#define TLSFIT_HEAP_ARENA_SIZE (64u * 1024u)
#endif

/* Header and payload alignment: 8 on 32-bit targets, 16 on 64-bit hosts,
 * enough for any scalar mbedTLS stores in an allocation. */
#define PRV_ALIGN (2u * sizeof(size_t))
#define PRV_USED ((size_t)1)

typedef struct {
    size_t size_used;   /* whole block size incl. header; bit 0 = used */
    size_t requested;   /* bytes the caller asked for (0 when free) */
} prv_block_t;

static uint8_t s_arena[TLSFIT_HEAP_ARENA_SIZE]
    __attribute__((section(".heap_arena"), aligned(16)));
static size_t s_live_requested;
static size_t s_live_overhead;
static tlsfit_heap_stats_t s_stats;

/* work counting (see the file comment) */
static int s_counting;          /* 1 once calibrated on a port with a work clock */
static uint32_t s_allocs;
static uint32_t s_frees;
static int64_t s_window_sum;    /* sum of (exit read - entry read) over all calls */
static int64_t s_read_cost;     /* c */
static int64_t s_calloc_outside; /* r for tlsfit_heap_calloc */
static int64_t s_free_outside;   /* r for tlsfit_heap_free */

static size_t prv_size(const prv_block_t *b) { return b->size_used & ~PRV_USED; }
static int prv_is_used(const prv_block_t *b) { return (int)(b->size_used & PRV_USED); }

static prv_block_t *prv_next(prv_block_t *b)
{
    uint8_t *n = (uint8_t *)b + prv_size(b);
    return (n < s_arena + sizeof(s_arena)) ? (prv_block_t *)n : NULL;
}

static inline void *prv_calloc(size_t n, size_t size)
{
    size_t req;
    size_t need;
    prv_block_t *b;

    if (n != 0 && size > SIZE_MAX / n) {
        s_stats.failed++;
        return NULL;
    }
    req = n * size;
    /* a zero-size request still gets a unique pointer, like most libcs */
    need = sizeof(prv_block_t) + ((req == 0 ? 1u : req) + PRV_ALIGN - 1u) / PRV_ALIGN * PRV_ALIGN;

    for (b = (prv_block_t *)s_arena; b != NULL; b = prv_next(b)) {
        prv_block_t *nb;
        if (prv_is_used(b)) {
            continue;
        }
        /* merge following free blocks: frees only merge lazily, here */
        while ((nb = prv_next(b)) != NULL && !prv_is_used(nb)) {
            b->size_used += prv_size(nb);
        }
        if (prv_size(b) < need) {
            continue;
        }
        if (prv_size(b) - need >= 2u * PRV_ALIGN) {
            prv_block_t *rest = (prv_block_t *)((uint8_t *)b + need);
            rest->size_used = prv_size(b) - need;
            rest->requested = 0;
            b->size_used = need;
        }
        b->size_used |= PRV_USED;
        b->requested = req;
        s_live_requested += req;
        s_live_overhead += prv_size(b) - req;
        if (s_live_requested > s_stats.peak_requested) {
            s_stats.peak_requested = s_live_requested;
            s_stats.overhead_at_peak = s_live_overhead;
        }
        memset(b + 1, 0, prv_size(b) - sizeof(prv_block_t));
        return b + 1;
    }
    s_stats.failed++;
    return NULL;
}

static inline void prv_free(void *ptr)
{
    prv_block_t *b;
    if (ptr == NULL) {
        return;
    }
    b = (prv_block_t *)ptr - 1;
    s_live_requested -= b->requested;
    s_live_overhead -= prv_size(b) - b->requested;
    b->requested = 0;
    b->size_used &= ~PRV_USED;
}

/* see tlsfit_heap.h */
void *tlsfit_heap_calloc(size_t n, size_t size)
{
    int64_t t0 = tlsfit_clock_read();
    void *p = prv_calloc(n, size);
    s_window_sum += tlsfit_clock_read() - t0;
    s_allocs++;
    return p;
}

/* see tlsfit_heap.h */
void tlsfit_heap_free(void *ptr)
{
    int64_t t0 = tlsfit_clock_read();
    prv_free(ptr);
    s_window_sum += tlsfit_clock_read() - t0;
    s_frees++;
}

static void prv_reset_counts(void)
{
    s_allocs = 0;
    s_frees = 0;
    s_window_sum = 0;
}

/* c and r (see the file comment), from calls that do no allocator work:
 * an overflowing calloc is refused before the search, free(NULL) returns. */
static void prv_calibrate(void)
{
    int64_t a;
    int64_t b;

    a = tlsfit_clock_read();
    b = tlsfit_clock_read();
    s_read_cost = b - a;
    if (a < 0) {
        return; /* no work clock: nothing to count */
    }
    prv_reset_counts();
    a = tlsfit_clock_read();
    (void)tlsfit_heap_calloc(SIZE_MAX, 2u);
    b = tlsfit_clock_read();
    /* b - a = one read + the whole call; the call = window + outside */
    s_calloc_outside = (b - a - s_read_cost) - s_window_sum;
    prv_reset_counts();
    a = tlsfit_clock_read();
    tlsfit_heap_free(NULL);
    b = tlsfit_clock_read();
    s_free_outside = (b - a - s_read_cost) - s_window_sum;
    prv_reset_counts();
    s_stats.failed = 0; /* the refused calibration call */
    s_counting = 1;
}

/* see tlsfit_heap.h */
void tlsfit_heap_init(void)
{
    prv_block_t *first = (prv_block_t *)s_arena;
    first->size_used = sizeof(s_arena) & ~(PRV_ALIGN - 1u);
    first->requested = 0;
    s_live_requested = 0;
    s_live_overhead = 0;
    memset(&s_stats, 0, sizeof(s_stats));
    s_counting = 0;
    prv_calibrate();
    prv_reset_counts();
}

/* see tlsfit_heap.h */
tlsfit_heap_stats_t tlsfit_heap_stats(void)
{
    return s_stats;
}

/* see tlsfit_heap.h */
tlsfit_heap_work_t tlsfit_heap_work(void)
{
    tlsfit_heap_work_t w;
    int64_t calls = (int64_t)s_allocs + (int64_t)s_frees;
    w.allocs = s_allocs;
    w.frees = s_frees;
    if (!s_counting) {
        w.work = -1;
        w.probe = -1;
        w.clock_read = -1;
        return w;
    }
    w.clock_read = s_read_cost;
    w.work = s_window_sum - calls * s_read_cost;
    w.probe = calls * s_read_cost + (int64_t)s_allocs * s_calloc_outside
              + (int64_t)s_frees * s_free_outside;
    return w;
}

/* see tlsfit_heap.h */
int64_t tlsfit_heap_counted(void)
{
    if (!s_counting) {
        return -1;
    }
    /* window sum + per-call outside cost == work + probe */
    return s_window_sum + (int64_t)s_allocs * s_calloc_outside + (int64_t)s_frees * s_free_outside;
}
