/* Whole-object checksums of AIStore's types: XXH64 from libxxhash, MD5 and
 * SHA-2 from OpenSSL's libcrypto, CRC32C written here (no Debian library). */
#include "internal.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef enum { H_XXH64, H_CRC32C, H_EVP } htype;

struct aisf_hash {
  htype type;
  XXH64_state_t *xxh;
  uint32_t crc;
  EVP_MD_CTX *md;
};

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    crc32c_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc32c_table[t][i] =
          (crc32c_table[t - 1][i] >> 8) ^ crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
}

uint32_t aisf_crc32c(uint32_t crc, const void *data, size_t n)
{
  pthread_once(&crc32c_once, crc32c_init);
  const uint8_t *p = data;
  crc = ~crc;
  /* slicing-by-8 */
  while (n >= 8) {
    uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24);
    crc = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
          crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
          crc32c_table[3][p[4]] ^ crc32c_table[2][p[5]] ^ crc32c_table[1][p[6]] ^
          crc32c_table[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n--)
    crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

aisf_hash *aisf_hash_new(const char *type, int *known)
{
  *known = 1;
  if (!type || !*type || strcmp(type, "none") == 0) {
    *known = type && strcmp(type, "none") == 0;
    return NULL;
  }
  aisf_hash *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  const EVP_MD *md = NULL;
  if (strcmp(type, "xxhash") == 0 || strcmp(type, "xxhash2") == 0) {
    h->type = H_XXH64;
    h->xxh = XXH64_createState();
    if (!h->xxh)
      goto fail;
    XXH64_reset(h->xxh, 0);
    return h;
  }
  if (strcmp(type, "crc32c") == 0) {
    h->type = H_CRC32C;
    return h;
  }
  if (strcmp(type, "md5") == 0)
    md = EVP_md5();
  else if (strcmp(type, "sha256") == 0)
    md = EVP_sha256();
  else if (strcmp(type, "sha512") == 0)
    md = EVP_sha512();
  if (!md) {
    *known = 0;
    goto fail;
  }
  h->type = H_EVP;
  h->md = EVP_MD_CTX_new();
  if (!h->md || EVP_DigestInit_ex(h->md, md, NULL) != 1)
    goto fail;
  return h;
fail:
  aisf_hash_free(h);
  return NULL;
}

void aisf_hash_update(aisf_hash *h, const void *p, size_t n)
{
  switch (h->type) {
  case H_XXH64: XXH64_update(h->xxh, p, n); break;
  case H_CRC32C: h->crc = aisf_crc32c(h->crc, p, n); break;
  case H_EVP: EVP_DigestUpdate(h->md, p, n); break;
  }
}

void aisf_hash_final(aisf_hash *h, char *out, size_t n)
{
  out[0] = '\0';
  switch (h->type) {
  case H_XXH64:
    snprintf(out, n, "%016llx", (unsigned long long)XXH64_digest(h->xxh));
    break;
  case H_CRC32C:
    snprintf(out, n, "%08x", (unsigned)h->crc);
    break;
  case H_EVP: {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(h->md, d, &len) == 1 && n > (size_t)len * 2)
      for (unsigned i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    break;
  }
  }
  aisf_hash_free(h);
}

void aisf_hash_free(aisf_hash *h)
{
  if (!h)
    return;
  if (h->xxh)
    XXH64_freeState(h->xxh);
  if (h->md)
    EVP_MD_CTX_free(h->md);
  free(h);
}
