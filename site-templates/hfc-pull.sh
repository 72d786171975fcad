#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# hfc-pull.sh: keep a mirror of an hfcloop site by pulling it with rsync in the safe order:
#   1. new block files only (immutable: an existing one is never overwritten);
#   2. indexes/ and profiles/;
#   3. index.idx last, replaced by a rename;
#   4. with --prune, and only once index.idx is the source's: what the source no longer has.
# At every instant the mirror's index.idx names only block files the mirror holds, whatever
# moment a transfer dies at; running it again completes the job. See docs/MIRRORING.md.
#
# Usage: hfc-pull.sh [--prune] [--bwlimit RATE] SOURCE DEST
#   SOURCE  rsync://master.example.org/hfc (the master's read-only module), host:path or a path
#   DEST    the site directory this mirror serves
# Cron, every 10 minutes:
#   */10 * * * *  hfc  /usr/local/bin/hfc-pull.sh rsync://master.example.org/hfc /srv/www/hfc/knoppix
set -eu

prune=no
bwlimit=
while [ $# -gt 2 ]; do
	case $1 in
	--prune) prune=yes ;;
	--bwlimit) bwlimit=--bwlimit=$2; shift ;;
	*) echo "hfc-pull.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[ $# -eq 2 ] || { echo "usage: hfc-pull.sh [--prune] [--bwlimit RATE] SOURCE DEST" >&2; exit 2; }
src=${1%/}/
dest=${2%/}/
case $src$dest in -*) echo "hfc-pull.sh: SOURCE and DEST must not start with -" >&2; exit 2 ;; esac

mkdir -p "$dest"
# One pull at a time (a slow pull must not overlap the next cron run).
exec 9>"$dest.hfc-pull.lock"
if command -v flock >/dev/null && ! flock -n 9; then
	echo "hfc-pull.sh: another pull of $dest is running" >&2
	exit 1
fi

pull() {
	# Never: inplace, partial or append (a partial file must never sit under a final name).
	rsync -rt --timeout=600 --chmod=D0755,F0644 ${bwlimit:+"$bwlimit"} \
		--exclude='.*.tmp.*' --exclude=/.lock --exclude=/.hfc-build-cache --exclude=/.hfc-tree --exclude=/.hfc-pull.lock \
		--exclude='.~tmp~/' "$@" --exclude='*' -- "$src" "$dest"
}

pull --ignore-existing --include=/blocks/ --include='/blocks/[0-9a-f][0-9a-f]/' \
	--include='/blocks/[0-9a-f][0-9a-f]/[0-9a-f]*'
pull --delay-updates --include=/indexes/ --include='/indexes/[0-9]*.idx' \
	--include=/profiles/ --include='/profiles/**'
pull --ignore-times --delay-updates --include=/index.idx
if [ $prune = yes ]; then
	pull --existing --ignore-existing --delete --include=/indexes/ \
		--include='/indexes/[0-9]*.idx' --include=/profiles/ --include='/profiles/**'
	pull --existing --ignore-existing --delete --include=/blocks/ \
		--include='/blocks/[0-9a-f][0-9a-f]/' --include='/blocks/[0-9a-f][0-9a-f]/*'
fi
