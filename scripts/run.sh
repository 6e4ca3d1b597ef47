#!/usr/bin/env bash
# Runs the product: installs what is missing, starts mosquitto (MQTT on 127.0.0.1:1883,
# WebSockets on 127.0.0.1:9001), builds the page and serves it on http://127.0.0.1:8080/.
# Ctrl-C stops everything. Ports can be changed with MQTT_PORT, WS_PORT and HTTP_PORT.
#
# Classroom mode, `scripts/run.sh --lan [ADDRESS]`: a teacher's laptop as the whole lab, without
# internet. The page and the broker's WebSockets listen on the laptop's network address (ADDRESS,
# else the one its default route uses), and the broker takes no connection without the user
# name `class` and a password drawn for this run. The terminal prints the room link, with the
# password in its fragment (which a browser never sends to a server), and its QR code for the
# projector. The broker takes nothing from the network without that password (the page itself,
# static files, is public there). SERVE_DIST=DIR serves an already built page from DIR instead
# of building one (the tests do).
set -euo pipefail
cd "$(dirname "$0")/.."

MQTT_PORT=${MQTT_PORT:-1883}
WS_PORT=${WS_PORT:-9001}
HTTP_PORT=${HTTP_PORT:-8080}

lan=""
case "${1:-}" in
  "") ;;
  --lan) ;;
  *) echo "usage: scripts/run.sh [--lan [ADDRESS]]" >&2; exit 2 ;;
esac

bash scripts/setup.sh
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH:/usr/sbin"
source scripts/broker.sh

if [ "${1:-}" = "--lan" ]; then
  # The address the default route leaves by (iproute2 is installed by setup.sh).
  lan=${2:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
  if [ -z "$lan" ]; then
    echo "error: no network address found: give one, e.g. scripts/run.sh --lan 192.168.1.20" >&2
    exit 2
  fi
fi

if [ -z "$lan" ]; then
  start_broker run "$MQTT_PORT" "$WS_PORT"
  host=127.0.0.1
else
  # A password of 12 letters and digits, new each run; the broker refuses anyone without it.
  password=$(head -c 300 /dev/urandom | LC_ALL=C tr -dc 'a-km-z2-9' | cut -c1-12)
  mkdir -p target/run
  # Written in clear, then hashed in place (-U): the password is never an argument, which
  # the process list would show.
  ( umask 077; printf 'class:%s\n' "$password" > target/run/passwords )
  mosquitto_passwd -U target/run/passwords
  BROKER_LAN=$lan BROKER_PASSWORDS=$PWD/target/run/passwords start_broker run "$MQTT_PORT" "$WS_PORT"
  host=$lan
fi
trap stop_broker EXIT INT TERM
echo "mosquitto: mqtt://127.0.0.1:$MQTT_PORT and ws://127.0.0.1:$WS_PORT${lan:+, and ws://$lan:$WS_PORT with a password} (log: target/run/mosquitto.log)"

echo
if [ -z "$lan" ]; then
  query=""
  [ "$WS_PORT" = 9001 ] || query="?broker=ws://localhost:$WS_PORT"
  echo "  Open http://127.0.0.1:$HTTP_PORT/$query and click Start."
  echo "  The monitor and scoreboard: http://127.0.0.1:$HTTP_PORT/monitor/$query (or ?view=monitor)"
  echo "  Watch the telemetry: mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -q 1 -v -t 'device/#'"
else
  page="http://$lan:$HTTP_PORT/"
  broker="ws%3A%2F%2F$lan%3A$WS_PORT"
  room="${page}?broker=$broker&username=class&room=lab#password=$password"
  echo "  Classroom mode on $lan: phones on this network open the room link (each becomes"
  echo "  device lab-xxxx), or type the broker's user name 'class' and password '$password'."
  echo
  echo "  Room link: $room"
  echo "  Teacher:   ${page}?broker=$broker&username=class&device_id=lab#password=$password"
  echo "  Monitor:   ${page}monitor/?broker=ws://127.0.0.1:$WS_PORT (on this laptop)"
  echo "  Watch:     mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -q 1 -v -t 'device/#'"
  echo
  qrencode -t ANSIUTF8 -m 2 "$room" || true
fi
echo
if [ -n "${SERVE_DIST:-}" ]; then
  python3 -m http.server --bind "$host" --directory "$SERVE_DIST" "$HTTP_PORT"
  exit 0
fi
trunk serve --release --address "$host" --port "$HTTP_PORT"
