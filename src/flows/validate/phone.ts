/** Turns full-width digits and punctuation into ASCII (common with Chinese input methods). */
export function toHalfWidth(text: string): string {
  return text
    .replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/\u3000/g, ' ');
}

/**
 * Normalises a mainland phone number: a mobile (13812345678, +86 138 1234 5678) or a landline
 * with area code (0571-87654321, 057187654321, optional extension is dropped).
 * Returns null when it is not one.
 */
export function normalizePhone(input: string): string | null {
  let s = toHalfWidth(input).trim();
  s = s.replace(/\s*(?:转|ext\.?|#)\s*\d{1,6}$/i, ''); // an extension is not part of the number
  s = s.replace(/[\s()（）-]/g, '').replace(/^(\+|00)86/, '');
  if (/^1[3-9]\d{9}$/.test(s)) return s;
  // Area codes: 010 and 02x have three digits, all others four.
  const landline = /^(0(?:[12]\d|[3-9]\d{2}))(\d{7,8})$/.exec(s);
  return landline ? `${landline[1]}-${landline[2]}` : null;
}

/** 138****5678 for mobiles, 0571-****4321 for landlines: what a group chat may show. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return '—';
  if (/^1\d{10}$/.test(phone)) return `${phone.slice(0, 3)}****${phone.slice(7)}`;
  const dash = phone.indexOf('-');
  if (dash > 0) return `${phone.slice(0, dash)}-****${phone.slice(-4)}`;
  return `${phone.slice(0, 2)}****${phone.slice(-2)}`;
}

/**
 * Keeps the address up to its street (路/街/道/巷/弄/村/小区…), hiding the building and door; an
 * address with no street marker shows its first few characters only.
 */
export function maskAddress(address: string | null | undefined): string {
  if (!address) return '—';
  const street = /^.*?(?:大道|路|街|道|巷|弄|胡同|村|镇|小区|花园|苑)/.exec(address);
  if (street && street[0].length < address.length) return `${street[0]}***`;
  return `${address.slice(0, Math.min(6, Math.max(1, address.length - 2)))}***`;
}
