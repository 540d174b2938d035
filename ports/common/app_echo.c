/*
 * app_echo.c - app echo: send one line, read a line as long back, and check
 * it is the same or reversed (openssl s_server -rev, gnutls-serv --echo).
 * Compiled to nothing unless the profile's app is echo.
 */
#include "tlsfit_app.h"

#if TLSFIT_APP == TLSFIT_APP_ECHO

#include <string.h>

/* The message is one short line. */
#define PRV_ECHO_MAX 256

static const char s_echo_none[] = "none";

/* Line content without one trailing "\n" or "\r\n". */
static size_t prv_line_len(const unsigned char *s, size_t len)
{
    if (len > 0u && s[len - 1u] == '\n') {
        len--;
    }
    if (len > 0u && s[len - 1u] == '\r') {
        len--;
    }
    return len;
}

static const char *prv_compare(const unsigned char *sent, size_t sent_len,
                               const unsigned char *got, size_t got_len)
{
    size_t a = prv_line_len(sent, sent_len);
    size_t b = prv_line_len(got, got_len);
    size_t i;

    if (a != b) {
        return s_echo_none;
    }
    if (memcmp(sent, got, a) == 0) {
        return "same";
    }
    for (i = 0; i < a; i++) {
        if (sent[i] != got[a - 1u - i]) {
            return s_echo_none;
        }
    }
    return "reversed";
}

/* see tlsfit_app.h */
void tlsfit_app_exchange(mbedtls_ssl_context *ssl, const unsigned char *request, size_t len,
                         tlsfit_app_result_t *r)
{
    static unsigned char s_buf[PRV_ECHO_MAX];
    size_t got = 0;
    size_t want = len < sizeof(s_buf) ? len : sizeof(s_buf);

    r->echo = s_echo_none;
    if (tlsfit_app_write_all(ssl, request, len, r) != 0) {
        return;
    }
    /* read until a line as long as the message is back (echo or reversed) */
    while (got < want) {
        int ret = tlsfit_app_read(ssl, s_buf + got, want - got, r);
        if (ret < 0) {
            return;
        }
        got += (size_t)ret;
        if (s_buf[got - 1u] == '\n') {
            break;
        }
    }
    r->echo = prv_compare(request, len, s_buf, got);
    r->ok = r->echo != s_echo_none;
    tlsfit_app_detail_append(r, "echo ", 5u);
    tlsfit_app_detail_append(r, r->echo, strlen(r->echo));
}

#endif /* TLSFIT_APP == TLSFIT_APP_ECHO */
