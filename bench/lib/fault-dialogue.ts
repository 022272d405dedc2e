import type { InboundMessage } from '../../src/flows/engine/message.ts';

/** The fault dialogue of src/flows/repair/repair-flow.ts, as a customer clicks and types it. */
export const DIALOGUE: ((i: number) => Pick<InboundMessage, 'text' | 'action'>)[] = [
  () => ({ action: 'm:repair' }),
  () => ({ action: 'c:repair:category:nogas' }),
  (i) => ({ text: `西湖区文三路 ${(i % 900) + 100} 号 3 幢 201` }),
  (i) => ({ text: `139${String(i).padStart(8, '0')}` }),
  () => ({ text: '灶具打不着火，气很小' }),
  () => ({ action: 'c:repair:photos:skip' }),
  () => ({ action: 'c:repair:time:asap' }),
  () => ({ action: 'c:repair:confirm:yes' }),
];
export const STEPS = DIALOGUE.length;

export interface Customer {
  n: number;
  id: string;
  chatId: string;
  step: number;
}
export const customerOf = (phase: string, n: number): Customer => ({
  n,
  id: `${phase}${n}`,
  chatId: `c-${phase}${n}`,
  step: 0,
});

/** The message the web API would build for this step (`channelMessageId` = chatId:messageId). */
export function messageOf(c: Customer): InboundMessage {
  return {
    channel: 'web',
    channelMessageId: `${c.chatId}:s${c.step}`,
    chatId: c.chatId,
    chatKind: 'private',
    sender: { id: c.id },
    receivedAt: new Date(),
    ...DIALOGUE[c.step]!(c.n),
  };
}
