/*
 * tlsfit_profile_data.h - per-profile data compiled into the harness.
 * measure/firmware_data.py renders the generated tlsfit_profile_config.h
 * (compile-time facts + the definition) from templates/harness_data.c.j2;
 * keep the two in step.
 */
#ifndef TLSFIT_PROFILE_DATA_H
#define TLSFIT_PROFILE_DATA_H

#include <stddef.h>
#include <stdint.h>

/* TLSFIT_APP values: the application protocol spoken after the handshake */
#define TLSFIT_APP_NONE 0   /* handshake, close_notify, done */
#define TLSFIT_APP_ECHO 1   /* one line, answered the same or reversed */
#define TLSFIT_APP_MQTT 2   /* MQTT 3.1.1 CONNECT -> CONNACK, DISCONNECT */
#define TLSFIT_APP_HTTP 3   /* GET / -> status line */
#define TLSFIT_APP_COAP 4   /* CoAP GET (confirmable) -> 2.05 Content (DTLS) */

typedef struct {
    const unsigned char *data;   /* NULL when absent */
    size_t len;
} tlsfit_blob_t;

typedef struct {
    const char *server_name;         /* SNI and certificate host name check */
    int verify;                      /* 1: authmode REQUIRED, 0: NONE */
    const tlsfit_blob_t *ca;         /* trusted CAs, DER */
    size_t ca_count;
    const tlsfit_blob_t *client_cert; /* client chain, leaf first, DER */
    size_t client_cert_count;
    tlsfit_blob_t client_key;        /* DER private key */
    tlsfit_blob_t psk_identity;
    tlsfit_blob_t psk_key;
    const char **alpn;               /* NULL-terminated; mbedTLS wants non-const */
    unsigned max_fragment_length;    /* 512..4096, 0 for none */
    tlsfit_blob_t message;           /* the application's request, sent after the handshake:
                                        echo line, MQTT CONNECT packet or HTTP request */
    const uint16_t *groups;          /* TLS group ids in the profile's order, 0-terminated;
                                        NULL: mbedTLS's default order */
} tlsfit_profile_data_t;

extern const tlsfit_profile_data_t tlsfit_profile_data;

#endif /* TLSFIT_PROFILE_DATA_H */
