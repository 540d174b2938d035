/*
 * vectors.c - the vector table of every Cortex-M board here. The board's
 * tlsfit_board_hw.h says which exception the tick timer's wrap interrupt is:
 * SysTick (TLSFIT_HW_TICK_SYSTICK) or a peripheral IRQ (TLSFIT_HW_TICK_IRQ),
 * for which the table carries TLSFIT_CM_IRQ_VECTORS entries. No other
 * interrupt is used; every other exception parks (tlsfit_park).
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_board_hw.h"
#include "tlsfit_cortexm.h"
#include "tlsfit_reset.h"

extern uint32_t __stack_top[];

#define PRV_CORE_VECTORS 16u
#define PRV_SYSTICK 15u

#if defined(TLSFIT_HW_TICK_SYSTICK) == defined(TLSFIT_HW_TICK_IRQ)
#error "tlsfit_board_hw.h must define one of TLSFIT_HW_TICK_SYSTICK and TLSFIT_HW_TICK_IRQ"
#endif
#ifdef TLSFIT_HW_TICK_IRQ
/* external interrupts in the table: enough for the tick IRQ on every board here */
#define TLSFIT_CM_IRQ_VECTORS 32u
#if TLSFIT_HW_TICK_IRQ >= TLSFIT_CM_IRQ_VECTORS
#error "TLSFIT_HW_TICK_IRQ is beyond the vector table"
#endif
#define PRV_SYSTICK_HANDLER tlsfit_park
#else
#define TLSFIT_CM_IRQ_VECTORS 0u
#define PRV_SYSTICK_HANDLER tlsfit_cm_tick_wrap_irq
#endif

typedef void (*prv_vector_t)(void);

/* Initial SP, then handlers; the linker script puts the table first in
 * FLASH, where the core's reset vector table address (VTOR) points. */
__attribute__((section(".isr_vector"), used))
const prv_vector_t s_vectors[PRV_CORE_VECTORS + TLSFIT_CM_IRQ_VECTORS] = {
    [0] = (prv_vector_t)(uintptr_t)__stack_top,
    [1] = tlsfit_reset,
    [2] = tlsfit_park,       /* NMI */
    [3] = tlsfit_park,       /* HardFault */
#if !defined(__ARM_ARCH_6M__)  /* reserved on Armv6-M */
    [4] = tlsfit_park,       /* MemManage */
    [5] = tlsfit_park,       /* BusFault */
    [6] = tlsfit_park,       /* UsageFault */
    [12] = tlsfit_park,      /* DebugMon */
#endif
    [11] = tlsfit_park,      /* SVCall */
    [14] = tlsfit_park,      /* PendSV */
    [PRV_SYSTICK] = PRV_SYSTICK_HANDLER,
#ifdef TLSFIT_HW_TICK_IRQ
    [PRV_CORE_VECTORS + TLSFIT_HW_TICK_IRQ] = tlsfit_cm_tick_wrap_irq,
#endif
};
