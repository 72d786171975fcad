# shellcheck shell=sh
# hfcloop: the kernel command line of boot=hfc, parsed. Pure functions with no side effects
# beyond the HFC_* variables, so that the same file runs in the initramfs (busybox sh) and in
# the tests on the host (tests/cli/boot/). Sourced by /scripts/hfc.
#
#   hfc=URL[,URL...]     the site, from 1 to 64 mirrors (http:// or https://)
#   hfc.version=N        mount version N (1 to 99999999) instead of the current one
#   hfc.prefetch=auto|off    DLAHEAD with the site's profile of the version (default off;
#                        a bare hfc.prefetch is auto)
#   hfc.cache=DEVICE|none    keep block files on DEVICE (/dev/..., UUID=..., LABEL=...)
#   hfc.pubkey=FILE[,FILE]   trusted public keys, paths in the initramfs (repeatable)
#   hfc.trace            write the client's block trace (for hfc-profile record)
#
# Every other word is left to the kernel and initramfs-tools; a word that starts with "hfc"
# and is none of the above is an error, since a mistyped option would otherwise be ignored.

HFC_MAX_MIRRORS=64

# _hfc_err MESSAGE: records the one line the boot shows, and fails.
_hfc_err() {
	HFC_ERROR="hfc: $*"
	return 1
}

# _hfc_check_urls LIST: each URL is http:// or https://, with a host, and holds no character
# that a boot loader or a shell would change.
_hfc_check_urls() {
	_l=$1 _n=0
	case $_l in
	'') _hfc_err "hfc=: no URL given (hfc=URL[,URL...])"; return ;;
	,* | *, | *,,*) _hfc_err "hfc=$_l: an empty URL in the list"; return ;;
	esac
	_old_ifs=$IFS
	IFS=,
	for _u in $_l; do
		IFS=$_old_ifs
		_n=$((_n + 1))
		case $_u in
		*[\"\'\\\$\`\;\&\|\<\>\ ]* | *'	'*)
			_hfc_err "hfc=$_l: '$_u' holds a character that is not allowed in a URL here"; return ;;
		http://* | https://*) ;;
		*://*) _hfc_err "hfc=$_l: '$_u' is not an http:// or https:// URL"; return ;;
		*) _hfc_err "hfc=$_l: '$_u' is not a URL (http://HOST[:PORT]/PATH)"; return ;;
		esac
		_h=${_u#*://}
		case $_h in
		'' | /* | :* | \?* | \#* | @*) _hfc_err "hfc=$_l: '$_u' has no host"; return ;;
		esac
	done
	IFS=$_old_ifs
	[ "$_n" -le "$HFC_MAX_MIRRORS" ] || _hfc_err "hfc=$_l: $_n mirrors, at most $HFC_MAX_MIRRORS"
}

# hfc_parse CMDLINE: sets HFC_URLS, HFC_VERSION (empty: the current one), HFC_PREFETCH (auto
# or off), HFC_CACHE (a device, or none), HFC_PUBKEYS (paths, one per line), HFC_TRACE (y or
# empty). Returns 0, or 1 with HFC_ERROR set to one line that says what is wrong.
hfc_parse() {
	HFC_URLS= HFC_VERSION= HFC_PREFETCH=off HFC_CACHE=none HFC_PUBKEYS= HFC_TRACE= HFC_ERROR=
	_seen=
	# No word of the command line may be taken for a file name pattern.
	case $- in *f*) _noglob=y ;; *) _noglob= ;; esac
	set -f
	# shellcheck disable=SC2086
	set -- $1
	[ -n "$_noglob" ] || set +f
	for _x in "$@"; do
		case $_x in
		hfc=*)
			HFC_URLS=${_x#hfc=}
			_seen=y
			;;
		hfc.version=*)
			HFC_VERSION=${_x#hfc.version=}
			case $HFC_VERSION in
			'' | *[!0-9]* | 0*) _hfc_err "$_x: not a version number (1 to 99999999)"; return ;;
			esac
			[ "${#HFC_VERSION}" -le 8 ] || { _hfc_err "$_x: not a version number (1 to 99999999)"; return; }
			;;
		hfc.prefetch) HFC_PREFETCH=auto ;;
		hfc.prefetch=*)
			HFC_PREFETCH=${_x#hfc.prefetch=}
			case $HFC_PREFETCH in
			auto | off) ;;
			*) _hfc_err "$_x: must be hfc.prefetch=auto or hfc.prefetch=off"; return ;;
			esac
			;;
		hfc.cache=*)
			HFC_CACHE=${_x#hfc.cache=}
			case $HFC_CACHE in
			none) ;;
			/dev/?* | UUID=?* | LABEL=?* | PARTUUID=?* | PARTLABEL=?*) ;;
			*) _hfc_err "$_x: must be a device (/dev/..., UUID=..., LABEL=...) or none"; return ;;
			esac
			;;
		hfc.pubkey=*)
			_keys=${_x#hfc.pubkey=}
			case $_keys in
			'' | ,* | *, | *,,*) _hfc_err "$_x: an empty key file name"; return ;;
			esac
			_old_ifs=$IFS
			IFS=,
			for _k in $_keys; do
				IFS=$_old_ifs
				case $_k in
				/*) ;;
				*) _hfc_err "$_x: '$_k' is not an absolute path (a key file in the initramfs)"; return ;;
				esac
				HFC_PUBKEYS="$HFC_PUBKEYS$_k
"
			done
			IFS=$_old_ifs
			;;
		hfc.trace) HFC_TRACE=y ;;
		hfc | hfc.* | hfc_* | hfc-*)
			_hfc_err "$_x: unknown option (hfc=, hfc.version=, hfc.prefetch=, hfc.cache=, hfc.pubkey=, hfc.trace)"
			return
			;;
		esac
	done
	[ -n "$_seen" ] || { _hfc_err "no site: boot=hfc needs hfc=URL[,URL...] on the kernel command line"; return; }
	_hfc_check_urls "$HFC_URLS"
}

# hfc_client_args MOUNTPOINT [CACHE_DIR] [TRACE_FILE]: the arguments of hfc-mount after a
# successful hfc_parse, one per line (no URL or path holds a newline: hfc_parse saw to URLs,
# and the boot script makes the paths).
hfc_client_args() {
	printf '%s\n' --allow-other
	[ -z "$HFC_VERSION" ] || printf '%s\n' --version "$HFC_VERSION"
	[ "$HFC_PREFETCH" != auto ] || printf '%s\n' --prefetch=auto
	[ -z "${2:-}" ] || printf '%s\n' --cache "$2"
	[ -z "${3:-}" ] || printf '%s\n' --trace "$3"
	if [ -n "$HFC_PUBKEYS" ]; then
		printf '%s' "$HFC_PUBKEYS" | while read -r _k; do printf '%s\n' --pubkey "$_k"; done
	fi
	printf '%s\n' "$HFC_URLS" "$1"
}
