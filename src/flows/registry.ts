import { groupMessage, privateStaffCommand } from './cases/staff-commands.ts';
import type { Flow } from './engine/flow.ts';
import { flowStarter, type Services, showMenu } from './engine/router.ts';
import { enquiryFlow } from './enquiry/enquiry-flow.ts';
import { handoffToHuman } from './human/handoff.ts';
import { leakAlarm } from './repair/leak.ts';

/** Every service process the bot offers, and the main menu that leads to them. */
export function createServices(): Services {
  const flows = new Map<string, Flow>([[enquiryFlow.id, enquiryFlow as unknown as Flow]]);
  const services: Services = {
    flows,
    menu: [
      {
        id: 'enquiry',
        label: 'menu.enquiry',
        keywords: ['咨询', '留言', 'question', 'ask'],
        run: flowStarter(() => services, 'enquiry'),
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
    leak: leakAlarm,
    staffCommand: privateStaffCommand,
    group: groupMessage,
  };
  return services;
}
