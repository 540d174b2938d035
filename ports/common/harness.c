/*
 * harness.c - the on-target TLS client every port runs: set up from the
 * generated config and the per-profile data, handshake step by step with
 * the work per state, one echo round trip, close_notify, and ONE result line.
 *
 * Everything optional is #if-guarded on the config, so it compiles with any
 * config tlsfit generates (1.2-only, 1.3-only, PSK without X.509, ...).
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS /* handshake state, for per-state work */

#include "mbedtls/build_info.h"

#include <stdint.h>
#include <string.h>

#include "mbedtls/ssl.h"
#if defined(MBEDTLS_PLATFORM_C)
#include "mbedtls/platform.h"
#endif
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
#if defined(MBEDTLS_PSA_CRYPTO_C) || defined(MBEDTLS_PSA_CRYPTO_CLIENT)
#include "psa/crypto.h"
#endif

#include "tlsfit_harness.h"
#include "tlsfit_heap.h"
#include "tlsfit_port.h"
#include "tlsfit_profile_data.h"
#include "tlsfit_stack.h"

/* Same values as net_sockets.h, which a bare-metal config does not build,
 * so mbedtls_strerror-style tools still name them. */
#define PRV_ERR_SEND_FAILED (-0x004E)
#define PRV_ERR_RECV_FAILED (-0x004C)

#define PRV_EXIT_OK 0
#define PRV_EXIT_FAILED 1
#define PRV_EXIT_SETUP 3

/* mbedtls_ssl_states has under 32 members in 3.6; states beyond are lumped. */
#define PRV_MAX_STATES 32
/* Echo buffer: the message is one short line. */
#define PRV_ECHO_MAX 256

#if defined(MBEDTLS_CTR_DRBG_C)
#define PRV_HAVE_DRBG 1
#elif defined(MBEDTLS_HMAC_DRBG_C)
#define PRV_HAVE_DRBG 1
#endif

typedef struct {
    int err;                /* first mbedTLS error, sticky */
    const char *stage;      /* where it happened, "" when none */
    uint32_t sent;
    uint32_t recv;
    int64_t instr;
    int64_t state_instr[PRV_MAX_STATES];
    uint8_t state_order[PRV_MAX_STATES];
    uint8_t state_seen[PRV_MAX_STATES];
    unsigned state_count;
    const char *echo;
    int handshake_done;
} prv_result_t;

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
#if defined(MBEDTLS_X509_CRT_PARSE_C)
    mbedtls_x509_crt ca;
    mbedtls_x509_crt own_cert;
#endif
#if defined(MBEDTLS_PK_PARSE_C)
    mbedtls_pk_context own_key;
#endif
} prv_contexts_t;

/* Compared by address (no strcmp in the image). */
static const char s_echo_none[] = "none";
static const char s_stage_setup[] = "setup";

/* Contexts are file-scope so they show in static RAM, not in the stack peak. */
static prv_contexts_t s_ctx;
static prv_result_t s_result;

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

static int prv_entropy_direct(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    return tlsfit_entropy_read(out, len);
}

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

static int prv_rng(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
#if defined(MBEDTLS_CTR_DRBG_C)
    return mbedtls_ctr_drbg_random(&s_ctx.drbg, out, len);
#elif defined(MBEDTLS_HMAC_DRBG_C)
    return mbedtls_hmac_drbg_random(&s_ctx.drbg, out, len);
#elif defined(MBEDTLS_PSA_CRYPTO_C) && !defined(MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG)
    return mbedtls_psa_get_random(MBEDTLS_PSA_RANDOM_STATE, out, len);
#else
    /* no DRBG in the config at all: the port's source is the only RNG */
    return tlsfit_entropy_read(out, len);
#endif
}

#if defined(MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG)
/* PSA's RNG when the config delegates it: the harness's DRBG. */
psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context,
                                             uint8_t *output, size_t output_size,
                                             size_t *output_length)
{
    (void)context;
    if (prv_rng(NULL, output, output_size) != 0) {
        *output_length = 0;
        return PSA_ERROR_INSUFFICIENT_ENTROPY;
    }
    *output_length = output_size;
    return PSA_SUCCESS;
}
#endif

static int prv_rng_setup(void)
{
    static const char pers[] = "tlsfit";
    int (*f_entropy)(void *, unsigned char *, size_t) = prv_entropy_direct;
    void *p_entropy = NULL;
#if defined(MBEDTLS_ENTROPY_C)
    mbedtls_entropy_init(&s_ctx.entropy);
    f_entropy = mbedtls_entropy_func;
    p_entropy = &s_ctx.entropy;
#endif
#if defined(MBEDTLS_CTR_DRBG_C)
    mbedtls_ctr_drbg_init(&s_ctx.drbg);
    return mbedtls_ctr_drbg_seed(&s_ctx.drbg, f_entropy, p_entropy,
                                 (const unsigned char *)pers, sizeof(pers) - 1u);
#elif defined(MBEDTLS_HMAC_DRBG_C)
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
        mbedtls_hmac_drbg_init(&s_ctx.drbg);
        return mbedtls_hmac_drbg_seed(&s_ctx.drbg, md, f_entropy, p_entropy,
                                      (const unsigned char *)pers, sizeof(pers) - 1u);
    }
#else
    (void)f_entropy;
    (void)p_entropy;
    (void)pers;
    return 0;
#endif
}

/* ---- transport BIO ---------------------------------------------------- */

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

/* ---- setup ------------------------------------------------------------ */

#if defined(MBEDTLS_SSL_MAX_FRAGMENT_LENGTH)
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
    if (len == 0u) {
        return 0;
    }
    for (i = 0; i < sizeof(s_mfl_codes) / sizeof(s_mfl_codes[0]); i++) {
        if (s_mfl_codes[i].len == len) {
            return mbedtls_ssl_conf_max_frag_len(&s_ctx.conf, s_mfl_codes[i].code);
        }
    }
    return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
}
#endif

static int prv_conf_certs(const tlsfit_profile_data_t *d)
{
    int ret = 0;
#if defined(MBEDTLS_X509_CRT_PARSE_C)
    size_t i;
    mbedtls_x509_crt_init(&s_ctx.ca);
    mbedtls_x509_crt_init(&s_ctx.own_cert);
    for (i = 0; i < d->ca_count && ret == 0; i++) {
        ret = mbedtls_x509_crt_parse_der(&s_ctx.ca, d->ca[i].data, d->ca[i].len);
    }
    if (ret != 0) {
        return ret;
    }
    if (d->ca_count > 0u) {
        mbedtls_ssl_conf_ca_chain(&s_ctx.conf, &s_ctx.ca, NULL);
    }
    for (i = 0; i < d->client_cert_count && ret == 0; i++) {
        ret = mbedtls_x509_crt_parse_der(&s_ctx.own_cert, d->client_cert[i].data,
                                         d->client_cert[i].len);
    }
    if (ret != 0) {
        return ret;
    }
#if defined(MBEDTLS_PK_PARSE_C)
    mbedtls_pk_init(&s_ctx.own_key);
    if (d->client_cert_count > 0u && d->client_key.data != NULL) {
        ret = mbedtls_pk_parse_key(&s_ctx.own_key, d->client_key.data, d->client_key.len,
                                   NULL, 0, prv_rng, NULL);
        if (ret == 0) {
            ret = mbedtls_ssl_conf_own_cert(&s_ctx.conf, &s_ctx.own_cert, &s_ctx.own_key);
        }
    }
#endif
#else
    (void)d;
#endif
    return ret;
}

static int prv_setup(const tlsfit_profile_data_t *d)
{
    int ret;

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
    mbedtls_ssl_init(&s_ctx.ssl);
    mbedtls_ssl_config_init(&s_ctx.conf);
    ret = mbedtls_ssl_config_defaults(&s_ctx.conf, MBEDTLS_SSL_IS_CLIENT,
                                      MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        return ret;
    }
    mbedtls_ssl_conf_rng(&s_ctx.conf, prv_rng, NULL);
    mbedtls_ssl_conf_authmode(&s_ctx.conf, d->verify ? MBEDTLS_SSL_VERIFY_REQUIRED
                                                     : MBEDTLS_SSL_VERIFY_NONE);
    ret = prv_conf_certs(d);
    if (ret != 0) {
        return ret;
    }
#if defined(MBEDTLS_SSL_HANDSHAKE_WITH_PSK_ENABLED)
    if (d->psk_key.data != NULL) {
        ret = mbedtls_ssl_conf_psk(&s_ctx.conf, d->psk_key.data, d->psk_key.len,
                                   d->psk_identity.data, d->psk_identity.len);
        if (ret != 0) {
            return ret;
        }
    }
#endif
    if (d->groups != NULL) {
        mbedtls_ssl_conf_groups(&s_ctx.conf, d->groups);
    }
#if defined(MBEDTLS_SSL_ALPN)
    if (d->alpn != NULL) {
        ret = mbedtls_ssl_conf_alpn_protocols(&s_ctx.conf, d->alpn);
        if (ret != 0) {
            return ret;
        }
    }
#endif
#if defined(MBEDTLS_SSL_MAX_FRAGMENT_LENGTH)
    ret = prv_conf_mfl(d->max_fragment_length);
    if (ret != 0) {
        return ret;
    }
#endif
    ret = mbedtls_ssl_setup(&s_ctx.ssl, &s_ctx.conf);
    if (ret != 0) {
        return ret;
    }
#if defined(MBEDTLS_X509_CRT_PARSE_C)
    /* always with verification: 3.6 refuses to verify without it (-0x5D80) */
    ret = mbedtls_ssl_set_hostname(&s_ctx.ssl, d->server_name);
    if (ret != 0) {
        return ret;
    }
#endif
    mbedtls_ssl_set_bio(&s_ctx.ssl, NULL, prv_bio_send, prv_bio_recv, NULL);
    return 0;
}

/* ---- handshake, echo, close ------------------------------------------- */

static void prv_account_state(int state, int64_t work)
{
    unsigned idx = (state >= 0 && state < PRV_MAX_STATES) ? (unsigned)state : 0u;
    if (!s_result.state_seen[idx]) {
        s_result.state_seen[idx] = 1u;
        s_result.state_order[s_result.state_count++] = (uint8_t)idx;
    }
    s_result.state_instr[idx] += work;
}

static int prv_handshake(void)
{
    int ret = 0;
    int64_t start = tlsfit_clock_read();

    while (s_ctx.ssl.MBEDTLS_PRIVATE(state) != MBEDTLS_SSL_HANDSHAKE_OVER) {
        int state = s_ctx.ssl.MBEDTLS_PRIVATE(state);
        int64_t t0 = tlsfit_clock_read();
        ret = mbedtls_ssl_handshake_step(&s_ctx.ssl);
        prv_account_state(state, t0 < 0 ? -1 : tlsfit_clock_read() - t0);
        if (ret != 0) {
            break;
        }
    }
    s_result.instr = start < 0 ? -1 : tlsfit_clock_read() - start;
    return ret;
}

static int prv_write_all(const unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        int ret = mbedtls_ssl_write(&s_ctx.ssl, buf + done, len - done);
        if (ret < 0) {
            return ret;
        }
        done += (size_t)ret;
    }
    return 0;
}

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

static const char *prv_compare_echo(const unsigned char *sent, size_t sent_len,
                                    const unsigned char *got, size_t got_len)
{
    size_t a = prv_line_len(sent, sent_len);
    size_t b = prv_line_len(got, got_len);
    size_t i;
    int reversed = 1;

    if (a != b) {
        return s_echo_none;
    }
    if (memcmp(sent, got, a) == 0) {
        return "same";
    }
    for (i = 0; i < a; i++) {
        if (sent[i] != got[a - 1u - i]) {
            reversed = 0;
            break;
        }
    }
    return reversed ? "reversed" : s_echo_none;
}

static int prv_echo(const tlsfit_blob_t *msg)
{
    static unsigned char buf[PRV_ECHO_MAX];
    size_t got = 0;
    size_t want = msg->len < sizeof(buf) ? msg->len : sizeof(buf);
    int ret = prv_write_all(msg->data, msg->len);

    if (ret != 0) {
        prv_fail("write", ret);
        return ret;
    }
    /* read until a line as long as the message is back (echo or reversed) */
    while (got < want) {
        ret = mbedtls_ssl_read(&s_ctx.ssl, buf + got, want - got);
        if (ret > 0) {
            got += (size_t)ret;
            if (buf[got - 1u] == '\n') {
                break;
            }
            continue;
        }
#if defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_PROTO_TLS1_3)
        if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            continue; /* TLS 1.3 servers send tickets after the handshake */
        }
#endif
        if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
            continue;
        }
        prv_fail("read", ret == 0 ? MBEDTLS_ERR_SSL_CONN_EOF : ret);
        return ret;
    }
    s_result.echo = prv_compare_echo(msg->data, msg->len, buf, got);
    return 0;
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

static void prv_print_result(int ok, int64_t heap_peak, int64_t heap_overhead, long stack_peak)
{
    unsigned i;
    const char *version = NULL;
    const char *suite = NULL;

    if (s_result.handshake_done) {
        version = mbedtls_ssl_get_version(&s_ctx.ssl);
        suite = mbedtls_ssl_get_ciphersuite(&s_ctx.ssl);
    }
    prv_out("\r\nTLSFIT-RESULT {\"ok\":");
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
    prv_out_key_str("echo", s_result.echo);
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

static void prv_free_all(void)
{
    mbedtls_ssl_free(&s_ctx.ssl);
    mbedtls_ssl_config_free(&s_ctx.conf);
#if defined(MBEDTLS_X509_CRT_PARSE_C)
    mbedtls_x509_crt_free(&s_ctx.ca);
    mbedtls_x509_crt_free(&s_ctx.own_cert);
#endif
#if defined(MBEDTLS_PK_PARSE_C)
    mbedtls_pk_free(&s_ctx.own_key);
#endif
#if defined(MBEDTLS_CTR_DRBG_C)
    mbedtls_ctr_drbg_free(&s_ctx.drbg);
#elif defined(MBEDTLS_HMAC_DRBG_C)
    mbedtls_hmac_drbg_free(&s_ctx.drbg);
#endif
#if defined(MBEDTLS_ENTROPY_C)
    mbedtls_entropy_free(&s_ctx.entropy);
#endif
#if defined(MBEDTLS_PSA_CRYPTO_C)
    mbedtls_psa_crypto_free();
#endif
}

/* see tlsfit_harness.h */
int tlsfit_harness_run(void)
{
    const tlsfit_profile_data_t *d = &tlsfit_profile_data;
    int ret;
    int ok;
    /* -1: the config lets mbedTLS use libc's allocator, which is not counted */
    int64_t heap_peak = -1;
    int64_t heap_overhead = -1;

    tlsfit_stack_paint();
    memset(&s_result, 0, sizeof(s_result));
    s_result.stage = "";
    s_result.echo = s_echo_none;
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
            if (prv_echo(&d->message) == 0) {
                prv_fail("close", mbedtls_ssl_close_notify(&s_ctx.ssl));
            }
        }
    }
    ok = s_result.handshake_done && s_result.echo != s_echo_none;

#if defined(MBEDTLS_PLATFORM_MEMORY)
    {
        tlsfit_heap_stats_t st = tlsfit_heap_stats();
        heap_peak = (int64_t)st.peak_requested;
        heap_overhead = (int64_t)st.overhead_at_peak;
    }
#endif
    prv_print_result(ok, heap_peak, heap_overhead, tlsfit_stack_peak());
    prv_free_all();

    if (ok) {
        return PRV_EXIT_OK;
    }
    return s_result.stage == s_stage_setup ? PRV_EXIT_SETUP : PRV_EXIT_FAILED;
}
