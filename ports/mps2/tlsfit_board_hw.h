/*
 * tlsfit_board_hw.h - MPS2 FPGA images (AN385 Cortex-M3, AN386 Cortex-M4,
 * AN500 Cortex-M7, AN505 Cortex-M33/IoTKit) for the Cortex-M layer (see
 * ports/cortex-m/tlsfit_cortexm.h): CMSDK UART0 console, CMSDK UART1
 * transport, CMSDK timer0 tick timer.
 *
 * The TLSFIT_MPS2_* macros default to the AN385/AN386/AN500 map; a board
 * whose map differs (mps2-an505: IoTKit, Secure aliases) sets them with -D
 * in its board.yaml cflags.
 */
#ifndef TLSFIT_BOARD_HW_H
#define TLSFIT_BOARD_HW_H

#include <stdint.h>

#ifndef TLSFIT_MPS2_UART0_BASE
#define TLSFIT_MPS2_UART0_BASE 0x40004000u
#endif
#ifndef TLSFIT_MPS2_UART1_BASE
#define TLSFIT_MPS2_UART1_BASE 0x40005000u
#endif
#ifndef TLSFIT_MPS2_TIMER0_BASE
#define TLSFIT_MPS2_TIMER0_BASE 0x40000000u
#endif
#ifndef TLSFIT_MPS2_TIMER0_IRQ
#define TLSFIT_MPS2_TIMER0_IRQ 8u   /* CMSDK timer0 on AN385/AN386/AN500 */
#endif
/* timer0 at 25 MHz (AN385/AN386/AN500): 25.6 = 256/10 ticks per instruction */
#ifndef TLSFIT_MPS2_TICKS_PER_INSN_NUM
#define TLSFIT_MPS2_TICKS_PER_INSN_NUM 256u
#endif
#ifndef TLSFIT_MPS2_TICKS_PER_INSN_DEN
#define TLSFIT_MPS2_TICKS_PER_INSN_DEN 10u
#endif

#define TLSFIT_HW_TICK_IRQ TLSFIT_MPS2_TIMER0_IRQ
#define TLSFIT_HW_TICK_BITS 32
#define TLSFIT_HW_TICKS_PER_INSN_NUM TLSFIT_MPS2_TICKS_PER_INSN_NUM
#define TLSFIT_HW_TICKS_PER_INSN_DEN TLSFIT_MPS2_TICKS_PER_INSN_DEN
#define TLSFIT_HW_UART_CONSOLE 0
#define TLSFIT_HW_UART_TRANSPORT 1

/* ---- CMSDK APB UART ------------------------------------------------------ */
#define PRV_UART_BASE(unit) ((unit) == 0 ? TLSFIT_MPS2_UART0_BASE : TLSFIT_MPS2_UART1_BASE)
#define PRV_UART_DATA(unit) (*(volatile uint32_t *)(PRV_UART_BASE(unit) + 0x000u))
#define PRV_UART_STATE(unit) (*(volatile uint32_t *)(PRV_UART_BASE(unit) + 0x004u))
#define PRV_UART_CTRL(unit) (*(volatile uint32_t *)(PRV_UART_BASE(unit) + 0x008u))
#define PRV_UART_BAUDDIV(unit) (*(volatile uint32_t *)(PRV_UART_BASE(unit) + 0x010u))
#define PRV_UART_STATE_TXFULL 0x1u
#define PRV_UART_STATE_RXFULL 0x2u
#define PRV_UART_CTRL_TXEN 0x1u
#define PRV_UART_CTRL_RXEN 0x2u
#define PRV_UART_BAUDDIV_MIN 16u   /* QEMU's model wants >= 16; the value is otherwise irrelevant */

/* ---- CMSDK APB timer0 ---------------------------------------------------- */
#define PRV_TIMER_CTRL (*(volatile uint32_t *)(TLSFIT_MPS2_TIMER0_BASE + 0x000u))
#define PRV_TIMER_VALUE (*(volatile uint32_t *)(TLSFIT_MPS2_TIMER0_BASE + 0x004u))
#define PRV_TIMER_RELOAD (*(volatile uint32_t *)(TLSFIT_MPS2_TIMER0_BASE + 0x008u))
#define PRV_TIMER_INTCLEAR (*(volatile uint32_t *)(TLSFIT_MPS2_TIMER0_BASE + 0x00Cu))
#define PRV_TIMER_CTRL_EN 0x1u
#define PRV_TIMER_CTRL_IRQEN 0x8u

static inline void prv_uart_init(int unit)
{
    PRV_UART_BAUDDIV(unit) = PRV_UART_BAUDDIV_MIN;
    /* the model drops TX and refuses RX unless both are enabled */
    PRV_UART_CTRL(unit) = PRV_UART_CTRL_TXEN | PRV_UART_CTRL_RXEN;
    /* one read makes QEMU start polling the backend (else ~1 s stalls) */
    (void)PRV_UART_DATA(unit);
}

/* see tlsfit_cortexm.h */
static inline void prv_hw_init(void)
{
    prv_uart_init(0);
    prv_uart_init(1);
    PRV_TIMER_RELOAD = 0xFFFFFFFFu;
    PRV_TIMER_VALUE = 0xFFFFFFFFu;
    PRV_TIMER_CTRL = PRV_TIMER_CTRL_EN | PRV_TIMER_CTRL_IRQEN;
}

/* see tlsfit_cortexm.h: timer0 counts down from 2^32 - 1 */
static inline uint32_t prv_hw_ticks(void)
{
    return 0xFFFFFFFFu - PRV_TIMER_VALUE;
}

/* see tlsfit_cortexm.h */
static inline void prv_hw_tick_wrap_ack(void)
{
    PRV_TIMER_INTCLEAR = 1u;
}

/* see tlsfit_cortexm.h */
static inline int prv_hw_tx_ready(int unit)
{
    return (PRV_UART_STATE(unit) & PRV_UART_STATE_TXFULL) == 0u;
}

/* see tlsfit_cortexm.h */
static inline void prv_hw_tx(int unit, uint8_t byte)
{
    PRV_UART_DATA(unit) = byte;
}

/* see tlsfit_cortexm.h */
static inline int prv_hw_rx_ready(int unit)
{
    return (PRV_UART_STATE(unit) & PRV_UART_STATE_RXFULL) != 0u;
}

/* see tlsfit_cortexm.h */
static inline uint8_t prv_hw_rx(int unit)
{
    return (uint8_t)PRV_UART_DATA(unit);
}

#endif /* TLSFIT_BOARD_HW_H */
