/*
 * tlsfit_uart.h - what a board of the cortex-m family (SysTick work clock,
 * two UARTs) provides to ports/cortex-m/board.c: a polled UART driver.
 * Unit 0 is the console, unit 1 the TLS transport.
 */
#ifndef TLSFIT_UART_H
#define TLSFIT_UART_H

#include <stdint.h>

/* Enable both units' transmitters and receivers. */
void tlsfit_uart_init(void);
/* 1 when unit can take one more byte to send. */
int tlsfit_uart_tx_ready(int unit);
void tlsfit_uart_tx(int unit, uint8_t byte);
/* 1 when unit holds a received byte. */
int tlsfit_uart_rx_ready(int unit);
uint8_t tlsfit_uart_rx(int unit);

#endif /* TLSFIT_UART_H */
