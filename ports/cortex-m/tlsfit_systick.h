/*
 * tlsfit_systick.h - SysTick as the tick timer (see tlsfit_cortexm.h), for
 * the boards whose peripheral timers QEMU does not model usefully
 * (lm3s6965evb, netduinoplus2). Included by their tlsfit_board_hw.h, which
 * first defines the board facts:
 *   TLSFIT_SYSTICK_CLKSOURCE    1: the processor clock, 0: the external reference
 *   TLSFIT_HW_TICKS_PER_INSN_NUM / _DEN   (tlsfit_cortexm.h)
 */
#ifndef TLSFIT_SYSTICK_H
#define TLSFIT_SYSTICK_H

#include <stdint.h>

#ifndef TLSFIT_SYSTICK_CLKSOURCE
#error "tlsfit_board_hw.h must define TLSFIT_SYSTICK_CLKSOURCE before including tlsfit_systick.h"
#endif

#define TLSFIT_HW_TICK_SYSTICK 1
#define TLSFIT_HW_TICK_BITS 24   /* 24-bit down-counter: 2^24 ticks per wrap */

#define PRV_SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define PRV_SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define PRV_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define PRV_SYST_CSR_ENABLE 0x1u
#define PRV_SYST_CSR_TICKINT 0x2u
#define PRV_SYST_CSR_CLKSOURCE 0x4u
#define PRV_SYST_RELOAD 0x00FFFFFFu

static inline void prv_systick_init(void)
{
    PRV_SYST_RVR = PRV_SYST_RELOAD;
    PRV_SYST_CVR = 0u;
    PRV_SYST_CSR = PRV_SYST_CSR_ENABLE | PRV_SYST_CSR_TICKINT
                   | (TLSFIT_SYSTICK_CLKSOURCE ? PRV_SYST_CSR_CLKSOURCE : 0u);
}

/* see tlsfit_cortexm.h */
static inline uint32_t prv_hw_ticks(void)
{
    return PRV_SYST_RELOAD - PRV_SYST_CVR;
}

/* see tlsfit_cortexm.h: the SysTick exception needs no clearing */
static inline void prv_hw_tick_wrap_ack(void)
{
}

#endif /* TLSFIT_SYSTICK_H */
