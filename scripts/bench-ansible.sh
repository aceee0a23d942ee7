#!/usr/bin/env bash
# bosun beside ansible-playbook: the same 3-step shell runbook (playbook)
# over $HOSTS simulated local hosts, and over $SSH_HOSTS ssh aliases of a
# loopback sshd, both tools with the same parallelism ($FORKS). Prints wall
# time and the peak memory of each tool's whole process tree (see
# scripts/peakmem.py), best of $RUNS runs. Run from the repository root:
#
#   bash scripts/bench-ansible.sh            # HOSTS=200 SSH_HOSTS=20 FORKS=20 RUNS=3
#
# Installs Debian's ansible and openssh-server when they are missing.
# Ansible gets its fast settings: no fact gathering, pipelining, a fixed
# python interpreter, ControlPersist (its default).
set -euo pipefail
HOSTS=${HOSTS:-200}
SSH_HOSTS=${SSH_HOSTS:-20}
FORKS=${FORKS:-20}
RUNS=${RUNS:-3}
# The ssh login user (default: you). Every remote command starts that
# user's login shell, so a heavy ~/.bashrc (pyenv init, say) is paid once
# per step by both tools: SSH_USER=<a user with a plain /bin/sh> measures
# the tools rather than the shell (a new user must not be locked: useradd -m
# -s /bin/sh u && usermod -p "*" u). ONLY=local|ssh runs one half.
SSH_USER=${SSH_USER:-$(id -un)}
ONLY=${ONLY:-}

need=()
command -v ansible-playbook >/dev/null || need+=(ansible)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  sudo_=(); [ "$(id -u)" -eq 0 ] || sudo_=(sudo)
  "${sudo_[@]}" apt-get install -y -q "${need[@]}" || { "${sudo_[@]}" apt-get update -q; "${sudo_[@]}" apt-get install -y -q "${need[@]}"; }
fi
cargo build --release --quiet
BOSUN=$PWD/target/release/bosun
PEAK="python3 $PWD/scripts/peakmem.py"
W=$(mktemp -d /tmp/bosun-bench.XXXXXX)
trap '[ -f $W/sshd.pid ] && kill $(cat $W/sshd.pid) 2>/dev/null; rm -rf "$W"' EXIT
export BOSUN_KEY_DIR=$W/keys ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_PIPELINING=1 \
  ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP=$W/ansible-tmp ANSIBLE_SSH_CONTROL_PATH_DIR=$W/cp

# --- a loopback sshd as the current user -----------------------------------
ssh-keygen -q -t ed25519 -N '' -f "$W/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$W/id"
cp "$W/id.pub" "$W/authorized_keys"
# sshd reads authorized_keys as the login user, who may not be you.
chmod 755 "$W"; chmod 644 "$W/authorized_keys"
[ "$(id -u)" -ne 0 ] || mkdir -p /run/sshd
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $W/host_key
PidFile $W/sshd.pid
AuthorizedKeysFile $W/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 200
MaxSessions 200
LogLevel ERROR
CFG
/usr/sbin/sshd -f "$W/sshd_config"
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$W/host_key.pub")" > "$W/known_hosts"
cat > "$W/ssh_config" <<CFG
Host *
  HostName 127.0.0.1
  Port $PORT
  User $SSH_USER
  IdentityFile $W/id
  IdentitiesOnly yes
  UserKnownHostsFile $W/known_hosts
  StrictHostKeyChecking yes
  LogLevel ERROR
CFG
for _ in $(seq 50); do ssh -F "$W/ssh_config" -o BatchMode=yes bench-probe true 2>/dev/null && break; sleep 0.1; done

# --- the bosun workspace ------------------------------------------------------
"$BOSUN" init "$W/ws" >/dev/null
export BOSUN_WORKSPACE=$W/ws
"$BOSUN" key new alice --role operator --insecure-plaintext >/dev/null
"$BOSUN" key new claude --role agent >/dev/null
{
  for i in $(seq -f '%03g' 1 "$HOSTS"); do
    printf '[[host]]\nname = "h%s"\ntransport = "local"\nroot = ".bosun/sim/h%s"\n\n' "$i" "$i"
  done
  for i in $(seq -f '%02g' 1 "$SSH_HOSTS"); do
    printf '[[host]]\nname = "s%s"\naddress = "s%s"\ntransport = "ssh"\nssh_config = "%s"\n\n' "$i" "$i" "$W/ssh_config"
  done
} > "$W/ws/fleet/hosts.toml"
cat > "$W/ws/runbooks/three.toml" <<RB
id = "three"
description = "three read-only shell steps"
read_only = true
parallel = $FORKS
[[steps]]
id = "hello"
cmd = "echo hello from {{ host.name }}"
[[steps]]
id = "kernel"
cmd = "uname -sm"
depends_on = [{ step = "hello" }]
[[steps]]
id = "disk"
cmd = "df -P / | tail -1"
depends_on = [{ step = "kernel" }]
RB
"$BOSUN" adopt --yes --as alice >/dev/null

# --- the Ansible side ------------------------------------------------------------
{
  echo "[local]"
  for i in $(seq -f '%03g' 1 "$HOSTS"); do echo "h$i ansible_connection=local"; done
  echo "[ssh]"
  for i in $(seq -f '%02g' 1 "$SSH_HOSTS"); do echo "s$i ansible_host=s$i"; done
  echo "[all:vars]"
  echo "ansible_python_interpreter=/usr/bin/python3"
  echo "ansible_ssh_common_args='-F $W/ssh_config'"
} > "$W/inventory.ini"
cat > "$W/three.yml" <<'PB'
- hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - shell: echo hello from {{ inventory_hostname }}
    - shell: uname -sm
    - shell: df -P / | tail -1
PB

bosun_run() { # $1 = host prefix, $2 = count
  local args=() fmt
  [ "$1" = h ] && fmt='%03g' || fmt='%02g'
  for i in $(seq -f "$fmt" 1 "$2"); do args+=(--target "$1$i"); done
  # An operator submits: the read-only runbook runs alone (an agent's op
  # over more than 10 hosts would wait for a human, by the default policy).
  local jti
  jti=$("$BOSUN" submit three "${args[@]}" --as alice --json | python3 -c 'import sys,json; print(json.load(sys.stdin)["jti"])')
  "$BOSUN" work --until-idle >/dev/null
  "$BOSUN" ops show "$jti" --json | python3 -c 'import sys,json; o=json.load(sys.stdin); ok=o["state"]=="succeeded" and len(o["steps"])==3*int(sys.argv[1]); sys.exit(0 if ok else "op %s is %s" % (o["jti"], o["state"]))' "$2"
}
export -f bosun_run; export BOSUN

best() { # prints the best (lowest wall) JSON line of $RUNS runs of "$@"
  local out=() 
  for _ in $(seq "$RUNS"); do out+=("$($PEAK "$@")"); done
  printf '%s\n' "${out[@]}" | python3 -c 'import sys,json; r=[json.loads(l) for l in sys.stdin]; b=min(r,key=lambda x:x["wall_s"]); b["peak_rss_mib"]=max(x["peak_rss_mib"] for x in r); b["runs"]=[x["wall_s"] for x in r]; print(json.dumps(b))'
}

if [ "$ONLY" != ssh ]; then
  echo "== $HOSTS local hosts, 3 steps, parallelism $FORKS"
  echo "bosun:   $(best bash -c "bosun_run h $HOSTS")"
  echo "ansible: $(best ansible-playbook -i "$W/inventory.ini" -f "$FORKS" -e target=local "$W/three.yml")"
fi
if [ "$ONLY" != local ]; then
  echo "== $SSH_HOSTS ssh aliases of a loopback sshd (user $SSH_USER), 3 steps, parallelism $FORKS"
  echo "bosun:   $(best bash -c "bosun_run s $SSH_HOSTS")"
  echo "ansible: $(best ansible-playbook -i "$W/inventory.ini" -f "$FORKS" -e target=ssh "$W/three.yml")"
fi
echo "bosun's last run:"; "$BOSUN" ops show "$("$BOSUN" ops list --limit 1 --json | python3 -c "import sys,json; print(json.load(sys.stdin)[0][\"jti\"])")"
