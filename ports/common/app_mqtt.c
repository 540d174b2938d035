/*
 * app_mqtt.c - app mqtt: MQTT 3.1.1 CONNECT (built by measure/firmware_data.py:
 * clean session, keepalive 60 s, the profile's client id), read the 4-byte
 * CONNACK, ok when it is a CONNACK with return code 0; then DISCONNECT.
 * Compiled to nothing unless the profile's app is mqtt.
 */
#include "tlsfit_app.h"

#if TLSFIT_APP == TLSFIT_APP_MQTT

#define PRV_CONNACK_LEN 4u
#define PRV_CONNACK_TYPE 0x20u   /* packet type 2, flags 0 */
#define PRV_CONNACK_REMAINING 0x02u

static const unsigned char s_disconnect[2] = {0xE0u, 0x00u};

/* "0x" + two hex digits, or up to three decimal digits */
static void prv_detail_byte(tlsfit_app_result_t *r, unsigned v, int hex)
{
    static const char digits[] = "0123456789abcdef";
    char buf[4];
    size_t n = 0;
    if (hex) {
        tlsfit_app_detail_append(r, "0x", 2u);
        buf[n++] = digits[(v >> 4) & 15u];
        buf[n++] = digits[v & 15u];
    } else {
        if (v >= 100u) {
            buf[n++] = (char)('0' + v / 100u);
        }
        if (v >= 10u) {
            buf[n++] = (char)('0' + (v / 10u) % 10u);
        }
        buf[n++] = (char)('0' + v % 10u);
    }
    tlsfit_app_detail_append(r, buf, n);
}

/* see tlsfit_app.h */
void tlsfit_app_exchange(mbedtls_ssl_context *ssl, const unsigned char *request, size_t len,
                         tlsfit_app_result_t *r)
{
    unsigned char ack[PRV_CONNACK_LEN];
    size_t got = 0;

    if (tlsfit_app_write_all(ssl, request, len, r) != 0) {
        return;
    }
    while (got < sizeof(ack)) {
        int ret = tlsfit_app_read(ssl, ack + got, sizeof(ack) - got, r);
        if (ret < 0) {
            return;
        }
        got += (size_t)ret;
    }
    if (ack[0] != PRV_CONNACK_TYPE || ack[1] != PRV_CONNACK_REMAINING) {
        tlsfit_app_detail_append(r, "not a CONNACK: ", 15u);
        prv_detail_byte(r, ack[0], 1);
        return;
    }
    tlsfit_app_detail_append(r, "CONNACK rc=", 11u);
    prv_detail_byte(r, ack[3], 0);
    if (ack[3] != 0u) {
        return;
    }
    if (tlsfit_app_write_all(ssl, s_disconnect, sizeof(s_disconnect), r) != 0) {
        return;
    }
    r->ok = 1;
}

#endif /* TLSFIT_APP == TLSFIT_APP_MQTT */
