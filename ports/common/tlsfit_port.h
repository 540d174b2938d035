/*
 * tlsfit_port.h - THE port contract: what a board (or the host) provides to
 * the common harness. A new port implements every function below and nothing
 * in ports/common changes. See ports/template/ for a fill-in skeleton.
 */
#ifndef TLSFIT_PORT_H
#define TLSFIT_PORT_H

#include <stddef.h>
#include <stdint.h>

/* Bring up clocks, console, transport and the work clock. Called once by
 * ports/common/main.c, before anything else in the harness, with main()'s
 * arguments (argc 0 on a board). Returns 0 or a negative error. */
int tlsfit_board_init(int argc, char **argv);

/* Write len bytes to the human-readable console (blocking). */
void tlsfit_console_write(const char *buf, size_t len);

/* Send len bytes to the host server (blocking). Returns len, or a negative
 * value on a dead transport. */
int tlsfit_transport_send(const unsigned char *buf, size_t len);

/* Receive EXACTLY len bytes (blocking). Returns len, 0 when the peer closed,
 * or a negative value. Never fewer: a short read would make mbedTLS's code
 * path (and so the instruction count) depend on host timing. */
int tlsfit_transport_recv(unsigned char *buf, size_t len);

/* Datagram transport (DTLS profiles only: a board whose board.yaml says
 * `datagram: false` need not define the two below). The harness frames each
 * datagram on the byte transport with a 2-byte big-endian length, and the
 * host's relay (measure/dgram_proxy.py) turns frames into UDP datagrams.
 *
 * Like tlsfit_transport_recv, but waits at most timeout_ms (0: forever) for
 * the FIRST byte; once one came, the rest is received as by
 * tlsfit_transport_recv. Returns len, TLSFIT_TRANSPORT_TIMEOUT when nothing
 * came in time, 0 when the peer closed, or another negative value. The wait
 * is not work: it stays out of tlsfit_clock_read(). */
#define TLSFIT_TRANSPORT_TIMEOUT (-2)
int tlsfit_transport_recv_timeout(unsigned char *buf, size_t len, uint32_t timeout_ms);

/* Milliseconds spent waiting in the transport so far: the clock the DTLS
 * retransmission timers run on (mbedtls_ssl_set_timer_cb), so the timers
 * see the network's delays and not the emulated CPU's speed. */
uint32_t tlsfit_transport_wait_ms(void);

/* Fill buf with len bytes of entropy. Returns 0 or a negative error.
 * A real board reads its TRNG here; emulated boards use a labelled
 * TEST-ONLY deterministic source. */
int tlsfit_entropy_read(unsigned char *buf, size_t len);

/* Work done so far, in guest instructions, with every transport wait left
 * out (the port reads its clock around each wait and subtracts it).
 * Returns -1 when the port has no deterministic counter (host). */
int64_t tlsfit_clock_read(void);

/* Wall-clock time, seconds since the Unix epoch (UTC), for certificate
 * dates (profiles with clock: rtc); -1 when the board has no clock. */
int64_t tlsfit_time_now(void);

/* Bounds [lo, hi) of the stack the harness runs on, for painting.
 * lo == hi == NULL when the port cannot tell. */
void tlsfit_stack_region(uint8_t **lo, uint8_t **hi);

/* End the run with this exit code (TLSFIT_EXIT_* in tlsfit_harness.h). */
void tlsfit_board_exit(int code);

#endif /* TLSFIT_PORT_H */
