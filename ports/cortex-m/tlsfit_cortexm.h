/*
 * tlsfit_cortexm.h - the Cortex-M layer (ports/cortex-m): one vector table
 * (vectors.c) and one implementation of the port contract (cortexm.c: the
 * wrap-extended 64-bit tick counter, the work clock, the polled UART loops,
 * the datagram wait) for every Cortex-M board.
 *
 * What differs per board is its tlsfit_board_hw.h, found on the board's
 * include path (its folder, or a family folder such as ports/mps2), which
 * defines, all as macros or static inline functions:
 *
 *   tick timer (the work clock)
 *     TLSFIT_HW_TICK_SYSTICK or TLSFIT_HW_TICK_IRQ n
 *                          the wrap interrupt: SysTick, or external IRQ n
 *     TLSFIT_HW_TICK_BITS  the counter's width (24 for SysTick, 32 ...)
 *     TLSFIT_HW_TICKS_PER_INSN_NUM / _DEN
 *                          ticks per guest instruction under -icount
 *                          shift=10 (1024 ns each): clock Hz * 1.024e-6
 *     uint32_t prv_hw_ticks(void)       ticks since the last wrap, counting up
 *     void prv_hw_tick_wrap_ack(void)   in the wrap interrupt: clear its cause
 *   UART units (TLSFIT_HW_UART_TRANSPORT; TLSFIT_HW_UART_CONSOLE, or
 *   TLSFIT_HW_CONSOLE_SEMIHOST when the only UART carries TLS)
 *     int prv_hw_tx_ready(int unit)     1: unit takes one more byte
 *     void prv_hw_tx(int unit, uint8_t byte)
 *     int prv_hw_rx_ready(int unit)     1: unit holds a received byte
 *     uint8_t prv_hw_rx(int unit)
 *   void prv_hw_init(void)  UARTs and the tick timer running, its wrap
 *                           interrupt enabled at the source (the layer
 *                           enables it in the NVIC and unmasks interrupts)
 */
#ifndef TLSFIT_CORTEXM_H
#define TLSFIT_CORTEXM_H

/* The tick timer's wrap interrupt (named by vectors.c): counts wraps. */
void tlsfit_cm_tick_wrap_irq(void);

#endif /* TLSFIT_CORTEXM_H */
