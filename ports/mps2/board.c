/*
 * board.c - MPS2 (AN385/AN386/AN500, AN505) port of the tlsfit harness (see ports/common/tlsfit_port.h):
 * CMSDK UART0 console, CMSDK UART1 transport, CMSDK timer0 work clock,
 * semihosting exit and wall-clock time (the host's), TEST-ONLY entropy.
 *
 * The TLSFIT_MPS2_* macros below default to the AN385/AN386/AN500 map; a
 * board whose map differs (mps2-an505: IoTKit, Secure aliases) sets them
 * with -D in its board.yaml cflags.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_port.h"
#include "tlsfit_semihost.h"

/* ---- CMSDK APB UART ------------------------------------------------------ */
#ifndef TLSFIT_MPS2_UART0_BASE
#define TLSFIT_MPS2_UART0_BASE 0x40004000u
#endif
#ifndef TLSFIT_MPS2_UART1_BASE
#define TLSFIT_MPS2_UART1_BASE 0x40005000u
#endif
#define PRV_UART0_BASE TLSFIT_MPS2_UART0_BASE
#define PRV_UART1_BASE TLSFIT_MPS2_UART1_BASE
#define PRV_UART_DATA(b) (*(volatile uint32_t *)((b) + 0x000u))
#define PRV_UART_STATE(b) (*(volatile uint32_t *)((b) + 0x004u))
#define PRV_UART_CTRL(b) (*(volatile uint32_t *)((b) + 0x008u))
#define PRV_UART_BAUDDIV(b) (*(volatile uint32_t *)((b) + 0x010u))
#define PRV_UART_STATE_TXFULL 0x1u
#define PRV_UART_STATE_RXFULL 0x2u
#define PRV_UART_CTRL_TXEN 0x1u
#define PRV_UART_CTRL_RXEN 0x2u
/* QEMU's model wants BAUDDIV >= 16; the value is otherwise irrelevant. */
#define PRV_UART_BAUDDIV_MIN 16u

/* ---- CMSDK APB timer0 (25 MHz on AN385/AN386/AN500) ---------------------- */
#ifndef TLSFIT_MPS2_TIMER0_BASE
#define TLSFIT_MPS2_TIMER0_BASE 0x40000000u
#endif
#ifndef TLSFIT_MPS2_TIMER0_IRQ
#define TLSFIT_MPS2_TIMER0_IRQ 8u
#endif
#define PRV_TIMER0_BASE TLSFIT_MPS2_TIMER0_BASE
#define PRV_TIMER_CTRL (*(volatile uint32_t *)(PRV_TIMER0_BASE + 0x000u))
#define PRV_TIMER_VALUE (*(volatile uint32_t *)(PRV_TIMER0_BASE + 0x004u))
#define PRV_TIMER_RELOAD (*(volatile uint32_t *)(PRV_TIMER0_BASE + 0x008u))
#define PRV_TIMER_INTCLEAR (*(volatile uint32_t *)(PRV_TIMER0_BASE + 0x00Cu))
#define PRV_TIMER_CTRL_EN 0x1u
#define PRV_TIMER_CTRL_IRQEN 0x8u
#define PRV_TIMER0_IRQ TLSFIT_MPS2_TIMER0_IRQ
#define PRV_NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)

/* -icount shift=10: 1024 ns of virtual time per guest instruction, so
 * timer0 moves (clock in Hz * 1.024e-6) ticks per instruction, as the
 * fraction NUM/DEN: 25 MHz gives 25.6 = 256/10 (the default). A board whose
 * timer0 clock differs sets both from its board.yaml cflags. */
#ifndef TLSFIT_MPS2_TICKS_PER_INSN_NUM
#define TLSFIT_MPS2_TICKS_PER_INSN_NUM 256u
#endif
#ifndef TLSFIT_MPS2_TICKS_PER_INSN_DEN
#define TLSFIT_MPS2_TICKS_PER_INSN_DEN 10u
#endif
#define PRV_TICKS_PER_INSN_NUM TLSFIT_MPS2_TICKS_PER_INSN_NUM
#define PRV_TICKS_PER_INSN_DEN TLSFIT_MPS2_TICKS_PER_INSN_DEN

extern uint8_t __stack_limit[];
extern uint8_t __stack_top[];

void tlsfit_board_timer0_irq(void);

static volatile uint32_t s_timer_wraps;  /* extends the 32-bit down-counter to 64 bits */
static uint64_t s_wait_ticks;            /* time spent waiting on the transport */

/* timer0 wrap: every 2^32 ticks (~167 M instructions at 25 MHz) */
void tlsfit_board_timer0_irq(void)
{
    PRV_TIMER_INTCLEAR = 1u;
    s_timer_wraps++;
}

static uint64_t prv_ticks(void)
{
    uint32_t hi;
    uint32_t value;
    do {
        hi = s_timer_wraps;
        value = PRV_TIMER_VALUE;
    } while (hi != s_timer_wraps);
    return ((uint64_t)hi << 32) + (uint64_t)(0xFFFFFFFFu - value);
}

static void prv_uart_init(uint32_t base)
{
    PRV_UART_BAUDDIV(base) = PRV_UART_BAUDDIV_MIN;
    /* the model drops TX and refuses RX unless both are enabled */
    PRV_UART_CTRL(base) = PRV_UART_CTRL_TXEN | PRV_UART_CTRL_RXEN;
    /* one read makes QEMU start polling the backend (else ~1 s stalls) */
    (void)PRV_UART_DATA(base);
}

/* see tlsfit_port.h */
int tlsfit_board_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    prv_uart_init(PRV_UART0_BASE);
    prv_uart_init(PRV_UART1_BASE);
    PRV_TIMER_RELOAD = 0xFFFFFFFFu;
    PRV_TIMER_VALUE = 0xFFFFFFFFu;
    PRV_TIMER_CTRL = PRV_TIMER_CTRL_EN | PRV_TIMER_CTRL_IRQEN;
    PRV_NVIC_ISER0 = 1u << PRV_TIMER0_IRQ;
    __asm__ volatile("cpsie i" ::: "memory");
    return 0;
}

/* see tlsfit_port.h */
void tlsfit_console_write(const char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        while (PRV_UART_STATE(PRV_UART0_BASE) & PRV_UART_STATE_TXFULL) {
        }
        PRV_UART_DATA(PRV_UART0_BASE) = (uint8_t)buf[i];
    }
}

/* see tlsfit_port.h */
int tlsfit_transport_send(const unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (PRV_UART_STATE(PRV_UART1_BASE) & PRV_UART_STATE_TXFULL) {
            uint64_t t0 = prv_ticks();
            while (PRV_UART_STATE(PRV_UART1_BASE) & PRV_UART_STATE_TXFULL) {
            }
            s_wait_ticks += prv_ticks() - t0;
        }
        PRV_UART_DATA(PRV_UART1_BASE) = buf[i];
    }
    return (int)len;
}

/* see tlsfit_port.h */
int tlsfit_transport_recv(unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (!(PRV_UART_STATE(PRV_UART1_BASE) & PRV_UART_STATE_RXFULL)) {
            uint64_t t0 = prv_ticks();
            while (!(PRV_UART_STATE(PRV_UART1_BASE) & PRV_UART_STATE_RXFULL)) {
            }
            s_wait_ticks += prv_ticks() - t0;
        }
        buf[i] = (unsigned char)PRV_UART_DATA(PRV_UART1_BASE);
    }
    return (int)len;
}

/* semihosting SYS_CLOCK counts centiseconds of the emulator's own (host) clock */
#define PRV_MS_PER_SYS_CLOCK 10u

static uint32_t s_wait_ms;  /* host time spent in tlsfit_transport_recv_timeout */

/* see tlsfit_port.h. The deadline is on the HOST's clock (semihosting
 * SYS_CLOCK, 10 ms steps), not on timer0: under -icount a polling loop moves
 * the virtual clock hundreds of times faster than real time, so a 1 s DTLS
 * timer on timer0 expires before a server on the host can answer (measured:
 * 2 spurious retransmissions in a PSK handshake). The wait is left out of
 * the work clock like every transport wait. */
int tlsfit_transport_recv_timeout(unsigned char *buf, size_t len, uint32_t timeout_ms)
{
    if (len > 0u && timeout_ms > 0u && !(PRV_UART_STATE(PRV_UART1_BASE) & PRV_UART_STATE_RXFULL)) {
        uint64_t t0 = prv_ticks();
        uint32_t c0 = tlsfit_semihost(TLSFIT_SYS_CLOCK, NULL);
        uint32_t waited = 0;
        int ready = 0;
        for (;;) {
            ready = (PRV_UART_STATE(PRV_UART1_BASE) & PRV_UART_STATE_RXFULL) != 0u;
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
    return (int64_t)(work * PRV_TICKS_PER_INSN_DEN / PRV_TICKS_PER_INSN_NUM);
}

/* see tlsfit_port.h */
void tlsfit_stack_region(uint8_t **lo, uint8_t **hi)
{
    *lo = __stack_limit;
    *hi = __stack_top;
}
