/*
 * app_io.c - plaintext I/O shared by the application protocols (app_*.c).
 * Compiled to nothing with app none.
 */
#include "tlsfit_app.h"

#if TLSFIT_APP != TLSFIT_APP_NONE

#include <string.h>

/* see tlsfit_app.h */
int tlsfit_app_write_all(mbedtls_ssl_context *ssl, const unsigned char *buf, size_t len,
                         tlsfit_app_result_t *r)
{
    size_t done = 0;
    while (done < len) {
        int ret = mbedtls_ssl_write(ssl, buf + done, len - done);
        if (ret < 0) {
            r->err = ret;
            r->stage = "write";
            return ret;
        }
        done += (size_t)ret;
        r->sent += (uint32_t)ret;
    }
    return 0;
}

/* see tlsfit_app.h */
int tlsfit_app_read(mbedtls_ssl_context *ssl, unsigned char *buf, size_t len,
                    tlsfit_app_result_t *r)
{
    for (;;) {
        int ret = mbedtls_ssl_read(ssl, buf, len);
        if (ret > 0) {
            r->recv += (uint32_t)ret;
            return ret;
        }
#if defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_PROTO_TLS1_3)
        if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            continue; /* TLS 1.3 servers send tickets after the handshake */
        }
#endif
        if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
            continue;
        }
        r->err = ret == 0 ? MBEDTLS_ERR_SSL_CONN_EOF : ret;
        r->stage = "read";
        return r->err;
    }
}

/* see tlsfit_app.h */
void tlsfit_app_detail_append(tlsfit_app_result_t *r, const char *s, size_t len)
{
    size_t used = strlen(r->detail);
    size_t room = sizeof(r->detail) - 1u - used;
    if (len > room) {
        len = room;
    }
    memcpy(r->detail + used, s, len);
    r->detail[used + len] = '\0';
}

#endif /* TLSFIT_APP != TLSFIT_APP_NONE */
