#!/usr/bin/env bash
# tests/install.sh: `make install` into a scratch DESTDIR puts the binary, the systemd units
# (with the binary's real path) and the man page in place with sane modes; the units have no
# setting systemd does not know; the man page renders without warnings.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=$(mktemp -d /tmp/vpngw-install.XXXXXX)
FAIL=0
trap 'rm -rf "$D"' EXIT
ok() { printf 'ok - %s\n' "$1"; }
not_ok() { printf 'not ok - %s\n' "$1"; FAIL=$((FAIL + 1)); }
check() { if "${@:2}"; then ok "$1"; else not_ok "$1"; fi; }
mode() { stat -c %a "$1" 2>/dev/null; }

make -s -C "$ROOT" install DESTDIR="$D" PREFIX=/usr/local >"$D.log" 2>&1 || { cat "$D.log"; exit 1; }
rm -f "$D.log"
U=$D/usr/local/lib/systemd/system
check "binary installed 0755" test "$(mode "$D/usr/local/sbin/vpngw")" = 755
check "installed binary runs" "$D/usr/local/sbin/vpngw" --version
for u in vpngw-server@ vpngw-client@; do
	check "$u.service installed 0644" test "$(mode "$U/$u.service")" = 644
	check "$u.service runs /usr/local/sbin/vpngw" grep -q '^ExecStart=/usr/local/sbin/vpngw ' "$U/$u.service"
	if command -v systemd-analyze >/dev/null; then
		bad=$(systemd-analyze verify --man=no "$U/$u.service" 2>&1 | grep -iE "unknown|invalid|failed to parse|ignoring")
		if [ -z "$bad" ]; then ok "$u.service: every setting known to systemd"; else not_ok "$u.service: $bad"; fi
	fi
done
check "man page installed" test -f "$D/usr/local/share/man/man8/vpngw.8"
warn=$(MANWIDTH=80 man --warnings -l "$D/usr/local/share/man/man8/vpngw.8" 2>&1 >/dev/null)
if [ -z "$warn" ]; then ok "man page renders without warnings"; else not_ok "man page: $warn"; fi
check "/etc/vpngw created 0700" test "$(mode "$D/etc/vpngw")" = 700
[ "$FAIL" -eq 0 ]
