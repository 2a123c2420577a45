/* crypto.c: hashing, randomness and secret handling. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto.h"

enum qp_err
crypto_sha256(const void *buf, size_t len, unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != CRYPTO_SHA256_LEN)
		return QP_ECRYPTO;
	return QP_OK;
}

enum qp_err
crypto_random(void *buf, size_t len)
{

	if (len > (size_t)0x7fffffff || RAND_bytes(buf, (int)len) != 1)
		return QP_ECRYPTO;
	return QP_OK;
}

void
crypto_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int
crypto_equal(const void *a, const void *b, size_t len)
{

	return CRYPTO_memcmp(a, b, len) == 0;
}

void	(*crypto_wipe_hook)(const void *, size_t);

void
crypto_wipe(void *p, size_t len)
{

	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	if (crypto_wipe_hook != NULL)
		crypto_wipe_hook(p, len);
}

void
crypto_free_wiped(void *p, size_t len)
{

	crypto_wipe(p, len);
	free(p);
}

void
crypto_free_secret(char *s)
{

	if (s == NULL)
		return;
	crypto_wipe(s, strlen(s));
	free(s);
}
