import { openCase } from '../cases/open-case.ts';
import { routeCase } from '../cases/route-case.ts';
import { startClocks } from '../deadlines/clocks.ts';
import type { TextKey } from '../engine/catalogue.ts';
import { defineFlow } from '../engine/flow.ts';
import { formatTime } from '../engine/format.ts';
import { normalizePhone } from '../validate/phone.ts';

const TOPICS = ['billing', 'safety', 'business', 'other'] as const;
type Topic = (typeof TOPICS)[number];
const topicKey = (t: Topic) => `enquiry.topic.${t}` as TextKey;

interface EnquiryData extends Record<string, unknown> {
  topic?: Topic;
  description?: string;
  phone?: string;
}

/** 咨询留言: a question for staff to answer within the policy's time (SPEC §4: 3 working days). */
export const enquiryFlow = defineFlow<EnquiryData>({
  id: 'enquiry',
  version: 1,
  start: 'topic',
  initial: () => ({}),
  steps: {
    topic: {
      expects: 'choice',
      ask: (ctx) => ({
        text: ctx.text('enquiry.topic'),
        options: TOPICS.map((t) => ({ value: t, label: ctx.text(topicKey(t)) })),
      }),
      answer: (_ctx, data, input) =>
        TOPICS.includes(input.choice as Topic)
          ? { next: 'description', data: { ...data, topic: input.choice as Topic } }
          : { retry: 'dialogue.chooseOne' },
    },
    description: {
      expects: 'text',
      ask: (ctx) => ({ text: ctx.text('enquiry.description') }),
      answer: (_ctx, data, input) => {
        const text = input.text?.trim() ?? '';
        if ([...text].length < 2) return { retry: 'enquiry.descriptionShort' };
        return { next: 'phone', data: { ...data, description: text } };
      },
    },
    phone: {
      expects: 'text',
      ask: (ctx) => ({ text: ctx.text('enquiry.phone') }),
      answer: (_ctx, data, input) => {
        const phone = normalizePhone(input.text ?? '');
        return phone ? { next: 'confirm', data: { ...data, phone } } : { retry: 'enquiry.phoneInvalid' };
      },
    },
    confirm: {
      expects: 'choice',
      ask: (ctx, data) => ({
        text: ctx.text('enquiry.confirm', {
          topic: ctx.text(topicKey(data.topic ?? 'other')),
          description: data.description ?? '',
          phone: data.phone ?? '',
        }),
        options: [
          { value: 'yes', label: ctx.text('choice.confirm') },
          { value: 'edit', label: ctx.text('choice.edit') },
        ],
      }),
      answer: (_ctx, data, input) => (input.choice === 'yes' ? { done: true, data } : { restart: true }),
    },
  },
  async complete(ctx, data) {
    const customerId = await ctx.customerId();
    const caseRow = await openCase(ctx, {
      kind: 'enquiry',
      customerId,
      category: data.topic ?? 'other',
      phone: data.phone ?? null,
      summary: data.description ?? null,
    });
    const { respond, reply } = ctx.deps.policy.deadlines.enquiry;
    const [, answerBy] = await startClocks(ctx, [
      { caseId: caseRow.id, kind: 'respond', duration: respond },
      { caseId: caseRow.id, kind: 'reply', duration: reply },
    ]);
    await routeCase(ctx, { caseRow });
    ctx.say(ctx.text('enquiry.opened', { caseNo: caseRow.id, due: formatTime(answerBy!.dueAt, ctx.lang) }));
  },
});
