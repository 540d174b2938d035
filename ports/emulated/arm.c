/*
 * arm.c - what every Arm board here shares besides its Cortex-M layer
 * (ports/cortex-m) and the reset routine (reset.c): the semihosting trap, the
 * exit with a real status (SYS_EXIT_EXTENDED: plain SYS_EXIT only says 0 or
 * 1), and no C-library heap.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_port.h"
#include "tlsfit_semihost.h"

void *_sbrk(ptrdiff_t incr);

/* see tlsfit_semihost.h */
uint32_t tlsfit_semihost(uint32_t op, volatile void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register volatile void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* see tlsfit_port.h */
void tlsfit_board_exit(int code)
{
    volatile uint32_t block[2] = {TLSFIT_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    (void)tlsfit_semihost(TLSFIT_SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

/* No libc heap: the harness's accounting arena is the only allocator, so a
 * stray malloc fails loudly instead of growing into the stack. */
void *_sbrk(ptrdiff_t incr)
{
    (void)incr;
    return (void *)-1;
}
