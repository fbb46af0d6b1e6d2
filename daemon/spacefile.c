// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Space files: a libvma snapshot with what the daemon knows of it.
 *
 * The bytes of a space file are what a state directory holds for each
 * space, what space.export returns (in base64) and what space.import
 * takes: the libvma snapshot of the space (vas_snapshot()) wrapped with
 * its id, owner, name and journal position, and a checksum.
 *
 *   0   8  magic "VMADSPC" 0x00
 *   8   4  format version (VMAD_SPACEFILE_VERSION), little-endian
 *   12  4  H: bytes of the header fields that follow, little-endian
 *   16  H  header fields, little-endian: id (8), owner uid (4), journal
 *          generation (8) and offset (8) where replay continues, time of
 *          the save in seconds since the epoch (8), name length (1), name
 *   ..  8  P: bytes of the snapshot
 *   ..  P  the libvma snapshot
 *   ..  4  CRC-32 (IEEE 802.3, as zlib's crc32()) of every byte before it
 *
 * Decoding checks, in this order, that the file is long enough for the
 * fixed part, the magic, the version, that the lengths add up to the size
 * of the file (shorter: truncated; longer: trailing bytes), the checksum,
 * and the header fields; vas_restore() then checks the snapshot itself.
 * Each failure is a sentence that says what is wrong.
 */
#include "vmad.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPACEFILE_MAGIC	   "VMADSPC"
#define SPACEFILE_FIXED	   16 /* magic, version, header length */
#define SPACEFILE_HDR_V1   45 /* id, owner, gen, offset, time, name len */
#define SPACEFILE_TRAILER  4  /* CRC */
#define SPACEFILE_SNAP_LEN 8

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc_table[j][i] =
				crc_table[0][crc_table[j - 1][i] & 0xff] ^
				(crc_table[j - 1][i] >> 8);
}

uint32_t vmad_crc32(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	/* Slicing by 8: one table lookup per byte, eight bytes a round. */
	while (len >= 8) {
		uint32_t lo =
			crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
			       (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][p[4]] ^ crc_table[2][p[5]] ^
		      crc_table[1][p[6]] ^ crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

void vmad_put_le(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t vmad_get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int vmad_spacefile_encode(const struct vmad_spacefile *sf, const void *snap,
			  size_t snap_len, void **out, size_t *out_len)
{
	size_t name_len = strlen(sf->name);
	size_t hdr = SPACEFILE_HDR_V1 + name_len;
	size_t len = SPACEFILE_FIXED + hdr + SPACEFILE_SNAP_LEN + snap_len +
		     SPACEFILE_TRAILER;
	unsigned char *b = malloc(len), *p;

	if (!b)
		return -ENOMEM;
	memcpy(b, SPACEFILE_MAGIC, 8);
	vmad_put_le(b + 8, VMAD_SPACEFILE_VERSION, 4);
	vmad_put_le(b + 12, hdr, 4);
	p = b + SPACEFILE_FIXED;
	vmad_put_le(p, sf->id, 8);
	vmad_put_le(p + 8, sf->owner, 4);
	vmad_put_le(p + 12, sf->jgen, 8);
	vmad_put_le(p + 20, sf->joff, 8);
	vmad_put_le(p + 28, sf->saved, 8);
	p[36] = (unsigned char)name_len;
	memcpy(p + 37, sf->name, name_len);
	p += hdr;
	vmad_put_le(p, snap_len, 8);
	memcpy(p + 8, snap, snap_len);
	p += 8 + snap_len;
	vmad_put_le(p, vmad_crc32(0, b, (size_t)(p - b)), 4);
	*out = b;
	*out_len = len;
	return 0;
}

static int why(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int vmad_spacefile_decode(const void *data, size_t len,
			  struct vmad_spacefile *sf, const void **snap,
			  size_t *snap_len, char *msg, size_t msglen)
{
	const unsigned char *b = data, *p;
	uint64_t version, hdr, slen, want;
	uint32_t stored, crc;

	memset(sf, 0, sizeof(*sf));
	if (len < 8 || memcmp(b, SPACEFILE_MAGIC, 8))
		return why(msg, msglen,
			   len < 8 ? "truncated: %zu bytes, not even a header"
				   : "not a vmad space file (bad magic; %zu "
				     "bytes)",
			   len);
	if (len < SPACEFILE_FIXED)
		return why(msg, msglen,
			   "truncated: %zu bytes, inside the header", len);
	version = vmad_get_le(b + 8, 4);
	if (version != VMAD_SPACEFILE_VERSION)
		return why(msg, msglen,
			   "format version %llu; this vmad reads version %d",
			   (unsigned long long)version, VMAD_SPACEFILE_VERSION);
	hdr = vmad_get_le(b + 12, 4);
	if (hdr < SPACEFILE_HDR_V1 || hdr > SPACEFILE_HDR_V1 + RPC_NAME_MAX)
		return why(msg, msglen, "bad header length %llu",
			   (unsigned long long)hdr);
	if (len < SPACEFILE_FIXED + hdr + SPACEFILE_SNAP_LEN)
		return why(msg, msglen,
			   "truncated: %zu bytes, inside the header", len);
	p = b + SPACEFILE_FIXED + hdr;
	slen = vmad_get_le(p, 8);
	want = SPACEFILE_FIXED + hdr + SPACEFILE_SNAP_LEN;
	if (slen > UINT64_MAX - want - SPACEFILE_TRAILER)
		return why(msg, msglen, "bad snapshot length %llu",
			   (unsigned long long)slen);
	want += slen + SPACEFILE_TRAILER;
	if (len < want)
		return why(msg, msglen, "truncated: %zu of %llu bytes", len,
			   (unsigned long long)want);
	if (len > want)
		return why(msg, msglen, "%llu bytes after the end (%zu bytes)",
			   (unsigned long long)(len - want), len);
	stored = (uint32_t)vmad_get_le(b + len - SPACEFILE_TRAILER, 4);
	crc = vmad_crc32(0, b, len - SPACEFILE_TRAILER);
	if (stored != crc)
		return why(msg, msglen,
			   "checksum mismatch (stored %08x, computed %08x): "
			   "the file is damaged",
			   stored, crc);
	p = b + SPACEFILE_FIXED;
	sf->id = vmad_get_le(p, 8);
	sf->owner = (uid_t)vmad_get_le(p + 8, 4);
	sf->jgen = vmad_get_le(p + 12, 8);
	sf->joff = vmad_get_le(p + 20, 8);
	sf->saved = vmad_get_le(p + 28, 8);
	if (p[36] != hdr - SPACEFILE_HDR_V1 ||
	    (p[36] && !rpc_name_valid((const char *)p + 37, p[36])))
		return why(msg, msglen, "bad name (%u bytes)", p[36]);
	memcpy(sf->name, p + 37, p[36]);
	sf->name[p[36]] = '\0';
	*snap = b + SPACEFILE_FIXED + hdr + SPACEFILE_SNAP_LEN;
	*snap_len = (size_t)slen;
	return 0;
}

int vmad_space_export(struct vmad_space *sp, uint64_t jgen, uint64_t joff,
		      void **out, size_t *len)
{
	struct vmad_spacefile sf = {
		.id = sp->id,
		.owner = sp->owner,
		.jgen = jgen,
		.joff = joff,
		.saved = (uint64_t)time(NULL),
	};
	void *snap;
	size_t n;
	int ret;

	snprintf(sf.name, sizeof(sf.name), "%s", sp->name);
	ret = vas_snapshot(sp->vas, &snap, &n);
	if (ret)
		return ret;
	ret = vmad_spacefile_encode(&sf, snap, n, out, len);
	vma_free(snap);
	return ret;
}

int vmad_space_import(const void *data, size_t len, struct vmad_spacefile *sf,
		      struct vas **out, char *msg, size_t msglen)
{
	const void *snap;
	char why[256];
	size_t n;
	int ret = vmad_spacefile_decode(data, len, sf, &snap, &n, msg, msglen);

	if (ret)
		return ret;
	ret = vas_restore(snap, n, out, why, sizeof(why));
	if (ret == -EINVAL)
		snprintf(msg, msglen, "snapshot: %s", why);
	else if (ret)
		snprintf(msg, msglen, "%s", vma_strerror(ret));
	return ret;
}
