"""tlsfit generator stage: profile -> resolved option set -> mbedtls_config.h."""
