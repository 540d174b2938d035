/*
 * stack.c - stack high-water mark by painting: fill the unused stack with a
 * pattern at start, find the deepest overwritten word at the end.
 */
#include "tlsfit_stack.h"

#include <stdint.h>

#include "tlsfit_port.h"

#define PRV_PATTERN 0xA5A5A5A5u
/* Leave the painter's own frame (and anything it calls) alone. */
#define PRV_PAINT_MARGIN 256u

static uintptr_t s_lowest_noted = UINTPTR_MAX;

/* see tlsfit_stack.h */
__attribute__((noinline)) void tlsfit_stack_paint(void)
{
    uint8_t *lo;
    uint8_t *hi;
    volatile uint32_t *w;
    uint8_t *sp = (uint8_t *)__builtin_frame_address(0);

    tlsfit_stack_region(&lo, &hi);
    if (lo == NULL || sp <= lo + PRV_PAINT_MARGIN || sp > hi) {
        return;
    }
    /* volatile: keep the compiler from turning this into a memset call
     * whose frame would sit inside the painted range */
    for (w = (volatile uint32_t *)(((uintptr_t)lo + 3u) & ~(uintptr_t)3u);
         (uint8_t *)w < sp - PRV_PAINT_MARGIN; w++) {
        *w = PRV_PATTERN;
    }
}

/* see tlsfit_stack.h */
long tlsfit_stack_peak(void)
{
    uint8_t *lo;
    uint8_t *hi;
    const volatile uint32_t *w;

    tlsfit_stack_region(&lo, &hi);
    if (lo == NULL) {
        return -1;
    }
    for (w = (const volatile uint32_t *)(((uintptr_t)lo + 3u) & ~(uintptr_t)3u);
         (const uint8_t *)w < hi && *w == PRV_PATTERN; w++) {
    }
    return (long)(hi - (const uint8_t *)w);
}

/* see tlsfit_stack.h */
void tlsfit_stack_note(uintptr_t sp)
{
    if (sp < s_lowest_noted) {
        s_lowest_noted = sp;
    }
}

/* see tlsfit_stack.h */
long tlsfit_stack_harness(void)
{
    uint8_t *lo;
    uint8_t *hi;

    tlsfit_stack_region(&lo, &hi);
    if (lo == NULL || s_lowest_noted == UINTPTR_MAX || s_lowest_noted > (uintptr_t)hi) {
        return -1;
    }
    return (long)((uintptr_t)hi - s_lowest_noted);
}
