/*
 * tlsfit_app.h - the application side of the harness: the mbedTLS contexts an
 * application holds (app_contexts.c) and the protocol spoken after the
 * handshake (one implementation per file: app_echo.c, app_mqtt.c,
 * app_http.c; TLSFIT_APP in the generated tlsfit_profile_config.h selects
 * which one compiles to anything).
 */
#ifndef TLSFIT_APP_H
#define TLSFIT_APP_H

#include "mbedtls/build_info.h"

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/ssl.h"
#if defined(MBEDTLS_ENTROPY_C)
#include "mbedtls/entropy.h"
#endif
#if defined(MBEDTLS_CTR_DRBG_C)
#include "mbedtls/ctr_drbg.h"
#elif defined(MBEDTLS_HMAC_DRBG_C)
#include "mbedtls/hmac_drbg.h"
#endif
#if defined(MBEDTLS_X509_CRT_PARSE_C)
#include "mbedtls/x509_crt.h"
#endif
#if defined(MBEDTLS_PK_PARSE_C)
#include "mbedtls/pk.h"
#endif

#include "tlsfit_profile_config.h"

/* A trust store / client identity is held only when the profile has one. */
#if TLSFIT_HAS_CA && defined(MBEDTLS_X509_CRT_PARSE_C)
#define TLSFIT_APP_HOLDS_CA 1
#else
#define TLSFIT_APP_HOLDS_CA 0
#endif
#if TLSFIT_HAS_CLIENT_CERT && defined(MBEDTLS_X509_CRT_PARSE_C) && defined(MBEDTLS_PK_PARSE_C)
#define TLSFIT_APP_HOLDS_CLIENT_CERT 1
#else
#define TLSFIT_APP_HOLDS_CLIENT_CERT 0
#endif

/* The state any application using mbedTLS this way must hold: not
 * measurement bookkeeping. Defined in app_contexts.c, its own object, so the
 * static RAM split (measure/figures.py) counts it with mbedTLS. */
typedef struct {
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
#if defined(MBEDTLS_ENTROPY_C)
    mbedtls_entropy_context entropy;
#endif
#if defined(MBEDTLS_CTR_DRBG_C)
    mbedtls_ctr_drbg_context drbg;
#elif defined(MBEDTLS_HMAC_DRBG_C)
    mbedtls_hmac_drbg_context drbg;
#endif
#if TLSFIT_APP_HOLDS_CA
    mbedtls_x509_crt ca;
#endif
#if TLSFIT_APP_HOLDS_CLIENT_CERT
    mbedtls_x509_crt own_cert;
    mbedtls_pk_context own_key;
#endif
} tlsfit_app_contexts_t;

extern tlsfit_app_contexts_t tlsfit_app_ctx;

/* "HTTP/1.1 200 OK" fits; longer status lines are cut */
#define TLSFIT_APP_DETAIL_MAX 72

typedef struct {
    int ok;                 /* 1: the server answered as the protocol says */
    int err;                /* mbedTLS error of the exchange, 0 when none */
    const char *stage;      /* "write" | "read" where err happened, "" when none */
    uint32_t sent;          /* application bytes written (plaintext) */
    uint32_t recv;          /* application bytes read (plaintext) */
    const char *echo;       /* app echo: "same" | "reversed" | "none" */
    char detail[TLSFIT_APP_DETAIL_MAX]; /* "echo reversed", "CONNACK rc=0", "HTTP/1.1 200 OK" */
} tlsfit_app_result_t;

/* The protocol exchange after the handshake, request bytes from the profile
 * data (built by measure/firmware_data.py). Fills r; close_notify is the
 * caller's. Not defined for TLSFIT_APP_NONE. */
void tlsfit_app_exchange(mbedtls_ssl_context *ssl, const unsigned char *request, size_t len,
                         tlsfit_app_result_t *r);

#if defined(MBEDTLS_HAVE_TIME)
#include "mbedtls/platform_time.h"
/* app_time.c: mbedTLS's time source (MBEDTLS_PLATFORM_TIME_ALT), the port's
 * tlsfit_time_now(). */
mbedtls_time_t tlsfit_mbedtls_time(mbedtls_time_t *timer);
#endif

/* app_io.c: write all of buf; 0 or an mbedTLS error. Counts into r->sent. */
int tlsfit_app_write_all(mbedtls_ssl_context *ssl, const unsigned char *buf, size_t len,
                         tlsfit_app_result_t *r);

/* app_io.c: read up to len bytes, skipping TLS 1.3 tickets; > 0 bytes read or
 * an mbedTLS error (a closed connection is MBEDTLS_ERR_SSL_CONN_EOF). Counts
 * into r->recv; on error fills r->err/stage. */
int tlsfit_app_read(mbedtls_ssl_context *ssl, unsigned char *buf, size_t len,
                    tlsfit_app_result_t *r);

/* app_io.c: append s to r->detail (truncating). */
void tlsfit_app_detail_append(tlsfit_app_result_t *r, const char *s, size_t len);

#endif /* TLSFIT_APP_H */
