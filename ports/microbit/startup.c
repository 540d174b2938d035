/*
 * startup.c - vector table of the nRF51822 (BBC micro:bit,
 * Cortex-M0). Board facts only: what runs before main() and which IRQ is which.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_arm.h"

extern uint32_t __stack_top[];

void tlsfit_board_timer0_irq(void);

#define PRV_CORE_VECTORS 16u
#define PRV_TIMER0_IRQ 8u      /* nRF51 TIMER0 (peripheral ID 8) */
#define PRV_IRQ_VECTORS 32u

typedef void (*prv_vector_t)(void);

/* Armv6-M vector table at 0x0 (the nRF51's flash): initial SP, then handlers. */
__attribute__((section(".isr_vector"), used))
const prv_vector_t s_vectors[PRV_CORE_VECTORS + PRV_IRQ_VECTORS] = {
    [0] = (prv_vector_t)(uintptr_t)__stack_top,
    [1] = Reset_Handler,
    [2] = Default_Handler,   /* NMI */
    [3] = Default_Handler,   /* HardFault */
    [11] = Default_Handler,  /* SVCall */
    [14] = Default_Handler,  /* PendSV */
    [15] = Default_Handler,  /* SysTick */
    [PRV_CORE_VECTORS + PRV_TIMER0_IRQ] = tlsfit_board_timer0_irq,
};
