/*
 * host.c - the tlsfit harness on Linux: TCP transport to HOST PORT (argv),
 * stdout console, getrandom entropy, no deterministic work counter.
 * The harness runs on a static stack (ucontext) so painting measures it
 * the same way as on a board.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>

#include "tlsfit_harness.h"
#include "tlsfit_port.h"

/* 256 KiB: generous for x86-64 frames; the reported figure is the painted peak. */
#define PRV_STACK_SIZE (256u * 1024u)

static int s_fd = -1;
static int s_exit_code = 3;
static uint8_t s_stack[PRV_STACK_SIZE] __attribute__((aligned(16)));
static ucontext_t s_main_ctx;
static ucontext_t s_harness_ctx;

static void prv_harness_entry(void)
{
    s_exit_code = tlsfit_harness_run();
}

/* see tlsfit_port.h */
int tlsfit_board_init(void)
{
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
void tlsfit_stack_region(uint8_t **lo, uint8_t **hi)
{
    *lo = s_stack;
    *hi = s_stack + sizeof(s_stack);
}

/* see tlsfit_port.h */
void tlsfit_board_exit(int code)
{
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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        tlsfit_board_exit(3);
    }
    s_fd = prv_connect(argv[1], argv[2]);
    if (s_fd < 0) {
        fprintf(stderr, "tlsfit: cannot connect to %s:%s\n", argv[1], argv[2]);
        tlsfit_board_exit(3);
    }
    if (getcontext(&s_harness_ctx) != 0) {
        tlsfit_board_exit(3);
    }
    s_harness_ctx.uc_stack.ss_sp = s_stack;
    s_harness_ctx.uc_stack.ss_size = sizeof(s_stack);
    s_harness_ctx.uc_link = &s_main_ctx;
    makecontext(&s_harness_ctx, prv_harness_entry, 0);
    if (swapcontext(&s_main_ctx, &s_harness_ctx) != 0) {
        tlsfit_board_exit(3);
    }
    close(s_fd);
    tlsfit_board_exit(s_exit_code);
    return s_exit_code;
}
