/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* hfc-get --ls: a directory of the image's file system printed as ls(1) and ls -l would. */

#include "fs/ext2.h"

#include <stdio.h>

/*
 * Prints PATH of fs to out: names one per line, or with long_format the fields of ls -l (mode,
 * links, uid, gid, size, mtime in UTC as YYYY-MM-DD HH:MM, name, " -> target" for a symlink) in
 * aligned columns. Names and targets are escaped as ls -b does (hfc_fputs_escaped). Returns 0,
 * or -errno with err filled.
 */
int get_ls(HfcExt2 *fs, const char *path, bool long_format, FILE *out, HfcErr *err);
