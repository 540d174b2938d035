/*
 * reset.c - the reset routine and the park shared by every board here, Arm
 * and RISC-V (see tlsfit_reset.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tlsfit_reset.h"

extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];

int main(int argc, char **argv);

/* see tlsfit_reset.h */
void tlsfit_reset(void)
{
    memcpy(__data_start, __data_load, (size_t)((uint8_t *)__data_end - (uint8_t *)__data_start));
    memset(__bss_start, 0, (size_t)((uint8_t *)__bss_end - (uint8_t *)__bss_start));
    (void)main(0, NULL);
    for (;;) {
    }
}

/* see tlsfit_reset.h */
void tlsfit_park(void)
{
    for (;;) {
    }
}
