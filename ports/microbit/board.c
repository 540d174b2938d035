/*
 * board.c - BBC micro:bit (nRF51822, Cortex-M0) port of the tlsfit harness
 * (see ports/common/tlsfit_port.h).
 *
 * The nRF51 has one UART, so it carries only the TLS byte stream; the
 * console goes through semihosting (SYS_WRITE0), which QEMU sends to a
 * stdio chardev (board.yaml). Work clock: TIMER0 in 32-bit timer mode at
 * 16 MHz (prescaler 0), read with TASKS_CAPTURE[0] -> CC[0]; a COMPARE[1]
 * at 0 interrupts on every wrap to extend it to 64 bits.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_port.h"
#include "tlsfit_semihost.h"

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
#define PRV_TIMER0_IRQ 8u
#define PRV_NVIC_ISER PRV_REG(0xE000E100u)

/* -icount shift=10: 1024 ns of virtual time per guest instruction, so the
 * 16 MHz timer moves 16.384 = 2048/125 ticks per instruction. */
#define PRV_TICKS_PER_INSN_NUM 2048u
#define PRV_TICKS_PER_INSN_DEN 125u

extern uint8_t __stack_limit[];
extern uint8_t __stack_top[];

void tlsfit_board_timer0_irq(void);

static volatile uint32_t s_timer_wraps;  /* extends the 32-bit counter to 64 bits */
static uint64_t s_wait_ticks;            /* time spent waiting on the transport */

/* TIMER0 COMPARE[1] at 0: every 2^32 ticks (~262 M instructions) */
void tlsfit_board_timer0_irq(void)
{
    PRV_TIMER_COMPARE1 = 0u;
    s_timer_wraps++;
}

static uint64_t prv_ticks(void)
{
    uint32_t hi;
    uint32_t value;
    do {
        hi = s_timer_wraps;
        PRV_TIMER_CAPTURE0 = 1u;
        value = PRV_TIMER_CC0;
    } while (hi != s_timer_wraps);
    return ((uint64_t)hi << 32) + (uint64_t)value;
}

/* see tlsfit_port.h */
int tlsfit_board_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
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
    PRV_NVIC_ISER = 1u << PRV_TIMER0_IRQ;
    __asm__ volatile("cpsie i" ::: "memory");
    return 0;
}

/* see tlsfit_port.h: the one UART carries TLS, so the console is semihosting */
void tlsfit_console_write(const char *buf, size_t len)
{
    tlsfit_semihost_write(buf, len);
}

/* see tlsfit_port.h */
int tlsfit_transport_send(const unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        PRV_UART_TXDRDY = 0u;
        PRV_UART_TXD = buf[i];
        if (PRV_UART_TXDRDY == 0u) {
            uint64_t t0 = prv_ticks();
            while (PRV_UART_TXDRDY == 0u) {
            }
            s_wait_ticks += prv_ticks() - t0;
        }
    }
    return (int)len;
}

/* see tlsfit_port.h */
int tlsfit_transport_recv(unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (PRV_UART_RXDRDY == 0u) {
            uint64_t t0 = prv_ticks();
            while (PRV_UART_RXDRDY == 0u) {
            }
            s_wait_ticks += prv_ticks() - t0;
        }
        /* clear first: reading RXD sets RXDRDY again while bytes remain */
        PRV_UART_RXDRDY = 0u;
        buf[i] = (unsigned char)PRV_UART_RXD;
    }
    return (int)len;
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
