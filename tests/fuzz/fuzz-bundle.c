/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the bundle reader: the tar adapter, the manifest, B's index, the bases
 * table, the framed delta stream and its recipes, and the raw block entries. Any input must be
 * refused with a message naming the bundle, or read to its end with every count met.
 *
 * Mutated tar headers, manifests and indexes rarely keep their checksums right, which would hide
 * the recipe parser; so an input whose first byte is odd is used instead as the inflated delta
 * stream of an otherwise valid bundle built around it (a fixed index of 8 blocks of 4 KiB and 3
 * bases), with the recipe count taken from its second byte. For the same reason, an input whose
 * first byte is 2 modulo 4 is the text of a manifest above a correct end line: it must be
 * refused with "fuzz:line" or parse and format back to the same bytes (the format is canonical).
 */
#include "base/codec.h"
#include "base/digest.h"
#include "delta/delta.h"
#include "fs/tar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_BS 4096u
#define FUZZ_BLOCKS 8u
#define FUZZ_BASES 3u

static int base_page(void *ctx, uint64_t base, uint32_t page, void *out, size_t len, HfcErr *err)
{
	(void)ctx;
	(void)err;
	/* Any deterministic bytes do: the reader has checked the range. */
	memset(out, (int)(base * 31 + page), len);
	return 0;
}

static void read_all(int fd)
{
	HfcErr err = { "" };
	HfcBundleReader *r = NULL;
	int k = hfc_bundle_reader_open(fd, "fuzz", &r, &err);
	if (k >= 0) {
		const HfcBundleManifest *m = hfc_bundle_reader_manifest(r);
		size_t cap = hfc_codec_bound(m->block_size);
		uint8_t *buf = malloc(cap), *scratch = malloc(cap);
		HfcCodec *codecs[HFC_LEVEL_MAX + 1] = { NULL };
		if (!buf || !scratch)
			abort();
		HfcBundleBlock b;
		while ((k = hfc_bundle_reader_next(r, base_page, NULL, &b, buf, &err)) > 0) {
			if (b.len > m->block_size || b.stored > cap)
				abort();
			const void *file;
			int e = hfc_bundle_block_encode(&b, m->hash, codecs, buf, scratch, &file);
			if (e < 0 && e != -EBADMSG && e != -EILSEQ && e != -ENOMEM)
				abort();
		}
		for (int l = 0; l <= HFC_LEVEL_MAX; l++)
			hfc_codec_free(codecs[l]);
		free(buf);
		free(scratch);
		hfc_bundle_reader_free(r);
	}
	if (k < 0) {
		if (k != -EBADMSG && k != -ENOMEM)
			abort();
		if (strncmp(err.msg, "fuzz", 4) != 0)
			abort(); /* every refusal names the bundle */
	}
}

/* Builds a valid bundle around `stream` (the inflated delta stream) into fd. */
static int wrap(int fd, const uint8_t *stream, size_t len, unsigned recipes)
{
	HfcIndex *idx = NULL;
	if (hfc_index_new((uint64_t)FUZZ_BLOCKS * FUZZ_BS - 1000, FUZZ_BS, HFC_HASH_MD5, &idx) < 0)
		return -1;
	for (unsigned i = 0; i < FUZZ_BLOCKS; i++) {
		memset(idx->entries[i].hash, (int)(0x10 + i), 16);
		idx->entries[i].stored = 100 + i;
	}
	char *ibuf = NULL;
	size_t ilen = 0;
	if (hfc_index_format(idx, &ibuf, &ilen) < 0) {
		hfc_index_free(idx);
		return -1;
	}
	uint8_t bases[FUZZ_BASES * 24];
	for (unsigned j = 0; j < FUZZ_BASES; j++) {
		memset(bases + j * 24, (int)(0x40 + j), 16);
		uint32_t stored = 200, blen = j == 2 ? 3000 : FUZZ_BS;
		memcpy(bases + j * 24 + 16, &stored, 4); /* little-endian machines only */
		memcpy(bases + j * 24 + 20, &blen, 4);
	}
	/* One frame per 64 KiB of stream, compressed at level 1. */
	size_t dcap = len + len / 8 + 1024, dlen = 0;
	uint8_t *delta = malloc(dcap);
	HfcCodec *c = NULL;
	if (!delta || hfc_codec_new(1, &c) < 0)
		abort();
	for (size_t off = 0; off < len; off += HFC_DELTA_FRAME_MIN) {
		size_t n = MIN((size_t)HFC_DELTA_FRAME_MIN, len - off);
		if (dlen + 8 + hfc_codec_bound(n) > dcap) {
			dcap = dlen + 8 + hfc_codec_bound(n) + 1024;
			delta = realloc(delta, dcap);
			if (!delta)
				abort();
		}
		ssize_t k = hfc_codec_compress(c, stream + off, n, delta + dlen + 8,
					       hfc_codec_bound(n));
		if (k < 0)
			abort();
		uint32_t cl = (uint32_t)k, ul = (uint32_t)n;
		memcpy(delta + dlen, &cl, 4);
		memcpy(delta + dlen + 4, &ul, 4);
		dlen += 8 + (size_t)k;
	}
	hfc_codec_free(c);
	HfcBundleManifest m = {
		.kind = HFC_BUNDLE_DELTA, .base = 1, .target = 2, .hash = HFC_HASH_MD5,
		.block_size = FUZZ_BS, .index_bytes = ilen, .bases = FUZZ_BASES,
		.recipes = len ? recipes : 0, .delta_bytes = len ? dlen : 0,
	};
	memcpy(m.target_sha256, idx->end_sha256, 32);
	char *mbuf = NULL;
	size_t mlen = 0;
	HfcErr err = { "" };
	HfcTarWriter *w = NULL;
	int r = hfc_bundle_manifest_format(&m, &mbuf, &mlen);
	if (r >= 0)
		r = hfc_tar_writer_new(fd, 0, "wrap", &w, &err);
	if (r >= 0)
		r = hfc_tar_writer_add(w, "hfc-bundle", mbuf, mlen, &err);
	if (r >= 0)
		r = hfc_tar_writer_add(w, "index.idx", ibuf, ilen, &err);
	if (r >= 0)
		r = hfc_tar_writer_add(w, "bases", bases, sizeof(bases), &err);
	if (r >= 0)
		r = hfc_tar_writer_add(w, "delta", delta, m.delta_bytes, &err);
	if (r >= 0)
		r = hfc_tar_writer_close(w, &err);
	hfc_tar_writer_free(w);
	free(mbuf);
	free(delta);
	free(ibuf);
	hfc_index_free(idx);
	return r;
}

/* The manifest parser alone, on body followed by its correct end line. */
static void manifest(const uint8_t *body, size_t size)
{
	uint8_t *text = malloc(size + 70), sha[32];
	char hex[65];
	if (!text || hfc_digest(HFC_HASH_SHA256, body, size, sha) < 0)
		abort();
	hfc_hex_encode(sha, 32, hex);
	memcpy(text, body, size);
	memcpy(text + size, "end ", 4);
	memcpy(text + size + 4, hex, 64);
	text[size + 68] = '\n';
	HfcBundleManifest m;
	HfcErr err = { "" };
	int r = hfc_bundle_manifest_parse((const char *)text, size + 69, "fuzz", &m, &err);
	if (r == 0) {
		char *buf;
		size_t len;
		if (hfc_bundle_manifest_format(&m, &buf, &len) < 0 || len != size + 69 ||
		    memcmp(buf, text, len) != 0)
			abort();
		free(buf);
	} else if (r != -EBADMSG || strncmp(err.msg, "fuzz:", 5) != 0) {
		abort(); /* every refusal names file:line */
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 1 && (data[0] & 3) == 2) {
		if (size - 1 <= HFC_BUNDLE_MANIFEST_MAX - 69)
			manifest(data + 1, size - 1);
		return 0;
	}
	int fd = memfd_create("fuzz-bundle", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size >= 2 && (data[0] & 1)) {
		if (wrap(fd, data + 2, size - 2, 1 + data[1] % FUZZ_BLOCKS) < 0)
			abort();
	} else if (size && write(fd, data, size) != (ssize_t)size) {
		abort();
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	read_all(fd);
	close(fd);
	return 0;
}
