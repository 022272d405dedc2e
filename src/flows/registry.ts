import { groupMessage, parseStaffCommand, privateStaffCommand } from './cases/staff-commands.ts';
import { startFlow } from './engine/dialogue.ts';
import type { Flow } from './engine/flow.ts';
import { normalizeWords } from './engine/intents.ts';
import { continueGroupDialogue, flowStarter, type Services, showMenu } from './engine/router.ts';
import { enquiryFlow } from './enquiry/enquiry-flow.ts';
import { handoffToHuman } from './human/handoff.ts';
import { handleBindCommand } from './org/binding.ts';
import { detectCategory } from './repair/categories.ts';
import { rateCase, ratingFlow, relayFlow, showMyCases, showOwnCase } from './repair/customer-cases.ts';
import { leakFlow, raiseLeakAlarm } from './repair/leak.ts';
import { repairFlow } from './repair/repair-flow.ts';
import { resolveFlow } from './repair/resolve-flow.ts';

const asFlow = (f: unknown) => f as Flow;

/** Every service process the bot offers, and the main menu that leads to them. */
export function createServices(): Services {
  const flows = new Map<string, Flow>(
    [repairFlow, leakFlow, enquiryFlow, resolveFlow, relayFlow, ratingFlow].map(
      (f) => [f.id, asFlow(f)] as const,
    ),
  );
  const services: Services = {
    flows,
    menu: [
      {
        id: 'repair',
        label: 'menu.repair',
        keywords: ['报修', '维修', '修理', '坏了', '故障', 'repair', 'broken'],
        run: flowStarter(() => services, 'repair'),
      },
      {
        id: 'enquiry',
        label: 'menu.enquiry',
        keywords: ['咨询', '留言', 'question', 'ask'],
        run: flowStarter(() => services, 'enquiry'),
      },
      {
        id: 'mycases',
        label: 'menu.myCases',
        keywords: ['我的工单', '工单', '进度', 'my cases'],
        run: (ctx) => showMyCases(ctx),
      },
      { id: 'human', label: 'menu.human', keywords: [], run: (ctx) => handoffToHuman(ctx, null) },
      {
        id: 'help',
        label: 'menu.help',
        keywords: [],
        run: async (ctx, key) => {
          ctx.say(ctx.text('help.text'));
          await showMenu(ctx, services, key);
        },
      },
    ],
    handoff: (ctx, _key, from) => handoffToHuman(ctx, from),
    leak: (ctx) => raiseLeakAlarm(ctx),
    async detect(ctx, key, text) {
      const query = /^(?:查询|查看|工单|进度|case)\s*#?(\d{1,10})$/i.exec(normalizeWords(text));
      if (query) {
        await showOwnCase(ctx, Number(query[1]));
        return true;
      }
      // "没气了", "燃气表坏了": a fault report with its category already known.
      const category = detectCategory(ctx.deps.policy, text);
      if (!category) return false;
      await startFlow(ctx, key, asFlow(repairFlow), {
        step: 'address',
        data: { category: category.id },
        history: ['category'],
      });
      return true;
    },
    customerAction: (ctx, _key, action) => rateCase(ctx, action),
    staffCommand: async (ctx, staff) =>
      (await handleBindCommand(ctx, staff)) || privateStaffCommand(ctx, staff),
    async group(ctx, staff) {
      if (await handleBindCommand(ctx, staff)) return;
      // A staff member answering the resolve questions in the group: their answers go there.
      const isCommand = parseStaffCommand({ text: ctx.msg.text, action: ctx.msg.action }) !== null;
      if (!isCommand && (await continueGroupDialogue(ctx, services))) return;
      await groupMessage(ctx, staff);
    },
  };
  return services;
}
