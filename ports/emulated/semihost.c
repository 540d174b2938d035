/*
 * semihost.c - the port functions every QEMU board answers through
 * semihosting: wall-clock time (the host's) and, for boards with one UART,
 * the console. The trap itself is tlsfit_semihost(), per architecture.
 */
#include "tlsfit_port.h"
#include "tlsfit_semihost.h"

/* NUL-terminated pieces: SYS_WRITE0 prints a C string. */
#define PRV_CONSOLE_CHUNK 64u

/* see tlsfit_port.h: the emulator's host clock stands in for an RTC */
int64_t tlsfit_time_now(void)
{
    uint32_t now = tlsfit_semihost(TLSFIT_SYS_TIME, NULL);
    return now == 0xFFFFFFFFu ? -1 : (int64_t)now;
}

/* see tlsfit_semihost.h */
void tlsfit_semihost_write(const char *buf, size_t len)
{
    char chunk[PRV_CONSOLE_CHUNK + 1u];
    size_t n = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        if (buf[i] != '\0') {
            chunk[n++] = buf[i];
        }
        if (n == PRV_CONSOLE_CHUNK || (i + 1u == len && n > 0u)) {
            chunk[n] = '\0';
            (void)tlsfit_semihost(TLSFIT_SYS_WRITE0, chunk);
            n = 0;
        }
    }
}
