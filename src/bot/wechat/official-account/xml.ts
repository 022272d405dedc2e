import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** WeChat's pushes are a few hundred bytes; anything near this is not from WeChat. */
export const MAX_XML_BYTES = 64 * 1024;

/** Raised for a body that is not a WeChat XML push; the route answers 400 and processes nothing. */
export class XmlRejected extends Error {}

/** The fields of a push: `<xml><MsgType>…</MsgType>…</xml>` → `{ MsgType: '…' }` (nested tags as `A.B`). */
export type WeChatFields = Record<string, string>;

const CDATA = '__cdata';

/**
 * Entities are never expanded: no DTD is read (a DOCTYPE is refused before parsing), no external
 * entity is fetched, and values are kept as text (a 19-digit MsgId is not rounded to a number).
 */
export const XML_PARSER_OPTIONS = {
  processEntities: false,
  htmlEntities: false,
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: true,
  cdataPropName: CDATA,
  maxNestedTags: 8,
} as const;

const parser = new XMLParser(XML_PARSER_OPTIONS);

/** The parser as configured, without the DOCTYPE check (for tests showing it expands nothing). */
export function parseXmlUnchecked(xml: string): unknown {
  return parser.parse(xml);
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** The five predefined XML entities and character references: a bounded, non-recursive decode. */
function decodeText(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});/g, (whole, name: string) => {
    if (!name.startsWith('#')) return PREDEFINED[name] ?? whole;
    const code = name[1] === 'x' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return decodeText(value);
  if (Array.isArray(value)) return textOf(value[0]);
  if (value && typeof value === 'object' && CDATA in value) {
    const v = value as Record<string, unknown>;
    const cdata = v[CDATA];
    const parts = Array.isArray(cdata) ? cdata.map(String) : [String(cdata ?? '')];
    const plain = typeof v['#text'] === 'string' ? decodeText(v['#text']) : '';
    return plain + parts.join('');
  }
  return undefined;
}

function flatten(node: Record<string, unknown>, prefix: string, out: WeChatFields): void {
  for (const [key, value] of Object.entries(node)) {
    const text = textOf(value);
    if (text !== undefined) out[`${prefix}${key}`] = text;
    else if (value && typeof value === 'object' && !Array.isArray(value))
      flatten(value as Record<string, unknown>, `${prefix}${key}.`, out);
  }
}

/**
 * Parses a push (`<xml>…</xml>`) into its fields. Refuses a DOCTYPE or ENTITY declaration, a
 * body that is not well-formed, an oversized body, or a root other than `<xml>`.
 */
export function parseWeChatXml(xml: string): WeChatFields {
  if (Buffer.byteLength(xml, 'utf8') > MAX_XML_BYTES) throw new XmlRejected('body too large');
  if (/<!(DOCTYPE|ENTITY)/i.test(xml)) throw new XmlRejected('DOCTYPE and ENTITY declarations are refused');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new XmlRejected(`not well-formed XML: ${valid.err.msg}`);
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (err) {
    throw new XmlRejected(`cannot parse XML: ${(err as Error).message}`);
  }
  const root = (doc as Record<string, unknown> | null)?.xml;
  if (!root || typeof root !== 'object' || Array.isArray(root)) throw new XmlRejected('no <xml> root');
  const out: WeChatFields = Object.create(null);
  flatten(root as Record<string, unknown>, '', out);
  return { ...out };
}

// Characters XML 1.0 does not allow, even in CDATA.
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
const ILLEGAL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

/** A CDATA section holding any text (a `]]>` inside is split across two sections). */
export function cdata(text: string): string {
  return `<![CDATA[${text.replace(ILLEGAL, '').replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

/** Builds `<xml>` with the fields in order: numbers as they are, strings in CDATA. */
export function buildXml(fields: Record<string, string | number>): string {
  const body = Object.entries(fields)
    .map(([k, v]) => `<${k}>${typeof v === 'number' ? String(Math.trunc(v)) : cdata(v)}</${k}>`)
    .join('');
  return `<xml>${body}</xml>`;
}
