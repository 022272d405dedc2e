import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/bot/server.ts';
import { startTestBot, type TestBot } from '../fixtures/harness.ts';

/**
 * The web chat page in a real headless Chromium against the real bot (PostgreSQL, Redis, the
 * outbox worker delivering replies): a customer talks by typing and buttons, a staff member sees
 * the masked case card arrive in the team's group and takes it.
 */

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = '/tmp/e2e-web-chat.png';
const WAIT = 20_000; // for one reply to come back through the queue, the worker and the page's poll

let bot: TestBot | undefined;
let app: FastifyInstance | undefined;
let browser: Browser | undefined;
let page: Page;
let baseUrl: string;

/** What the page itself got wrong: script errors and answers the server refused. */
const pageErrors: string[] = [];
const refused: string[] = [];
let messagePosts = 0;

/** Filled by the customer test, used by the staff test. */
let enquiryCaseNo: string | undefined;
let humanCaseNo: string | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `the web chat e2e test needs Chromium at ${CHROMIUM} (apt-get install chromium); it is not there`,
    );
  bot = await startTestBot({ workers: true });
  app = await buildServer(bot.rt, bot.pipeline);
  await app.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 900, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('request', (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/api/web/messages') messagePosts++;
  });
  page.on('response', (res) => {
    const path = new URL(res.url()).pathname;
    // 404 chat_not_found for a chat nobody wrote in yet is expected; anything else 4xx/5xx is not.
    if (res.status() >= 400 && !(res.status() === 404 && path.startsWith('/api/web/chats/')))
      refused.push(`${res.request().method()} ${path} → ${res.status()}`);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await bot?.close();
}, 60_000);

// ---------- helpers ----------

const botMessages = () => page.getByTestId('message-list').getByTestId('bot-message');
const userMessages = () => page.getByTestId('message-list').getByTestId('user-message');

/** The newest bot message that contains `text`, once it is on the page. */
async function botSays(text: string | RegExp): Promise<Locator> {
  const message = botMessages().filter({ hasText: text }).last();
  await message.waitFor({ state: 'visible' });
  return message;
}

/** The button labelled exactly `label` in a bot message. */
function choice(message: Locator, label: string): Locator {
  return message.getByTestId('choice').filter({ hasText: new RegExp(`^${label}$`) });
}

async function type(text: string): Promise<void> {
  await page.getByTestId('text-input').fill(text);
  await page.getByTestId('send-button').click();
}

const textOf = async (message: Locator) => (await message.textContent()) ?? '';

/** A case card's lines as shown (label → value). */
const cardLines = (message: Locator) =>
  message
    .getByTestId('card')
    .evaluate((card) =>
      Object.fromEntries(
        Array.from(card.querySelectorAll('dt'), (dt) => [dt.textContent, dt.nextElementSibling?.textContent]),
      ),
    );

/** Records every moment the connection status stops saying online (the page's own view of errors). */
async function watchConnectionStatus(): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { connProblems: string[] };
    w.connProblems = [];
    const conn = document.querySelector('[data-testid="connection-status"]')!;
    new MutationObserver(() => {
      if (conn.classList.contains('down') || conn.textContent !== '已连接 online')
        w.connProblems.push(conn.textContent ?? '');
    }).observe(conn, { attributes: true, childList: true, characterData: true, subtree: true });
  });
}

const connProblems = () =>
  page.evaluate(() => (window as unknown as { connProblems: string[] }).connProblems);

// ---------- the scenario ----------

describe('the web chat page in Chromium', () => {
  it('a new customer greets the bot, asks for a person and leaves an enquiry by buttons and typing', async () => {
    await page.goto(baseUrl);
    await watchConnectionStatus();
    await expect.poll(() => page.getByTestId('persona-select').inputValue()).toBe('customer');

    // A fresh customer: its chat does not exist on the server yet, and that is not an error.
    // Two polls of it, so the page has handled the first answer before we look.
    let polls = 0;
    const secondPoll = page.waitForResponse(
      (res) => /\/api\/web\/chats\/c-customer-[a-z0-9]{6}\/messages/.test(res.url()) && ++polls === 2,
    );
    await page.getByTestId('new-customer').click();
    expect((await secondPoll).status()).toBe(404);
    expect(await page.getByTestId('identity').textContent()).toMatch(/chatId: c-customer-[a-z0-9]{6}/);
    await page.getByText('还没有消息').waitFor();
    expect(await page.getByTestId('connection-status').textContent()).toBe('已连接 online');
    expect(await connProblems()).toEqual([]);

    // 你好 → the main menu as buttons.
    await type('你好');
    await userMessages().filter({ hasText: '你好' }).waitFor();
    const menu = await botSays('请选择要办理的业务');
    const buttons = menu.getByTestId('choice');
    expect(await buttons.allTextContents()).toEqual(
      expect.arrayContaining(['咨询留言', '人工客服', '使用帮助']),
    );
    expect(await choice(menu, '人工客服').getAttribute('data-action')).toBe('m:human');
    expect(await choice(menu, '咨询留言').getAttribute('data-action')).toBe('m:enquiry');

    // 人工客服 → a case, and the customer is told its number.
    await choice(menu, '人工客服').click();
    const handedOver = await botSays('已为您转接人工客服');
    humanCaseNo = /工单号 (\d+)/.exec(await textOf(handedOver))?.[1];
    expect(humanCaseNo).toBeDefined();

    // The enquiry, from a fresh menu: 咨询留言 → 安全用气 → description → phone → 确认提交.
    const menus = botMessages().filter({ hasText: '请选择要办理的业务' });
    const menusBefore = await menus.count();
    await page
      .getByTestId('quick-button')
      .filter({ hasText: /^菜单$/ })
      .click();
    await expect.poll(() => menus.count(), { timeout: WAIT }).toBe(menusBefore + 1);
    await choice(menus.last(), '咨询留言').click();
    const topics = await botSays('请选择咨询类别');
    await choice(topics, '安全用气').click();
    await botSays('请简要描述您要咨询的问题');
    await type('厨房的燃气灶点火时有异响，想请师傅看看是否安全');
    await botSays('请留下联系电话');
    await type('13812345678');
    const confirm = await botSays('请确认您的留言');
    expect(await textOf(confirm)).toContain('类别：安全用气');
    expect(await textOf(confirm)).toContain('13812345678'); // the customer's own number, back to the customer
    await choice(confirm, '确认提交').click();
    const submitted = await botSays('留言已提交');
    enquiryCaseNo = /工单号 (\d+)/.exec(await textOf(submitted))?.[1];
    expect(enquiryCaseNo).toBeDefined();
    expect(enquiryCaseNo).not.toBe(humanCaseNo);

    // Bad input: empty or blank input sends nothing, by button or by Enter.
    const before = { shown: await userMessages().count(), posts: messagePosts };
    await type('');
    await type('   \n  ');
    await page.getByTestId('text-input').press('Enter');
    expect(await userMessages().count()).toBe(before.shown);
    // Then a real message goes out as exactly one more message: nothing was queued behind the blanks.
    await type('帮助');
    await botSays('使用帮助：');
    expect(await userMessages().count()).toBe(before.shown + 1);
    expect(await userMessages().last().textContent()).toContain('帮助');
    expect(messagePosts).toBe(before.posts + 1);

    expect(await page.getByTestId('error-notice').count()).toBe(0);
    expect(await connProblems()).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(refused).toEqual([]);
  }, 90_000);

  it('staff see the masked case card arrive in the group, take it, and get the number privately', async () => {
    expect(enquiryCaseNo, 'the customer test must have left an enquiry first').toBeDefined();
    const caseNo = enquiryCaseNo!;

    // The group chat is polled in the background: the cards arrive before anyone opens it.
    const badge = page.locator(
      '[data-testid="persona-tab"][data-persona="staff:wang"] [data-testid="unread-badge"]',
    );
    await badge.waitFor({ state: 'visible' });
    // At least one card is counted; how many depends on when the background poll ran.
    expect(Number(await badge.textContent())).toBeGreaterThanOrEqual(1);

    await page.getByTestId('persona-select').selectOption('staff:wang');
    expect(await page.getByTestId('identity').textContent()).toContain('chatId: group-repair');
    expect(await badge.isVisible()).toBe(false);

    const humanCard = await botSays(`【转人工】工单 ${humanCaseNo}`);
    expect(await choice(humanCard, '接单').count()).toBe(1);

    const title = `【咨询留言】工单 ${caseNo}`;
    const card = await botSays(title);
    const cardText = await textOf(card);
    expect(cardText.split(title)).toHaveLength(2); // shown once: the card, not the card and its text twin
    expect(cardText).not.toContain('13812345678');
    expect(await cardLines(card)).toMatchObject({ 电话: '138****5678', 类别: '安全用气', 状态: '待接单' });
    expect(await page.getByTestId('message-list').textContent()).not.toContain('13812345678');
    const take = choice(card, '接单');
    expect(await take.getAttribute('data-action')).toBe(`case:${caseNo}:take`);

    await take.click();
    await userMessages().filter({ hasText: '接单' }).waitFor();
    await botSays(`王师傅 已接单：工单 ${caseNo}`);
    const updated = botMessages().filter({ hasText: title }).filter({ hasText: '处理中' }).last();
    await updated.waitFor();
    expect(await cardLines(updated)).toMatchObject({ 状态: '处理中', 派给: '王师傅', 电话: '138****5678' });
    expect(await choice(updated, '办结').count()).toBe(1);
    expect(await page.getByTestId('message-list').textContent()).not.toContain('13812345678');

    // The full number goes only to the one who took the case, in his private chat.
    await page.getByTestId('persona-select').selectOption('direct:wang');
    expect(await page.getByTestId('identity').textContent()).toMatch(
      /userId: wang · chatId: dm-wang · 私聊 private/,
    );
    await botSays(`您已接单 ${caseNo}。客户电话：13812345678`);

    // The customer hears who took it.
    await page.getByTestId('persona-select').selectOption('customer');
    await botSays(`您的工单 ${caseNo} 已由工作人员 王师傅 接单处理`);

    await page.getByTestId('persona-select').selectOption('staff:wang');
    await botSays(`王师傅 已接单：工单 ${caseNo}`);
    await page.screenshot({ path: SCREENSHOT });

    expect(await page.getByTestId('error-notice').count()).toBe(0);
    expect(await connProblems()).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(refused).toEqual([]);
  }, 90_000);
});
