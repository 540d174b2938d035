/*
 * port.c - TEMPLATE: fill in for a new board. Not built (no board.yaml here).
 * Contract: ports/common/tlsfit_port.h. main() is ports/common/main.c.
 */
#include <stddef.h>
#include <stdint.h>

#include "tlsfit_port.h"

/* see tlsfit_port.h */
int tlsfit_board_init(int argc, char **argv)
{
    (void)argc; /* 0 on a board */
    (void)argv;
    /* TODO: clocks, console UART, transport UART, work counter (+ wrap IRQ) */
    return -1;
}

/* see tlsfit_port.h */
void tlsfit_console_write(const char *buf, size_t len)
{
    /* TODO: blocking write to the console */
    (void)buf;
    (void)len;
}

/* see tlsfit_port.h */
int tlsfit_transport_send(const unsigned char *buf, size_t len)
{
    /* TODO: blocking send; add time spent waiting to the excluded wait total */
    (void)buf;
    return (int)len;
}

/* see tlsfit_port.h */
int tlsfit_transport_recv(unsigned char *buf, size_t len)
{
    /* TODO: block until EXACTLY len bytes arrived; exclude the wait from the clock */
    (void)buf;
    return (int)len;
}

/* see tlsfit_port.h
 * DTLS only (board.yaml `datagram: true`); with `datagram: false` delete this
 * and tlsfit_transport_wait_ms: transport: udp profiles are then refused. */
int tlsfit_transport_recv_timeout(unsigned char *buf, size_t len, uint32_t timeout_ms)
{
    /* TODO: wait at most timeout_ms (0: forever) for the FIRST byte, on a clock
     * that follows real time (the server's), adding the wait to the
     * milliseconds tlsfit_transport_wait_ms returns and leaving it out of
     * tlsfit_clock_read; TLSFIT_TRANSPORT_TIMEOUT when nothing came; then
     * the rest as tlsfit_transport_recv does */
    (void)timeout_ms;
    return tlsfit_transport_recv(buf, len);
}

/* see tlsfit_port.h (DTLS only, like tlsfit_transport_recv_timeout) */
uint32_t tlsfit_transport_wait_ms(void)
{
    /* TODO: milliseconds waited in tlsfit_transport_recv_timeout so far (the
     * DTLS retransmission timers run on it) */
    return 0u;
}

/* see tlsfit_port.h */
int tlsfit_entropy_read(unsigned char *buf, size_t len)
{
    /* TODO: the board's TRNG (a deterministic source only if labelled TEST-ONLY) */
    (void)buf;
    (void)len;
    return -1;
}

/* see tlsfit_port.h */
int64_t tlsfit_clock_read(void)
{
    /* TODO: work instructions so far (waits excluded), or -1 without a counter */
    return -1;
}

/* see tlsfit_port.h */
int64_t tlsfit_time_now(void)
{
    /* TODO: seconds since 1970-01-01 UTC from the board's RTC, or -1 without one */
    return -1;
}

/* see tlsfit_port.h */
void tlsfit_stack_region(uint8_t **lo, uint8_t **hi)
{
    /* TODO: the linker script's stack bounds, e.g. __stack_limit / __stack_top */
    *lo = NULL;
    *hi = NULL;
}

/* see tlsfit_port.h */
void tlsfit_board_exit(int code)
{
    /* TODO: report code to the runner (semihosting, a GPIO, a debugger) */
    (void)code;
    for (;;) {
    }
}
