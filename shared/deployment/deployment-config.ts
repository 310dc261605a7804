import { readFile } from 'node:fs/promises';
import { type ParseError, parse as parseJsonc, printParseErrorCode } from 'jsonc-parser';
import { z } from 'zod';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { ConfigError } from '../errors.js';
import { isTimeZone } from '../retention/calendar-periods.js';
import { STORAGE_CLASSES } from '../targets/target.js';

import type { Tier } from './deployment-names.js';

export { TIERS, type Tier } from './deployment-names.js';

/**
 * When each tier runs, in the deployment's time zone, unless a database says otherwise: never
 * between 02:00 and 03:00, which a daylight-saving change skips or repeats in most zones (a weekly
 * backup at Sunday 02:00 would not run on the spring change in Europe/Berlin), and hours apart.
 */
export const DEFAULT_SCHEDULES: Record<Tier, Schedule> = {
  daily: { hour: 23, minute: 0 },
  weekly: { weekday: 'SUN', hour: 4, minute: 0 },
  monthly: { day: 1, hour: 3, minute: 0 },
};
/** How many backups of each tier are kept. */
export const DEFAULT_RETENTION: Record<Tier, number> = { daily: 7, weekly: 4, monthly: 12 };
/** Storage class per tier: older tiers are read rarely, so they go to cheaper classes. */
export const DEFAULT_STORAGE_CLASSES: Record<Tier, (typeof STORAGE_CLASSES)[number]> = {
  daily: 'STANDARD',
  weekly: 'STANDARD_IA',
  monthly: 'GLACIER_IR',
};

const scheduleSchema = z
  .object({
    hour: z.number().int().min(0).max(23),
    minute: z.number().int().min(0).max(59).default(0),
    weekday: z.enum(['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN']).optional(),
    day: z.number().int().min(1).max(28).optional(),
    enabled: z.boolean().default(true),
  })
  .strict();
export type Schedule = z.input<typeof scheduleSchema>;

/** The vCPU sizes of a Fargate task, in units of 1/1024 vCPU. */
const TASK_CPUS = [1024, 2048, 4096, 8192, 16384] as const;
type TaskCpu = (typeof TASK_CPUS)[number];

/** When a database's restore drill runs unless its config says otherwise: monthly, mid-month, away from the backups. */
export const DEFAULT_DRILL_SCHEDULE = { day: 15, hour: 5, minute: 0 } as const;

const drillScheduleSchema = z
  .object({
    day: z.number().int().min(1).max(28).default(DEFAULT_DRILL_SCHEDULE.day),
    hour: z.number().int().min(0).max(23).default(DEFAULT_DRILL_SCHEDULE.hour),
    minute: z.number().int().min(0).max(59).default(DEFAULT_DRILL_SCHEDULE.minute),
  })
  .strict();

const secretArn = z.string().regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager secret ARN');

/**
 * A PostgreSQL database's restore drill: its newest backup restored monthly into a new database on
 * a scratch server, checked, and dropped. The drill function reads only the scratch server's
 * secret, never the database's own, and may create databases only there.
 */
const postgresDrillSchema = z
  .object({
    /** @default true when a scratch server is given: a drill needs a server it may create databases on */
    enabled: z.boolean().optional(),
    scratch: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).default(5432),
        /** `{"username": …, "password": …}` of a login with CREATEDB on the scratch server (never the source's). */
        secretArn,
        sslmode: z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']).optional(),
        sslrootcert: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    schedule: drillScheduleSchema.optional(),
  })
  .strict();

/** A SQLite database's restore drill, into a file in the drill function's temp storage. Off unless enabled. */
const sqliteDrillSchema = z
  .object({
    enabled: z.boolean().default(false),
    schedule: drillScheduleSchema.optional(),
  })
  .strict();

const tierMap = <T extends z.ZodType>(value: T) =>
  z.object({ daily: value.optional(), weekly: value.optional(), monthly: value.optional() }).strict();

const common = {
  /** Name used in keys, events and alerts: letters, digits, `-` and `_`. */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'may hold only letters, digits, "-" and "_" (1-64)'),
  schedules: tierMap(scheduleSchema).default({}),
  retention: tierMap(z.number().int().min(1).max(1000)).default({}),
  storageClass: tierMap(z.enum(STORAGE_CLASSES)).default({}),
  /** `lambda` (up to 15 minutes) or `fargate` (no time limit) for databases too large to dump in 15 minutes. */
  runner: z.enum(['lambda', 'fargate']).default('lambda'),
  /** The size of the Fargate task (runner `fargate` only). */
  task: z
    .object({
      /** vCPU in units of 1/1024: 1024, 2048 (default), 4096, 8192 or 16384. */
      cpu: z.literal(TASK_CPUS).default(2048),
      /** Memory in MiB; Fargate allows 2 to 8 GiB per vCPU (4096 with the default cpu). */
      memoryMiB: z.number().int().optional(),
      /** Disk for the SQLite snapshot, 21-200 GiB. */
      ephemeralStorageGiB: z.number().int().min(21).max(200).default(21),
      /**
       * Minutes a backup task may run before it stops, cleans up and reports the failure (a task
       * has no time limit of its own: a stuck one would run, and bill, for ever). Default 1440 (a day).
       */
      timeoutMinutes: z.number().positive().optional(),
    })
    .strict()
    .optional(),
  compression: z.enum(['gzip', 'zstd']).default('gzip'),
};

const postgresSchema = z
  .object({
    ...common,
    engine: z.literal('postgres'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1),
    /** Secrets Manager secret holding `{"username": …, "password": …}` (the RDS format). */
    secretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager secret ARN'),
    /**
     * The secret the restore function connects with: a role that may create databases (CREATEDB) and
     * owns this one, which the backup's read-only role should not be. Only the restore function may
     * read it. @default none: the restore function then restores only into a database its event names
     * in "to" (it never falls back to the backup's credentials)
     */
    restoreSecretArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager secret ARN')
      .optional(),
    /**
     * libpq's sslmode, with libpq's meaning (README, "TLS to the database").
     * @default `verify-full` for an RDS host (`*.rds.amazonaws.com`), against the image's RDS CA bundle; `require` for any other
     */
    sslmode: z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']).optional(),
    /**
     * The file of root certificates the server's certificate is checked against (libpq's sslrootcert), a path in the
     * image, or `system` for the image's system CAs (needs `verify-full`).
     * @default the RDS CA bundle the image carries (`RDS_CA_BUNDLE_PATH`) for an RDS host; none for any other
     */
    sslrootcert: z.string().min(1).optional(),
    /**
     * Seconds the backup waits for a table another session has locked (an ALTER TABLE, a VACUUM FULL)
     * before it fails, naming this setting, rather than hang until the run's time limit. @default 300
     */
    lockWaitSeconds: z.number().int().positive().optional(),
    drill: postgresDrillSchema.optional(),
    vpc: z
      .object({
        vpcId: z.string().regex(/^vpc-/),
        subnetIds: z.array(z.string().regex(/^subnet-/)).min(1),
        securityGroupIds: z.array(z.string().regex(/^sg-/)).min(1),
      })
      .strict()
      .optional(),
  })
  .strict();

const sqliteSchema = z
  .object({
    ...common,
    engine: z.literal('sqlite'),
    /** The EFS file system and access point the database file lives on, mounted at /mnt/data. */
    efs: z
      .object({
        fileSystemId: z.string().regex(/^fs-/),
        accessPointId: z.string().regex(/^fsap-/),
        vpcId: z.string().regex(/^vpc-/),
        subnetIds: z.array(z.string().regex(/^subnet-/)).min(1),
        securityGroupIds: z.array(z.string().regex(/^sg-/)).min(1),
      })
      .strict(),
    /** Path of the database file under the mount point, e.g. `app/app.db`. */
    path: z.string().regex(/^[^/].*\.(db|sqlite|sqlite3)$/, 'must be a relative path ending in .db, .sqlite or .sqlite3'),
    drill: sqliteDrillSchema.optional(),
  })
  .strict();

const emailSchema = z.string().regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'must be an email address');

const databaseSchema = z.discriminatedUnion('engine', [postgresSchema, sqliteSchema]);

/** `dbbackup.config.json`: one deployment, before the checks across fields. */
const configObjectSchema = z
  .object({
    $schema: z.string().optional(),
    /** IANA time zone the schedules are in. */
    timeZone: z.string().default('UTC'),
    alerts: z
      .object({
        /** A sender address or domain verified in SES. */
        sender: emailSchema,
        recipients: z.array(emailSchema).min(1),
        /** Also email a summary of every successful backup. */
        onSuccess: z.boolean().default(false),
      })
      .strict(),
    /**
     * The weekly report email (runs, failures, durations, sizes, costs, recommendations of the last
     * 7 days) to the alert recipients, in the deployment's time zone.
     * @default Mondays at 07:00
     */
    report: z
      .object({
        enabled: z.boolean().default(true),
        weekday: z.enum(['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN']).default('MON'),
        hour: z.number().int().min(0).max(23).default(7),
        minute: z.number().int().min(0).max(59).default(0),
      })
      .strict()
      .default({ enabled: true, weekday: 'MON', hour: 7, minute: 0 }),
    bucket: z
      .object({
        /** `kms`: a customer managed key created with the stack (default); `s3`: SSE-S3. */
        encryption: z.enum(['kms', 's3']).default('kms'),
        /** Days noncurrent object versions are kept before they expire. */
        noncurrentVersionDays: z.number().int().min(1).default(30),
        /**
         * Object Lock for this many days (ransomware protection): no version can be deleted or
         * overwritten before then, whatever a role's policies say.
         */
        objectLockDays: z.number().int().min(1).optional(),
        /**
         * `governance` (default): a principal with s3:BypassGovernanceRetention (never one of the
         * deployment's, which the bucket policy refuses it) can still remove a version early;
         * `compliance`: nobody can, not even the account's root user, until the days have passed.
         */
        objectLockMode: z.enum(['governance', 'compliance']).default('governance'),
        /** A second region every backup is replicated to (the off-site copy). */
        replicationRegion: z
          .string()
          .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region such as eu-central-1')
          .optional(),
      })
      .strict()
      .default({ encryption: 'kms', noncurrentVersionDays: 30, objectLockMode: 'governance' }),
    /** The daily health check of every database's backups (README, "Health checks"). */
    health: z
      .object({
        /** When it runs each day, in the deployment's time zone. */
        hour: z.number().int().min(0).max(23).default(7),
        minute: z.number().int().min(0).max(59).default(0),
        /** How many of each database's newest backups it re-reads (download, hash, content check). */
        verifyNewest: z.number().int().min(0).max(10).default(1),
        /** Also email a short "all healthy" report on this weekday when nothing is wrong. @default never */
        allHealthyEmail: z.enum(['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN']).optional(),
      })
      .strict()
      .default({ hour: 7, minute: 0, verifyNewest: 1 }),
    databases: z.array(databaseSchema).min(1),
  })
  .strict();

/** `dbbackup.config.json`: one deployment. */
export const deploymentConfigSchema = configObjectSchema.superRefine(checkConfig);

/**
 * The config a deployed function reads at run time (its group's config secret): the deployment's
 * settings and the databases it serves, which for the alert function are none.
 */
export const runtimeConfigSchema = configObjectSchema
  .extend({ databases: z.array(databaseSchema).default([]) })
  .superRefine(checkConfig);

function checkConfig(config: z.output<typeof configObjectSchema>, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  for (const [i, db] of config.databases.entries()) {
    if (seen.has(db.name))
      ctx.addIssue({ code: 'custom', path: ['databases', i, 'name'], message: `"${db.name}" is used twice` });
    seen.add(db.name);
  }
  for (const [i, db] of config.databases.entries()) {
    if (db.runner !== 'fargate') continue;
    if (db.engine === 'postgres' && !db.vpc)
      ctx.addIssue({
        code: 'custom',
        path: ['databases', i, 'vpc'],
        message: 'is required with runner "fargate": a Fargate task runs in your subnets, with your security groups',
      });
    const { cpu, memoryMiB: memory } = taskSize(db);
    const [min, max, step] = FARGATE_MEMORY[cpu];
    if (memory < min || memory > max || memory % step !== 0)
      ctx.addIssue({
        code: 'custom',
        path: ['databases', i, 'task', 'memoryMiB'],
        message: `must be ${min}-${max} in steps of ${step} with cpu ${cpu} (got ${memory})`,
      });
  }
  for (const [i, db] of config.databases.entries()) {
    if (db.engine === 'postgres' && db.drill?.enabled === true && !db.drill.scratch)
      ctx.addIssue({
        code: 'custom',
        path: ['databases', i, 'drill', 'scratch'],
        message:
          'is required to drill a PostgreSQL database: a drill restores into a new database on a scratch server it may create databases on (never the source)',
      });
  }
  if (!isTimeZone(config.timeZone))
    ctx.addIssue({ code: 'custom', path: ['timeZone'], message: 'must be an IANA time zone such as Europe/Berlin' });
}

export type DeploymentConfig = z.output<typeof deploymentConfigSchema>;

/**
 * What the health function reads (its own config secret): the deployment's settings and, of every
 * database, only its name and schedules. A whole config grows by 700 bytes a database and passes
 * a secret's 64 KB at about 90 databases; this, by some 60. A whole config is one too (unknown
 * fields of a database are dropped), so a test or a local run may pass the usual one.
 */
export const healthConfigSchema = configObjectSchema.pick({ timeZone: true, alerts: true, health: true }).extend({
  databases: z
    // drill: whether its restore drill is scheduled, so the check holds it to a drill passed within 35 days.
    .array(z.object({ name: common.name, schedules: common.schedules, drill: z.boolean().default(false) }))
    .default([]),
});
export type HealthConfig = z.output<typeof healthConfigSchema>;

/**
 * Validates the health function's config: its own secret's shape, or, run outside AWS
 * (DBBACKUP_CONFIG), a whole deployment config, of which it takes the same part the stack gives it.
 */
export function parseHealthConfig(input: unknown): HealthConfig {
  const databases = (input as { databases?: unknown } | null)?.databases;
  if (Array.isArray(databases) && databases.some((db) => (db as { engine?: unknown } | null)?.engine !== undefined))
    return healthConfigOf(parseRuntimeConfig(input));
  return parseOrConfigError(healthConfigSchema, input);
}

/** The health function's config of a deployment: its settings, and each database's name and schedules. */
export function healthConfigOf(config: DeploymentConfig): HealthConfig {
  const { timeZone, alerts, health } = config;
  return {
    timeZone,
    alerts,
    health,
    databases: config.databases.map((db) => ({ name: db.name, schedules: db.schedules, drill: drillSettings(db).enabled })),
  };
}
export type DatabaseConfig = DeploymentConfig['databases'][number];
export type PostgresDatabaseConfig = Extract<DatabaseConfig, { engine: 'postgres' }>;

/** Fargate's memory choices per cpu: [min, max, step] in MiB. */
const FARGATE_MEMORY: Record<TaskCpu, [number, number, number]> = {
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** A database's backup task size (Fargate runner), defaults applied: memory 2 GiB per vCPU, like the functions. */
export function taskSize(db: DatabaseConfig): {
  cpu: TaskCpu;
  memoryMiB: number;
  ephemeralStorageGiB: number;
} {
  const cpu = db.task?.cpu ?? 2048;
  return { cpu, memoryMiB: db.task?.memoryMiB ?? cpu * 2, ephemeralStorageGiB: db.task?.ephemeralStorageGiB ?? 21 };
}

/** How long a backup task may run, unless its database's `task.timeoutMinutes` says otherwise: a day. */
export const DEFAULT_TASK_TIMEOUT_MINUTES = 24 * 60;

/** The minutes a database's backup task may run (Fargate runner), its default applied. */
export function taskTimeoutMinutes(db: DatabaseConfig): number {
  return db.task?.timeoutMinutes ?? DEFAULT_TASK_TIMEOUT_MINUTES;
}

/** Where SQLite databases' EFS access points are mounted in the functions. */
export const EFS_MOUNT_PATH = '/mnt/data';

/** Validates a deployment config; errors name the field and the value. */
export function parseDeploymentConfig(input: unknown): DeploymentConfig {
  return parseOrConfigError(deploymentConfigSchema, input);
}

/** Validates the config a deployed function reads: a deployment config whose databases may be none. */
export function parseRuntimeConfig(input: unknown): DeploymentConfig {
  return parseOrConfigError(runtimeConfigSchema, input);
}

/** Reads a config file (JSON with `//` and block comments allowed). */
export async function loadDeploymentConfig(path: string): Promise<DeploymentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read the deployment config ${path}: ${(cause as Error).message}`, {
      hint: 'copy dbbackup.config.example.json to dbbackup.config.json and edit it, or pass -c config=PATH to cdk',
      cause,
    });
  }
  // JSON with comments, so the example config can explain itself; trailing commas stay errors, as in JSON.
  const errors: ParseError[] = [];
  const json: unknown = parseJsonc(text, errors, { disallowComments: false, allowTrailingComma: false });
  const [first] = errors;
  if (first) {
    const before = text.slice(0, first.offset);
    const line = before.split('\n').length;
    const column = first.offset - before.lastIndexOf('\n');
    // PropertyNameExpected -> "property name expected"
    const reason = printParseErrorCode(first.error)
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .toLowerCase();
    throw new ConfigError(`${path}:${line}:${column} is not valid JSON: ${reason}`);
  }
  return parseDeploymentConfig(json);
}

/** The schedule, retention and storage class of one database's tier, defaults applied. */
export function tierSettings(
  db: Pick<DatabaseConfig, 'schedules' | 'retention' | 'storageClass'>,
  tier: Tier,
): { schedule: Required<Schedule>; keep: number; storageClass: (typeof STORAGE_CLASSES)[number] } {
  const schedule = { ...DEFAULT_SCHEDULES[tier], enabled: true, ...db.schedules[tier] };
  return {
    schedule: { weekday: undefined, day: undefined, ...schedule } as Required<Schedule>,
    keep: db.retention[tier] ?? DEFAULT_RETENTION[tier],
    storageClass: db.storageClass[tier] ?? DEFAULT_STORAGE_CLASSES[tier],
  };
}

/** Whether and when a database's restore drill runs, defaults applied: off unless configured (PostgreSQL: a scratch server). */
export function drillSettings(db: DatabaseConfig): {
  enabled: boolean;
  schedule: { day: number; hour: number; minute: number };
} {
  const enabled =
    db.engine === 'postgres' ? (db.drill?.enabled ?? db.drill?.scratch !== undefined) : (db.drill?.enabled ?? false);
  return { enabled, schedule: { ...DEFAULT_DRILL_SCHEDULE, ...db.drill?.schedule } };
}

/** Finds a database by name, failing with the names that exist. */
export function findDatabase(config: DeploymentConfig, name: string): DatabaseConfig {
  const db = config.databases.find((d) => d.name === name);
  if (!db) {
    throw new ConfigError(`no database named "${name}" in this deployment`, {
      hint: `configured: ${config.databases.map((d) => d.name).join(', ')}`,
    });
  }
  return db;
}
