/*
 * host.c - the tlsfit harness on Linux: TCP transport to HOST PORT (argv),
 * stdout console, getrandom entropy, time(), no deterministic work counter.
 * The stack region painted is the PRV_STACK_SIZE bytes below main()'s
 * frame on the process stack (main() is ports/common/main.c).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tlsfit_port.h"

/* 256 KiB: generous for x86-64 frames, well inside the default 8 MiB stack
 * limit; the reported figure is the painted peak. */
#define PRV_STACK_SIZE (256u * 1024u)

static int s_fd = -1;
static uint8_t *s_stack_top;   /* main()'s stack pointer where it calls the port */
/* TEST-ONLY fault injection: TLSFIT_TEST_SEND_LIMIT=n in the environment makes
 * the transport refuse any send past n bytes in total (tests use it to make
 * close_notify fail). Unset: no limit. */
static long long s_send_limit = -1;
static long long s_sent_total;

static int prv_connect(const char *host, const char *port);

/* see tlsfit_port.h: argv is HOST PORT of the server */
__attribute__((noinline)) int tlsfit_board_init(int argc, char **argv)
{
    /* x86-64: the frame address is the saved frame pointer, below the
     * return address; main()'s stack pointer is two words up */
    s_stack_top = (uint8_t *)__builtin_frame_address(0) + 2u * sizeof(void *);
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argc > 0 ? argv[0] : "tlsfit");
        return -1;
    }
    if (getenv("TLSFIT_TEST_SEND_LIMIT") != NULL) {
        s_send_limit = atoll(getenv("TLSFIT_TEST_SEND_LIMIT"));
    }
    s_fd = prv_connect(argv[1], argv[2]);
    if (s_fd < 0) {
        fprintf(stderr, "tlsfit: cannot connect to %s:%s\n", argv[1], argv[2]);
        return -1;
    }
    return 0;
}

/* see tlsfit_port.h */
void tlsfit_console_write(const char *buf, size_t len)
{
    (void)fwrite(buf, 1, len, stdout);
    (void)fflush(stdout);
}

/* see tlsfit_port.h */
int tlsfit_transport_send(const unsigned char *buf, size_t len)
{
    size_t done = 0;
    if (s_send_limit >= 0 && s_sent_total + (long long)len > s_send_limit) {
        return -1;
    }
    s_sent_total += (long long)len;
    while (done < len) {
        ssize_t n = send(s_fd, buf + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return (int)len;
}

/* see tlsfit_port.h */
int tlsfit_transport_recv(unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = recv(s_fd, buf + done, len - done, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            return 0; /* peer closed: mbedTLS reports CONN_EOF */
        }
        done += (size_t)n;
    }
    return (int)len;
}

static uint64_t s_wait_ns; /* time spent in tlsfit_transport_recv_timeout's poll() */

static uint64_t prv_now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* see tlsfit_port.h */
int tlsfit_transport_recv_timeout(unsigned char *buf, size_t len, uint32_t timeout_ms)
{
    if (timeout_ms > 0u) {
        struct pollfd pfd = {s_fd, POLLIN, 0};
        uint64_t t0 = prv_now_ns();
        int n;
        do {
            n = poll(&pfd, 1, (int)timeout_ms);
        } while (n < 0 && errno == EINTR);
        s_wait_ns += prv_now_ns() - t0;
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            return TLSFIT_TRANSPORT_TIMEOUT;
        }
    }
    return tlsfit_transport_recv(buf, len);
}

/* see tlsfit_port.h */
uint32_t tlsfit_transport_wait_ms(void)
{
    return (uint32_t)(s_wait_ns / 1000000u);
}

/* see tlsfit_port.h
 * Host entropy: the kernel's getrandom(), real randomness. */
int tlsfit_entropy_read(unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* see tlsfit_port.h: no deterministic instruction counter on the host */
int64_t tlsfit_clock_read(void)
{
    return -1;
}

/* see tlsfit_port.h */
int64_t tlsfit_time_now(void)
{
    return (int64_t)time(NULL);
}

/* see tlsfit_port.h */
void tlsfit_stack_region(uint8_t **lo, uint8_t **hi)
{
    if (s_stack_top == NULL) {
        *lo = NULL;
        *hi = NULL;
        return;
    }
    *lo = s_stack_top - PRV_STACK_SIZE;
    *hi = s_stack_top;
}

/* see tlsfit_port.h */
void tlsfit_board_exit(int code)
{
    if (s_fd >= 0) {
        close(s_fd);
    }
    exit(code);
}

static int prv_connect(const char *host, const char *port)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    int fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}
