/*
 * app_time.c - wall-clock time for certificate dates (profiles with
 * clock: rtc), from the port's tlsfit_time_now(). Compiled to nothing
 * unless the config has MBEDTLS_HAVE_TIME.
 *
 * The config must define, for clock: rtc:
 *   MBEDTLS_HAVE_TIME, MBEDTLS_HAVE_TIME_DATE,
 *   MBEDTLS_PLATFORM_TIME_ALT   (harness.c installs tlsfit_mbedtls_time with
 *                                mbedtls_platform_set_time),
 *   MBEDTLS_PLATFORM_GMTIME_R_ALT (this file's mbedtls_platform_gmtime_r:
 *                                newlib's gmtime() may allocate, gmtime_r
 *                                does not),
 *   MBEDTLS_PLATFORM_MS_TIME_ALT (this file's mbedtls_ms_time: a bare-metal
 *                                build has no clock_gettime, and 3.6's
 *                                platform_util.c refuses HAVE_TIME without one).
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r under -std=c99 */

#include "mbedtls/build_info.h"

#if defined(MBEDTLS_HAVE_TIME)

#include <time.h>

#include "mbedtls/platform_time.h"
#include "mbedtls/platform_util.h"

#include "tlsfit_app.h"
#include "tlsfit_port.h"

/* see tlsfit_app.h */
mbedtls_time_t tlsfit_mbedtls_time(mbedtls_time_t *timer)
{
    mbedtls_time_t now = (mbedtls_time_t)tlsfit_time_now();
    if (timer != NULL) {
        *timer = now;
    }
    return now;
}

#if defined(MBEDTLS_PLATFORM_MS_TIME_ALT)
/* mbedTLS's millisecond clock (TLS 1.3 ticket ages): the port's seconds */
mbedtls_ms_time_t mbedtls_ms_time(void)
{
    int64_t now = tlsfit_time_now();
    return (mbedtls_ms_time_t)(now < 0 ? 0 : now * 1000);
}
#endif

#if defined(MBEDTLS_HAVE_TIME_DATE) && defined(MBEDTLS_PLATFORM_GMTIME_R_ALT)
/* mbedTLS's hook (platform_util.h): UTC broken-down time, reentrant */
struct tm *mbedtls_platform_gmtime_r(const mbedtls_time_t *tt, struct tm *tm_buf)
{
    time_t t = (time_t)*tt;
    return gmtime_r(&t, tm_buf);
}
#endif

#endif /* MBEDTLS_HAVE_TIME */
