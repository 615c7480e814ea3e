#!/usr/bin/env bash
# Start or stop a local moto server for the AWS integration tests, and beside it the CloudTrail
# event history stand-in (tests/moto/cloudtrail.py: moto has no `LookupEvents`), a front that
# answers `LookupEvents` itself and forwards every other request to moto.
#
#   eval "$(tests/run_moto.sh start)"   # installs moto into .venv if needed, prints the exports:
#                                       # FORCEMFA_MOTO_ENDPOINT (moto), FORCEMFA_CLOUDTRAIL_ENDPOINT
#                                       # (the front: moto plus event history, one URL)
#   tests/run_moto.sh stop              # stops both
#
# State (pids, ports, logs) lives in .moto/ at the repo root. Only the pids recorded there are
# stopped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/.moto"
venv="$root/.venv"

log() { echo "run_moto: $*" >&2; }

ensure_venv() {
    # pre-commit validates the hook manifest, cfn-lint the rewritten templates; moto serves the AWS tests.
    if [[ ! -x "$venv/bin/moto_server" || ! -x "$venv/bin/pre-commit" || ! -x "$venv/bin/cfn-lint" ]]; then
        log "installing moto, pre-commit and cfn-lint into $venv (first run only)"
        [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
        "$venv/bin/pip" install -q -r "$root/tests/moto/requirements.txt" >&2
    fi
}

free_port() {
    "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
    ensure_venv
    mkdir -p "$state"
    if [[ -f "$state/pid" ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
        log "moto already running (pid $(cat "$state/pid"))"
        echo "export FORCEMFA_MOTO_ENDPOINT=http://127.0.0.1:$(cat "$state/port")"
        start_front "$(cat "$state/port")"
        return
    fi
    local port
    port="$(free_port)"
    nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/log" 2>&1 &
    echo $! >"$state/pid"
    echo "$port" >"$state/port"
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
            echo "export FORCEMFA_MOTO_ENDPOINT=http://127.0.0.1:$port"
            start_front "$port"
            return
        fi
        if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
            log "moto_server exited; see $state/log"
            tail -20 "$state/log" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
    log "moto_server did not answer on port $port within 20s; see $state/log"
    exit 1
}

# The CloudTrail front before moto on port $1 (kept while it runs).
start_front() {
    if [[ -f "$state/cloudtrail.pid" ]] && kill -0 "$(cat "$state/cloudtrail.pid")" 2>/dev/null \
        && [[ "$(cat "$state/cloudtrail.upstream" 2>/dev/null)" == "$1" ]]; then
        echo "export FORCEMFA_CLOUDTRAIL_ENDPOINT=http://127.0.0.1:$(cat "$state/cloudtrail.port")"
        return
    fi
    stop_front
    local fport
    fport="$(free_port)"
    nohup "$venv/bin/python" "$root/tests/moto/cloudtrail.py" --upstream "http://127.0.0.1:$1" \
        --port "$fport" >"$state/cloudtrail.log" 2>&1 &
    echo $! >"$state/cloudtrail.pid"
    echo "$fport" >"$state/cloudtrail.port"
    echo "$1" >"$state/cloudtrail.upstream"
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$fport/__cloudtrail/stats" 2>/dev/null; then
            echo "export FORCEMFA_CLOUDTRAIL_ENDPOINT=http://127.0.0.1:$fport"
            return
        fi
        if ! kill -0 "$(cat "$state/cloudtrail.pid")" 2>/dev/null; then
            log "the CloudTrail stand-in exited; see $state/cloudtrail.log"
            tail -20 "$state/cloudtrail.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    log "the CloudTrail stand-in did not answer on port $fport within 10s; see $state/cloudtrail.log"
    exit 1
}

stop_front() {
    if [[ -f "$state/cloudtrail.pid" ]]; then
        kill "$(cat "$state/cloudtrail.pid")" 2>/dev/null || true
        rm -f "$state/cloudtrail.pid" "$state/cloudtrail.port" "$state/cloudtrail.upstream"
    fi
}

stop() {
    stop_front
    if [[ -f "$state/pid" ]]; then
        local pid
        pid="$(cat "$state/pid")"
        kill "$pid" 2>/dev/null || true
        rm -f "$state/pid" "$state/port"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
