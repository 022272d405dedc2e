import { createHash, randomInt } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { outbox } from '../../../db/schema/index.ts';
import { computeDue } from '../../../flows/deadlines/calendar.ts';
import { inJson } from '../../../flows/engine/batch.ts';
import type { Effects } from '../../../flows/engine/effects.ts';
import { storeInbound } from '../../../flows/engine/inbound.ts';
import type { InboundMessage, Reply } from '../../../flows/engine/message.ts';
import { renderPlainText } from '../../../flows/engine/render-text.ts';
import { describeError } from '../../../log.ts';
import type { Runtime } from '../../../runtime.ts';
import type { InboundPipeline } from '../../pipeline.ts';
import type { OaConfig } from './config.ts';
import { signatureMatches, WeChatCipher, WeChatCryptoError, wechatSignature } from './crypto.ts';
import { toInbound } from './inbound.ts';
import { buildXml, MAX_XML_BYTES, parseWeChatXml, type WeChatFields, XmlRejected } from './xml.ts';

export const OA_PATH = '/wechat/official-account';
/** WeChat gives up after 5 s and retries; what is not done by then is sent through the API. */
export const PASSIVE_TIMEOUT_MS = 4_000;
/** A passive text reply longer than this is refused by WeChat; the rest goes through the API. */
export const PASSIVE_MAX_BYTES = 2_048;

export interface OfficialAccountRouteOptions {
  rt: Pick<Runtime, 'env' | 'log' | 'redis' | 'database' | 'deps' | 'kicker'>;
  pipeline: Pick<InboundPipeline, 'receiveAndProcess'>;
  config: OaConfig;
  /** How long a push may be processed before the answer is `success` (tests shorten it). */
  passiveTimeoutMs?: number;
}

type Query = Record<string, string | string[] | undefined>;
const one = (q: Query, name: string): string | undefined => {
  const v = q[name];
  return typeof v === 'string' ? v : undefined;
};

const SUCCESS = 'success';

/**
 * `GET|POST /wechat/official-account`: the official account's server URL. Every push is
 * checked before anything else — signature (constant-time), timestamp within the replay window,
 * nonce not seen before (Redis SET NX) — then parsed without entity expansion, decrypted and
 * its AppID checked in safe mode, stored (deduplicated by MsgId) and processed. What the bot
 * says within ~4 s goes back as the passive reply; later replies go through the API.
 */
export async function registerOfficialAccountRoutes(
  app: FastifyInstance,
  opts: OfficialAccountRouteOptions,
): Promise<void> {
  const { rt, pipeline, config } = opts;
  const log = rt.log.child({ part: 'wechat-oa' });
  const { db } = rt.database;
  const cipher = config.aesKey ? new WeChatCipher(config.aesKey, config.appId) : null;
  const timeoutMs = opts.passiveTimeoutMs ?? PASSIVE_TIMEOUT_MS;
  const background = new Set<Promise<unknown>>();

  const windowMs = () => {
    const now = rt.deps.clock.now();
    return computeDue(now, rt.deps.policy.wechat.replayWindow, rt.deps.calendar).getTime() - now.getTime();
  };
  const nonceKey = (timestamp: string, nonce: string) =>
    `${rt.env.QUEUE_PREFIX}:wxoa:${config.appId}:nonce:${timestamp}:${nonce}`;

  const refuse = (reply: FastifyReply, status: number, reason: string, extra: object = {}) => {
    log.warn({ status, reason, ...extra }, 'wechat push refused');
    return reply
      .code(status)
      .type('text/plain; charset=utf-8')
      .send(status === 401 ? 'unauthorized' : 'bad request');
  };
  const answer = (reply: FastifyReply, body: string) =>
    reply
      .code(200)
      .type(body === SUCCESS ? 'text/plain; charset=utf-8' : 'application/xml; charset=utf-8')
      .send(body);

  function signedOk(q: Query): boolean {
    const timestamp = one(q, 'timestamp') ?? '';
    const nonce = one(q, 'nonce') ?? '';
    return signatureMatches(wechatSignature(config.token, timestamp, nonce), one(q, 'signature'));
  }

  /** Answers a text passive reply, encrypted when the push was. */
  function passiveXml(push: WeChatFields, text: string, encrypted: boolean): string {
    const now = Math.floor(rt.deps.clock.now().getTime() / 1000);
    const xml = buildXml({
      ToUserName: push.FromUserName ?? '',
      FromUserName: push.ToUserName ?? '',
      CreateTime: now,
      MsgType: 'text',
      Content: text,
    });
    if (!encrypted || !cipher) return xml;
    const encrypt = cipher.encrypt(xml);
    const nonce = String(randomInt(1e9, 1e10));
    const timestamp = String(now);
    return buildXml({
      Encrypt: encrypt,
      MsgSignature: wechatSignature(config.token, timestamp, nonce, encrypt),
      TimeStamp: now,
      Nonce: nonce,
    });
  }

  /**
   * Takes this chat's replies out of the outbox as the passive reply (in id order, as many as fit),
   * and wakes the workers for the rest: other chats' messages, and any that did not fit.
   */
  async function claimPassive(openid: string, effects: Effects): Promise<string | null> {
    const ids = effects.outboxIds;
    const mine = ids.length
      ? await db
          .select({ id: outbox.id, payload: outbox.payload })
          .from(outbox)
          .where(
            and(
              inJson(outbox.id, ids, 'int'),
              eq(outbox.channel, 'wechat-oa'),
              eq(outbox.chatId, openid),
              eq(outbox.state, 'pending'),
            ),
          )
          .orderBy(asc(outbox.id))
      : [];
    const picked: number[] = [];
    let bytes = 0;
    for (const row of mine) {
      const size = Buffer.byteLength(renderPlainText(row.payload as unknown as Reply), 'utf8') + 2;
      if (bytes + size > PASSIVE_MAX_BYTES) break;
      picked.push(row.id);
      bytes += size;
    }
    const claimed = picked.length
      ? await db
          .update(outbox)
          .set({ state: 'sent', sentAt: rt.deps.clock.now(), externalId: 'passive' })
          .where(
            and(
              inJson(outbox.id, picked, 'int'),
              eq(outbox.channel, 'wechat-oa'),
              eq(outbox.chatId, openid),
              eq(outbox.state, 'pending'),
            ),
          )
          .returning({ id: outbox.id, payload: outbox.payload })
      : [];
    claimed.sort((a, b) => a.id - b.id);
    const taken = new Set(claimed.map((r) => r.id));
    const rest = ids.filter((id) => !taken.has(id));
    if (rest.length > 0 || effects.deadlines.length > 0)
      await rt.kicker.kick({ outboxIds: rest, deadlines: effects.deadlines });
    if (claimed.length === 0) return null;
    return claimed.map((r) => renderPlainText(r.payload as unknown as Reply)).join('\n\n');
  }

  /** Stores without processing: an unsubscribe is recorded, and nothing is said. */
  async function storeSilently(msg: InboundMessage, event: string): Promise<void> {
    await storeInbound(db, msg, { processedAt: msg.receivedAt, extra: { event } });
  }

  /**
   * Processes a message, answering with what it said if that takes less than the timeout. After
   * the timeout the work goes on; its replies are sent through the API when it is done.
   */
  async function processWithin(msg: InboundMessage): Promise<{ duplicate: boolean; text: string | null }> {
    const work = pipeline.receiveAndProcess(msg, { kick: false });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const first = await Promise.race([work, late]).finally(() => clearTimeout(timer));
    if (first === 'late') {
      const rest = work
        .then((r) => rt.kicker.kick(r.effects))
        .catch((err) =>
          log.error({ err: describeError(err) }, 'wechat push failed after the passive timeout'),
        )
        .finally(() => background.delete(rest));
      background.add(rest);
      log.info({ timeoutMs }, 'wechat push still being processed; its replies go through the API');
      return { duplicate: false, text: null };
    }
    if (first.duplicate) return { duplicate: true, text: null };
    return { duplicate: false, text: await claimPassive(msg.chatId, first.effects) };
  }

  await app.register(async (scope) => {
    // WeChat posts text/xml; this scope takes any body as a string, up to 64 KB, and only here.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_XML_BYTES }, (_req, body, done) =>
      done(null, body),
    );
    scope.addHook('onClose', async () => {
      while (background.size > 0) await Promise.allSettled([...background]);
    });

    scope.get(OA_PATH, async (req, reply) => {
      const q = req.query as Query;
      const echostr = one(q, 'echostr');
      if (!signedOk(q)) return refuse(reply, 401, 'bad signature (verification)');
      if (!echostr || !/^[A-Za-z0-9_-]{1,128}$/.test(echostr)) return refuse(reply, 400, 'no echostr');
      return reply.code(200).type('text/plain; charset=utf-8').send(echostr);
    });

    scope.post(OA_PATH, { bodyLimit: MAX_XML_BYTES }, async (req, reply) => {
      const q = req.query as Query;
      const timestamp = one(q, 'timestamp') ?? '';
      const nonce = one(q, 'nonce') ?? '';
      if (!signedOk(q)) return refuse(reply, 401, 'bad signature');
      const window = windowMs();
      const ageMs = rt.deps.clock.now().getTime() - Number(timestamp) * 1000;
      if (!/^\d{1,12}$/.test(timestamp) || Math.abs(ageMs) > window)
        return refuse(reply, 401, 'stale timestamp', { ageMs });
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(nonce)) return refuse(reply, 401, 'bad nonce');
      const body = typeof req.body === 'string' ? req.body : '';

      // A nonce is used once. The timestamp may be up to a window ahead, so it is kept two windows.
      // WeChat's own retry of a push repeats it byte for byte: that is a duplicate, not an attack.
      const bodyHash = createHash('sha256').update(body).digest('hex');
      const key = nonceKey(timestamp, nonce);
      if ((await rt.redis.set(key, bodyHash, 'PX', 2 * window, 'NX')) !== 'OK') {
        if ((await rt.redis.get(key)) === bodyHash) return answer(reply, SUCCESS);
        return refuse(reply, 401, 'replayed nonce');
      }

      let fields: WeChatFields;
      try {
        fields = parseWeChatXml(body);
      } catch (err) {
        if (err instanceof XmlRejected) return refuse(reply, 400, err.message);
        throw err;
      }
      if (config.mode === 'plain' && fields.Encrypt !== undefined && fields.MsgType === undefined)
        return refuse(
          reply,
          400,
          'an encrypted push in plain mode: set WECHAT_OA_AES_KEY (and WECHAT_OA_MODE)',
        );
      const encrypted = config.mode !== 'plain' && fields.Encrypt !== undefined;
      if (config.mode === 'safe' && !encrypted)
        return refuse(reply, 400, 'safe mode: encrypted body expected');
      if (encrypted) {
        const encrypt = fields.Encrypt ?? '';
        const expected = wechatSignature(config.token, timestamp, nonce, encrypt);
        if (!signatureMatches(expected, one(q, 'msg_signature')))
          return refuse(reply, 401, 'bad msg_signature');
        try {
          fields = parseWeChatXml(cipher!.decrypt(encrypt));
        } catch (err) {
          if (err instanceof WeChatCryptoError) return refuse(reply, 401, err.message);
          if (err instanceof XmlRejected) return refuse(reply, 400, `decrypted: ${err.message}`);
          throw err;
        }
      }

      const converted = toInbound(fields, rt.deps.clock.now());
      if (converted.kind === 'ignore') {
        log.debug({ reason: converted.reason }, 'wechat push ignored');
        return answer(reply, SUCCESS);
      }
      if (converted.kind === 'store') {
        await storeSilently(converted.msg, converted.event);
        return answer(reply, SUCCESS);
      }
      let outcome: Awaited<ReturnType<typeof processWithin>>;
      try {
        outcome = await processWithin(converted.msg);
      } catch (err) {
        // Not stored (the database is down): free the nonce so WeChat's retry is taken.
        await rt.redis.del(key).catch(() => {});
        throw err;
      }
      const { duplicate, text } = outcome;
      if (duplicate || text === null) return answer(reply, SUCCESS);
      return answer(reply, passiveXml(fields, text, encrypted));
    });
  });
}
