/* crypto.h: hashing, randomness and secret handling, on OpenSSL's libcrypto. */
#ifndef QP_CRYPTO_H
#define QP_CRYPTO_H

#include <stddef.h>

#include "err.h"

#define CRYPTO_SHA256_LEN	32

/* Computes SHA-256 of len bytes at buf into out. Thread-safe. */
enum qp_err	 crypto_sha256(const void *buf, size_t len,
		    unsigned char out[CRYPTO_SHA256_LEN]);

/* Fills buf with len bytes from libcrypto's CSPRNG. Thread-safe. */
enum qp_err	 crypto_random(void *buf, size_t len);

/*
 * Writes the lowercase hex of len bytes of in to out, which must hold
 * 2 * len + 1 bytes; out is NUL-terminated.
 */
void		 crypto_hex(const unsigned char *in, size_t len, char *out);

/* Compares len bytes in constant time; returns 1 if equal. */
int		 crypto_equal(const void *a, const void *b, size_t len);

/* Overwrites len bytes at p so the compiler cannot skip it. NULL is allowed. */
void		 crypto_wipe(void *p, size_t len);

/*
 * For tests: when not NULL, crypto_wipe() calls it with each range it has
 * just wiped (p, len), so a test can check that a secret was wiped, and
 * wiped where it lived. Set it only while no other thread runs.
 */
extern void	(*crypto_wipe_hook)(const void *p, size_t len);

/* Wipes len bytes at p and frees p. NULL is allowed. */
void		 crypto_free_wiped(void *p, size_t len);

/* Wipes a NUL-terminated secret and frees it. NULL is allowed. */
void		 crypto_free_secret(char *s);

#endif /* QP_CRYPTO_H */
