/*
 * harness.c - the on-target TLS client every port runs: set up from the
 * generated config and the per-profile facts and data, handshake step by
 * step with the work per state, the profile's application exchange
 * (app_*.c), close_notify, and ONE result line (TLSFIT-RESULT; with an
 * application exchange, a TLSFIT-HANDSHAKE line first, as soon as the
 * handshake succeeded).
 *
 * Two kinds of #if: on the mbedTLS config (so it compiles with any config
 * tlsfit generates: 1.2-only, 1.3-only, PSK without X.509, ...), and on the
 * profile's facts (TLSFIT_HAS_*, TLSFIT_APP in the generated
 * tlsfit_profile_config.h), so an mbedTLS call the profile does not use is
 * not referenced and not linked: rom.mbedtls is what the smallest
 * application making the same calls would link.
 *
 * Figures are mbedTLS's, not the harness's: the allocator's work is taken
 * out of the instruction counts (heap.c counts it), the stack depth of the
 * harness's own frames is reported apart (TLSFIT_STACK_NOTE), and the
 * contexts an application must hold live in app_contexts.c.
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS /* handshake state, for per-state work */

#include "mbedtls/build_info.h"

#include <stdint.h>
#include <string.h>

#include "mbedtls/ssl.h"
#if defined(MBEDTLS_PLATFORM_C)
#include "mbedtls/platform.h"
#endif
#if defined(MBEDTLS_PSA_CRYPTO_C) || defined(MBEDTLS_PSA_CRYPTO_CLIENT)
#include "psa/crypto.h"
#endif

#include "tlsfit_app.h"
#include "tlsfit_harness.h"
#include "tlsfit_heap.h"
#include "tlsfit_port.h"
#include "tlsfit_profile_config.h"
#include "tlsfit_stack.h"

/* Same values as net_sockets.h, which a bare-metal config does not build,
 * so mbedtls_strerror-style tools still name them. */
#define PRV_ERR_SEND_FAILED (-0x004E)
#define PRV_ERR_RECV_FAILED (-0x004C)

/* The console marks measure/harness_result.py looks for. */
#define TLSFIT_RESULT_MARK "TLSFIT-RESULT"
#define TLSFIT_HANDSHAKE_MARK "TLSFIT-HANDSHAKE"

/* mbedtls_ssl_states has under 32 members in 3.6; states beyond are lumped. */
#define PRV_MAX_STATES 32

/* The RNG handed to mbedTLS: the DRBG's own function, as an application
 * passes it (no harness frame in between). */
#if defined(MBEDTLS_CTR_DRBG_C)
#define PRV_RNG_FN mbedtls_ctr_drbg_random
#define PRV_RNG_CTX (&tlsfit_app_ctx.drbg)
#elif defined(MBEDTLS_HMAC_DRBG_C)
#define PRV_RNG_FN mbedtls_hmac_drbg_random
#define PRV_RNG_CTX (&tlsfit_app_ctx.drbg)
#else
#define PRV_RNG_FN prv_rng
#define PRV_RNG_CTX NULL
#endif

#if TLSFIT_APP == TLSFIT_APP_NONE
#define PRV_APP_NAME "none"
#elif TLSFIT_APP == TLSFIT_APP_ECHO
#define PRV_APP_NAME "echo"
#elif TLSFIT_APP == TLSFIT_APP_MQTT
#define PRV_APP_NAME "mqtt"
#elif TLSFIT_APP == TLSFIT_APP_HTTP
#define PRV_APP_NAME "http"
#elif TLSFIT_APP == TLSFIT_APP_COAP
#define PRV_APP_NAME "coap"
#else
#error "TLSFIT_APP: unknown application protocol"
#endif

typedef struct {
    int err;                /* first mbedTLS error, sticky */
    const char *stage;      /* where it happened, "" when none */
    uint32_t sent;          /* TLS bytes on the wire, whole connection */
    uint32_t recv;
    uint32_t hs_sent;       /* ... up to the end of the handshake */
    uint32_t hs_recv;
    int64_t instr;          /* handshake work, allocator taken out */
    tlsfit_heap_work_t alloc; /* the allocator's share during the handshake */
    int64_t state_instr[PRV_MAX_STATES];
    uint8_t state_order[PRV_MAX_STATES];
    uint8_t state_seen[PRV_MAX_STATES];
    unsigned state_count;
    int handshake_done;
    int close_ok;           /* close_notify sent */
#if defined(MBEDTLS_SSL_PROTO_DTLS) && defined(TLSFIT_DATAGRAM)
    unsigned retransmits;   /* DTLS: flights resent after a timer expired */
#endif
} prv_result_t;

static const char s_stage_setup[] = "setup";

static prv_result_t s_result;
#if TLSFIT_APP != TLSFIT_APP_NONE
static tlsfit_app_result_t s_app;
#endif

static const char *const s_state_names[PRV_MAX_STATES] = {
    [MBEDTLS_SSL_HELLO_REQUEST] = "HELLO_REQUEST",
    [MBEDTLS_SSL_CLIENT_HELLO] = "CLIENT_HELLO",
    [MBEDTLS_SSL_SERVER_HELLO] = "SERVER_HELLO",
    [MBEDTLS_SSL_SERVER_CERTIFICATE] = "SERVER_CERTIFICATE",
    [MBEDTLS_SSL_SERVER_KEY_EXCHANGE] = "SERVER_KEY_EXCHANGE",
    [MBEDTLS_SSL_CERTIFICATE_REQUEST] = "CERTIFICATE_REQUEST",
    [MBEDTLS_SSL_SERVER_HELLO_DONE] = "SERVER_HELLO_DONE",
    [MBEDTLS_SSL_CLIENT_CERTIFICATE] = "CLIENT_CERTIFICATE",
    [MBEDTLS_SSL_CLIENT_KEY_EXCHANGE] = "CLIENT_KEY_EXCHANGE",
    [MBEDTLS_SSL_CERTIFICATE_VERIFY] = "CERTIFICATE_VERIFY",
    [MBEDTLS_SSL_CLIENT_CHANGE_CIPHER_SPEC] = "CLIENT_CHANGE_CIPHER_SPEC",
    [MBEDTLS_SSL_CLIENT_FINISHED] = "CLIENT_FINISHED",
    [MBEDTLS_SSL_SERVER_CHANGE_CIPHER_SPEC] = "SERVER_CHANGE_CIPHER_SPEC",
    [MBEDTLS_SSL_SERVER_FINISHED] = "SERVER_FINISHED",
    [MBEDTLS_SSL_FLUSH_BUFFERS] = "FLUSH_BUFFERS",
    [MBEDTLS_SSL_HANDSHAKE_WRAPUP] = "HANDSHAKE_WRAPUP",
    [MBEDTLS_SSL_NEW_SESSION_TICKET] = "NEW_SESSION_TICKET",
    [MBEDTLS_SSL_SERVER_HELLO_VERIFY_REQUEST_SENT] = "SERVER_HELLO_VERIFY_REQUEST_SENT",
    [MBEDTLS_SSL_HELLO_RETRY_REQUEST] = "HELLO_RETRY_REQUEST",
    [MBEDTLS_SSL_ENCRYPTED_EXTENSIONS] = "ENCRYPTED_EXTENSIONS",
    [MBEDTLS_SSL_END_OF_EARLY_DATA] = "END_OF_EARLY_DATA",
    [MBEDTLS_SSL_CLIENT_CERTIFICATE_VERIFY] = "CLIENT_CERTIFICATE_VERIFY",
    [MBEDTLS_SSL_CLIENT_CCS_AFTER_SERVER_FINISHED] = "CLIENT_CCS_AFTER_SERVER_FINISHED",
    [MBEDTLS_SSL_CLIENT_CCS_BEFORE_2ND_CLIENT_HELLO] = "CLIENT_CCS_BEFORE_2ND_CLIENT_HELLO",
    [MBEDTLS_SSL_SERVER_CCS_AFTER_SERVER_HELLO] = "SERVER_CCS_AFTER_SERVER_HELLO",
    [MBEDTLS_SSL_CLIENT_CCS_AFTER_CLIENT_HELLO] = "CLIENT_CCS_AFTER_CLIENT_HELLO",
    [MBEDTLS_SSL_SERVER_CCS_AFTER_HELLO_RETRY_REQUEST] = "SERVER_CCS_AFTER_HELLO_RETRY_REQUEST",
    [MBEDTLS_SSL_HANDSHAKE_OVER] = "HANDSHAKE_OVER",
    [MBEDTLS_SSL_TLS1_3_NEW_SESSION_TICKET] = "TLS1_3_NEW_SESSION_TICKET",
    [MBEDTLS_SSL_TLS1_3_NEW_SESSION_TICKET_FLUSH] = "TLS1_3_NEW_SESSION_TICKET_FLUSH",
};

/* ---- first error wins ------------------------------------------------- */

static void prv_fail(const char *stage, int err)
{
    if (s_result.err == 0 && err != 0) {
        s_result.err = err;
        s_result.stage = stage;
    }
}

/* ---- entropy and RNG -------------------------------------------------- */

#if defined(MBEDTLS_ENTROPY_HARDWARE_ALT)
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen);

/* mbedTLS's hardware entropy hook, filled from the port's entropy source. */
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
    (void)data;
    if (tlsfit_entropy_read(output, len) != 0) {
        *olen = 0;
        return -1;
    }
    *olen = len;
    return 0;
}
#endif

#if !defined(MBEDTLS_CTR_DRBG_C) && !defined(MBEDTLS_HMAC_DRBG_C)
static int prv_rng(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
#if defined(MBEDTLS_PSA_CRYPTO_C) && !defined(MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG)
    return mbedtls_psa_get_random(MBEDTLS_PSA_RANDOM_STATE, out, len);
#else
    /* no DRBG in the config at all: the port's source is the only RNG */
    return tlsfit_entropy_read(out, len);
#endif
}
#endif

#if defined(MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG)
/* PSA's RNG when the config delegates it: the harness's DRBG. */
psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context,
                                             uint8_t *output, size_t output_size,
                                             size_t *output_length)
{
    (void)context;
    if (PRV_RNG_FN(PRV_RNG_CTX, output, output_size) != 0) {
        *output_length = 0;
        return PSA_ERROR_INSUFFICIENT_ENTROPY;
    }
    *output_length = output_size;
    return PSA_SUCCESS;
}
#endif

#if (defined(MBEDTLS_CTR_DRBG_C) || defined(MBEDTLS_HMAC_DRBG_C)) && !defined(MBEDTLS_ENTROPY_C)
static int prv_entropy_direct(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    return tlsfit_entropy_read(out, len);
}
#endif

static int prv_rng_setup(void)
{
#if defined(MBEDTLS_CTR_DRBG_C) || defined(MBEDTLS_HMAC_DRBG_C)
    static const char pers[] = "tlsfit";
#if defined(MBEDTLS_ENTROPY_C)
    int (*f_entropy)(void *, unsigned char *, size_t) = mbedtls_entropy_func;
    void *p_entropy = &tlsfit_app_ctx.entropy;
#else
    int (*f_entropy)(void *, unsigned char *, size_t) = prv_entropy_direct;
    void *p_entropy = NULL;
#endif
    TLSFIT_STACK_NOTE();
#if defined(MBEDTLS_ENTROPY_C)
    mbedtls_entropy_init(&tlsfit_app_ctx.entropy);
#endif
#if defined(MBEDTLS_CTR_DRBG_C)
    mbedtls_ctr_drbg_init(&tlsfit_app_ctx.drbg);
    return mbedtls_ctr_drbg_seed(&tlsfit_app_ctx.drbg, f_entropy, p_entropy,
                                 (const unsigned char *)pers, sizeof(pers) - 1u);
#else
    {
        const mbedtls_md_info_t *md = NULL;
#if defined(MBEDTLS_MD_CAN_SHA256)
        md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
#elif defined(MBEDTLS_MD_CAN_SHA512)
        md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
#elif defined(MBEDTLS_MD_CAN_SHA384)
        md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA384);
#elif defined(MBEDTLS_MD_CAN_SHA1)
        md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
#endif
        mbedtls_hmac_drbg_init(&tlsfit_app_ctx.drbg);
        return mbedtls_hmac_drbg_seed(&tlsfit_app_ctx.drbg, md, f_entropy, p_entropy,
                                      (const unsigned char *)pers, sizeof(pers) - 1u);
    }
#endif
#else
    return 0;
#endif
}

/* ---- transport BIO ---------------------------------------------------- */

#if !(defined(MBEDTLS_SSL_PROTO_DTLS) && defined(TLSFIT_DATAGRAM))
static int prv_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    int ret = tlsfit_transport_send(buf, len);
    (void)ctx;
    if (ret < 0) {
        return PRV_ERR_SEND_FAILED;
    }
    s_result.sent += (uint32_t)ret;
    return ret;
}

/* mbedTLS asks a stream BIO for exactly what the record layer still needs,
 * and the port returns exactly that: the code path does not depend on how
 * the bytes happened to arrive. */
static int prv_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    int ret = tlsfit_transport_recv(buf, len);
    (void)ctx;
    if (ret < 0) {
        return PRV_ERR_RECV_FAILED;
    }
    s_result.recv += (uint32_t)ret;
    return ret;
}

#else
/* ---- datagram BIO and timers (transport: udp) --------------------------
 * Each datagram travels on the byte transport as a 2-byte big-endian length
 * and the datagram; the host's relay (measure/dgram_proxy.py) keeps the
 * boundaries. The timers run on the port's wait clock. */
#define PRV_DGRAM_HDR 2u
#define PRV_DGRAM_MAX 0xFFFFu

typedef struct {
    uint32_t start_ms;  /* tlsfit_transport_wait_ms() when set */
    uint32_t int_ms;
    uint32_t fin_ms;    /* 0: cancelled */
} prv_timer_t;

static prv_timer_t s_timer;

/* The handshake's whole retransmission schedule, on the wait clock: mbedTLS
 * fails a handshake when a timer of max_ms expires, but a server that resends
 * its own flight restarts the client's timer each time (ssl_resend), so
 * against such a server (openssl s_server -dtls1_2 holding another PSK) the
 * schedule never ends by itself. The harness stops it where mbedTLS would
 * against a silent server: min + 2 min + ... + max ms (1 s .. 60 s: 123 s),
 * with MBEDTLS_ERR_SSL_TIMEOUT (measure's default timeout covers the same). */
static uint32_t s_hs_deadline_ms; /* 0: no deadline (after the handshake) */

static uint32_t prv_schedule_ms(void)
{
    uint32_t total = 0u;
    uint32_t t = TLSFIT_DTLS_RETRANSMIT_MIN_MS > 0u ? TLSFIT_DTLS_RETRANSMIT_MIN_MS : 1u;
    for (;;) {
        total += t;
        if (t >= TLSFIT_DTLS_RETRANSMIT_MAX_MS) {
            return total;
        }
        t = t > TLSFIT_DTLS_RETRANSMIT_MAX_MS / 2u ? TLSFIT_DTLS_RETRANSMIT_MAX_MS : t * 2u;
    }
}

static int prv_past_deadline(void)
{
    return s_hs_deadline_ms != 0u && (int32_t)(tlsfit_transport_wait_ms() - s_hs_deadline_ms) >= 0;
}

static void prv_timer_set(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
    prv_timer_t *tm = (prv_timer_t *)ctx;
    tm->start_ms = tlsfit_transport_wait_ms();
    tm->int_ms = int_ms;
    tm->fin_ms = fin_ms;
}

/* mbedtls_ssl_get_timer_t: -1 cancelled, 0 none expired, 1 intermediate, 2 final */
static int prv_timer_get(void *ctx)
{
    const prv_timer_t *tm = (const prv_timer_t *)ctx;
    uint32_t elapsed;
    if (tm->fin_ms == 0u) {
        return -1;
    }
    elapsed = tlsfit_transport_wait_ms() - tm->start_ms;
    if (elapsed >= tm->fin_ms) {
        return 2;
    }
    return elapsed >= tm->int_ms ? 1 : 0;
}

static int prv_bio_send_dgram(void *ctx, const unsigned char *buf, size_t len)
{
    unsigned char hdr[PRV_DGRAM_HDR];
    (void)ctx;
    if (len > PRV_DGRAM_MAX) {
        return PRV_ERR_SEND_FAILED;
    }
    hdr[0] = (unsigned char)(len >> 8);
    hdr[1] = (unsigned char)(len & 0xFFu);
    if (tlsfit_transport_send(hdr, sizeof(hdr)) < 0 || tlsfit_transport_send(buf, len) < 0) {
        return PRV_ERR_SEND_FAILED;
    }
    s_result.sent += (uint32_t)len;
    return (int)len;
}

/* One datagram, or MBEDTLS_ERR_SSL_TIMEOUT after timeout ms (0: wait for
 * ever); a datagram longer than buf is cut, as a UDP socket would. */
static int prv_bio_recv_dgram(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
    unsigned char hdr[PRV_DGRAM_HDR];
    size_t size;
    size_t take;
    int ret;
    (void)ctx;
    if (s_hs_deadline_ms != 0u) {
        /* no wait beyond the schedule's end (see s_hs_deadline_ms) */
        uint32_t left;
        if (prv_past_deadline()) {
            return MBEDTLS_ERR_SSL_TIMEOUT;
        }
        left = s_hs_deadline_ms - tlsfit_transport_wait_ms();
        if (timeout == 0u || timeout > left) {
            timeout = left;
        }
    }
    ret = tlsfit_transport_recv_timeout(hdr, sizeof(hdr), timeout);
    if (ret == TLSFIT_TRANSPORT_TIMEOUT) {
        return MBEDTLS_ERR_SSL_TIMEOUT;
    }
    if (ret <= 0) {
        return PRV_ERR_RECV_FAILED;
    }
    size = ((size_t)hdr[0] << 8) | hdr[1];
    take = size < len ? size : len;
    if (take > 0u && tlsfit_transport_recv(buf, take) <= 0) {
        return PRV_ERR_RECV_FAILED;
    }
    while (size > take) {
        if (tlsfit_transport_recv(hdr, 1u) <= 0) {
            return PRV_ERR_RECV_FAILED;
        }
        take++;
    }
    s_result.recv += (uint32_t)size;
    return (int)(size < len ? size : len);
}
#endif

/* ---- setup ------------------------------------------------------------ */

#if defined(MBEDTLS_SSL_MAX_FRAGMENT_LENGTH) && TLSFIT_HAS_MFL
typedef struct {
    unsigned len;
    unsigned char code;
} prv_mfl_t;

static const prv_mfl_t s_mfl_codes[] = {
    {512u, MBEDTLS_SSL_MAX_FRAG_LEN_512},
    {1024u, MBEDTLS_SSL_MAX_FRAG_LEN_1024},
    {2048u, MBEDTLS_SSL_MAX_FRAG_LEN_2048},
    {4096u, MBEDTLS_SSL_MAX_FRAG_LEN_4096},
};

static int prv_conf_mfl(unsigned len)
{
    size_t i;
    TLSFIT_STACK_NOTE();
    for (i = 0; i < sizeof(s_mfl_codes) / sizeof(s_mfl_codes[0]); i++) {
        if (s_mfl_codes[i].len == len) {
            return mbedtls_ssl_conf_max_frag_len(&tlsfit_app_ctx.conf, s_mfl_codes[i].code);
        }
    }
    return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
}
#endif

static int prv_conf_certs(const tlsfit_profile_data_t *d)
{
    int ret = 0;
#if TLSFIT_APP_HOLDS_CA || TLSFIT_APP_HOLDS_CLIENT_CERT
    size_t i;
    TLSFIT_STACK_NOTE();
#endif
#if TLSFIT_APP_HOLDS_CA
    mbedtls_x509_crt_init(&tlsfit_app_ctx.ca);
    for (i = 0; i < d->ca_count && ret == 0; i++) {
        ret = mbedtls_x509_crt_parse_der(&tlsfit_app_ctx.ca, d->ca[i].data, d->ca[i].len);
    }
    if (ret != 0) {
        return ret;
    }
    mbedtls_ssl_conf_ca_chain(&tlsfit_app_ctx.conf, &tlsfit_app_ctx.ca, NULL);
#endif
#if TLSFIT_APP_HOLDS_CLIENT_CERT
    mbedtls_x509_crt_init(&tlsfit_app_ctx.own_cert);
    mbedtls_pk_init(&tlsfit_app_ctx.own_key);
    for (i = 0; i < d->client_cert_count && ret == 0; i++) {
        ret = mbedtls_x509_crt_parse_der(&tlsfit_app_ctx.own_cert, d->client_cert[i].data,
                                         d->client_cert[i].len);
    }
    if (ret == 0) {
        ret = mbedtls_pk_parse_key(&tlsfit_app_ctx.own_key, d->client_key.data, d->client_key.len,
                                   NULL, 0, PRV_RNG_FN, PRV_RNG_CTX);
    }
    if (ret == 0) {
        ret = mbedtls_ssl_conf_own_cert(&tlsfit_app_ctx.conf, &tlsfit_app_ctx.own_cert,
                                        &tlsfit_app_ctx.own_key);
    }
#endif
    (void)d;
    return ret;
}

static int prv_setup(const tlsfit_profile_data_t *d)
{
    int ret;

    TLSFIT_STACK_NOTE();
#if defined(MBEDTLS_PSA_CRYPTO_C)
    /* before any parse or setup: TLS 1.3 and USE_PSA paths call PSA */
    if (psa_crypto_init() != PSA_SUCCESS) {
        return MBEDTLS_ERR_SSL_HW_ACCEL_FAILED;
    }
#endif
    ret = prv_rng_setup();
    if (ret != 0) {
        return ret;
    }
#if defined(MBEDTLS_HAVE_TIME) && defined(MBEDTLS_PLATFORM_TIME_ALT)
    /* certificate dates and the ClientHello time from the port's clock */
    ret = mbedtls_platform_set_time(tlsfit_mbedtls_time);
    if (ret != 0) {
        return ret;
    }
#endif
    mbedtls_ssl_init(&tlsfit_app_ctx.ssl);
    mbedtls_ssl_config_init(&tlsfit_app_ctx.conf);
#if defined(MBEDTLS_SSL_PROTO_DTLS) && defined(TLSFIT_DATAGRAM)
    ret = mbedtls_ssl_config_defaults(&tlsfit_app_ctx.conf, MBEDTLS_SSL_IS_CLIENT,
                                      MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        return ret;
    }
    mbedtls_ssl_conf_handshake_timeout(&tlsfit_app_ctx.conf, TLSFIT_DTLS_RETRANSMIT_MIN_MS,
                                       TLSFIT_DTLS_RETRANSMIT_MAX_MS);
#if defined(MBEDTLS_SSL_DTLS_CONNECTION_ID) && TLSFIT_DTLS_CID
    ret = mbedtls_ssl_conf_cid(&tlsfit_app_ctx.conf, 0, MBEDTLS_SSL_UNEXPECTED_CID_IGNORE);
    if (ret != 0) {
        return ret;
    }
#endif
#else
    ret = mbedtls_ssl_config_defaults(&tlsfit_app_ctx.conf, MBEDTLS_SSL_IS_CLIENT,
                                      MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        return ret;
    }
#endif
    mbedtls_ssl_conf_rng(&tlsfit_app_ctx.conf, PRV_RNG_FN, PRV_RNG_CTX);
    mbedtls_ssl_conf_authmode(&tlsfit_app_ctx.conf, d->verify ? MBEDTLS_SSL_VERIFY_REQUIRED
                                                              : MBEDTLS_SSL_VERIFY_NONE);
    ret = prv_conf_certs(d);
    if (ret != 0) {
        return ret;
    }
#if defined(MBEDTLS_SSL_HANDSHAKE_WITH_PSK_ENABLED) && TLSFIT_HAS_PSK
    ret = mbedtls_ssl_conf_psk(&tlsfit_app_ctx.conf, d->psk_key.data, d->psk_key.len,
                               d->psk_identity.data, d->psk_identity.len);
    if (ret != 0) {
        return ret;
    }
#endif
#if TLSFIT_HAS_GROUPS
    /* the profile's preference order (decides the TLS 1.3 key share) */
    mbedtls_ssl_conf_groups(&tlsfit_app_ctx.conf, d->groups);
#endif
#if defined(MBEDTLS_SSL_ALPN) && TLSFIT_HAS_ALPN
    ret = mbedtls_ssl_conf_alpn_protocols(&tlsfit_app_ctx.conf, d->alpn);
    if (ret != 0) {
        return ret;
    }
#endif
#if defined(MBEDTLS_SSL_MAX_FRAGMENT_LENGTH) && TLSFIT_HAS_MFL
    ret = prv_conf_mfl(d->max_fragment_length);
    if (ret != 0) {
        return ret;
    }
#endif
    ret = mbedtls_ssl_setup(&tlsfit_app_ctx.ssl, &tlsfit_app_ctx.conf);
    if (ret != 0) {
        return ret;
    }
#if defined(MBEDTLS_X509_CRT_PARSE_C)
    /* always with X.509: SNI, and 3.6 refuses to verify without it (-0x5D80) */
    ret = mbedtls_ssl_set_hostname(&tlsfit_app_ctx.ssl, d->server_name);
    if (ret != 0) {
        return ret;
    }
#endif
#if defined(MBEDTLS_SSL_PROTO_DTLS) && defined(TLSFIT_DATAGRAM)
#if defined(MBEDTLS_SSL_DTLS_CONNECTION_ID) && TLSFIT_DTLS_CID
    /* a zero-length own CID: the server's records carry one, ours need none */
    ret = mbedtls_ssl_set_cid(&tlsfit_app_ctx.ssl, MBEDTLS_SSL_CID_ENABLED, NULL, 0);
    if (ret != 0) {
        return ret;
    }
#endif
    if (TLSFIT_DTLS_MTU > 0u) {
        mbedtls_ssl_set_mtu(&tlsfit_app_ctx.ssl, (uint16_t)TLSFIT_DTLS_MTU);
    }
    mbedtls_ssl_set_timer_cb(&tlsfit_app_ctx.ssl, &s_timer, prv_timer_set, prv_timer_get);
    mbedtls_ssl_set_bio(&tlsfit_app_ctx.ssl, NULL, prv_bio_send_dgram, NULL, prv_bio_recv_dgram);
#else
    mbedtls_ssl_set_bio(&tlsfit_app_ctx.ssl, NULL, prv_bio_send, prv_bio_recv, NULL);
#endif
    return 0;
}

/* ---- handshake and close ---------------------------------------------- */

static void prv_account_state(int state, int64_t work)
{
    unsigned idx = (state >= 0 && state < PRV_MAX_STATES) ? (unsigned)state : 0u;
    if (!s_result.state_seen[idx]) {
        s_result.state_seen[idx] = 1u;
        s_result.state_order[s_result.state_count++] = (uint8_t)idx;
    }
    s_result.state_instr[idx] += work;
}

/* The handshake one step at a time. Each step's work is the clock
 * difference around mbedtls_ssl_handshake_step() minus one clock read (the
 * tail of the first read and the head of the second fall inside the
 * difference) minus what heap.c counted inside the allocator; the handshake
 * figure is the sum over steps, so the loop's own bookkeeping is not in it. */
static int prv_handshake(void)
{
    int ret = 0;
    tlsfit_heap_work_t w_start = tlsfit_heap_work();
    tlsfit_heap_work_t w_end;
    int counting = w_start.clock_read >= 0;

    TLSFIT_STACK_NOTE();
    s_result.instr = counting ? 0 : -1;
#if defined(MBEDTLS_SSL_PROTO_DTLS) && defined(TLSFIT_DATAGRAM)
    s_hs_deadline_ms = tlsfit_transport_wait_ms() + prv_schedule_ms();
    if (s_hs_deadline_ms == 0u) {
        s_hs_deadline_ms = 1u;
    }
#endif
    while (tlsfit_app_ctx.ssl.MBEDTLS_PRIVATE(state) != MBEDTLS_SSL_HANDSHAKE_OVER) {
        int state = tlsfit_app_ctx.ssl.MBEDTLS_PRIVATE(state);
        int64_t h0 = tlsfit_heap_counted();
        int64_t t0 = tlsfit_clock_read();
        int64_t t1;
        int64_t work = -1;
        ret = mbedtls_ssl_handshake_step(&tlsfit_app_ctx.ssl);
        t1 = tlsfit_clock_read();
        if (counting) {
            work = (t1 - t0) - w_start.clock_read - (tlsfit_heap_counted() - h0);
            s_result.instr += work;
        }
        prv_account_state(state, work);
#if defined(MBEDTLS_SSL_PROTO_DTLS) && defined(TLSFIT_DATAGRAM)
        if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
            /* a retransmission timer expired: mbedTLS resent its last flight */
            s_result.retransmits++;
            if (prv_past_deadline()) {
                ret = MBEDTLS_ERR_SSL_TIMEOUT; /* the schedule is over (s_hs_deadline_ms) */
                break;
            }
            continue;
        }
#endif
        if (ret != 0) {
            break;
        }
    }
#if defined(MBEDTLS_SSL_PROTO_DTLS) && defined(TLSFIT_DATAGRAM)
    s_hs_deadline_ms = 0u;
#endif
    w_end = tlsfit_heap_work();
    s_result.alloc.allocs = w_end.allocs - w_start.allocs;
    s_result.alloc.frees = w_end.frees - w_start.frees;
    s_result.alloc.work = counting ? w_end.work - w_start.work : -1;
    s_result.alloc.probe = counting ? w_end.probe - w_start.probe : -1;
    s_result.alloc.clock_read = w_start.clock_read;
    s_result.hs_sent = s_result.sent;
    s_result.hs_recv = s_result.recv;
    return ret;
}

static int prv_close(void)
{
    TLSFIT_STACK_NOTE();
    return mbedtls_ssl_close_notify(&tlsfit_app_ctx.ssl);
}

/* ---- result line ------------------------------------------------------ */

static void prv_out(const char *s)
{
    tlsfit_console_write(s, strlen(s));
}

/* Decimal without printf or 64-bit division: keeps newlib's formatted I/O
 * and libgcc's __aeabi_uldivmod (~750 bytes together) out of the image. */
static void prv_out_int(int64_t v)
{
    static const uint64_t pow10[] = {
        10000000000000000000u, 1000000000000000000u, 100000000000000000u,
        10000000000000000u, 1000000000000000u, 100000000000000u, 10000000000000u,
        1000000000000u, 100000000000u, 10000000000u, 1000000000u, 100000000u,
        10000000u, 1000000u, 100000u, 10000u, 1000u, 100u, 10u, 1u,
    };
    char buf[24];
    size_t n = 0;
    size_t i;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    if (v < 0) {
        buf[n++] = '-';
    }
    for (i = 0; i < sizeof(pow10) / sizeof(pow10[0]); i++) {
        char digit = '0';
        while (u >= pow10[i]) {
            u -= pow10[i];
            digit++;
        }
        if (digit != '0' || n > (v < 0 ? 1u : 0u) || pow10[i] == 1u) {
            buf[n++] = digit;
        }
    }
    tlsfit_console_write(buf, n);
}

static void prv_out_json_str(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    prv_out("\"");
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            tlsfit_console_write(esc, 2);
        } else if (c < 0x20u) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15u]};
            tlsfit_console_write(esc, 6);
        } else {
            tlsfit_console_write((const char *)&c, 1);
        }
    }
    prv_out("\"");
}

static void prv_out_key_int(const char *key, int64_t v)
{
    prv_out(",\"");
    prv_out(key);
    prv_out("\":");
    prv_out_int(v);
}

static void prv_out_key_str(const char *key, const char *v)
{
    prv_out(",\"");
    prv_out(key);
    prv_out("\":");
    prv_out_json_str(v);
}

/* One machine-readable line: `mark` is TLSFIT_RESULT_MARK (the run's end) or
 * TLSFIT_HANDSHAKE_MARK (printed as soon as the handshake succeeded, before the
 * application exchange: if the server then falls silent and the run is stopped
 * from outside, the handshake's verdict and figures are already on the console). */
static void prv_print_line(const char *mark, int ok, int64_t heap_peak, int64_t heap_overhead,
                           long stack_peak)
{
    unsigned i;
    const char *version = NULL;
    const char *suite = NULL;
    int app_ok = -1;   /* app none: no verdict of its own */
    const char *echo = "none";
    const char *detail = "";
    int64_t app_sent = 0;
    int64_t app_recv = 0;

    TLSFIT_STACK_NOTE();
    if (s_result.handshake_done) {
        version = mbedtls_ssl_get_version(&tlsfit_app_ctx.ssl);
        suite = mbedtls_ssl_get_ciphersuite(&tlsfit_app_ctx.ssl);
    }
#if TLSFIT_APP != TLSFIT_APP_NONE
    app_ok = s_result.handshake_done && s_app.ok && s_result.close_ok;
    app_sent = s_app.sent;
    app_recv = s_app.recv;
    detail = s_app.detail;
#if TLSFIT_APP == TLSFIT_APP_ECHO
    echo = s_app.echo != NULL ? s_app.echo : echo;
#endif
#endif
    prv_out("\r\n");
    prv_out(mark);
    prv_out(" {\"ok\":");
    prv_out_int(ok);
    prv_out_key_int("err", s_result.err);
    prv_out_key_str("stage", s_result.stage);
    prv_out_key_str("version", version);
    prv_out_key_str("suite", suite);
    prv_out_key_int("sent", s_result.sent);
    prv_out_key_int("recv", s_result.recv);
    prv_out_key_int("instr", s_result.instr);
    prv_out_key_int("heap_peak", heap_peak);
    prv_out_key_int("heap_overhead", heap_overhead);
    prv_out_key_int("stack_peak", stack_peak);
    prv_out_key_str("echo", echo);
    prv_out_key_int("hs_ok", s_result.handshake_done);
    prv_out_key_int("hs_sent", s_result.hs_sent);
    prv_out_key_int("hs_recv", s_result.hs_recv);
    prv_out_key_str("app", PRV_APP_NAME);
    prv_out_key_int("app_ok", app_ok);
    prv_out_key_int("app_sent", app_sent);
    prv_out_key_int("app_recv", app_recv);
    prv_out_key_str("app_detail", detail);
    prv_out_key_int("close_ok", s_result.close_ok);
    prv_out_key_int("alloc_instr", s_result.alloc.work);
    prv_out_key_int("allocs", s_result.alloc.allocs);
    prv_out_key_int("frees", s_result.alloc.frees);
    prv_out_key_int("probe_instr", s_result.alloc.probe);
    prv_out_key_int("clock_read_instr", s_result.alloc.clock_read);
    prv_out_key_int("stack_harness", tlsfit_stack_harness());
#if defined(MBEDTLS_X509_CRT_PARSE_C)
    {
        /* why the server's certificate was refused: MBEDTLS_X509_BADCERT_* bits
         * (the host names them from x509.h); -1 when no verification ran.
         * Read from the session as mbedtls_ssl_get_verify_result() does, so
         * measuring links no mbedTLS code an application would not. */
        const mbedtls_ssl_context *ssl = &tlsfit_app_ctx.ssl;
        const mbedtls_ssl_session *session = ssl->MBEDTLS_PRIVATE(session) != NULL
                                                 ? ssl->MBEDTLS_PRIVATE(session)
                                                 : ssl->MBEDTLS_PRIVATE(session_negotiate);
        uint32_t flags = session == NULL ? 0xFFFFFFFFu : session->MBEDTLS_PRIVATE(verify_result);
        prv_out_key_int("verify_flags", flags == 0xFFFFFFFFu ? -1 : (int64_t)flags);
    }
#endif
#if defined(MBEDTLS_SSL_PROTO_DTLS) && defined(TLSFIT_DATAGRAM)
    prv_out_key_str("transport", "udp");
    prv_out_key_int("retransmits", s_result.retransmits);
#endif
    prv_out(",\"states\":[");
    for (i = 0; i < s_result.state_count; i++) {
        unsigned idx = s_result.state_order[i];
        prv_out(i == 0u ? "[" : ",[");
        prv_out_json_str(s_state_names[idx] != NULL ? s_state_names[idx] : "UNKNOWN");
        prv_out(",");
        prv_out_int(s_result.instr < 0 ? -1 : s_result.state_instr[idx]);
        prv_out("]");
    }
    prv_out("]}\r\n");
}

/* The allocator's peak so far; -1 when the config lets mbedTLS use libc's
 * allocator, which is not counted. */
static void prv_heap_figures(int64_t *peak, int64_t *overhead)
{
    *peak = -1;
    *overhead = -1;
#if defined(MBEDTLS_PLATFORM_MEMORY)
    {
        tlsfit_heap_stats_t st = tlsfit_heap_stats();
        *peak = (int64_t)st.peak_requested;
        *overhead = (int64_t)st.overhead_at_peak;
    }
#endif
}

/* Teardown as an application ends a connection: free what it holds. */
static void prv_free_all(void)
{
    TLSFIT_STACK_NOTE();
    mbedtls_ssl_free(&tlsfit_app_ctx.ssl);
    mbedtls_ssl_config_free(&tlsfit_app_ctx.conf);
#if TLSFIT_APP_HOLDS_CA
    mbedtls_x509_crt_free(&tlsfit_app_ctx.ca);
#endif
#if TLSFIT_APP_HOLDS_CLIENT_CERT
    mbedtls_x509_crt_free(&tlsfit_app_ctx.own_cert);
    mbedtls_pk_free(&tlsfit_app_ctx.own_key);
#endif
#if defined(MBEDTLS_CTR_DRBG_C)
    mbedtls_ctr_drbg_free(&tlsfit_app_ctx.drbg);
#elif defined(MBEDTLS_HMAC_DRBG_C)
    mbedtls_hmac_drbg_free(&tlsfit_app_ctx.drbg);
#endif
#if defined(MBEDTLS_ENTROPY_C)
    mbedtls_entropy_free(&tlsfit_app_ctx.entropy);
#endif
#if defined(MBEDTLS_PSA_CRYPTO_C)
    mbedtls_psa_crypto_free();
#endif
}

/* After the handshake: the profile's application exchange, then
 * close_notify (unless the exchange already broke the connection). */
static void prv_after_handshake(const tlsfit_profile_data_t *d)
{
    int ret;
#if TLSFIT_APP != TLSFIT_APP_NONE
    tlsfit_app_exchange(&tlsfit_app_ctx.ssl, d->message.data, d->message.len, &s_app);
    if (s_app.err != 0) {
        prv_fail(s_app.stage, s_app.err);
        return;
    }
#else
    (void)d;
#endif
    ret = prv_close();
    prv_fail("close", ret);
    s_result.close_ok = ret == 0;
#if TLSFIT_APP != TLSFIT_APP_NONE
    if (!s_app.ok && s_result.err == 0) {
        s_result.stage = "app"; /* the server answered, but not as the protocol says */
    }
#endif
}

/* see tlsfit_harness.h */
int tlsfit_harness_run(void)
{
    const tlsfit_profile_data_t *d = &tlsfit_profile_data;
    int ret;
    int ok;
    int64_t heap_peak;
    int64_t heap_overhead;

    TLSFIT_STACK_NOTE();
    tlsfit_stack_paint();
    memset(&s_result, 0, sizeof(s_result));
    s_result.stage = "";
#if TLSFIT_APP != TLSFIT_APP_NONE
    memset(&s_app, 0, sizeof(s_app));
    s_app.stage = "";
#endif
    tlsfit_heap_init();
#if defined(MBEDTLS_PLATFORM_MEMORY) && \
    !(defined(MBEDTLS_PLATFORM_CALLOC_MACRO) && defined(MBEDTLS_PLATFORM_FREE_MACRO))
    /* (a config may instead bind the macros to tlsfit_heap_calloc/free at
     * compile time, which also keeps libc's calloc out of the image) */
    mbedtls_platform_set_calloc_free(tlsfit_heap_calloc, tlsfit_heap_free);
#endif

    ret = prv_setup(d);
    if (ret != 0) {
        prv_fail(s_stage_setup, ret);
    } else {
        ret = prv_handshake();
        if (ret != 0) {
            prv_fail("handshake", ret);
        } else {
            s_result.handshake_done = 1;
#if TLSFIT_APP != TLSFIT_APP_NONE
            /* the handshake's verdict and figures before the exchange can hang */
            prv_heap_figures(&heap_peak, &heap_overhead);
            prv_print_line(TLSFIT_HANDSHAKE_MARK, 0, heap_peak, heap_overhead, tlsfit_stack_peak());
#endif
            prv_after_handshake(d);
        }
    }
#if TLSFIT_APP != TLSFIT_APP_NONE
    ok = s_result.handshake_done && s_app.ok && s_result.close_ok;
#else
    ok = s_result.handshake_done && s_result.close_ok;
#endif

    prv_heap_figures(&heap_peak, &heap_overhead);
    prv_print_line(TLSFIT_RESULT_MARK, ok, heap_peak, heap_overhead, tlsfit_stack_peak());
    prv_free_all();

    if (ok) {
        return TLSFIT_EXIT_OK;
    }
    return s_result.stage == s_stage_setup ? TLSFIT_EXIT_SETUP : TLSFIT_EXIT_FAILED;
}
