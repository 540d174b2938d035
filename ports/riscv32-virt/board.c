/*
 * board.c - riscv32-virt (RV32IMAC on QEMU's virt machine) port of the tlsfit
 * harness (see ports/common/tlsfit_port.h).
 *
 * The virt machine has one UART (NS16550A), so it carries only the TLS byte
 * stream; the console goes through RISC-V semihosting (SYS_WRITE0), which
 * QEMU sends to a stdio chardev (board.yaml). Work clock: the instret CSR
 * (retired instructions), read around every wait for the UART so the waits
 * are left out. Exit: the SiFive test finisher at 0x100000.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_port.h"
#include "tlsfit_semihost.h"

#define PRV_REG8(addr) (*(volatile uint8_t *)(addr))
#define PRV_REG32(addr) (*(volatile uint32_t *)(addr))

/* ---- NS16550A UART at 0x10000000 (QEMU virt: byte registers, stride 1) --- */
#define PRV_UART 0x10000000u
#define PRV_UART_RBR PRV_REG8(PRV_UART + 0u)   /* read */
#define PRV_UART_THR PRV_REG8(PRV_UART + 0u)   /* write */
#define PRV_UART_IER PRV_REG8(PRV_UART + 1u)
#define PRV_UART_FCR PRV_REG8(PRV_UART + 2u)   /* write */
#define PRV_UART_LCR PRV_REG8(PRV_UART + 3u)
#define PRV_UART_LSR PRV_REG8(PRV_UART + 5u)
#define PRV_UART_FCR_FIFO_RESET 0x07u          /* FIFOs on, both cleared */
#define PRV_UART_LCR_8N1 0x03u
#define PRV_UART_LSR_DR 0x01u                  /* a received byte is waiting */
#define PRV_UART_LSR_THRE 0x20u                /* the transmitter takes a byte */

/* ---- SiFive test finisher (QEMU virt "sifive,test1") ---------------------- */
#define PRV_FINISHER PRV_REG32(0x00100000u)
#define PRV_FINISHER_PASS 0x5555u               /* QEMU exits 0 */
#define PRV_FINISHER_FAIL 0x3333u               /* QEMU exits with bits 31:16 */

extern uint8_t __stack_limit[];
extern uint8_t __stack_top[];

static uint64_t s_wait_insns;   /* instructions spent waiting on the UART */

/* instret/instreth: 64-bit retired-instruction count, read high-low-high so a
 * carry between the two halves is never seen. Zicsr spelled out for GCC 12's
 * rv32imac target (Debian's picolibc multilib has no _zicsr variant). */
static uint64_t prv_instret(void)
{
    uint32_t hi;
    uint32_t lo;
    uint32_t hi2;
    do {
        __asm__ volatile(".option push\n.option arch, +zicsr\n"
                         "csrr %0, instreth\ncsrr %1, instret\ncsrr %2, instreth\n"
                         ".option pop"
                         : "=r"(hi), "=r"(lo), "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

/* see tlsfit_semihost.h. RISC-V's trap: slli/ebreak/srai, uncompressed and in
 * one 16-byte block so the three never straddle a page (QEMU checks the
 * neighbours). */
uint32_t tlsfit_semihost(uint32_t op, volatile void *arg)
{
    register uint32_t a0 __asm__("a0") = op;
    register volatile void *a1 __asm__("a1") = arg;
    __asm__ volatile(".option push\n.option norvc\n.balign 16\n"
                     "slli x0, x0, 0x1f\nebreak\nsrai x0, x0, 7\n"
                     ".option pop"
                     : "+r"(a0) : "r"(a1) : "memory");
    return a0;
}

/* see tlsfit_port.h */
int tlsfit_board_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    PRV_UART_IER = 0u;                     /* polled */
    PRV_UART_LCR = PRV_UART_LCR_8N1;       /* the emulator ignores the divisor; a real part sets it */
    PRV_UART_FCR = PRV_UART_FCR_FIFO_RESET;
    return 0;
}

/* see tlsfit_port.h: the one UART carries TLS, so the console is semihosting */
void tlsfit_console_write(const char *buf, size_t len)
{
    tlsfit_semihost_write(buf, len);
}

/* The port contract's counting rule, as on every board: only the waits for
 * the UART are left out of the work; the rest of a transport call, its loop
 * and the register accesses per byte, is work like any other code the
 * handshake runs. The wait window opens before EVERY byte's status poll, not
 * only when the first poll fails: the instructions counted per byte are then
 * the same whether the byte was ready or not, so the count stays exact to
 * the instruction whatever the host's timing (a window opened only on a
 * failed poll counts its own setup, ~20 instructions, once per wait, and the
 * number of waits follows the host). The window reads the low word of
 * instret (one instruction each end, modular difference): a single wait
 * would have to last 2^32 instructions, 4.3 s of virtual time, to be
 * miscounted. */
static inline uint32_t prv_instret_lo(void)
{
    uint32_t lo;
    __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, instret\n.option pop" : "=r"(lo));
    return lo;
}

/* see tlsfit_port.h */
int tlsfit_transport_send(const unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        uint32_t t0 = prv_instret_lo();
        while ((PRV_UART_LSR & PRV_UART_LSR_THRE) == 0u) {
        }
        s_wait_insns += prv_instret_lo() - t0;
        PRV_UART_THR = buf[i];
    }
    return (int)len;
}

/* see tlsfit_port.h */
int tlsfit_transport_recv(unsigned char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        uint32_t t0 = prv_instret_lo();
        while ((PRV_UART_LSR & PRV_UART_LSR_DR) == 0u) {
        }
        s_wait_insns += prv_instret_lo() - t0;
        buf[i] = PRV_UART_RBR;
    }
    return (int)len;
}

/* see tlsfit_port.h: retired instructions minus the transport waits */
int64_t tlsfit_clock_read(void)
{
    return (int64_t)(prv_instret() - s_wait_insns);
}

/* see tlsfit_port.h */
void tlsfit_stack_region(uint8_t **lo, uint8_t **hi)
{
    *lo = __stack_limit;
    *hi = __stack_top;
}

/* see tlsfit_port.h: QEMU exits with the code (the finisher's FAIL carries it in bits 31:16) */
void tlsfit_board_exit(int code)
{
    PRV_FINISHER = code == 0 ? PRV_FINISHER_PASS : (((uint32_t)code << 16) | PRV_FINISHER_FAIL);
    for (;;) {
    }
}
