/*
 * tlsfit_board_hw.h - LM3S6965 for the Cortex-M layer (see
 * ports/cortex-m/tlsfit_cortexm.h): UART0 console and UART1 transport, ARM
 * PL011 ("Luminary" variant) at 0x4000C000 / 0x4000D000 (QEMU connects its
 * first -serial to UART0, the second to UART1); SysTick tick timer on the
 * processor clock, which QEMU derives from RCC at reset: 200 MHz / (SYSDIV
 * 15 + 1) = 12.5 MHz, so -icount shift=10 gives 12.8 = 64/5 ticks per
 * instruction.
 */
#ifndef TLSFIT_BOARD_HW_H
#define TLSFIT_BOARD_HW_H

#include <stdint.h>

#define TLSFIT_SYSTICK_CLKSOURCE 1
#define TLSFIT_HW_TICKS_PER_INSN_NUM 64u
#define TLSFIT_HW_TICKS_PER_INSN_DEN 5u
#include "tlsfit_systick.h"

#define TLSFIT_HW_UART_CONSOLE 0
#define TLSFIT_HW_UART_TRANSPORT 1

#define PRV_REG(addr) (*(volatile uint32_t *)(addr))
#define PRV_UART_BASE(unit) ((unit) == 0 ? 0x4000C000u : 0x4000D000u)
#define PRV_UART_DR(unit) PRV_REG(PRV_UART_BASE(unit) + 0x000u)
#define PRV_UART_FR(unit) PRV_REG(PRV_UART_BASE(unit) + 0x018u)
#define PRV_UART_IBRD(unit) PRV_REG(PRV_UART_BASE(unit) + 0x024u)
#define PRV_UART_LCRH(unit) PRV_REG(PRV_UART_BASE(unit) + 0x02Cu)
#define PRV_UART_CR(unit) PRV_REG(PRV_UART_BASE(unit) + 0x030u)
#define PRV_UART_FR_RXFE 0x10u
#define PRV_UART_FR_TXFF 0x20u
#define PRV_UART_LCRH_8N1_FIFO 0x70u   /* WLEN 8 bits, FIFOs on */
#define PRV_UART_CR_ENABLE 0x301u      /* UARTEN | TXE | RXE */
/* System Control RCGC1: clock gating of UART0/UART1 on the real part */
#define PRV_SYSCTL_RCGC1 PRV_REG(0x400FE104u)
#define PRV_RCGC1_UART01 0x3u

/* see tlsfit_cortexm.h */
static inline void prv_hw_init(void)
{
    int unit;
    PRV_SYSCTL_RCGC1 |= PRV_RCGC1_UART01;
    for (unit = 0; unit < 2; unit++) {
        PRV_UART_CR(unit) = 0u;
        PRV_UART_IBRD(unit) = 1u;   /* the emulator ignores the rate; a real board sets 115200 */
        PRV_UART_LCRH(unit) = PRV_UART_LCRH_8N1_FIFO;
        PRV_UART_CR(unit) = PRV_UART_CR_ENABLE;
    }
    prv_systick_init();
}

/* see tlsfit_cortexm.h */
static inline int prv_hw_tx_ready(int unit)
{
    return (PRV_UART_FR(unit) & PRV_UART_FR_TXFF) == 0u;
}

/* see tlsfit_cortexm.h */
static inline void prv_hw_tx(int unit, uint8_t byte)
{
    PRV_UART_DR(unit) = byte;
}

/* see tlsfit_cortexm.h */
static inline int prv_hw_rx_ready(int unit)
{
    return (PRV_UART_FR(unit) & PRV_UART_FR_RXFE) == 0u;
}

/* see tlsfit_cortexm.h */
static inline uint8_t prv_hw_rx(int unit)
{
    return (uint8_t)PRV_UART_DR(unit);
}

#endif /* TLSFIT_BOARD_HW_H */
