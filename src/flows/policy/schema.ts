import { z } from 'zod';
import { type Duration, durationSchema } from '../deadlines/duration.ts';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM (00:00–23:59)');
/** Roster times may end at 24:00 (midnight at the end of the day). */
const rosterTime = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'expected HH:MM (00:00–24:00)');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');
const id = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'expected a lower-case id (a-z, 0-9, _ -)');
const channelIds = z.object({
  web: z.string().min(1).optional(),
  telegram: z.string().min(1).optional(),
  wechat: z.string().min(1).optional(),
  wechaty: z.string().min(1).optional(),
});

/** One escalation step: who is told, how long after the deadline (or the previous step). */
const immediately = z
  .string()
  .regex(/^\s*0\s*(m|h|wd|wh|d)?\s*$/)
  .transform((text): Duration => ({ amount: 0, unit: 'm', text }));
const escalationStep = z.object({
  after: z.union([immediately, durationSchema]),
  /** team: the group chats; onDuty: every on-duty member privately (a page); assignee, supervisor, manager. */
  notify: z.array(z.enum(['team', 'onDuty', 'assignee', 'supervisor', 'manager'])).min(1),
});

/** The company policy: every SPEC number, the organisation and its texts. */
export const policySchema = z
  .object({
    company: z.object({
      name: z.string().min(1),
      hotline: z.string().min(3),
      emergencyHotline: z.string().min(3),
    }),
    calendar: z
      .object({
        workingHours: z
          .object({
            start: hhmm,
            end: hhmm,
            lunch: z.object({ start: hhmm, end: hhmm }).optional(),
          })
          .prefault({ start: '08:30', end: '17:30', lunch: { start: '12:00', end: '13:30' } }),
        /** Holidays and make-up working days per year, beyond (or overriding) the library's data. */
        years: z
          .record(
            z.string().regex(/^\d{4}$/),
            z.object({ holidays: z.array(isoDate).default([]), workdays: z.array(isoDate).default([]) }),
          )
          .prefault({}),
      })
      .prefault({}),
    dialogue: z
      .object({
        idleReminder: durationSchema.prefault('10m'),
        idleExpiry: durationSchema.prefault('30m'),
        maxTextLength: z.number().int().min(100).max(10_000).default(1000),
      })
      .prefault({}),
    /** Clock lengths per case kind and clock name (SPEC §1, §2, §4, §5). */
    deadlines: z.object({
      /** Where no rule sets one (SPEC §4). */
      default: durationSchema,
      human: z.object({ respond: durationSchema }),
      enquiry: z.object({ respond: durationSchema, reply: durationSchema }),
      repair: z.object({
        ackP0: durationSchema,
        confirm: durationSchema,
        handle: durationSchema,
        repair: durationSchema,
      }),
      complaint: z.object({ reply: durationSchema, resolve: durationSchema }),
      appointment: z.object({ answer: durationSchema, lateGrace: durationSchema }),
      /** Remind the assignee when this share of a clock has run (0.75 = at 75 %). */
      remindAt: z.number().gt(0).lt(1).default(0.75),
    }),
    /** Escalation ladders by clock name; `default` applies to clocks without their own. */
    escalation: z.record(z.string(), z.array(escalationStep).min(1)),
    teams: z
      .array(
        z.object({
          id,
          name: z.string().min(1),
          emergency: z.boolean().default(false),
          supervisor: id.optional(),
          chats: channelIds.default({}),
        }),
      )
      .min(1),
    staff: z.array(
      z.object({
        id,
        name: z.string().min(1),
        roles: z.array(z.enum(['staff', 'supervisor', 'manager'])).min(1),
        teams: z.array(id).default([]),
        identities: channelIds.default({}),
      }),
    ),
    roster: z.array(
      z.object({
        team: id,
        staff: z.array(id).min(1),
        days: z.array(z.number().int().min(1).max(7)).min(1).default([1, 2, 3, 4, 5, 6, 7]),
        from: rosterTime.default('00:00'),
        to: rosterTime.default('24:00'),
      }),
    ),
    /** Which team receives which kind of case. */
    routing: z.object({ default: id }).catchall(id),
    /** Fault reports (报修/报警, SPEC §1): categories, areas, and which team gets which. */
    repair: z.object({
      categories: z
        .array(
          z.object({
            id,
            name: z.string().min(1),
            nameEn: z.string().min(1).optional(),
            /** Words in a free-text message that mean this category (e.g. 没气了). */
            keywords: z.array(z.string().min(1)).default([]),
            /** The leak category: safety script, P0, page the emergency team. */
            emergency: z.boolean().default(false),
            /** A repair the company does not do: the customer gets the reason and where to go, and no case. */
            outOfScope: z.object({ reason: z.string().min(1), whereToGo: z.string().min(1) }).optional(),
          }),
        )
        .min(1),
      /** Service areas, recognised by words in the address (区、街道、小区). */
      areas: z
        .array(z.object({ id, name: z.string().min(1), match: z.array(z.string().min(1)).min(1) }))
        .default([]),
      /** First matching rule wins; without a match, routing.repair or routing.default. */
      routes: z
        .array(z.object({ categories: z.array(id).optional(), areas: z.array(id).optional(), team: id }))
        .default([]),
    }),
    /** Telegram channel rules. */
    telegram: z
      .object({
        /** Keep a copy of customers' photos under DATA_DIR/media (Telegram keeps files only for a while). */
        downloadPhotos: z.boolean().default(false),
      })
      .prefault({}),
    /** WeChat official account rules. */
    wechat: z
      .object({
        /** Template (subscription) message id for updates outside the 48-hour window; unset = staff phone the customer. */
        templateId: z.string().min(1).optional(),
        /** How old a signed request may be before it is refused as a replay. */
        replayWindow: durationSchema.prefault('5m'),
        /** The customer-service window after the customer's last message. */
        serviceWindow: durationSchema.prefault('48h'),
      })
      .prefault({}),
    /** Quality targets shown beside the figures (SPEC §1, §6). */
    targets: z
      .object({
        repairTimeliness: z.number().min(0).max(1).default(1),
        firstTimeFix: z.number().min(0).max(1).default(0.96),
        satisfaction: z.number().min(0).max(1).default(0.995),
        returnVisits: z.number().min(0).max(1).default(1),
      })
      .prefault({}),
    /** Words that mean a gas leak: they jump to the emergency path from anywhere. */
    leakWords: z.array(z.string().min(1)).min(1),
    /** Text overrides by language and catalogue key. */
    texts: z
      .object({ zh: z.record(z.string(), z.string()), en: z.record(z.string(), z.string()) })
      .partial()
      .prefault({}),
  })
  .superRefine((p, ctx) => {
    const teamIds = new Set(p.teams.map((t) => t.id));
    const staffIds = new Set(p.staff.map((s) => s.id));
    for (const [i, s] of p.staff.entries())
      for (const t of s.teams)
        if (!teamIds.has(t))
          ctx.addIssue({ code: 'custom', path: ['staff', i, 'teams'], message: `unknown team ${t}` });
    for (const [i, t] of p.teams.entries())
      if (t.supervisor && !staffIds.has(t.supervisor))
        ctx.addIssue({
          code: 'custom',
          path: ['teams', i, 'supervisor'],
          message: `unknown staff ${t.supervisor}`,
        });
    for (const [i, r] of p.roster.entries()) {
      if (!teamIds.has(r.team))
        ctx.addIssue({ code: 'custom', path: ['roster', i, 'team'], message: `unknown team ${r.team}` });
      for (const s of r.staff)
        if (!staffIds.has(s))
          ctx.addIssue({ code: 'custom', path: ['roster', i, 'staff'], message: `unknown staff ${s}` });
    }
    for (const [kind, team] of Object.entries(p.routing))
      if (!teamIds.has(team))
        ctx.addIssue({ code: 'custom', path: ['routing', kind], message: `unknown team ${team}` });
    if (!p.escalation.default)
      ctx.addIssue({ code: 'custom', path: ['escalation', 'default'], message: 'required' });
  });

export type Policy = z.infer<typeof policySchema>;
export type PolicyInput = z.input<typeof policySchema>;
