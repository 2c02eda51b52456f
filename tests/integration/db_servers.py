"""Real, throwaway MariaDB and PostgreSQL servers for the driver tests, and a
TCP listener that never speaks.

    with MariaDBServer() as db:              # or PostgresServer(folder, tls=True)
        db.admin_sql("SELECT 1")             # superuser, over the unix socket
        connect to db.host:db.port or db.socket as db.username/db.password, db.database

Each server gets its own data folder, a free loopback port and a unix socket;
nothing listens beyond 127.0.0.1. The first start creates the database `app`
(tables `t (id INT)` and `flags (ok INT)`, one row `1` each), the user `hc`
(SELECT on app only) and the user `noaccess` (can log in, no access to app),
both with PASSWORD. With tls=True the server requires TLS on TCP (the unix
socket stays plain) with a certificate for 127.0.0.1/localhost signed by
`ca_file`; `wrong_ca_file` is another CA that did not sign it.

Servers run as the service user (mysql, postgres) when we are root, since
both refuse root, and die with the test process (PR_SET_PDEATHSIG) even if it
is killed; a normal exit stops them and removes the folders the fixture made.
Everything here is bounded in time. Only the stdlib and the servers' own
command-line tools are used.
"""
import atexit
import contextlib
import ctypes
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from tests.integration.support import alive, children_of

PASSWORD = "hc-Secret-pw-4b1f9e"  # Distinctive, so tests can grep logs for leaks.
DATABASE = "app"
USERNAME = "hc"
NO_ACCESS_USERNAME = "noaccess"
LOOPBACK = "127.0.0.1"

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
SETUP_TIMEOUT_S = 60.0   # mariadb-install-db / initdb on a busy 2-core machine.
SQL_TIMEOUT_S = 15.0
LOCK_TIMEOUT_S = 10.0
POLL_PAUSE_S = 0.02
LOG_TAIL_BYTES = 4000
CERT_DAYS = 2

POSTGRES_BIN = "/usr/lib/postgresql/15/bin"
# Small buffers and a fast shutdown: install 0.6 s, 22 MB, stop in ~25 ms
# (src/backends/network_drivers_research.md, section 3).
MARIADB_OPTIONS = ["--innodb-buffer-pool-size=8M", "--innodb-log-file-size=4M",
                   "--innodb-log-buffer-size=1M", "--key-buffer-size=1M",
                   "--aria-pagecache-buffer-size=1M", "--innodb-fast-shutdown=2",
                   "--skip-log-bin", "--skip-name-resolve"]
PR_SET_PDEATHSIG = 1

_running = set()  # Servers started and not yet closed, for the exit hook.


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """preexec_fn: SIGKILL this child when the thread that started it (the
    test) dies. Runs after Popen's user switch, which would clear it."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _service_user(name):
    """The user to run a server as: `name` when we are root (both servers
    refuse root), else ourselves (None)."""
    return name if os.geteuid() == 0 else None


def _chown_tree(path, user):
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, folders, files in os.walk(path):
        for name in [root] + [os.path.join(root, f) for f in folders + files]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


def _check_traversable(path):
    """The service user must be able to reach `path`: every parent needs o+x."""
    parent = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(parent).st_mode & 0o001:
            raise RuntimeError("%s is not traversable by other users; put the server "
                               "folder under /tmp (tempfile.mkdtemp(dir='/tmp'))" % parent)
        if parent == "/":
            return
        parent = os.path.dirname(parent)


def _clean_env(prefixes):
    """Our environment without client settings (PGSSLMODE, MYSQL_PWD...) that
    would change what the command-line tools do."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def _tail(path):
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - LOG_TAIL_BYTES))
            return log.read().decode(errors="replace")
    except OSError as error:
        return "(no log: %s)" % error


def _run(args, timeout=SQL_TIMEOUT_S, **kwargs):
    """Runs a tool; returns stdout text, raises with stderr on failure."""
    done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, **kwargs)
    if done.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args[:2]), done.returncode,
                                                   done.stderr.decode(errors="replace").strip()))
    return done.stdout.decode()


def _make_certificates(folder):
    """A CA, a server certificate it signed for 127.0.0.1 and localhost, and
    an unrelated CA: ca.pem, wrong-ca.pem, server.pem, server.key. EC keys:
    far quicker to make than RSA."""
    os.makedirs(folder, exist_ok=True)
    path = lambda name: os.path.join(folder, name)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name in ("ca", "wrong-ca"):
        _run(["openssl", "req", "-x509"] + key + ["-days", str(CERT_DAYS), "-subj",
             "/CN=healthcheck test %s" % name, "-keyout", path(name + ".key"),
             "-out", path(name + ".pem")])
    _run(["openssl", "req"] + key + ["-subj", "/CN=127.0.0.1", "-keyout", path("server.key"),
                                     "-out", path("server.csr")])
    with open(path("server.ext"), "w") as extensions:
        extensions.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                         "basicConstraints=CA:FALSE\n"
                         "keyUsage=digitalSignature,keyEncipherment\n"
                         "extendedKeyUsage=serverAuth\n")
    _run(["openssl", "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"),
          "-CAkey", path("ca.key"), "-CAcreateserial", "-days", str(CERT_DAYS),
          "-extfile", path("server.ext"), "-out", path("server.pem")])
    os.chmod(path("server.key"), 0o600)


def _checked_limit(n):
    if n < 0:
        raise ValueError("a connection limit is a count >= 0, or None for no limit")
    return n


@atexit.register
def _close_all():
    for server in list(_running):
        server.close()


class _DatabaseServer:
    """What both servers share: folders, the process, start/stop/kill, the
    exit hook. Subclasses say how to install, launch, stop and query."""

    NAME = ""
    SERVICE_USER = ""
    STOP_SIGNAL = signal.SIGTERM

    def __init__(self, folder=None, tls=False):
        """`folder`: where the server's files go, in a subfolder named for
        the server (so both servers can share one folder); None makes a
        folder under /tmp. As root, `folder` is made 0755 and its parents
        must be enterable by others (mysql, postgres): a TemporaryDirectory
        under /tmp is fine, /root is not."""
        self._owns_folder = folder is None
        if folder is None:
            folder = tempfile.mkdtemp(prefix="healthcheck-%s-" % self.NAME, dir="/tmp")
        else:
            os.makedirs(folder, exist_ok=True)
        self._outer = folder
        self.folder = os.path.join(folder, self.NAME)
        self.data_dir = os.path.join(self.folder, "data")
        self.run_dir = os.path.join(self.folder, "run")
        self.log_path = os.path.join(self.run_dir, "server.log")
        self.tls = tls
        self.host = LOOPBACK
        self.port = free_port()
        self.database = DATABASE
        self.username = USERNAME
        self.password = PASSWORD
        tls_dir = os.path.join(self.folder, "tls")
        # Made by the first start(); None without tls.
        self.ca_file = os.path.join(tls_dir, "ca.pem") if tls else None
        self.wrong_ca_file = os.path.join(tls_dir, "wrong-ca.pem") if tls else None
        self._cert = os.path.join(tls_dir, "server.pem")
        self._key = os.path.join(tls_dir, "server.key")
        self._user = _service_user(self.SERVICE_USER)
        self.process = None

    # -- life cycle --------------------------------------------------------

    def start(self):
        """Installs on the first start, launches, waits until it answers SQL."""
        if self.running():
            return self
        if self._user:
            _check_traversable(self._outer)
        first = not os.path.isdir(self.data_dir)
        try:
            if first:
                self._prepare_folders()
            self._launch()
            if first:
                self._create_accounts()
        except BaseException:
            self.kill()
            if first:  # So the next start installs again rather than skip the accounts.
                shutil.rmtree(self.data_dir, ignore_errors=True)
            raise
        return self

    def _launch(self):
        # The server's stderr goes to its log (PostgreSQL logs there).
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self._launch_args(), cwd=self.folder,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            env=self._env(), user=self._user, group=self._user,
                                            extra_groups=[] if self._user else None,
                                            preexec_fn=_die_with_parent)
        _running.add(self)
        self._wait_ready()

    def stop(self):
        """Graceful stop, waiting for the process to exit (SIGKILL after
        STOP_TIMEOUT_S). The data stays: start() or restart() resumes it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(self.STOP_SIGNAL)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self):
        """SIGKILL the server and any process it started, the way a crash
        would; no shutdown work is done."""
        if self.process is None:
            return
        doomed = []
        if self.process.poll() is None:
            doomed = [self.process.pid] + children_of(self.process.pid)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(alive(pid) for pid in doomed) and time.monotonic() < deadline:
            time.sleep(POLL_PAUSE_S)
        self.process = None

    def restart(self):
        """Stops if running, starts again on the same port, socket and data."""
        self.stop()
        return self.start()

    def close(self):
        """Stops and removes the server's files: its subfolder, and the
        outer folder too if this fixture made it."""
        self.stop()
        _running.discard(self)
        shutil.rmtree(self._outer if self._owns_folder else self.folder, ignore_errors=True)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()

    def log_text(self):
        return _tail(self.log_path)

    def _prepare_folders(self):
        shutil.rmtree(self.folder, ignore_errors=True)
        os.makedirs(self.run_dir)
        if self.tls:
            _make_certificates(os.path.dirname(self.ca_file))
        if self._user:
            for path in (self._outer, self.folder):
                os.chmod(path, 0o755)
        _chown_tree(self.folder, self._user)
        self._install()
        _chown_tree(self.folder, self._user)

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        last_error = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError("%s exited with %d while starting; log:\n%s"
                                   % (self.NAME, code, self.log_text()))
            try:
                self.admin_sql("SELECT 1", database=self._ready_database(), timeout=2)
                return
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                last_error = str(error)
                time.sleep(POLL_PAUSE_S)
        self.kill()
        raise RuntimeError("%s did not answer within %.0f s (%s); log:\n%s"
                           % (self.NAME, START_TIMEOUT_S, last_error, self.log_text()))

    # -- queries -----------------------------------------------------------

    def set_connection_limit(self, user, n):
        """From now on (no restart), `user` may hold at most `n` sessions:
        n=0 refuses every new login, n=None removes the limit. Sessions
        already open stay. Refused logins read, in MariaDB: ERROR 1226 User
        'hc' has exceeded the 'max_user_connections' resource; in PostgreSQL:
        FATAL: too many connections for role "hc"."""
        raise NotImplementedError

    def rows(self, table):
        """The number of rows of `table` in app (to prove nothing was written)."""
        return int(self.admin_sql("SELECT COUNT(*) FROM %s" % table).strip())

    def _count(self, sql):
        return int(self.admin_sql(sql).strip())

    @contextlib.contextmanager
    def lock_table(self, table="t"):
        """Holds an exclusive lock on `table` from another superuser session
        until the block ends; returns once the server shows it granted."""
        holder = subprocess.Popen(self._session_args(), stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=self._env())
        try:
            holder.stdin.write(self._lock_sql(table).encode())
            holder.stdin.flush()
            deadline = time.monotonic() + LOCK_TIMEOUT_S
            while not self._lock_granted(table):
                if holder.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("could not lock %s: %s" % (
                        table, holder.stderr.read().decode(errors="replace")
                        if holder.poll() is not None else "timed out"))
                time.sleep(POLL_PAUSE_S)
            yield
        finally:
            with contextlib.suppress(OSError):
                holder.stdin.write(self._unlock_sql().encode())
                holder.stdin.close()
            try:
                holder.wait(timeout=LOCK_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait()
            holder.stderr.close()


class MariaDBServer(_DatabaseServer):
    """mariadbd on 127.0.0.1:port and the unix socket `socket`. The server
    is this process's child, so stop() is SIGTERM (with
    innodb-fast-shutdown=2, ~25 ms) and kill() is SIGKILL."""

    NAME = "mariadb"
    SERVICE_USER = "mysql"

    def __init__(self, folder=None, tls=False):
        super().__init__(folder, tls)
        self.socket = os.path.join(self.run_dir, "mariadb.sock")

    def _env(self):
        return _clean_env(("MYSQL", "MARIADB"))

    def _install(self):
        _run(["mariadb-install-db", "--no-defaults", "--datadir=" + self.data_dir,
              "--auth-root-authentication-method=normal", "--skip-test-db"] + MARIADB_OPTIONS,
             timeout=SETUP_TIMEOUT_S, cwd=self.folder, env=self._env(), user=self._user,
             group=self._user, extra_groups=[] if self._user else None)

    def _launch_args(self):
        args = ["mariadbd", "--no-defaults", "--datadir=" + self.data_dir,
                "--socket=" + self.socket, "--port=%d" % self.port,
                "--bind-address=" + LOOPBACK, "--pid-file=" + os.path.join(self.run_dir, "pid"),
                "--log-error=" + self.log_path] + MARIADB_OPTIONS
        if self.tls:
            args += ["--ssl-ca=" + self.ca_file, "--ssl-cert=" + self._cert,
                     "--ssl-key=" + self._key, "--require-secure-transport=ON"]
        return args

    def _ready_database(self):
        return "mysql"

    def _session_args(self, database=DATABASE):
        # --unbuffered: a kept-open session answers each statement at once.
        return ["mariadb", "--no-defaults", "--user=root", "--socket=" + self.socket,
                "--batch", "--skip-column-names", "--unbuffered", "--database=" + database]

    def admin_sql(self, sql, database=DATABASE, timeout=SQL_TIMEOUT_S):
        """Runs `sql` as root over the unix socket; returns the rows as text,
        tab separated, without headers. Raises RuntimeError with stderr."""
        return _run(self._session_args(database) + ["--execute=" + sql], timeout=timeout,
                    env=self._env())

    def _create_accounts(self):
        statements = ["CREATE DATABASE app", "CREATE TABLE app.t (id INT)",
                      "INSERT INTO app.t VALUES (1)", "CREATE TABLE app.flags (ok INT)",
                      "INSERT INTO app.flags VALUES (1)"]
        # skip-name-resolve: the socket logs in as @localhost, TCP as @127.0.0.1.
        for host in ("localhost", LOOPBACK):
            statements += ["CREATE USER '%s'@'%s' IDENTIFIED BY '%s'" % (USERNAME, host, PASSWORD),
                           "GRANT SELECT ON app.* TO '%s'@'%s'" % (USERNAME, host),
                           "CREATE USER '%s'@'%s' IDENTIFIED BY '%s'"
                           % (NO_ACCESS_USERNAME, host, PASSWORD)]
        self.admin_sql("; ".join(statements), database="mysql")

    def set_connection_limit(self, user, n):
        """See _DatabaseServer.set_connection_limit. MAX_USER_CONNECTIONS on
        both hosts of `user`: 0 there means no limit and -1 refuses all."""
        limit = 0 if n is None else -1 if _checked_limit(n) == 0 else n
        self.admin_sql("; ".join("ALTER USER '%s'@'%s' WITH MAX_USER_CONNECTIONS %d"
                                 % (user, host, limit) for host in ("localhost", LOOPBACK)))

    def running_queries(self, user=USERNAME):
        """Statements of `user` executing now (sleeping, waiting for a lock...)."""
        return self._count("SELECT COUNT(*) FROM information_schema.processlist "
                           "WHERE user = '%s' AND command = 'Query'" % user)

    def connections(self, user=USERNAME):
        return self._count("SELECT COUNT(*) FROM information_schema.processlist "
                           "WHERE user = '%s'" % user)

    def _lock_sql(self, table):
        return "LOCK TABLES app.%s WRITE;\n" % table

    def _unlock_sql(self):
        return "UNLOCK TABLES;\n"

    def _lock_granted(self, table):
        return self.admin_sql("SHOW OPEN TABLES FROM app WHERE `Table` = '%s' AND In_use > 0"
                              % table).strip() != ""


class PostgresServer(_DatabaseServer):
    """postgres (the postmaster, run directly rather than through pg_ctl so it
    is this process's child) on 127.0.0.1:port and a socket in `socket_dir`.
    stop() is SIGINT, pg_ctl's "fast" mode; kill() SIGKILLs the postmaster
    and its backends."""

    NAME = "postgres"
    SERVICE_USER = "postgres"
    STOP_SIGNAL = signal.SIGINT

    def __init__(self, folder=None, tls=False):
        super().__init__(folder, tls)
        self.socket_dir = self.run_dir
        self.socket = os.path.join(self.run_dir, ".s.PGSQL.%d" % self.port)

    def _env(self):
        return _clean_env(("PG",))

    def _install(self):
        _run([os.path.join(POSTGRES_BIN, "initdb"), "-D", self.data_dir, "-U", "postgres",
              "-A", "trust", "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C"],
             timeout=SETUP_TIMEOUT_S, cwd=self.folder, env=self._env(), user=self._user,
             group=self._user, extra_groups=[] if self._user else None)
        tcp = "hostssl" if self.tls else "host"
        with open(os.path.join(self.data_dir, "pg_hba.conf"), "w") as hba:
            hba.write("local all postgres trust\n"
                      "local all all scram-sha-256\n"
                      "%s all all 127.0.0.1/32 scram-sha-256\n" % tcp)

    def _launch_args(self):
        args = [os.path.join(POSTGRES_BIN, "postgres"), "-D", self.data_dir,
                "-k", self.run_dir, "-p", str(self.port),
                "-c", "listen_addresses=" + LOOPBACK, "-c", "shared_buffers=8MB",
                "-c", "fsync=off", "-c", "logging_collector=off"]
        if self.tls:
            args += ["-c", "ssl=on", "-c", "ssl_cert_file=" + self._cert,
                     "-c", "ssl_key_file=" + self._key]
        return args

    def _ready_database(self):
        return "postgres"

    def _session_args(self, database=DATABASE):
        return ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                "-h", self.run_dir, "-p", str(self.port), "-U", "postgres", "-d", database]

    def admin_sql(self, sql, database=DATABASE, timeout=SQL_TIMEOUT_S):
        """Runs `sql` as postgres over the unix socket; returns the rows as
        text, tab separated, without headers. Raises RuntimeError with stderr.
        One call is one transaction: CREATE DATABASE must be alone."""
        return _run(self._session_args(database) + ["-c", sql], timeout=timeout,
                    env=self._env())

    def _create_accounts(self):
        self.admin_sql("CREATE DATABASE app", database="postgres")
        self.admin_sql(
            "CREATE TABLE t (id INT); INSERT INTO t VALUES (1);"
            "CREATE TABLE flags (ok INT); INSERT INTO flags VALUES (1);"
            "CREATE ROLE %s LOGIN PASSWORD '%s';" % (USERNAME, PASSWORD) +
            "CREATE ROLE %s LOGIN PASSWORD '%s';" % (NO_ACCESS_USERNAME, PASSWORD) +
            "REVOKE CONNECT ON DATABASE app FROM PUBLIC;"
            "GRANT CONNECT ON DATABASE app TO %s;" % USERNAME +
            "GRANT SELECT ON t, flags TO %s;" % USERNAME)

    def set_connection_limit(self, user, n):
        """See _DatabaseServer.set_connection_limit. ALTER ROLE ... CONNECTION
        LIMIT, where -1 means no limit; superusers are never limited."""
        limit = -1 if n is None else _checked_limit(n)
        self.admin_sql('ALTER ROLE "%s" CONNECTION LIMIT %d' % (user, limit))

    def running_queries(self, user=USERNAME):
        """Statements of `user` executing now (sleeping, waiting for a lock...)."""
        return self._count("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s' "
                           "AND state = 'active' AND pid <> pg_backend_pid()" % user)

    def connections(self, user=USERNAME):
        return self._count("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s' "
                           "AND backend_type = 'client backend' "
                           "AND pid <> pg_backend_pid()" % user)

    def _lock_sql(self, table):
        return "BEGIN;\nLOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\n" % table

    def _unlock_sql(self):
        return "COMMIT;\n"

    def _lock_granted(self, table):
        return self._count("SELECT count(*) FROM pg_locks l JOIN pg_class c "
                           "ON c.oid = l.relation WHERE c.relname = '%s' "
                           "AND l.mode = 'AccessExclusiveLock' AND l.granted" % table) > 0


class SilentListener:
    """A TCP listener on 127.0.0.1:port that accepts connections and never
    sends a byte; it holds them open until the block ends."""

    def __init__(self):
        self._listener = socket.socket()
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._held = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stopping.set()
        self._thread.join(timeout=STOP_TIMEOUT_S)
        self._listener.close()
        with self._lock:
            for peer in self._held:
                peer.close()

    def accepted(self):
        """How many connections were accepted so far."""
        with self._lock:
            return len(self._held)

    def _accept_loop(self):
        while not self._stopping.is_set():
            readable, _, _ = select.select([self._listener], [], [], 0.05)
            if readable:
                peer, _ = self._listener.accept()
                with self._lock:
                    self._held.append(peer)
