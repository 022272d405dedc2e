import type { Context } from '../engine/context.ts';
import type { Step, StepOutcome } from '../engine/flow.ts';
import { normalizePhone } from '../validate/phone.ts';
import { knownContact } from './customer-record.ts';

export const ADDRESS_MIN = 4;
export const ADDRESS_MAX = 200;

const trimmed = (text: string | undefined) => (text ?? '').trim().replace(/\s+/g, ' ');
/** To the next step, or (next = null) to the flow's completion. */
const go = <D>(next: string | null, data: D): StepOutcome<D> =>
  next ? { next, data } : { done: true, data };

/** The address step shared by fault reports and leak alarms: offers the last address given. */
export function addressStep<D extends { address?: string }>(opts: {
  next: string | null;
  prompt: 'repair.address' | 'leak.address';
}): Step<D> {
  return {
    expects: 'text',
    async ask(ctx: Context) {
      const { address } = await knownContact(ctx);
      return {
        text: ctx.text(opts.prompt),
        options: address ? [{ value: 'saved', label: ctx.text('repair.useSaved', { value: address }) }] : [],
      };
    },
    async answer(ctx, data, input) {
      if (input.choice === 'saved') {
        const { address } = await knownContact(ctx);
        if (address) return go(opts.next, { ...data, address });
      }
      const address = trimmed(input.text);
      if ([...address].length < ADDRESS_MIN) return { retry: 'repair.addressShort' };
      if ([...address].length > ADDRESS_MAX)
        return { retry: 'repair.addressLong', params: { max: ADDRESS_MAX } };
      return go(opts.next, { ...data, address });
    },
  };
}

/** The phone step: a mainland mobile or landline (full-width digits and +86 accepted); offers the last one given. */
export function phoneStep<D extends { phone?: string }>(opts: {
  next: string | null;
  prompt: 'repair.phone' | 'leak.phone';
}): Step<D> {
  return {
    expects: 'text',
    async ask(ctx: Context) {
      const { phone } = await knownContact(ctx);
      return {
        text: ctx.text(opts.prompt),
        options: phone ? [{ value: 'saved', label: ctx.text('repair.useSaved', { value: phone }) }] : [],
      };
    },
    async answer(ctx, data, input) {
      if (input.choice === 'saved') {
        const { phone } = await knownContact(ctx);
        if (phone) return go(opts.next, { ...data, phone });
      }
      const phone = normalizePhone(input.text ?? '');
      return phone ? go(opts.next, { ...data, phone }) : { retry: 'enquiry.phoneInvalid' };
    },
  };
}
