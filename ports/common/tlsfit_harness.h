/* tlsfit_harness.h - the common harness entry point (ports/common/main.c
 * calls it) and the exit codes every port reports. */
#ifndef TLSFIT_HARNESS_H
#define TLSFIT_HARNESS_H

/* Exit codes, as measure/ reads them from QEMU / the host process. */
#define TLSFIT_EXIT_OK 0      /* handshake and application exchange succeeded */
#define TLSFIT_EXIT_FAILED 1  /* handshake, exchange or close_notify failed */
#define TLSFIT_EXIT_SETUP 3   /* setup failed before the handshake (or the board did) */

/* Run setup, handshake, the profile's application exchange and close_notify;
 * print the one TLSFIT-RESULT line. Returns a TLSFIT_EXIT_* code. */
int tlsfit_harness_run(void);

#endif /* TLSFIT_HARNESS_H */
