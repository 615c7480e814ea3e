#!/usr/bin/env bash
# Start or stop a local moto server for the AWS integration tests.
#
#   eval "$(tests/run_moto.sh start)"   # installs moto into .venv if needed, prints the export line
#   tests/run_moto.sh stop              # stops the server started above
#
# State (pid, port, log) lives in .moto/ at the repo root. Only the pid recorded there is stopped.
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

stop() {
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
