/* Query parameter schemas of every endpoint: they validate requests and describe the OpenAPI document. */
import { z } from 'zod';

const appName = (field: string) =>
  z
    .string({ error: `${field} is required` })
    .min(1, `${field} is required`)
    .max(512, `${field} is too long`);

const time = (field: string) => z.string().max(64, `${field} is too long`).optional();

const label = (field: string) => z.string().max(1024, `${field} is too long`).optional();
const pid = (field: string) =>
  z.coerce
    .number({ error: `${field} must be a process id` })
    .int(`${field} must be a process id`)
    .min(0, `${field} must be a process id`)
    .max(4294967295, `${field} must be a process id`)
    .optional();

/** The process labels a selection can be narrowed to (README "Process labels"), each an exact match. */
const processLabels = (prefix = '') => ({
  [`${prefix}host`]: label(`${prefix}host`),
  [`${prefix}container_id`]: label(`${prefix}container_id`),
  [`${prefix}pid`]: pid(`${prefix}pid`),
  [`${prefix}exe`]: label(`${prefix}exe`),
  [`${prefix}cmdline`]: label(`${prefix}cmdline`),
});
const labels = processLabels() as { host: ReturnType<typeof label>; container_id: ReturnType<typeof label>; pid: ReturnType<typeof pid>; exe: ReturnType<typeof label>; cmdline: ReturnType<typeof label> };
const baseLabels = processLabels('base_') as {
  base_host: ReturnType<typeof label>;
  base_container_id: ReturnType<typeof label>;
  base_pid: ReturnType<typeof pid>;
  base_exe: ReturnType<typeof label>;
  base_cmdline: ReturnType<typeof label>;
};

const comparison = z.object({
  app: appName('app'),
  from: time('from'),
  to: time('to'),
  ...labels,
  base_app: appName('base_app').optional(),
  base_from: time('base_from'),
  base_to: time('base_to'),
  ...baseLabels,
  mode: z.enum(['relative', 'absolute'], { error: 'mode must be relative or absolute' }).default('relative'),
});

/** The query schemas of every endpoint; also the source of the OpenAPI parameters. */
export const querySchemas = {
  range: z.object({ from: time('from'), to: time('to') }),
  selection: z.object({ app: appName('app'), from: time('from'), to: time('to'), ...labels }),
  processes: z.object({ app: appName('app'), from: time('from'), to: time('to') }),
  series: z.object({ app: appName('app'), from: time('from'), to: time('to'), ...labels, step: z.coerce.number({ error: 'step must be a number of seconds' }).int('step must be whole seconds').min(1, 'step must be at least 1 second').max(86400, 'step must be at most 86400 seconds').optional() }),
  comparison,
  runq: z.object({ app: appName('app').optional(), from: time('from'), to: time('to') }),
  dns: z.object({ app: appName('app').optional(), from: time('from'), to: time('to') }),
  losses: z.object({
    from: time('from'),
    to: time('to'),
    collector: z.enum(['profiler', 'runq', 'tcp', 'dns'], { error: 'collector must be profiler, runq, tcp or dns' }).optional(),
  }),
  netcost: z.object({
    from: time('from'),
    to: time('to'),
    app: appName('app').optional(),
    group_by: z.enum(['app', 'peer', 'class'], { error: 'group_by must be app, peer or class' }).default('app'),
  }),
  egress: z.object({
    app: appName('app'),
    from: time('from'),
    to: time('to'),
    ...labels,
    class: z.enum(['same-host', 'same-zone', 'cross-az', 'cross-region', 'internet', 'unknown', 'nat'], { error: 'class must be same-host, same-zone, cross-az, cross-region, internet, unknown or nat' }).optional(),
    peer_app: z.string().max(256, 'peer_app must be at most 256 characters').optional(),
    format: z.enum(['json', 'pprof'], { error: 'format must be json or pprof' }).default('json'),
  }),
  netcostSeries: z.object({
    from: time('from'),
    to: time('to'),
    step: z.coerce.number({ error: 'step must be a number of seconds' }).int('step must be whole seconds').min(60, 'step must be at least 60 seconds').max(31 * 86400, 'step must be at most 31 days').optional(),
  }),
  monthly: z.object({
    month: z.string({ error: 'month is required (YYYY-MM)' }).regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'month must be YYYY-MM'),
    format: z.enum(['focus', 'csv', 'json'], { error: 'format must be focus, csv or json' }).default('json'),
  }),
  changes: comparison.omit({ mode: true }).extend({
    limit: z.coerce.number({ error: 'limit must be a number' }).int('limit must be an integer').min(1, 'limit must be at least 1').max(1000, 'limit must be at most 1000').default(100),
    min_samples: z.coerce.number({ error: 'min_samples must be a number' }).int().min(1).max(1_000_000).default(20),
  }),
} as const;
