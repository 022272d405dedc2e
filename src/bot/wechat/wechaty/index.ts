import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type Message,
  type PuppetModuleName,
  qrcodeValueToImageUrl,
  ScanStatus,
  types,
  type Wechaty,
  WechatyBuilder,
  type WechatyOptions,
  log as wechatyLog,
} from 'wechaty';
import type { Env } from '../../../env.ts';
import { describeError, type Logger, scrubText } from '../../../log.ts';
import type { Runtime } from '../../../runtime.ts';
import type { ChannelSender } from '../../../workers/senders.ts';
import type { InboundPipeline } from '../../pipeline.ts';
import { startWechatyDelivery } from './delivery.ts';
import { createWechatySender } from './sender.ts';
import { toInbound } from './translate.ts';

export { deferredWechatySender, wechatyConfigured } from './deferred.ts';
export { startWechatyDelivery } from './delivery.ts';
export { renderForWechaty } from './render.ts';
export { createWechatySender, looksLikeRoom, OFFLINE_RETRY_MS, wechatyOnline } from './sender.ts';
export { stripLeadingMention, toInbound, translate } from './translate.ts';

export interface ReconnectOptions {
  /** First wait before checking on a puppet that reported trouble; doubles up to `maxDelayMs`. */
  minDelayMs: number;
  maxDelayMs: number;
  /** How long a (re)started puppet, or one showing a QR code, gets to log in before a restart. */
  loginTimeoutMs: number;
  /** Logged in but no 'ready' from the puppet after this long: send anyway. */
  readyGraceMs: number;
}

const RECONNECT_DEFAULTS: ReconnectOptions = {
  minDelayMs: 5_000,
  maxDelayMs: 5 * 60_000,
  loginTimeoutMs: 2 * 60_000,
  readyGraceMs: 2 * 60_000,
};

export interface WechatyChannel {
  bot: Wechaty;
  sender: ChannelSender;
  /** Resolves when the first start of the puppet has finished (started, not logged in). */
  started: Promise<void>;
  /** How many times the puppet was restarted after trouble. */
  restarts(): number;
  stop(): Promise<void>;
}

/** Sends wechaty's own log lines (brolog) to our logger, at our level. */
function routeWechatyLog(log: Logger, level: string): void {
  const brologLevel = (
    { silent: 'silent', fatal: 'error', error: 'error', warn: 'warn', info: 'warn', debug: 'info' } as const
  )[level as 'silent'];
  wechatyLog.level(brologLevel ?? 'verbose');
  const child = log.child({ component: 'wechaty' });
  wechatyLog.enableLogging((title: string, text?: string) => {
    const line = scrubText(text ?? '');
    if (title === 'ERR') child.error(line);
    else if (title === 'WARN') child.warn(line);
    else if (title === 'INFO') child.info(line);
    else child.debug(line);
  });
}

/** The bot from the environment: WECHATY_PUPPET, or the puppet service when only a token is set. */
export async function buildWechaty(env: Env): Promise<Wechaty> {
  const puppet =
    env.WECHATY_PUPPET ?? (env.WECHATY_PUPPET_SERVICE_TOKEN ? 'wechaty-puppet-service' : undefined);
  if (!puppet) throw new Error('wechaty: set WECHATY_PUPPET or WECHATY_PUPPET_SERVICE_TOKEN');
  const dataDir = resolve(env.DATA_DIR);
  await mkdir(dataDir, { recursive: true });
  return WechatyBuilder.build({
    // The memory card keeps the puppet's login session: DATA_DIR/gas-service-bot.memory-card.json.
    name: join(dataDir, 'gas-service-bot'),
    puppet: puppet as PuppetModuleName,
    ...(env.WECHATY_PUPPET_SERVICE_TOKEN
      ? { puppetOptions: { token: env.WECHATY_PUPPET_SERVICE_TOKEN } }
      : {}),
  });
}

/**
 * Starts the wechaty channel: staff groups (rooms) and customers' 1:1 chats on a WeChat or WeCom
 * account. Returns at once; the puppet starts and logs in in the background (a QR-code puppet
 * logs the scan URL and waits for someone to scan it). Until it is logged in and ready, the
 * sender answers "retry later", so nothing queued meanwhile is lost.
 *
 * Trouble (an 'error', a logout) never reaches the process: it is logged, and a puppet that is
 * not logged in again in time is restarted, with backoff. Messages are handled in arrival order
 * per chat; the pipeline's dedup drops a message the puppet delivers twice.
 *
 * The returned sender goes to this process's outbox worker (`startWorkers(rt, { …, wechaty:
 * sender })`) when it runs one; a delivery loop also sends pending 'wechaty' rows from here, for
 * deployments whose workers run elsewhere (they register `deferredWechatySender`).
 */
export async function startWechaty(opts: {
  rt: Runtime;
  pipeline: Pick<InboundPipeline, 'receiveAndProcess'>;
  /** A puppet instance (tests: PuppetMock); otherwise built from the environment. */
  puppet?: WechatyOptions['puppet'];
  reconnect?: Partial<ReconnectOptions>;
  /** Gap between two sends, as a person would type (default 300 ms). */
  sendIntervalMs?: number;
  /**
   * The delivery loop for pending 'wechaty' rows (default: every second; with RUN_WORKERS it
   * leaves fresh rows to this process's outbox worker for 2 s). false: no loop.
   */
  delivery?: { intervalMs?: number; graceMs?: number } | false;
  /** Accept friend requests, so customers who add the account can talk to it (default true). */
  acceptFriendships?: boolean;
  /** Accept invitations into groups (binding still needs a manager's code; default true). */
  acceptRoomInvitations?: boolean;
}): Promise<WechatyChannel> {
  const { rt, pipeline } = opts;
  const log = rt.log.child({ channel: 'wechaty' });
  const cfg = { ...RECONNECT_DEFAULTS, ...opts.reconnect };
  routeWechatyLog(rt.log, rt.env.LOG_LEVEL);
  const bot = opts.puppet ? WechatyBuilder.build({ puppet: opts.puppet }) : await buildWechaty(rt.env);

  let stopping = false;
  let restarts = 0;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | null = null;
  /** Last sign of life without a login: a (re)start or a QR code shown. */
  let lastActivity = Date.now();
  let loggedInAt = 0;

  const loggedIn = () => {
    try {
      return bot.puppet.isLoggedIn;
    } catch {
      return false;
    }
  };
  /** Whether the puppet said 'ready' since the last logout (some never do). */
  let readySeen = false;
  const online = () => {
    if (!loggedIn()) return false;
    try {
      if (bot.puppet.readyIndicator.value()) return true;
    } catch {
      return false;
    }
    // A puppet that never says 'ready' is trusted after a while; one that did and is not ready
    // now is resetting.
    return !readySeen && loggedInAt > 0 && Date.now() - loggedInAt > cfg.readyGraceMs;
  };

  const sender = createWechatySender({
    bot,
    db: rt.database.db,
    log,
    isOnline: online,
    minIntervalMs: opts.sendIntervalMs,
  });
  const delivery =
    opts.delivery === false
      ? null
      : startWechatyDelivery({
          rt,
          sender,
          isOnline: online,
          intervalMs: opts.delivery?.intervalMs,
          graceMs: opts.delivery?.graceMs ?? (rt.env.RUN_WORKERS ? 2000 : 0),
        });

  // --- keeping the account connected -------------------------------------------------------

  const schedule = (delayMs: number) => {
    if (stopping || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void check();
    }, delayMs);
  };
  const backoff = () => Math.min(cfg.maxDelayMs, cfg.minDelayMs * 2 ** Math.min(attempt, 20));
  /** Something went wrong: look again after a while and restart the puppet if it is still down. */
  const trouble = () => schedule(backoff());

  async function check(): Promise<void> {
    if (stopping || restarting) return;
    if (loggedIn()) {
      attempt = 0;
      return;
    }
    const waited = Date.now() - lastActivity;
    log.debug({ waited, attempt }, 'wechaty: not logged in');
    if (waited < cfg.loginTimeoutMs) return schedule(cfg.loginTimeoutMs - waited);
    attempt++;
    log.warn({ attempt }, 'wechaty: not logged in; restarting the puppet');
    restarting = (async () => {
      try {
        await bot.stop();
      } catch (err) {
        log.warn({ err: describeError(err) }, 'wechaty: stop failed');
      }
      if (stopping) return;
      try {
        await bot.start();
      } catch (err) {
        log.error({ err: describeError(err) }, 'wechaty: start failed');
      }
      lastActivity = Date.now();
      restarts++;
    })();
    await restarting;
    restarting = null;
    trouble();
  }

  bot.on('error', (err: unknown) => {
    // A puppet error or watchdog reset: logged, never thrown (an unhandled 'error' kills Node).
    log.warn({ err: describeError(err) }, 'wechaty error');
    trouble();
  });
  bot.on('scan', (qrcode: string, status: ScanStatus) => {
    lastActivity = Date.now();
    if (status === ScanStatus.Waiting || status === ScanStatus.Timeout)
      log.info(
        { url: qrcodeValueToImageUrl(qrcode), qrcode, status: ScanStatus[status] },
        'wechaty: scan this QR code with the service account (open the url, or render the qrcode value)',
      );
    else log.info({ status: ScanStatus[status] }, 'wechaty: login QR code');
  });
  bot.on('login', (user) => {
    attempt = 0;
    loggedInAt = Date.now();
    clearTimeout(timer);
    timer = undefined;
    log.info({ userId: user.id }, 'wechaty: logged in');
    delivery?.poke();
  });
  bot.on('ready', () => {
    readySeen = true;
    log.info('wechaty: ready');
    delivery?.poke();
  });
  bot.on('logout', (user, reason?: string) => {
    loggedInAt = 0;
    readySeen = false;
    if (stopping || restarting) return;
    log.warn({ userId: user.id, reason }, 'wechaty: logged out');
    trouble();
  });
  if (opts.acceptFriendships ?? true)
    bot.on('friendship', async (friendship) => {
      try {
        if (friendship.type() !== types.Friendship.Receive) return;
        await friendship.accept();
        log.info({ contactId: friendship.contact().id }, 'wechaty: friend request accepted');
      } catch (err) {
        log.warn({ err: describeError(err) }, 'wechaty: could not accept a friend request');
      }
    });
  if (opts.acceptRoomInvitations ?? true)
    bot.on('room-invite', async (invitation) => {
      try {
        await invitation.accept();
        log.info('wechaty: group invitation accepted');
      } catch (err) {
        log.warn({ err: describeError(err) }, 'wechaty: could not accept a group invitation');
      }
    });

  // --- messages ------------------------------------------------------------------------------

  const chains = new Map<string, Promise<void>>();

  async function handle(msg: Message): Promise<void> {
    const inbound = await toInbound(msg);
    if (!inbound) return;
    for (let tries = 1; ; tries++) {
      try {
        await pipeline.receiveAndProcess(inbound);
        return;
      } catch (err) {
        // Not stored (the database is away): the puppet will not deliver it again, so try a
        // few more times before giving up on it.
        if (tries >= 5) {
          log.error(
            { messageId: inbound.channelMessageId, err: describeError(err) },
            'wechaty: message could not be stored; dropped',
          );
          return;
        }
        await new Promise((r) => setTimeout(r, 500 * 2 ** tries));
      }
    }
  }

  bot.on('message', (msg: Message) => {
    let key: string;
    try {
      if (msg.self()) return; // the bot's own sends come back as messages
      key = msg.room()?.id ?? msg.talker().id;
    } catch (err) {
      log.warn({ err: describeError(err) }, 'wechaty: unreadable message');
      return;
    }
    const next = (chains.get(key) ?? Promise.resolve())
      .then(() => handle(msg))
      .catch((err) => log.error({ err: describeError(err) }, 'wechaty: message handling failed'));
    chains.set(key, next);
    void next.finally(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  });

  // --- start in the background -----------------------------------------------------------------

  const started = (async () => {
    try {
      await bot.start();
    } catch (err) {
      log.error({ err: describeError(err) }, 'wechaty: start failed; will retry');
    }
    lastActivity = Date.now();
    if (!loggedIn()) trouble();
  })();

  return {
    bot,
    sender,
    started,
    restarts: () => restarts,
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await started;
      await restarting;
      await delivery?.stop();
      try {
        await bot.stop();
      } catch (err) {
        log.warn({ err: describeError(err) }, 'wechaty: stop failed');
      }
      while (chains.size > 0) await Promise.allSettled([...chains.values()]);
    },
  };
}
