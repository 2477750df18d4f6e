#!/usr/bin/env bash
# Regenerates cmd/wxbot/default.pgo, the profile `go build` uses for
# profile-guided optimization of the wxbot binary (-pgo=auto picks up a
# default.pgo beside the main package). The profile is the server's CPU over
# `wxbot bench` runs on loopback: plaintext and safe mode with one rule of
# each kind, and 10,000 mixed rules, every push kind. Rerun it after changes
# to the push path; the binary profiled is built without PGO, so the result
# depends on the source, not on an earlier profile.
#
#   cmd/wxbot/pgo.sh            # about a minute; writes cmd/wxbot/default.pgo
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -pgo=off -o "$tmp/wxbot" ./cmd/wxbot
mix=text,contains,prefix,regex,click,subscribe
key=kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR # any 43-character key will do
"$tmp/wxbot" bench --duration 15s --mix "$mix" --cpuprofile "$tmp/plain.pb"
"$tmp/wxbot" bench --duration 15s --mix "$mix" --aes-key "$key" --cpuprofile "$tmp/safe.pb"
"$tmp/wxbot" bench --duration 15s --mix "$mix" --rules 10000 --fill mixed --cpuprofile "$tmp/rules.pb"
go tool pprof -proto "$tmp/plain.pb" "$tmp/safe.pb" "$tmp/rules.pb" > cmd/wxbot/default.pgo
echo "wrote cmd/wxbot/default.pgo ($(wc -c < cmd/wxbot/default.pgo) bytes)"
