/*
 * test_entropy.c - TEST-ONLY entropy for emulated boards: a fixed-seed
 * splitmix64 stream, so every emulated run is reproducible. NOT random. A
 * real board fills tlsfit_entropy_read() from its TRNG instead.
 */
#include "tlsfit_port.h"

/* see tlsfit_port.h */
int tlsfit_entropy_read(unsigned char *buf, size_t len)
{
    static uint64_t s_state = 0x746c7366697431ull; /* "tlsfit1" */
    size_t i;
    for (i = 0; i < len; i++) {
        uint64_t z;
        s_state += 0x9E3779B97F4A7C15ull;
        z = s_state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        buf[i] = (unsigned char)(z ^ (z >> 31));
    }
    return 0;
}
