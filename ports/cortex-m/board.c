/*
 * board.c - the port contract (ports/common/tlsfit_port.h) for Cortex-M
 * boards with two UARTs and no usable free-running timer model: console on
 * UART unit 0, TLS transport on unit 1 (the board's tlsfit_uart.h driver),
 * SysTick as the work clock, semihosting exit and time, TEST-ONLY entropy.
 *
 * Board facts come as -D flags from board.yaml:
 *   TLSFIT_SYSTICK_CLKSOURCE       1: the processor clock, 0: the external reference
 *   TLSFIT_SYSTICK_TICKS_PER_INSN_NUM / _DEN
 *       SysTick ticks per guest instruction under -icount shift=10
 *       (1024 ns per instruction): clock in Hz * 1.024e-6 as a fraction.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_port.h"
#include "tlsfit_uart.h"

#ifndef TLSFIT_SYSTICK_CLKSOURCE
#error "board.yaml must define TLSFIT_SYSTICK_CLKSOURCE"
#endif
#ifndef TLSFIT_SYSTICK_TICKS_PER_INSN_NUM
#error "board.yaml must define TLSFIT_SYSTICK_TICKS_PER_INSN_NUM and _DEN"
#endif

#define PRV_REG(addr) (*(volatile uint32_t *)(addr))
#define PRV_SYST_CSR PRV_REG(0xE000E010u)
#define PRV_SYST_RVR PRV_REG(0xE000E014u)
#define PRV_SYST_CVR PRV_REG(0xE000E018u)
#define PRV_SYST_CSR_ENABLE 0x1u
#define PRV_SYST_CSR_TICKINT 0x2u
#define PRV_SYST_CSR_CLKSOURCE 0x4u
#define PRV_SYST_RELOAD 0x00FFFFFFu   /* 24-bit down-counter: 2^24 ticks per wrap */

#define PRV_UNIT_CONSOLE 0
#define PRV_UNIT_TRANSPORT 1

extern uint8_t __stack_limit[];
extern uint8_t __stack_top[];

void tlsfit_board_systick_irq(void);

static volatile uint32_t s_wraps;   /* SysTick wraps: extends the 24-bit counter */
static uint64_t s_wait_ticks;       /* time spent waiting on the transport */

/* every 2^24 ticks; its own few instructions count as work (a few per million) */
void tlsfit_board_systick_irq(void)
{
    s_wraps++;
}

static uint64_t prv_ticks(void)
{
    uint32_t hi;
    uint32_t value;
    do {
        hi = s_wraps;
        value = PRV_SYST_CVR;
    } while (hi != s_wraps);
    return ((uint64_t)hi << 24) + (uint64_t)(PRV_SYST_RELOAD - value);
}

/* see tlsfit_port.h */
int tlsfit_board_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    tlsfit_uart_init();
    PRV_SYST_RVR = PRV_SYST_RELOAD;
    PRV_SYST_CVR = 0u;
    PRV_SYST_CSR = PRV_SYST_CSR_ENABLE | PRV_SYST_CSR_TICKINT
                   | (TLSFIT_SYSTICK_CLKSOURCE ? PRV_SYST_CSR_CLKSOURCE : 0u);
    __asm__ volatile("cpsie i" ::: "memory");
    return 0;
}

/* see tlsfit_port.h */
void tlsfit_console_write(const char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        while (!tlsfit_uart_tx_ready(PRV_UNIT_CONSOLE)) {
        }
        tlsfit_uart_tx(PRV_UNIT_CONSOLE, (uint8_t)buf[i]);
    }
}

/* see tlsfit_port.h */
int tlsfit_transport_send(const unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (!tlsfit_uart_tx_ready(PRV_UNIT_TRANSPORT)) {
            uint64_t t0 = prv_ticks();
            while (!tlsfit_uart_tx_ready(PRV_UNIT_TRANSPORT)) {
            }
            s_wait_ticks += prv_ticks() - t0;
        }
        tlsfit_uart_tx(PRV_UNIT_TRANSPORT, buf[i]);
    }
    return (int)len;
}

/* see tlsfit_port.h */
int tlsfit_transport_recv(unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (!tlsfit_uart_rx_ready(PRV_UNIT_TRANSPORT)) {
            uint64_t t0 = prv_ticks();
            while (!tlsfit_uart_rx_ready(PRV_UNIT_TRANSPORT)) {
            }
            s_wait_ticks += prv_ticks() - t0;
        }
        buf[i] = tlsfit_uart_rx(PRV_UNIT_TRANSPORT);
    }
    return (int)len;
}

/* see tlsfit_port.h */
int64_t tlsfit_clock_read(void)
{
    uint64_t work = prv_ticks() - s_wait_ticks;
    return (int64_t)(work * TLSFIT_SYSTICK_TICKS_PER_INSN_DEN / TLSFIT_SYSTICK_TICKS_PER_INSN_NUM);
}

/* see tlsfit_port.h */
void tlsfit_stack_region(uint8_t **lo, uint8_t **hi)
{
    *lo = __stack_limit;
    *hi = __stack_top;
}
