# debian-mirror.sh — the Debian archive the benchmarks download from, taken from this machine's
# own apt configuration, so that they run wherever apt works (a public mirror, a local mirror,
# a caching proxy) and name no host themselves. Sourced by tests/debian-tree.sh (the boot
# tests' tree), bench/bench-delta.sh, bench/bench-inputs.sh and bench/boot/make-image.sh:
#
#   . "$TOP/tests/debian-mirror.sh"
#   MIRROR=$(debian_mirror bookworm) || exit 1          # the main archive of that suite
#   SECMIRROR=$(debian_security_mirror bookworm) || exit 1   # its security archive
#   debian_proxy_env                                     # apt's HTTP proxy, for debootstrap
#
# Where it looks, in apt's own order: $HFC_APT_ETC/sources.list (one-line "deb [opts] URI SUITE
# COMPONENT..." entries), $HFC_APT_ETC/sources.list.d/*.list (the same) and
# $HFC_APT_ETC/sources.list.d/*.sources (deb822 stanzas: Types, URIs, Suites, Components,
# Enabled); HFC_APT_ETC defaults to /etc/apt. Only "deb" entries with an http://, https:// or
# file:/ URI count.
#
#   debian_mirror SUITE            the URI of the first entry for SUITE itself (e.g. bookworm)
#                                  with the main component; failing that, of one for
#                                  SUITE-updates (the same archive); failing that (a benchmark of
#                                  another release than this machine's), of one for this
#                                  machine's own release (VERSION_CODENAME of /etc/os-release):
#                                  a Debian archive serves every suite. HFC_DEBIAN_MIRROR
#                                  overrides.
#   debian_security_mirror SUITE   the URI of the first entry for SUITE-security (or the old
#                                  SUITE/updates) with main, else for this machine's release's
#                                  -security. HFC_DEBIAN_SECURITY_MIRROR overrides.
#   debian_proxy_env               exports http_proxy/https_proxy from apt's Acquire::http::Proxy
#                                  and Acquire::https::Proxy when the environment sets none
#                                  (debootstrap's wget and the chroot's apt read them).
#
# When nothing fits, one line on stderr says so and which variable to set; status 1.

# _debian_sources: "URI SUITE COMPONENTS..." for every enabled deb entry, in apt's order.
_debian_sources() {
	local etc=${HFC_APT_ETC:-/etc/apt} f
	local files=()
	[ -f "$etc/sources.list" ] && files+=("$etc/sources.list")
	for f in "$etc"/sources.list.d/*.list; do
		[ -f "$f" ] && files+=("$f")
	done
	for f in "${files[@]}"; do
		# deb [opt=a opt=b] URI SUITE COMPONENT...
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" 2>/dev/null |
			awk '$1 == "deb" && NF >= 3 { $1 = ""; sub(/^ /, ""); print }'
	done
	for f in "$etc"/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822: stanzas between blank lines; "Field: value", continued on lines that start
		# with a space; every URI times every suite.
		awk '
		function flush(   i, j, nu, ns, u, s, t) {
			if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
				nu = split(uris, u, " "); ns = split(suites, s, " ")
				for (i = 1; i <= nu; i++)
					for (j = 1; j <= ns; j++)
						print u[i], s[j], comps
			}
			types = uris = suites = comps = enabled = ""; last = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { v = $0; gsub(/^[ \t]+|[ \t]+$/, "", v); add(last, v); next }
		{
			k = tolower(substr($0, 1, index($0, ":") - 1)); v = substr($0, index($0, ":") + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", v); last = k; add(k, v)
		}
		function add(k, v) {
			if (k == "types") types = types " " v
			else if (k == "uris") uris = uris " " v
			else if (k == "suites") suites = suites " " v
			else if (k == "components") comps = comps " " v
			else if (k == "enabled") enabled = v
		}
		END { flush() }' "$f"
	done
}

# _debian_pick SUITE...: the URI of the first entry whose suite is one of SUITE... (tried in
# that order) and whose components include main.
_debian_pick() {
	local want uri suite comps
	for want in "$@"; do
		while read -r uri suite comps; do
			[ "$suite" = "$want" ] || continue
			case " $comps " in *" main "*) ;; *) continue ;; esac
			case $uri in http://* | https://* | file:/*) ;; *) continue ;; esac
			echo "${uri%/}"
			return 0
		done < <(_debian_sources)
	done
	return 1
}

# _debian_codename: this machine's release codename (empty when unknown).
_debian_codename() {
	[ -r "${HFC_OS_RELEASE:-/etc/os-release}" ] || return 0
	sed -n 's/^VERSION_CODENAME=//p' "${HFC_OS_RELEASE:-/etc/os-release}" | tr -d '"' | head -n 1
}

# _debian_mirror_of VAR WHAT SUITE...: $VAR when it is set, else the first entry for SUITE...
_debian_mirror_of() {
	local var=$1 what=$2
	shift 2
	if [ -n "${!var:-}" ]; then
		echo "${!var%/}"
		return 0
	fi
	_debian_pick "$@" && return 0
	echo "debian-mirror: no 'deb URI $what main' entry in ${HFC_APT_ETC:-/etc/apt}/sources.list{,.d/*.list,.d/*.sources}: set $var to the URL of one" >&2
	return 1
}

debian_mirror() {
	local suite=${1:?debian_mirror SUITE} own
	own=$(_debian_codename)
	_debian_mirror_of HFC_DEBIAN_MIRROR "$suite" "$suite" "$suite-updates" ${own:+"$own" "$own-updates"}
}

debian_security_mirror() {
	local suite=${1:?debian_security_mirror SUITE} own
	own=$(_debian_codename)
	_debian_mirror_of HFC_DEBIAN_SECURITY_MIRROR "$suite-security" "$suite-security" "$suite/updates" \
		${own:+"$own-security" "$own/updates"}
}

debian_proxy_env() {
	local scheme var p
	command -v apt-config >/dev/null || return 0
	for scheme in http https; do
		var=${scheme}_proxy
		[ -z "${!var:-}" ] || continue
		p=$(apt-config dump "Acquire::$scheme::Proxy" 2>/dev/null |
			sed -n "s/^Acquire::$scheme::Proxy \"\(.*\)\";\$/\1/p")
		case $p in http://* | https://*) export "$var=$p" ;; esac
	done
	return 0
}
