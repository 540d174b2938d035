/*
 * app_coap.c - app coap (transport: udp): CoAP over DTLS (RFC 7252), one
 * message per DTLS record. Sends the confirmable GET built by
 * measure/firmware_data.py (message id, 8-byte token, Uri-Path options),
 * then a second one with the next message id and token, and reads each
 * answer: ok when both are answered 2.05 Content, piggybacked on the ACK or
 * as a separate response (an empty ACK first; a confirmable response is
 * acknowledged). A request unanswered after an ACK timeout is resent (RFC 7252
 * 4.2: 2 s, doubling, 4 retransmissions). Messages that answer neither
 * request are counted as stray and ignored (app_detail "2.05 Content, 1 stray
 * ignored"): with DTLS anti-replay a record the network replays never reaches
 * the application, so the count stays 0.
 * Compiled to nothing unless the profile's app is coap.
 */
#include "tlsfit_app.h"

#if TLSFIT_APP == TLSFIT_APP_COAP

#include <string.h>

#if !defined(MBEDTLS_SSL_PROTO_DTLS)
#error "app coap needs transport: udp (MBEDTLS_SSL_PROTO_DTLS)"
#endif

/* Largest request the harness sends: COAP_REQUEST_MAX in measure/firmware_data.py */
#define TLSFIT_COAP_REQUEST_MAX 255u
/* The part of an answer that is parsed (header + token); the rest of the
 * record (options, payload) is read and counted but not kept. */
#define PRV_HEAD_MAX 12u
#define PRV_HEADER_LEN 4u
#define PRV_TOKEN_MAX 8u
#define PRV_VERSION 1u
#define PRV_TYPE_CON 0u
#define PRV_TYPE_ACK 2u
#define PRV_TYPE_RST 3u
#define PRV_CODE_EMPTY 0x00u
#define PRV_CODE_CONTENT 0x45u  /* 2.05 */
#define PRV_REQUESTS 2u
/* RFC 7252 4.8: ACK_TIMEOUT 2 s (no random factor: runs stay reproducible),
 * MAX_RETRANSMIT 4 */
#define PRV_ACK_TIMEOUT_MS 2000u
#define PRV_MAX_RETRANSMIT 4u

typedef struct {
    unsigned type;
    unsigned code;
    unsigned mid;
    size_t tkl;
    const unsigned char *token;
} prv_msg_t;

/* "c.dd" and, for 2.05, its name */
static void prv_detail_code(tlsfit_app_result_t *r, unsigned code)
{
    char buf[4];
    buf[0] = (char)('0' + (code >> 5));
    buf[1] = '.';
    buf[2] = (char)('0' + (code & 31u) / 10u);
    buf[3] = (char)('0' + (code & 31u) % 10u);
    tlsfit_app_detail_append(r, buf, sizeof(buf));
    if (code == PRV_CODE_CONTENT) {
        tlsfit_app_detail_append(r, " Content", 8u);
    }
}

static void prv_detail_count(tlsfit_app_result_t *r, unsigned n)
{
    char c = (char)('0' + (n > 9u ? 9u : n));
    tlsfit_app_detail_append(r, ", ", 2u);
    tlsfit_app_detail_append(r, &c, 1u);
    tlsfit_app_detail_append(r, " stray ignored", 14u);
}

/* 1 when head[0..len) is a well-formed CoAP header and token */
static int prv_parse(const unsigned char *head, size_t len, prv_msg_t *m)
{
    if (len < PRV_HEADER_LEN || (head[0] >> 6) != PRV_VERSION) {
        return 0;
    }
    m->type = (head[0] >> 4) & 3u;
    m->tkl = head[0] & 15u;
    m->code = head[1];
    m->mid = ((unsigned)head[2] << 8) | head[3];
    m->token = head + PRV_HEADER_LEN;
    return m->tkl <= PRV_TOKEN_MAX && len >= PRV_HEADER_LEN + m->tkl;
}

/* One message (one record): its first PRV_HEAD_MAX bytes into head, the rest
 * read and dropped. > 0 bytes kept, or an mbedTLS error (timeout included). */
static int prv_read_message(mbedtls_ssl_context *ssl, unsigned char *head, tlsfit_app_result_t *r)
{
    unsigned char rest[16];
    int ret = mbedtls_ssl_read(ssl, head, PRV_HEAD_MAX);
    if (ret <= 0) {
        return ret == 0 ? MBEDTLS_ERR_SSL_CONN_EOF : ret;
    }
    r->recv += (uint32_t)ret;
    while (mbedtls_ssl_get_bytes_avail(ssl) > 0u) {
        int more = mbedtls_ssl_read(ssl, rest, sizeof(rest));
        if (more <= 0) {
            return more == 0 ? MBEDTLS_ERR_SSL_CONN_EOF : more;
        }
        r->recv += (uint32_t)more;
    }
    return ret;
}

/* An empty ACK of a confirmable message the server sent. */
static int prv_ack(mbedtls_ssl_context *ssl, unsigned mid, tlsfit_app_result_t *r)
{
    unsigned char ack[PRV_HEADER_LEN];
    ack[0] = (unsigned char)((PRV_VERSION << 6) | (PRV_TYPE_ACK << 4));
    ack[1] = PRV_CODE_EMPTY;
    ack[2] = (unsigned char)(mid >> 8);
    ack[3] = (unsigned char)(mid & 0xFFu);
    return tlsfit_app_write_all(ssl, ack, sizeof(ack), r);
}

/* One request and its answer: the response code (> 0), 0 when the server
 * reset the exchange, or an mbedTLS error (r->err/stage set). */
static int prv_request(mbedtls_ssl_context *ssl, const unsigned char *req, size_t len,
                       unsigned *stray, tlsfit_app_result_t *r)
{
    const unsigned mid = ((unsigned)req[2] << 8) | req[3];
    const size_t tkl = req[0] & 15u;
    uint32_t timeout = PRV_ACK_TIMEOUT_MS;
    unsigned sends = 0;
    int acked = 0;
    unsigned char head[PRV_HEAD_MAX];

    for (;;) {
        prv_msg_t m;
        int ret;
        if (!acked && tlsfit_app_write_all(ssl, req, len, r) != 0) {
            return r->err;
        }
        sends++;
        mbedtls_ssl_conf_read_timeout(&tlsfit_app_ctx.conf, acked ? 0u : timeout);
        for (;;) {
            ret = prv_read_message(ssl, head, r);
            if (ret < 0) {
                break;
            }
            if (!prv_parse(head, (size_t)ret, &m)) {
                (*stray)++;
                continue;
            }
            if (m.type == PRV_TYPE_CON) {
                /* a confirmable message wants an ACK, even a duplicate one */
                if (prv_ack(ssl, m.mid, r) != 0) {
                    return r->err;
                }
            }
            if (m.type == PRV_TYPE_RST && m.mid == mid) {
                return 0;
            }
            if (m.type == PRV_TYPE_ACK && m.mid == mid && m.code == PRV_CODE_EMPTY) {
                acked = 1; /* a separate response follows */
                mbedtls_ssl_conf_read_timeout(&tlsfit_app_ctx.conf, 0u);
                continue;
            }
            if (m.code != PRV_CODE_EMPTY && m.tkl == tkl && memcmp(m.token, req + PRV_HEADER_LEN, tkl) == 0
                && (m.type != PRV_TYPE_ACK || m.mid == mid)) {
                return (int)m.code;
            }
            (*stray)++;
        }
        if (ret != MBEDTLS_ERR_SSL_TIMEOUT || acked || sends > PRV_MAX_RETRANSMIT) {
            r->err = ret;
            r->stage = "read";
            return ret;
        }
        timeout *= 2u;
    }
}

/* see tlsfit_app.h */
void tlsfit_app_exchange(mbedtls_ssl_context *ssl, const unsigned char *request, size_t len,
                         tlsfit_app_result_t *r)
{
    unsigned char req[TLSFIT_COAP_REQUEST_MAX];
    unsigned stray = 0;
    unsigned i;
    size_t tkl;

    if (request == NULL || len < PRV_HEADER_LEN || len > sizeof(req)) {
        tlsfit_app_detail_append(r, "no CoAP request", 15u);
        return;
    }
    tkl = request[0] & 15u;
    if (tkl == 0u || tkl > PRV_TOKEN_MAX || len < PRV_HEADER_LEN + tkl) {
        tlsfit_app_detail_append(r, "bad CoAP request", 16u);
        return;
    }
    memcpy(req, request, len);
    for (i = 0; i < PRV_REQUESTS; i++) {
        int code = prv_request(ssl, req, len, &stray, r);
        if (code < 0) {
            return;
        }
        r->detail[0] = '\0';
        if (code == 0) {
            tlsfit_app_detail_append(r, "RST", 3u);
            return;
        }
        prv_detail_code(r, (unsigned)code);
        if ((unsigned)code != PRV_CODE_CONTENT) {
            return;
        }
        /* the next request: next message id, next token */
        if (++req[3] == 0u) {
            req[2]++;
        }
        req[PRV_HEADER_LEN + tkl - 1u]++;
    }
    if (stray > 0u) {
        prv_detail_count(r, stray); /* not a protocol error, but the report shows it */
    }
    r->ok = 1;
}

#endif /* TLSFIT_APP == TLSFIT_APP_COAP */
