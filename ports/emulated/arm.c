/*
 * arm.c - what every Arm board here shares: the reset and default handlers
 * its vector table names, the semihosting trap, the exit with a real status
 * (SYS_EXIT_EXTENDED: plain SYS_EXIT only says 0 or 1), and no C-library heap.
 */
#include <string.h>

#include "tlsfit_arm.h"
#include "tlsfit_port.h"
#include "tlsfit_semihost.h"

extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];

int main(int argc, char **argv);
void *_sbrk(ptrdiff_t incr);

/* see tlsfit_arm.h: copies .data, clears .bss, runs main (which never returns) */
void Reset_Handler(void)
{
    memcpy(__data_start, __data_load, (size_t)((uint8_t *)__data_end - (uint8_t *)__data_start));
    memset(__bss_start, 0, (size_t)((uint8_t *)__bss_end - (uint8_t *)__bss_start));
    (void)main(0, NULL);
    for (;;) {
    }
}

/* see tlsfit_arm.h: any unexpected exception parks the CPU; QEMU's timeout ends the run */
void Default_Handler(void)
{
    for (;;) {
    }
}

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
