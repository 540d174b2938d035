/*
 * startup.c - vector table of the MPS2 FPGA images (AN385 Cortex-M3, AN386 Cortex-M4,
 * AN500 Cortex-M7: same map; AN505 Cortex-M33 sets its timer0 IRQ with -D, see board.c).
 * Board facts only: what runs before main() and which IRQ is which.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_arm.h"

extern uint32_t __stack_top[];

void tlsfit_board_timer0_irq(void);

#define PRV_CORE_VECTORS 16u
#ifndef TLSFIT_MPS2_TIMER0_IRQ
#define TLSFIT_MPS2_TIMER0_IRQ 8u   /* CMSDK timer0 on MPS2 AN385/AN386/AN500 */
#endif
#define PRV_TIMER0_IRQ TLSFIT_MPS2_TIMER0_IRQ
#define PRV_IRQ_VECTORS 32u

typedef void (*prv_vector_t)(void);

/* Cortex-M vector table: initial SP, then handlers. The linker script puts
 * it first in FLASH, where the CPU's reset vector table address points:
 * 0x0 on AN385/AN386/AN500; on AN505 the Secure VTOR resets to
 * 0x10000000 (IoTKit INITSVTOR0), the Secure code alias. */
__attribute__((section(".isr_vector"), used))
const prv_vector_t s_vectors[PRV_CORE_VECTORS + PRV_IRQ_VECTORS] = {
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
    [15] = Default_Handler,  /* SysTick */
    [PRV_CORE_VECTORS + PRV_TIMER0_IRQ] = tlsfit_board_timer0_irq,
};
