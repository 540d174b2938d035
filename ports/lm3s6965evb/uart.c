/*
 * uart.c - LM3S6965 UART0 (console) and UART1 (transport): ARM PL011
 * ("Luminary" variant) at 0x4000C000 / 0x4000D000. QEMU connects its first
 * -serial to UART0 and the second to UART1. See ../cortex-m/tlsfit_uart.h.
 */
#include <stdint.h>

#include "tlsfit_uart.h"

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

/* see tlsfit_uart.h */
void tlsfit_uart_init(void)
{
    int unit;
    PRV_SYSCTL_RCGC1 |= PRV_RCGC1_UART01;
    for (unit = 0; unit < 2; unit++) {
        PRV_UART_CR(unit) = 0u;
        PRV_UART_IBRD(unit) = 1u;   /* the emulator ignores the rate; a real board sets 115200 */
        PRV_UART_LCRH(unit) = PRV_UART_LCRH_8N1_FIFO;
        PRV_UART_CR(unit) = PRV_UART_CR_ENABLE;
    }
}

/* see tlsfit_uart.h */
int tlsfit_uart_tx_ready(int unit)
{
    return (PRV_UART_FR(unit) & PRV_UART_FR_TXFF) == 0u;
}

/* see tlsfit_uart.h */
void tlsfit_uart_tx(int unit, uint8_t byte)
{
    PRV_UART_DR(unit) = byte;
}

/* see tlsfit_uart.h */
int tlsfit_uart_rx_ready(int unit)
{
    return (PRV_UART_FR(unit) & PRV_UART_FR_RXFE) == 0u;
}

/* see tlsfit_uart.h */
uint8_t tlsfit_uart_rx(int unit)
{
    return (uint8_t)PRV_UART_DR(unit);
}
