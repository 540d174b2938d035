/*
 * tlsfit_board_hw.h - BBC micro:bit (nRF51822, Cortex-M0) for the Cortex-M
 * layer (see ports/cortex-m/tlsfit_cortexm.h).
 *
 * The nRF51 has one UART: it carries only the TLS byte stream, and the
 * console goes through semihosting (SYS_WRITE0), which QEMU sends to a stdio
 * chardev (board.yaml). Tick timer: TIMER0 in 32-bit timer mode at 16 MHz
 * (prescaler 0), read with TASKS_CAPTURE[0] -> CC[0]; a COMPARE[1] at 0
 * interrupts on every wrap. -icount shift=10: 16.384 = 2048/125 ticks per
 * instruction.
 */
#ifndef TLSFIT_BOARD_HW_H
#define TLSFIT_BOARD_HW_H

#include <stdint.h>

#define TLSFIT_HW_TICK_IRQ 8u        /* nRF51 TIMER0 (peripheral ID 8) */
#define TLSFIT_HW_TICK_BITS 32
#define TLSFIT_HW_TICKS_PER_INSN_NUM 2048u
#define TLSFIT_HW_TICKS_PER_INSN_DEN 125u
#define TLSFIT_HW_CONSOLE_SEMIHOST 1
#define TLSFIT_HW_UART_TRANSPORT 0

#define PRV_REG(addr) (*(volatile uint32_t *)(addr))

/* ---- nRF51 UART0 (nRF51 Reference Manual v3.0, chapter 29) --------------- */
#define PRV_UART0 0x40002000u
#define PRV_UART_STARTRX PRV_REG(PRV_UART0 + 0x000u)
#define PRV_UART_STARTTX PRV_REG(PRV_UART0 + 0x008u)
#define PRV_UART_RXDRDY PRV_REG(PRV_UART0 + 0x108u)
#define PRV_UART_TXDRDY PRV_REG(PRV_UART0 + 0x11Cu)
#define PRV_UART_ENABLE PRV_REG(PRV_UART0 + 0x500u)
#define PRV_UART_RXD PRV_REG(PRV_UART0 + 0x518u)
#define PRV_UART_TXD PRV_REG(PRV_UART0 + 0x51Cu)
#define PRV_UART_ENABLE_ON 4u

/* ---- nRF51 TIMER0 (chapter 18) ------------------------------------------- */
#define PRV_TIMER0 0x40008000u
#define PRV_TIMER_START PRV_REG(PRV_TIMER0 + 0x000u)
#define PRV_TIMER_CLEAR PRV_REG(PRV_TIMER0 + 0x00Cu)
#define PRV_TIMER_CAPTURE0 PRV_REG(PRV_TIMER0 + 0x040u)
#define PRV_TIMER_COMPARE1 PRV_REG(PRV_TIMER0 + 0x144u)
#define PRV_TIMER_INTENSET PRV_REG(PRV_TIMER0 + 0x304u)
#define PRV_TIMER_MODE PRV_REG(PRV_TIMER0 + 0x504u)
#define PRV_TIMER_BITMODE PRV_REG(PRV_TIMER0 + 0x508u)
#define PRV_TIMER_PRESCALER PRV_REG(PRV_TIMER0 + 0x510u)
#define PRV_TIMER_CC0 PRV_REG(PRV_TIMER0 + 0x540u)
#define PRV_TIMER_CC1 PRV_REG(PRV_TIMER0 + 0x544u)
#define PRV_TIMER_BITMODE_32 3u
#define PRV_TIMER_INTEN_COMPARE1 (1u << 17)

/* see tlsfit_cortexm.h */
static inline void prv_hw_init(void)
{
    PRV_UART_ENABLE = PRV_UART_ENABLE_ON;
    PRV_UART_STARTTX = 1u;
    PRV_UART_STARTRX = 1u;
    PRV_UART_TXDRDY = 0u;
    PRV_UART_RXDRDY = 0u;

    PRV_TIMER_MODE = 0u;                     /* timer, not counter */
    PRV_TIMER_BITMODE = PRV_TIMER_BITMODE_32;
    PRV_TIMER_PRESCALER = 0u;                /* 16 MHz */
    PRV_TIMER_CC1 = 0u;
    PRV_TIMER_INTENSET = PRV_TIMER_INTEN_COMPARE1;
    PRV_TIMER_CLEAR = 1u;
    PRV_TIMER_START = 1u;
}

/* see tlsfit_cortexm.h: TIMER0 counts up; a capture latches it into CC[0] */
static inline uint32_t prv_hw_ticks(void)
{
    PRV_TIMER_CAPTURE0 = 1u;
    return PRV_TIMER_CC0;
}

/* see tlsfit_cortexm.h */
static inline void prv_hw_tick_wrap_ack(void)
{
    PRV_TIMER_COMPARE1 = 0u;
}

/* TXDRDY says the LAST byte went out, so before the first byte there is
 * nothing to wait for: tracked here (the event cannot be set by software). */
static uint8_t s_tx_started __attribute__((unused));

/* see tlsfit_cortexm.h */
static inline int prv_hw_tx_ready(int unit)
{
    (void)unit;
    return !s_tx_started || PRV_UART_TXDRDY != 0u;
}

/* see tlsfit_cortexm.h */
static inline void prv_hw_tx(int unit, uint8_t byte)
{
    (void)unit;
    s_tx_started = 1u;
    PRV_UART_TXDRDY = 0u;
    PRV_UART_TXD = byte;
}

/* see tlsfit_cortexm.h */
static inline int prv_hw_rx_ready(int unit)
{
    (void)unit;
    return PRV_UART_RXDRDY != 0u;
}

/* see tlsfit_cortexm.h: clear first, reading RXD sets RXDRDY again while bytes remain */
static inline uint8_t prv_hw_rx(int unit)
{
    (void)unit;
    PRV_UART_RXDRDY = 0u;
    return (uint8_t)PRV_UART_RXD;
}

#endif /* TLSFIT_BOARD_HW_H */
