import type { Lang, Translate } from './catalogue.ts';

const SHANGHAI_OFFSET_MS = 8 * 3600_000;

/** "11月24日 17:30" / "24 Nov 17:30", in Shanghai time. */
export function formatTime(instant: Date, lang: Lang): string {
  const d = new Date(instant.getTime() + SHANGHAI_OFFSET_MS);
  const hh = String(d.getUTCHours()).padStart(2, '0');
  const mm = String(d.getUTCMinutes()).padStart(2, '0');
  if (lang === 'en') {
    const month = d.toLocaleString('en', { month: 'short', timeZone: 'UTC' });
    return `${d.getUTCDate()} ${month} ${hh}:${mm}`;
  }
  return `${d.getUTCMonth() + 1}月${d.getUTCDate()}日 ${hh}:${mm}`;
}

/** A span of time in words: "25 分钟", "3 小时 5 分钟", "2 天 4 小时". */
export function formatSpan(ms: number, lang: Lang, t: Translate): string {
  const minutes = Math.max(0, Math.round(Math.abs(ms) / 60_000));
  if (minutes < 60) return t(lang, 'duration.minutes', { n: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return t(lang, 'duration.hours', { h: hours, m: minutes % 60 });
  return t(lang, 'duration.days', { d: Math.floor(hours / 24), h: hours % 24 });
}
