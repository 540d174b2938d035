/*
 * app_http.c - app http: send the request (built by measure/firmware_data.py:
 * GET / HTTP/1.1, Host, Connection: close), read the status line, ok when it
 * is "HTTP/1.x NNN ...". The body is not read.
 * Compiled to nothing unless the profile's app is http.
 */
#include "tlsfit_app.h"

#if TLSFIT_APP == TLSFIT_APP_HTTP

#include <string.h>

/* the status line as far as the report shows it (TLSFIT_APP_DETAIL_MAX) */
#define PRV_LINE_MAX (TLSFIT_APP_DETAIL_MAX - 1u)
/* "HTTP/1.1 200": the shortest line that says anything */
#define PRV_STATUS_MIN 12u

static int prv_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* "HTTP/1." digit SP digit digit digit */
static int prv_status_ok(const unsigned char *s, size_t len)
{
    return len >= PRV_STATUS_MIN && memcmp(s, "HTTP/1.", 7u) == 0 && prv_is_digit(s[7])
           && s[8] == ' ' && prv_is_digit(s[9]) && prv_is_digit(s[10]) && prv_is_digit(s[11]);
}

/* see tlsfit_app.h */
void tlsfit_app_exchange(mbedtls_ssl_context *ssl, const unsigned char *request, size_t len,
                         tlsfit_app_result_t *r)
{
    unsigned char line[PRV_LINE_MAX];
    size_t got = 0;
    unsigned char c = 0;

    if (tlsfit_app_write_all(ssl, request, len, r) != 0) {
        return;
    }
    /* one byte at a time: stop at the end of the status line, read no body */
    while (c != '\n') {
        if (tlsfit_app_read(ssl, &c, 1u, r) < 0) {
            return;
        }
        if (got < sizeof(line)) {
            line[got++] = c;
        }
    }
    while (got > 0u && (line[got - 1u] == '\n' || line[got - 1u] == '\r')) {
        got--;
    }
    tlsfit_app_detail_append(r, (const char *)line, got);
    r->ok = prv_status_ok(line, got);
}

#endif /* TLSFIT_APP == TLSFIT_APP_HTTP */
