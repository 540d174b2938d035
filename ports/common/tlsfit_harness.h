/* tlsfit_harness.h - the common harness entry point a port's main() calls. */
#ifndef TLSFIT_HARNESS_H
#define TLSFIT_HARNESS_H

/* Run setup, handshake, echo round trip and close; print the one
 * TLSFIT-RESULT line. Returns the exit code: 0 ok, 1 handshake or echo
 * failed, 3 setup failure. */
int tlsfit_harness_run(void);

#endif /* TLSFIT_HARNESS_H */
