#!/usr/bin/env bash
# Runs the example deployment on this machine, all on loopback, with no
# container engine: two rebound relays sharing one PostgreSQL database, the
# example receiver, Prometheus (scraping the relays, with rebound's alert
# rules) and Alertmanager. Ctrl-C stops everything.
#
# Needs: Go, a PostgreSQL on 127.0.0.1:5432 that user postgres can reach
# without a password, and Debian's prometheus and prometheus-alertmanager
# packages. Run it from the repository's root: deploy/run-local.sh
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

psql 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' -tAc "SELECT 1 FROM pg_database WHERE datname = 'rebound'" | grep -q 1 ||
	psql 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' -c 'CREATE DATABASE rebound'

go build -o "$work/rebound" ./cmd/rebound
go build -o "$work/receiver" ./examples/receiver

"$work/receiver" -listen 127.0.0.1:9000 >"$work/receiver.log" 2>&1 &
pids+=($!)
"$work/rebound" migrate --wait 60s --config deploy/relay/rebound.yaml
for port in 8081 8082; do
	"$work/rebound" relay --config deploy/relay/rebound.yaml --listen "127.0.0.1:$port" >"$work/relay-$port.log" 2>&1 &
	pids+=($!)
done
prometheus --config.file=deploy/prometheus/prometheus.yml --storage.tsdb.path="$work/prometheus" \
	--web.listen-address=127.0.0.1:9090 >"$work/prometheus.log" 2>&1 &
pids+=($!)
prometheus-alertmanager --config.file=deploy/alertmanager/alertmanager.yml --storage.path="$work/alertmanager" \
	--web.listen-address=127.0.0.1:9093 --cluster.listen-address= >"$work/alertmanager.log" 2>&1 &
pids+=($!)

cat <<MSG
running (logs in $work):
  relays        http://127.0.0.1:8081/  http://127.0.0.1:8082/   (status page; token in deploy/relay/tokens.example)
  receiver      127.0.0.1:9000 (tail -f $work/receiver.log)
  Prometheus    http://127.0.0.1:9090/alerts
  Alertmanager  http://127.0.0.1:9093/
enqueue through either relay:
  curl -H 'Authorization: Bearer example-admin-token-replace-me-0001' \\
    --json '{"destination":"orders","payload":{"id":1}}' http://127.0.0.1:8081/v1/messages
Ctrl-C stops everything.
MSG
wait
