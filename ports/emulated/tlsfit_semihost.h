/*
 * tlsfit_semihost.h - what every QEMU board shares: semihosting calls (the
 * emulator's host clock, its stdio, its exit status) and the TEST-ONLY
 * entropy source. A real board replaces these with its RTC, UART and TRNG.
 */
#ifndef TLSFIT_SEMIHOST_H
#define TLSFIT_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* Semihosting operations (QEMU: -semihosting-config enable=on,target=native). */
#define TLSFIT_SYS_WRITE0 0x04u
#define TLSFIT_SYS_CLOCK 0x10u
#define TLSFIT_SYS_TIME 0x11u
#define TLSFIT_SYS_EXIT_EXTENDED 0x20u
#define TLSFIT_ADP_STOPPED_APPLICATION_EXIT 0x20026u

/* One semihosting call: the architecture's trap (Arm: bkpt 0xAB in arm.c;
 * RISC-V: the slli/ebreak/srai sequence in its board folder). */
uint32_t tlsfit_semihost(uint32_t op, volatile void *arg);

/* Console output through SYS_WRITE0, for boards whose only UART carries TLS. */
void tlsfit_semihost_write(const char *buf, size_t len);

#endif /* TLSFIT_SEMIHOST_H */
