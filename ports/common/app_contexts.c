/*
 * app_contexts.c - the mbedTLS contexts the harness holds as an application
 * would: SSL context and configuration, RNG, trust store and (mutual TLS)
 * the client's certificate and key.
 *
 * Bucket: mbedTLS's static RAM (Footprint.ram_static_mbedtls), not the
 * harness's. Any application making these mbedTLS calls must keep these
 * contexts alive for the connection's lifetime; they are in their own object
 * so measure/figures.py can split static RAM by defining object. File-scope,
 * not on the stack, so they show in static RAM and not in the stack peak.
 */
#include "tlsfit_app.h"

/* see tlsfit_app.h */
tlsfit_app_contexts_t tlsfit_app_ctx;
