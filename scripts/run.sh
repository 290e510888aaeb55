#!/usr/bin/env bash
# Starts the action server, the Rasa server and the Relais app (web chat + agent console),
# waits until all three answer, and reports a crash.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
RASA_PORT=${RASA_PORT:-5005}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
APP_PORT=${APP_PORT:-8000}
mkdir -p var/log
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
# `make run` is the demo: the web chat lets visitors pick a demo customer (README, "Web chat
# identity"). Production leaves RELAIS_DEMO unset (off). RELAIS_DEMO=0 make run tries that.
export RELAIS_DEMO=${RELAIS_DEMO:-1}
# What the three processes must agree on (README, "Configuration"): RASA_TOKEN, ACTIONS_SECRET
# and RELAIS_MODEL_KEY as set, or as generated once into var/secrets.env (mode 0600); the
# interfaces Rasa and the action server listen on (127.0.0.1 unless set).
shared=$($BIN/python -c 'from relais.core.config import settings; print(settings().shell_exports())') || exit 1
eval "$shared"
# The demo records and, in demo mode, the demo agents. `relais seed` shows their password the
# one time it can (when it creates them: only a hash is stored); the banner shows that line.
seeded=$($BIN/relais seed) || exit 1
grep -v '^Demo agents:' <<<"$seeded"
agents=$(grep '^Demo agents:' <<<"$seeded" || echo "no demo agents (not in demo mode): .venv/bin/relais agent add USERNAME")

pids=()
stop() { kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; }
trap 'stop; exit 0' INT TERM
trap stop EXIT

# The action server answers only Rasa: it checks ACTIONS_SECRET, which endpoints.yml has Rasa send.
$BIN/python -m actions.server --interface "$ACTIONS_INTERFACE" --port "$ACTIONS_PORT" >var/log/actions.log 2>&1 &
pids+=($!)
# --auth-token=: a token starting with "-" would otherwise read as an option.
$BIN/rasa run --enable-api --interface "$RASA_INTERFACE" --auth-token="$RASA_TOKEN" --port "$RASA_PORT" \
  --model "${RELAIS_MODEL:-models/relais.tar.gz}" >var/log/rasa.log 2>&1 &
pids+=($!)
RASA_URL="http://127.0.0.1:$RASA_PORT" $BIN/python -m bot.web --port "$APP_PORT" >var/log/app.log 2>&1 &
pids+=($!)

wait_for() {  # name url pid
  for _ in $(seq 1 180); do
    curl -fs "$2" >/dev/null 2>&1 && return 0
    if ! kill -0 "$3" 2>/dev/null; then
      echo "$1 exited during start-up; last lines of its log:" >&2
      tail -n 20 "var/log/$1.log" >&2
      return 1
    fi
    sleep 1
  done
  echo "$1 did not answer at $2 within 180 s (see var/log/$1.log)" >&2
  return 1
}
wait_for actions "http://127.0.0.1:$ACTIONS_PORT/health" "${pids[0]}" || exit 1
wait_for rasa "http://127.0.0.1:$RASA_PORT/status?token=$RASA_TOKEN" "${pids[1]}" || exit 1
wait_for app "http://127.0.0.1:$APP_PORT/healthz" "${pids[2]}" || exit 1

cat <<MSG
Relais is running.
  Rasa server (REST channel): http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook
  Action server:              http://127.0.0.1:$ACTIONS_PORT/webhook
  Web chat (customers):       http://127.0.0.1:$APP_PORT/chat
  Agent console:              http://127.0.0.1:$APP_PORT/console
    $agents
  Metrics (supervisors):      http://127.0.0.1:$APP_PORT/console/metrics
  Logs:                       var/log/rasa.log, var/log/actions.log, var/log/app.log
Channels:
$($BIN/python -c "from bot.channels.config import describe; print(describe())" 2>/dev/null)
Talk to it from another terminal:   .venv/bin/relais chat --sender web:demo-camille
Stop with Ctrl-C.
MSG
if [ -t 0 ]; then
  $BIN/relais chat --sender "${RELAIS_SENDER:-web:demo-camille}"
  exit 0
fi
# Without a terminal: keep serving, and say so if one of the servers dies.
while true; do
  names=(actions rasa app)
  for i in 0 1 2; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      name=${names[$i]}
      echo "the $name server stopped; last lines of var/log/$name.log:" >&2
      tail -n 20 "var/log/$name.log" >&2
      exit 1
    fi
  done
  sleep 2
done
