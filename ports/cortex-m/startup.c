/*
 * startup.c - vector table shared by the Cortex-M boards
 * whose work clock is SysTick (lm3s6965evb, netduinoplus2). No peripheral
 * IRQ is used: only SysTick (exception 15) has a handler.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_arm.h"

extern uint32_t __stack_top[];

void tlsfit_board_systick_irq(void);

#define PRV_CORE_VECTORS 16u

typedef void (*prv_vector_t)(void);

/* Vector table, first in FLASH (the linker script): initial SP, then handlers. */
__attribute__((section(".isr_vector"), used))
const prv_vector_t s_vectors[PRV_CORE_VECTORS] = {
    [0] = (prv_vector_t)(uintptr_t)__stack_top,
    [1] = Reset_Handler,
    [2] = Default_Handler,   /* NMI */
    [3] = Default_Handler,   /* HardFault */
    [4] = Default_Handler,   /* MemManage */
    [5] = Default_Handler,   /* BusFault */
    [6] = Default_Handler,   /* UsageFault */
    [11] = Default_Handler,  /* SVCall */
    [12] = Default_Handler,  /* DebugMon */
    [14] = Default_Handler,  /* PendSV */
    [15] = tlsfit_board_systick_irq,
};
