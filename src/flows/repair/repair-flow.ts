import { type CaseRow, openCase } from '../cases/open-case.ts';
import { routeCase } from '../cases/route-case.ts';
import { type StartedClock, startClocksHeldBack } from '../deadlines/clocks.ts';
import { concurrently } from '../engine/batch.ts';
import { clearDialogue } from '../engine/dialogue-store.ts';
import { defineFlow } from '../engine/flow.ts';
import { formatTime } from '../engine/format.ts';
import { areaOf, categoryLabel, findCategory, repairTeam } from './categories.ts';
import { rememberContact } from './customer-record.ts';
import { raiseLeakAlarm } from './leak.ts';
import { addressStep, phoneStep } from './steps.ts';

export interface RepairData extends Record<string, unknown> {
  category?: string;
  address?: string;
  phone?: string;
  description?: string;
  photos?: string[];
  time?: string;
}

const TIMES = ['asap', 'today', 'tomorrow', 'weekend'] as const;
const MAX_PHOTOS = 9;

/** 报修: a fault that is not a leak (SPEC §1): category, address, phone, description, photos, time, confirm. */
export const repairFlow = defineFlow<RepairData>({
  id: 'repair',
  version: 1,
  start: 'category',
  initial: () => ({}),
  steps: {
    category: {
      expects: 'choice',
      ask: (ctx) => ({
        text: ctx.text('repair.category'),
        options: ctx.deps.policy.repair.categories.map((c) => ({
          value: c.id,
          label: categoryLabel(ctx.deps, 'repair', c.id, ctx.lang)!,
        })),
      }),
      async answer(ctx, data, input) {
        const category = findCategory(ctx.deps.policy, input.choice);
        if (!category) return { retry: 'dialogue.chooseOne' };
        if (category.emergency) {
          await raiseLeakAlarm(ctx);
          return { handled: true };
        }
        if (category.outOfScope) {
          await clearDialogue(ctx.tx, {
            channel: ctx.msg.channel,
            chatId: ctx.msg.chatId,
            userId: ctx.msg.sender.id,
          });
          ctx.say(
            ctx.text('repair.outOfScope', {
              category: categoryLabel(ctx.deps, 'repair', category.id, ctx.lang)!,
              ...category.outOfScope,
            }),
          );
          return { handled: true };
        }
        return { next: 'address', data: { ...data, category: category.id } };
      },
    },
    address: addressStep<RepairData>({ next: 'phone', prompt: 'repair.address' }),
    phone: phoneStep<RepairData>({ next: 'description', prompt: 'repair.phone' }),
    description: {
      expects: 'text',
      ask: (ctx) => ({ text: ctx.text('repair.description') }),
      answer: (_ctx, data, input) => {
        const text = input.text?.trim() ?? '';
        if ([...text].length < 2) return { retry: 'enquiry.descriptionShort' };
        return { next: 'photos', data: { ...data, description: text } };
      },
    },
    photos: {
      expects: 'media',
      ask: (ctx, data) => ({
        text: data.photos?.length
          ? ctx.text('repair.photoReceived', { n: data.photos.length })
          : ctx.text('repair.photos'),
        options: [
          data.photos?.length
            ? { value: 'done', label: ctx.text('repair.photosDone') }
            : { value: 'skip', label: ctx.text('repair.photosSkip') },
        ],
      }),
      answer: (_ctx, data, input) => {
        if (input.choice === 'done' || input.choice === 'skip') return { next: 'time', data };
        const images = input.attachments.filter((a) => a.kind === 'image').map((a) => a.ref);
        if (images.length === 0) return { retry: 'dialogue.chooseOne' };
        const photos = [...(data.photos ?? []), ...images].slice(0, MAX_PHOTOS);
        return { next: photos.length >= MAX_PHOTOS ? 'time' : 'photos', data: { ...data, photos } };
      },
    },
    time: {
      expects: 'text',
      ask: (ctx) => ({
        text: ctx.text('repair.time'),
        options: TIMES.map((t) => ({ value: t, label: ctx.text(`repair.time.${t}`) })),
      }),
      answer: (ctx, data, input) => {
        const picked = TIMES.find((t) => t === input.choice);
        const time = picked ? ctx.deps.t('zh', `repair.time.${picked}`) : (input.text?.trim() ?? '');
        if (!time) return { retry: 'dialogue.textExpected' };
        if ([...time].length > 50) return { retry: 'repair.timeLong' };
        return { next: 'confirm', data: { ...data, time } };
      },
    },
    confirm: {
      expects: 'choice',
      ask: (ctx, data) => ({
        text: ctx.text('repair.confirm', {
          category: categoryLabel(ctx.deps, 'repair', data.category ?? 'other', ctx.lang) ?? '',
          address: data.address ?? '',
          phone: data.phone ?? '',
          description: data.description ?? '',
          photos: data.photos?.length ?? 0,
          time: data.time ?? '',
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
    const { policy } = ctx.deps;
    const category = data.category ?? 'other';
    const area = areaOf(policy, data.address);
    const clocks = policy.deadlines.repair;
    // Side by side, in one round trip: the case is inserted and its team's on-duty members are
    // read for the pick. Its clocks and the assignment are held-back writes, and the card shows the
    // clocks as started: nothing more is read before the COMMIT.
    let opening!: Promise<CaseRow>;
    let started!: Promise<StartedClock[]>;
    const customerId = await ctx.customerId();
    const [caseRow] = await concurrently<[CaseRow, unknown, unknown]>(ctx.tx, [
      () => {
        opening = openCase(ctx, {
          kind: 'repair',
          customerId,
          category,
          priority: 'P2',
          phone: data.phone ?? null,
          address: data.address ?? null,
          area,
          summary: data.description ?? null,
          details: { photos: data.photos ?? [], preferredTime: data.time ?? null },
        });
        started = opening.then((row) =>
          startClocksHeldBack(
            ctx,
            (['confirm', 'handle', 'repair'] as const).map((kind) => ({
              caseId: row.id,
              kind,
              duration: clocks[kind],
              remind: true,
            })),
          ),
        );
        started.catch(() => {}); // a failed insert fails this part (and the batch) already
        return opening;
      },
      () => rememberContact(ctx, { phone: data.phone, address: data.address }),
      () =>
        routeCase(ctx, {
          caseRow: opening,
          teamId: repairTeam(policy, category, area),
          clocks: () => started,
        }),
    ]);
    const [confirm, handle, repair] = await started;
    ctx.say(
      ctx.text('repair.opened', {
        caseNo: caseRow.id,
        confirm: formatTime(confirm!.dueAt, ctx.lang),
        handle: formatTime(handle!.dueAt, ctx.lang),
        repair: formatTime(repair!.dueAt, ctx.lang),
      }),
    );
  },
});
