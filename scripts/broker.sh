# Starts a local mosquitto for running and testing: a plain MQTT listener and a websockets
# listener, both on 127.0.0.1 only (scripts/test.sh asks the kernel what listens). Source this
# file, then: start_broker NAME TCP_PORT WS_PORT [EXTRA_CONF]
# It writes target/NAME/mosquitto.conf, starts mosquitto in the background, waits until both
# ports accept connections and sets BROKER_PID. stop_broker stops it.
# With BROKER_LAN=ADDRESS and BROKER_PASSWORDS=FILE set (classroom mode), a third listener, the
# websockets on ADDRESS, takes only the users in FILE; the loopback listeners stay anonymous.

port_in_use() {
  (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

wait_for_port() {
  local port=$1 host=${2:-127.0.0.1} tries=${3:-100}
  for _ in $(seq "$tries"); do
    port_in_use "$port" "$host" && return 0
    sleep 0.1
  done
  return 1
}

start_broker() {
  local name=$1 tcp_port=$2 ws_port=$3 extra=${4:-}
  local dir="target/$name"
  mkdir -p "$dir"
  for port in "$tcp_port" "$ws_port"; do
    if port_in_use "$port"; then
      echo "error: port $port on 127.0.0.1 is already in use (another mosquitto? 'systemctl stop mosquitto' or pick other ports)" >&2
      return 1
    fi
  done
  cat > "$dir/mosquitto.conf" <<CONF
# Written by scripts/broker.sh: a throwaway broker for dps368-sim.
# As root, mosquitto would switch to its own user and lose access to this folder's log.
user root
per_listener_settings false
persistence false
log_dest file $PWD/$dir/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
listener $tcp_port 127.0.0.1
protocol mqtt
# mosquitto 2.0.11 hands a websockets listener's address to libwebsockets, which binds every
# interface unless IPv6 is off for that listener: socket_domain ipv4 makes 127.0.0.1 hold.
listener $ws_port 127.0.0.1
socket_domain ipv4
protocol websockets
$extra
CONF
  if [ -n "${BROKER_LAN:-}" ]; then
    # Each listener its own rules: the loopback ones anonymous, the network's with passwords.
    sed -i 's/^per_listener_settings false$/per_listener_settings true/; s/^protocol \(mqtt\|websockets\)$/&\nallow_anonymous true/' "$dir/mosquitto.conf"
    cat >> "$dir/mosquitto.conf" <<CONF
# Classroom mode: the phones' websockets on the network, never without a password.
listener $ws_port $BROKER_LAN
socket_domain ipv4
protocol websockets
allow_anonymous false
password_file $BROKER_PASSWORDS
CONF
  fi
  grep -q '^allow_anonymous' "$dir/mosquitto.conf" || echo "allow_anonymous true" >> "$dir/mosquitto.conf"
  : > "$dir/mosquitto.log"
  /usr/sbin/mosquitto -c "$dir/mosquitto.conf" > "$dir/mosquitto.out" 2>&1 &
  BROKER_PID=$!
  if ! wait_for_port "$tcp_port" || ! wait_for_port "$ws_port" \
    || { [ -n "${BROKER_LAN:-}" ] && ! wait_for_port "$ws_port" "$BROKER_LAN"; }; then
    echo "error: mosquitto did not start; its output:" >&2
    cat "$dir/mosquitto.out" "$dir/mosquitto.log" >&2
    return 1
  fi
}

stop_broker() {
  if [ -n "${BROKER_PID:-}" ]; then
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
  fi
}
