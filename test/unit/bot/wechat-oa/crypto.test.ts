import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodeAesKey,
  signatureMatches,
  WeChatCipher,
  WeChatCryptoError,
  wechatSignature,
} from '../../../../src/bot/wechat/official-account/crypto.ts';

// The known-answer values of Tencent's published sample for the official account's message
// encryption (WXBizMsgCrypt demo): key, token, AppIDs, timestamps, nonces and ciphertexts.
const SAMPLE_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const PUSH = {
  token: 'spamtest',
  appId: 'wx2c2769f8efd9abc2',
  timestamp: '1409735669',
  nonce: '1320562132',
  msgSignature: '5d197aaffba7e9b25a30732f161a50dee96bd5fa',
  encrypt:
    'hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=',
  message:
    '<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>',
};
const REPLY = {
  appId: 'wxb11529c136998cb6',
  random: 'aaaabbbbccccdddd',
  message: '我是中文abcd123',
  encrypt: 'jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==',
};

describe('signatures', () => {
  it('sha1 of the sorted parts: the sample push’s msg_signature', () => {
    const { token, timestamp, nonce, encrypt, msgSignature } = PUSH;
    expect(wechatSignature(token, timestamp, nonce, encrypt)).toBe(msgSignature);
    expect(wechatSignature(encrypt, nonce, token, timestamp)).toBe(msgSignature);
  });

  it('the URL signature is sha1(sort(token, timestamp, nonce))', () => {
    expect(wechatSignature('spamtest', '1409735669', '1320562132')).toBe(
      wechatSignature('1320562132', '1409735669', 'spamtest'),
    );
    expect(wechatSignature('spamtest', '1409735669', '1320562132')).toMatch(/^[0-9a-f]{40}$/);
  });

  it('compares in constant time, refusing anything but the exact digest', () => {
    const sig = wechatSignature('t', '1', '2');
    expect(signatureMatches(sig, sig)).toBe(true);
    expect(signatureMatches(sig, sig.toUpperCase())).toBe(true);
    expect(signatureMatches(sig, `${sig.slice(0, 39)}${sig[39] === '0' ? '1' : '0'}`)).toBe(false);
    expect(signatureMatches(sig, sig.slice(0, 39))).toBe(false);
    expect(signatureMatches(sig, `${sig}0`)).toBe(false);
    expect(signatureMatches(sig, undefined)).toBe(false);
    expect(signatureMatches(sig, '')).toBe(false);
  });
});

describe('the AES envelope', () => {
  it('decrypts the sample push and finds its AppID', () => {
    const cipher = new WeChatCipher(SAMPLE_KEY, PUSH.appId);
    expect(cipher.open(PUSH.encrypt)).toEqual({ message: PUSH.message, appId: PUSH.appId });
    expect(cipher.decrypt(PUSH.encrypt)).toBe(PUSH.message);
  });

  it('refuses a message for another AppID', () => {
    const cipher = new WeChatCipher(SAMPLE_KEY, 'wx0000000000000000');
    expect(() => cipher.decrypt(PUSH.encrypt)).toThrow(WeChatCryptoError);
  });

  it('encrypts the sample reply byte for byte (given its random prefix)', () => {
    const cipher = new WeChatCipher(SAMPLE_KEY, REPLY.appId);
    expect(cipher.encrypt(REPLY.message, Buffer.from(REPLY.random))).toBe(REPLY.encrypt);
    expect(cipher.decrypt(REPLY.encrypt)).toBe(REPLY.message);
  });

  it('round-trips any text, padded to 32-byte blocks, with a fresh random prefix each time', () => {
    const cipher = new WeChatCipher(SAMPLE_KEY, REPLY.appId);
    for (const text of ['', 'a', '燃气'.repeat(100), 'x'.repeat(1000), '<xml>]]></xml>']) {
      const a = cipher.encrypt(text);
      expect(Buffer.from(a, 'base64').length % 32).toBe(0);
      expect(cipher.decrypt(a)).toBe(text);
      expect(cipher.encrypt(text)).not.toBe(a);
    }
  });

  it('a full block of padding when the plaintext fills its blocks exactly', () => {
    const appId = REPLY.appId; // 18 bytes: 16 + 4 + 18 + 26 = 64
    const cipher = new WeChatCipher(SAMPLE_KEY, appId);
    const text = 'y'.repeat(26);
    const enc = cipher.encrypt(text);
    expect(Buffer.from(enc, 'base64').length).toBe(96);
    expect(cipher.decrypt(enc)).toBe(text);
  });

  it('refuses garbage, truncation and tampering with a WeChatCryptoError', () => {
    const cipher = new WeChatCipher(SAMPLE_KEY, REPLY.appId);
    const good = Buffer.from(cipher.encrypt('hello'), 'base64');
    const tampered = Buffer.from(good);
    tampered[tampered.length - 1]! ^= 0x55;
    for (const bad of ['', 'abc', good.subarray(0, 17).toString('base64'), tampered.toString('base64')])
      expect(() => cipher.decrypt(bad), bad).toThrow(WeChatCryptoError);
    const otherKey = new WeChatCipher(randomBytes(32).toString('base64').slice(0, 43), REPLY.appId);
    expect(() => otherKey.decrypt(good.toString('base64'))).toThrow(WeChatCryptoError);
  });

  it('the key is the 43-character EncodingAESKey plus "=", base64-decoded to 32 bytes', () => {
    expect(decodeAesKey(SAMPLE_KEY)).toHaveLength(32);
    expect(() => decodeAesKey('short')).toThrow(WeChatCryptoError);
    expect(() => decodeAesKey(`${SAMPLE_KEY.slice(0, 42)}!`)).toThrow(WeChatCryptoError);
  });
});
