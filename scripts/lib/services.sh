# Starts the real services Plinth's tests run against, on 127.0.0.1 only, installing them
# first when the machine lacks them. Sourced by scripts/test and scripts/services; every
# service started here is stopped by `stop_services` (scripts/test traps EXIT).
#
# Exports for the tests:
#   PLINTH_TEST_POSTGRES_URL    a superuser URL on a throwaway PostgreSQL cluster
#   PLINTH_TEST_S3_ENDPOINT     an S3-compatible server (moto), with PLINTH_TEST_S3_BUCKET,
#   PLINTH_TEST_S3_ACCESS_KEY_ID and PLINTH_TEST_S3_SECRET_ACCESS_KEY
#   PLINTH_TEST_WEBDRIVER_URL   a chromedriver driving headless Debian Chromium
#   PLINTH_TEST_CHROMIUM        the Chromium binary chromedriver must start
#   PLINTH_TEST_VENV            the test venv (the mlflow client, moto, kubernetes-validate)
#   PLINTH_TEST_NGINX           nginx, the TLS-terminating proxy the CLI's https test puts
#                               in front of a server (the test starts its own)
#   PLINTH_TEST_SANDBOX_VENV    a Python environment sandboxed jobs may use (the system's
#                               Python and the mlflow client, readable by every user)
#   PLINTH_TEST_LDAP_URL        a throwaway OpenLDAP slapd (ldap://), with users and nested
#   PLINTH_TEST_LDAPS_URL       groups (start_slapd below); the same server over LDAPS,
#   PLINTH_TEST_LDAP_CA         whose certificate this CA file (PEM) signed;
#   PLINTH_TEST_LDAP_ROOT_DN    the directory's root DN and password, for tests that change
#   PLINTH_TEST_LDAP_ROOT_PASSWORD  entries (ldapdelete)
#   PLINTH_TEST_OIDC_ISSUER     an OpenID Connect provider (npm oidc-provider, start_oidc_provider)

SERVICES_DIR="${SERVICES_DIR:-$(mktemp -d /tmp/plinth-services.XXXXXX)}"
SERVICE_PIDS=()
PG_DATA=""
APT_UPDATED=""

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to $2 seconds for `$1` (a shell command) to succeed.
wait_for() {
    local check="$1" seconds="$2" waited=0
    until eval "$check" >/dev/null 2>&1; do
        sleep 0.2
        waited=$((waited + 1))
        [ "$waited" -lt $((seconds * 5)) ] || return 1
    done
}

apt_install() {
    [ "$(id -u)" = 0 ] || die "need root to install $* (or install it yourself)"
    if [ -z "$APT_UPDATED" ]; then
        say "apt-get update"
        apt-get update -qq >"$SERVICES_DIR/apt.log" 2>&1 || { tail -n 30 "$SERVICES_DIR/apt.log" >&2; die "apt-get update failed"; }
        APT_UPDATED=1
    fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$SERVICES_DIR/apt.log" 2>&1 \
        || { tail -n 30 "$SERVICES_DIR/apt.log" >&2; die "apt-get install $* failed"; }
}

guard_dev_null() {
    # Seen once on our machines: /dev/null turned into a regular file, and initdb then failed.
    if [ ! -c /dev/null ] && [ "$(id -u)" = 0 ]; then rm -f /dev/null; mknod -m 666 /dev/null c 1 3; fi
}

find_pg_bin() {
    local dir
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    return 1
}

start_postgres() {
    guard_dev_null
    local bin port
    bin="$(find_pg_bin)" || { apt_install postgresql; bin="$(find_pg_bin)" || die "postgresql installed but initdb not found"; }
    port="$(free_port)"
    PG_DATA="$SERVICES_DIR/postgres"
    mkdir -p "$PG_DATA"
    local as_user=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$SERVICES_DIR" postgres
        chown -R postgres "$SERVICES_DIR/postgres"
        chmod 755 "$SERVICES_DIR"
        as_user=(runuser -u postgres --)
    fi
    say "starting PostgreSQL ($bin) on 127.0.0.1:$port"
    "${as_user[@]}" "$bin/initdb" -D "$PG_DATA" -A trust -U postgres --no-sync >"$SERVICES_DIR/initdb.log" 2>&1 \
        || { cat "$SERVICES_DIR/initdb.log" >&2; die "initdb failed"; }
    "${as_user[@]}" "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 30 \
        -o "-p $port -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
        || { cat "$PG_DATA/server.log" >&2; die "PostgreSQL did not start"; }
    PG_BIN="$bin"
    export PLINTH_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

ensure_venv() {
    VENV="${PLINTH_TEST_VENV:-$HOME/.cache/plinth/test-venv}"
    local requirements="$PWD/scripts/test-requirements.txt"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the test venv at $VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed"
    fi
    if ! cmp -s "$requirements" "$VENV/.requirements"; then
        say "installing test clients into $VENV (scripts/test-requirements.txt)"
        "$VENV/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2 || die "pip install failed"
        cp "$requirements" "$VENV/.requirements"
    fi
    export PLINTH_TEST_VENV="$VENV"
}

# The environments tests (real uv against the package index): the Python whose pip installs
# the pinned uv (the test venv's, which has pip), and the host Python 3.11 builds use.
setup_environments() {
    ensure_venv
    [ -x /usr/bin/python3 ] || apt_install python3
    /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
        || say "warning: /usr/bin/python3 is not 3.11; the environments tests ask for 3.11"
    export PLINTH_TEST_BOOTSTRAP_PYTHON="$VENV/bin/python"
}

# The escape suite's Python environment: sandboxed jobs run as other users and see only
# system folders and what the server allows, so the environment is built on the system's
# Python (not one under a home folder), outside any home folder, readable by all.
setup_sandbox_venv() {
    ensure_venv
    [ "$(id -u)" = 0 ] || die "the sandbox's escape suite needs root (it starts the server as root and as another user)"
    local dir="${PLINTH_TEST_SANDBOX_VENV:-/var/cache/plinth-test/sandbox-venv}"
    local requirements="$PWD/scripts/sandbox-requirements.txt"
    [ -x /usr/bin/python3 ] || apt_install python3
    if [ ! -x "$dir/bin/python" ] || ! cmp -s "$requirements" "$dir/.requirements"; then
        say "creating the sandboxed jobs' Python environment at $dir"
        rm -rf "$dir"
        mkdir -p "$(dirname "$dir")"
        /usr/bin/python3 -m venv --without-pip "$dir" || die "/usr/bin/python3 -m venv failed"
        "$VENV/bin/pip" --python "$dir/bin/python" install -q --disable-pip-version-check \
            -r "$requirements" >&2 || die "pip install into $dir failed"
        cp "$requirements" "$dir/.requirements"
    fi
    chmod -R a+rX "$dir"
    export PLINTH_TEST_SANDBOX_VENV="$dir"
}

# nginx for the test that reaches a server through a TLS proxy (the test runs its own).
setup_nginx() {
    local nginx
    nginx="$(command -v nginx || true)"
    [ -n "$nginx" ] || [ ! -x /usr/sbin/nginx ] || nginx=/usr/sbin/nginx
    if [ -z "$nginx" ]; then
        apt_install nginx
        nginx="$(command -v nginx || echo /usr/sbin/nginx)"
    fi
    [ -x "$nginx" ] || die "nginx installed but not found"
    command -v openssl >/dev/null 2>&1 || apt_install openssl
    export PLINTH_TEST_NGINX="$nginx"
}

start_s3() {
    ensure_venv
    local port
    port="$(free_port)"
    say "starting an S3 server (moto) on 127.0.0.1:$port"
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$SERVICES_DIR/moto.log" 2>&1 &
    SERVICE_PIDS+=($!)
    wait_for "python3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$port/\")'" 30 \
        || { cat "$SERVICES_DIR/moto.log" >&2; die "the S3 server did not start"; }
    export PLINTH_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
    export PLINTH_TEST_S3_BUCKET="plinth-test"
    export PLINTH_TEST_S3_ACCESS_KEY_ID="plinth-test-key"
    export PLINTH_TEST_S3_SECRET_ACCESS_KEY="plinth-test-secret"
    "$VENV/bin/python" - <<PY || die "cannot create the test bucket"
import boto3
boto3.client("s3", endpoint_url="$PLINTH_TEST_S3_ENDPOINT", region_name="us-east-1",
             aws_access_key_id="$PLINTH_TEST_S3_ACCESS_KEY_ID",
             aws_secret_access_key="$PLINTH_TEST_S3_SECRET_ACCESS_KEY").create_bucket(Bucket="$PLINTH_TEST_S3_BUCKET")
PY
}

start_webdriver() {
    local chromium driver port
    chromium="$(command -v chromium || true)"
    driver="$(command -v chromedriver || true)"
    if [ -z "$chromium" ] || [ -z "$driver" ]; then
        apt_install chromium chromium-driver
        chromium="$(command -v chromium)" || die "chromium installed but not on PATH"
        driver="$(command -v chromedriver)" || die "chromedriver installed but not on PATH"
    fi
    port="$(free_port)"
    say "starting chromedriver on 127.0.0.1:$port ($("$chromium" --version 2>/dev/null))"
    "$driver" --port="$port" --allowed-ips=127.0.0.1 >"$SERVICES_DIR/chromedriver.log" 2>&1 &
    SERVICE_PIDS+=($!)
    wait_for "python3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$port/status\")'" 30 \
        || { cat "$SERVICES_DIR/chromedriver.log" >&2; die "chromedriver did not start"; }
    export PLINTH_TEST_WEBDRIVER_URL="http://127.0.0.1:$port"
    export PLINTH_TEST_CHROMIUM="$chromium"
}

# A throwaway OpenLDAP server on 127.0.0.1, plain and LDAPS (a CA and a leaf certificate
# made here with openssl), mdb with the memberof overlay, loaded with the fixture users
# and nested groups that the federation tests (crates/plinth/tests/it/federation.rs) expect.
start_slapd() {
    if ! command -v slapd >/dev/null 2>&1 && [ ! -x /usr/sbin/slapd ]; then
        apt_install slapd ldap-utils
    fi
    command -v ldapadd >/dev/null 2>&1 || apt_install ldap-utils
    command -v openssl >/dev/null 2>&1 || apt_install openssl
    local slapd dir port tls_port modules
    slapd="$(command -v slapd || echo /usr/sbin/slapd)"
    modules=/usr/lib/ldap
    [ -e "$modules/back_mdb.so" ] || modules="$(dirname "$(find /usr/lib -name 'back_mdb*.so*' 2>/dev/null | head -n1)")"
    dir="$SERVICES_DIR/slapd"
    mkdir -p "$dir/db"
    say "making the LDAP server's CA and certificate"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Plinth test LDAP CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; die "cannot make the LDAP CA"; }
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" \
        -out "$dir/server.csr" >>"$dir/openssl.log" 2>&1 || die "cannot make the LDAP server key"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" >>"$dir/openssl.log" 2>&1 \
        || { cat "$dir/openssl.log" >&2; die "cannot sign the LDAP server certificate"; }
    cat >"$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $dir/slapd.pid
modulepath $modules
moduleload back_mdb
moduleload memberof
TLSCACertificateFile $dir/ca.pem
TLSCertificateFile $dir/server.pem
TLSCertificateKeyFile $dir/server.key
database mdb
maxsize 104857600
suffix "dc=plinth,dc=test"
rootdn "cn=admin,dc=plinth,dc=test"
rootpw admin-secret
directory $dir/db
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
access to attrs=userPassword
    by anonymous auth
    by self write
    by * none
access to *
    by dn.exact="cn=reader,dc=plinth,dc=test" read
    by self read
    by * none
CONF
    port="$(free_port)"
    tls_port="$(free_port)"
    say "starting slapd on 127.0.0.1:$port (ldap) and :$tls_port (ldaps)"
    "$slapd" -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$tls_port/" -d 0 \
        >"$dir/slapd.log" 2>&1 &
    SERVICE_PIDS+=($!)
    export PLINTH_TEST_LDAP_URL="ldap://127.0.0.1:$port"
    export PLINTH_TEST_LDAPS_URL="ldaps://127.0.0.1:$tls_port"
    export PLINTH_TEST_LDAP_CA="$dir/ca.pem"
    export PLINTH_TEST_LDAP_ROOT_DN="cn=admin,dc=plinth,dc=test"
    export PLINTH_TEST_LDAP_ROOT_PASSWORD="admin-secret"
    wait_for "ldapsearch -x -H $PLINTH_TEST_LDAP_URL -D cn=admin,dc=plinth,dc=test -w admin-secret -b '' -s base" 30 \
        || { cat "$dir/slapd.log" >&2; die "slapd did not start"; }
    # Users first, then groups (the memberof overlay writes memberOf as groups are added);
    # data-science holds ml-team, so alice is in data-science only through nesting.
    ldapadd -x -H "$PLINTH_TEST_LDAP_URL" -D cn=admin,dc=plinth,dc=test -w admin-secret \
        >"$dir/ldapadd.log" 2>&1 <<'LDIF' || { cat "$dir/ldapadd.log" >&2; die "cannot load the LDAP fixture"; }
dn: dc=plinth,dc=test
objectClass: dcObject
objectClass: organization
o: Plinth test
dc: plinth

dn: cn=reader,dc=plinth,dc=test
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: reader-secret

dn: ou=people,dc=plinth,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=plinth,dc=test
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,dc=plinth,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@plinth.test
userPassword: alice-directory-pw

dn: uid=bob,ou=people,dc=plinth,dc=test
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@plinth.test
userPassword: bob-directory-pw

dn: uid=ada,ou=people,dc=plinth,dc=test
objectClass: inetOrgPerson
uid: ada
cn: Ada Lovelace
sn: Lovelace
mail: ada@plinth.test
userPassword: ada-directory-pw

dn: cn=ml-team,ou=groups,dc=plinth,dc=test
objectClass: groupOfNames
cn: ml-team
member: uid=alice,ou=people,dc=plinth,dc=test

dn: cn=data-science,ou=groups,dc=plinth,dc=test
objectClass: groupOfNames
cn: data-science
member: cn=ml-team,ou=groups,dc=plinth,dc=test
member: uid=bob,ou=people,dc=plinth,dc=test

dn: cn=plinth-admins,ou=groups,dc=plinth,dc=test
objectClass: groupOfNames
cn: plinth-admins
member: uid=ada,ou=people,dc=plinth,dc=test
LDIF
}

# A throwaway OpenID Connect provider (npm oidc-provider 9, installed into a cache folder)
# on 127.0.0.1, running scripts/lib/oidc-provider.mjs: client `plinth`/`plinth-secret`,
# users jane (group ml-engineers) and olaf.
start_oidc_provider() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    local cache="${PLINTH_TEST_CACHE:-$HOME/.cache/plinth}/oidc-provider" port here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    mkdir -p "$cache"
    if [ ! -d "$cache/node_modules/oidc-provider" ]; then
        say "installing oidc-provider@9 (npm) into $cache"
        (cd "$cache" && [ -f package.json ] || echo '{"name":"plinth-test-oidc","private":true,"type":"module"}' >"$cache/package.json"
         cd "$cache" && npm install --silent --no-audit --no-fund oidc-provider@9 >"$SERVICES_DIR/npm.log" 2>&1) \
            || { tail -n 30 "$SERVICES_DIR/npm.log" >&2; die "npm install oidc-provider@9 failed"; }
    fi
    cp "$here/oidc-provider.mjs" "$cache/provider.mjs"
    port="$(free_port)"
    say "starting an OpenID Connect provider on 127.0.0.1:$port"
    (cd "$cache" && PORT="$port" exec node provider.mjs) >"$SERVICES_DIR/oidc-provider.log" 2>&1 &
    SERVICE_PIDS+=($!)
    export PLINTH_TEST_OIDC_ISSUER="http://127.0.0.1:$port"
    wait_for "python3 -c 'import urllib.request; urllib.request.urlopen(\"$PLINTH_TEST_OIDC_ISSUER/.well-known/openid-configuration\")'" 30 \
        || { cat "$SERVICES_DIR/oidc-provider.log" >&2; die "the OpenID Connect provider did not start"; }
}

stop_services() {
    local pid
    for pid in "${SERVICE_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
        else
            "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
        fi
    fi
    for pid in "${SERVICE_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$SERVICES_DIR"
}
