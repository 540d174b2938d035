/*
 * cortexm.c - the port contract (ports/common/tlsfit_port.h) for every
 * Cortex-M board here, over the board's tlsfit_board_hw.h (see
 * tlsfit_cortexm.h): polled UART console and transport, the tick timer
 * extended to 64 bits by counting its wraps, the work clock with every
 * transport wait left out, and the datagram receive with a timeout.
 * Semihosting exit and time, TEST-ONLY entropy and the reset routine come
 * from ports/emulated.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_board_hw.h"
#include "tlsfit_cortexm.h"
#include "tlsfit_port.h"
#include "tlsfit_semihost.h"

#define PRV_NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)

extern uint8_t __stack_limit[];
extern uint8_t __stack_top[];

static volatile uint32_t s_wraps;   /* tick timer wraps: the counter's upper bits */
static uint64_t s_wait_ticks;       /* time spent waiting on the transport */

/* see tlsfit_cortexm.h: every 2^TLSFIT_HW_TICK_BITS ticks (2^24 SysTick ticks
 * are ~1.3 M instructions at 12.5 MHz); its few instructions count as work */
void tlsfit_cm_tick_wrap_irq(void)
{
    prv_hw_tick_wrap_ack();
    s_wraps++;
}

/* ticks since init: wraps and the counter, read until no wrap came between */
static uint64_t prv_ticks(void)
{
    uint32_t hi;
    uint32_t value;
    do {
        hi = s_wraps;
        value = prv_hw_ticks();
    } while (hi != s_wraps);
    return ((uint64_t)hi << TLSFIT_HW_TICK_BITS) + (uint64_t)value;
}

/* see tlsfit_port.h */
int tlsfit_board_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    prv_hw_init();
#ifdef TLSFIT_HW_TICK_IRQ
    PRV_NVIC_ISER0 = 1u << TLSFIT_HW_TICK_IRQ;
#endif
    __asm__ volatile("cpsie i" ::: "memory");
    return 0;
}

/* see tlsfit_port.h */
void tlsfit_console_write(const char *buf, size_t len)
{
#ifdef TLSFIT_HW_CONSOLE_SEMIHOST
    tlsfit_semihost_write(buf, len);   /* the one UART carries TLS */
#else
    size_t i;
    for (i = 0; i < len; i++) {
        while (!prv_hw_tx_ready(TLSFIT_HW_UART_CONSOLE)) {
        }
        prv_hw_tx(TLSFIT_HW_UART_CONSOLE, (uint8_t)buf[i]);
    }
#endif
}

/* see tlsfit_port.h: the waits for the UART are timed and left out of the work */
int tlsfit_transport_send(const unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (!prv_hw_tx_ready(TLSFIT_HW_UART_TRANSPORT)) {
            uint64_t t0 = prv_ticks();
            while (!prv_hw_tx_ready(TLSFIT_HW_UART_TRANSPORT)) {
            }
            s_wait_ticks += prv_ticks() - t0;
        }
        prv_hw_tx(TLSFIT_HW_UART_TRANSPORT, buf[i]);
    }
    return (int)len;
}

/* see tlsfit_port.h */
int tlsfit_transport_recv(unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (!prv_hw_rx_ready(TLSFIT_HW_UART_TRANSPORT)) {
            uint64_t t0 = prv_ticks();
            while (!prv_hw_rx_ready(TLSFIT_HW_UART_TRANSPORT)) {
            }
            s_wait_ticks += prv_ticks() - t0;
        }
        buf[i] = prv_hw_rx(TLSFIT_HW_UART_TRANSPORT);
    }
    return (int)len;
}

/* semihosting SYS_CLOCK counts centiseconds of the emulator's own (host) clock */
#define PRV_MS_PER_SYS_CLOCK 10u

static uint32_t s_wait_ms;  /* host time spent in tlsfit_transport_recv_timeout */

/* see tlsfit_port.h. The deadline is on the HOST's clock (semihosting
 * SYS_CLOCK, 10 ms steps), not on the tick timer: under -icount a polling
 * loop moves the virtual clock hundreds of times faster than real time, so a
 * 1 s DTLS timer on the tick timer expires before a server on the host can
 * answer (measured: 2 spurious retransmissions in a PSK handshake). The wait
 * is left out of the work clock like every transport wait. */
int tlsfit_transport_recv_timeout(unsigned char *buf, size_t len, uint32_t timeout_ms)
{
    if (len > 0u && timeout_ms > 0u && !prv_hw_rx_ready(TLSFIT_HW_UART_TRANSPORT)) {
        uint64_t t0 = prv_ticks();
        uint32_t c0 = tlsfit_semihost(TLSFIT_SYS_CLOCK, NULL);
        uint32_t waited = 0;
        int ready = 0;
        for (;;) {
            ready = prv_hw_rx_ready(TLSFIT_HW_UART_TRANSPORT);
            waited = (tlsfit_semihost(TLSFIT_SYS_CLOCK, NULL) - c0) * PRV_MS_PER_SYS_CLOCK;
            if (ready || waited >= timeout_ms) {
                break;
            }
        }
        s_wait_ms += waited;
        s_wait_ticks += prv_ticks() - t0;
        if (!ready) {
            return TLSFIT_TRANSPORT_TIMEOUT;
        }
    }
    return tlsfit_transport_recv(buf, len);
}

/* see tlsfit_port.h */
uint32_t tlsfit_transport_wait_ms(void)
{
    return s_wait_ms;
}

/* see tlsfit_port.h */
int64_t tlsfit_clock_read(void)
{
    uint64_t work = prv_ticks() - s_wait_ticks;
    return (int64_t)(work * TLSFIT_HW_TICKS_PER_INSN_DEN / TLSFIT_HW_TICKS_PER_INSN_NUM);
}

/* see tlsfit_port.h */
void tlsfit_stack_region(uint8_t **lo, uint8_t **hi)
{
    *lo = __stack_limit;
    *hi = __stack_top;
}
