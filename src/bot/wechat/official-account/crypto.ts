import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * WeChat's message signature: the SHA-1 (hex) of the parts sorted as strings and concatenated.
 * `signature` = sha1(token, timestamp, nonce); `msg_signature` adds the `Encrypt` text.
 */
export function wechatSignature(...parts: string[]): string {
  return createHash('sha1')
    .update([...parts].sort().join(''))
    .digest('hex');
}

/** Compares a received signature with the expected one in constant time (case-insensitive hex). */
export function signatureMatches(expected: string, received: string | undefined): boolean {
  if (typeof received !== 'string' || received.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(received.toLowerCase(), 'latin1'));
}

/** Raised when an encrypted message cannot be opened or does not belong to this account. */
export class WeChatCryptoError extends Error {}

/** The AES block WeChat pads to (PKCS#7 over 32 bytes, not AES's 16). */
const PAD_BLOCK = 32;

/** The 32-byte AES key from the 43-character EncodingAESKey (base64 without its trailing '='). */
export function decodeAesKey(encodingAesKey: string): Buffer {
  if (!/^[A-Za-z0-9+/]{43}$/.test(encodingAesKey))
    throw new WeChatCryptoError('EncodingAESKey must be 43 base64 characters');
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (key.length !== 32) throw new WeChatCryptoError('EncodingAESKey does not decode to 32 bytes');
  return key;
}

/**
 * The safe-mode envelope of the official account (AES-256-CBC, IV = first 16 bytes of the key,
 * PKCS#7 to 32-byte blocks) over `16 random bytes + 4-byte big-endian length + message + AppID`.
 */
export class WeChatCipher {
  readonly #key: Buffer;
  readonly #iv: Buffer;
  readonly #appId: string;

  constructor(encodingAesKey: string, appId: string) {
    this.#key = decodeAesKey(encodingAesKey);
    this.#iv = this.#key.subarray(0, 16);
    this.#appId = appId;
  }

  /** Encrypts a message (XML) for a reply; `random` is for known-answer tests only. */
  encrypt(message: string, random: Buffer = randomBytes(16)): string {
    if (random.length !== 16) throw new WeChatCryptoError('the random prefix is 16 bytes');
    const body = Buffer.from(message, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const plain = Buffer.concat([random, length, body, Buffer.from(this.#appId, 'utf8')]);
    const pad = PAD_BLOCK - (plain.length % PAD_BLOCK);
    const cipher = createCipheriv('aes-256-cbc', this.#key, this.#iv);
    cipher.setAutoPadding(false);
    return Buffer.concat([
      cipher.update(Buffer.concat([plain, Buffer.alloc(pad, pad)])),
      cipher.final(),
    ]).toString('base64');
  }

  /** Decrypts an `Encrypt` value; throws unless it is well formed and addressed to this AppID. */
  decrypt(encrypted: string): string {
    const { message, appId } = this.open(encrypted);
    if (appId !== this.#appId) throw new WeChatCryptoError('the message is for another AppID');
    return message;
  }

  /** Decrypts without checking the AppID (tests and diagnostics). */
  open(encrypted: string): { message: string; appId: string } {
    const data = Buffer.from(encrypted, 'base64');
    if (data.length === 0 || data.length % 16 !== 0) throw new WeChatCryptoError('bad ciphertext length');
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-cbc', this.#key, this.#iv);
      decipher.setAutoPadding(false);
      plain = Buffer.concat([decipher.update(data), decipher.final()]);
    } catch {
      throw new WeChatCryptoError('cannot decrypt');
    }
    const pad = plain[plain.length - 1]!;
    if (pad < 1 || pad > PAD_BLOCK || pad > plain.length) throw new WeChatCryptoError('bad padding');
    const content = plain.subarray(16, plain.length - pad);
    if (content.length < 4) throw new WeChatCryptoError('message too short');
    const length = content.readUInt32BE(0);
    if (length > content.length - 4) throw new WeChatCryptoError('bad message length');
    return {
      message: content.subarray(4, 4 + length).toString('utf8'),
      appId: content.subarray(4 + length).toString('utf8'),
    };
  }
}
