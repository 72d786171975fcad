#!/usr/bin/env bash
# Checks that every #include follows the layering of docs/ARCHITECTURE.md: a folder of lib/
# includes only the folders below it, programs/ and the tools include lib/ and programs/, and
# each external library's header appears in its one adapter file. Prints `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."

# What each folder may include (besides itself and the C library).
declare -A allowed=(
	[lib/base]="base"
	[lib/formats]="base"
	[lib/fs]="base"
	[lib/site]="base formats fs"
	[lib/client]="base formats fs site"
	[lib/delta]="base formats fs site"
	[lib/publish]="base formats site client"
	[programs]="base formats fs site client delta publish"
	[tools]="base formats fs site client delta publish programs"
)
# The one adapter that may include each external library's headers: a file, or the files whose
# path starts so (lib/fs/ext2: ext2.c, ext2-io.c, ext2-write.c, ext2-private.h; lib/fs/tar:
# tar.c, tar-tree.c).
declare -A adapter=(
	['<curl/']="lib/client/http.c"
	['<ext2fs/']="lib/fs/ext2"
	['<archive']="lib/fs/tar"
	['<yaml.h>']="lib/publish/config.c"
	['<libdeflate.h>']="lib/base/codec.c"
	['<zlib.h>']="lib/base/codec.c"
	['<openssl/']="lib/base/crypto.c"
	['<jansson.h>']="programs/json.h"
	['<fuse3/']="client/hfc-mount.c"
)

pass=0 failed=0
bad() { echo "check-layers: $*" >&2; failed=$((failed + 1)); }

files=$(git ls-files -co --exclude-standard 'lib/*.[ch]' 'programs/*.[ch]' '*/hfc-*.c')
for f in $files; do
	[ -e "$f" ] || continue
	case $f in
	lib/*/*) folder=${f%/*}; own=${folder#lib/} ;;
	lib/*) bad "$f: a file of lib/ outside a layer folder"; continue ;;
	programs/*) folder=programs; own=programs ;;
	*) folder=tools; own= ;;
	esac
	ok=1
	while IFS= read -r inc; do
		top=${inc%%/*}
		if [ "$inc" = "$top" ]; then
			bad "$f: #include \"$inc\" names no layer folder"; ok=0; continue
		fi
		[ "$top" = "$own" ] && continue
		if [[ " ${allowed[$folder]} " != *" $top "* ]]; then
			bad "$f: includes $inc, but $folder may include only: ${allowed[$folder]}"
			ok=0
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
	while IFS= read -r inc; do
		for pat in "${!adapter[@]}"; do
			if [[ $inc == "$pat"* && $f != "${adapter[$pat]}"* ]]; then
				bad "$f: includes $inc, which only ${adapter[$pat]} may"
				ok=0
			fi
		done
	done < <(sed -n 's/^#include \(<[^>]*>\).*/\1/p' "$f")
	[ $ok = 1 ] && pass=$((pass + 1))
done
echo "check-layers: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
