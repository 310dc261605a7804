import { z } from 'zod';
import { chooseBackup, listBackups } from '../catalog/list-backups.js';
import { type ConsoleAction, widgetDestinationSchema } from '../console/console-action.js';
import { type ConsoleView, gatherConsoleView } from '../console/gather-console-view.js';
import type { ConsoleResult } from '../console/render-console.js';
import { formatErrorLine } from '../errors.js';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { bytesText, durationText } from '../report/report-units.js';
import type { RestoreResult } from '../restore/run-restore.js';
import type { Settings } from '../settings.js';
import type { Target } from '../targets/target.js';
import { verifyBackup } from '../verify/verify-backup.js';
import { type DeploymentConfig, type HealthConfig, healthConfigOf, healthConfigSchema, TIERS } from './deployment-config.js';
import { deploymentWording } from './deployment-wording.js';
import { functionRestoreEventSchema } from './run-function-restore.js';
import { expectedDatabases, maxBackupAgeHours } from './run-health-check.js';

/**
 * The console widget's config (its own secret, as the health function's): the health function's
 * (names and schedules), each database's engine and the restore function that serves it, and
 * the health function's name. Names only: no host, no secret ARN, no credential.
 */
export const consoleConfigSchema = healthConfigSchema.extend({
  databases: z
    .array(
      healthConfigSchema.shape.databases
        .unwrap()
        .element.extend({ engine: z.string().min(1), restoreFunction: z.string().min(1).max(64) }),
    )
    .default([]),
  healthFunction: z.string().min(1),
});
export type ConsoleConfig = z.output<typeof consoleConfigSchema>;

/** Validates the console widget's config. */
export function parseConsoleConfig(input: unknown): ConsoleConfig {
  return parseOrConfigError(consoleConfigSchema, input);
}

/** The widget's config of a deployment, given the name of each database's restore function and the health function's. */
export function consoleConfigOf(
  config: DeploymentConfig,
  names: { readonly restoreFunction: (database: string) => string; readonly healthFunction: string },
): ConsoleConfig {
  const health = healthConfigOf(config);
  return {
    ...health,
    databases: config.databases.map((db, i) => ({
      ...(health.databases[i] as HealthConfig['databases'][number]),
      engine: db.engine,
      restoreFunction: names.restoreFunction(db.name),
    })),
    healthFunction: names.healthFunction,
  };
}

/** Gathers the widget's view of the deployment's bucket: every configured database, the health check's age limits. */
export function gatherDeploymentView(target: Target, config: ConsoleConfig, now?: Date): Promise<ConsoleView> {
  const tiers = new Map(expectedDatabases(config).map((d) => [d.name, d.tiers]));
  return gatherConsoleView(target, {
    databases: config.databases.map((d) => ({ name: d.name, engine: d.engine, tiers: tiers.get(d.name) })),
    policy: { maxAgeHours: Object.fromEntries(TIERS.map((tier) => [tier, maxBackupAgeHours(tier)])) },
    now,
  });
}

/** What a function invoked by the widget answered; `timedOut` when it did not within the widget's time. */
export type WidgetInvocation = { readonly payload: unknown; readonly failed: boolean } | { readonly timedOut: true };

/** What an action needs: the bucket, and a way to invoke a function that waits at most `timeoutMs`. */
export interface ConsoleActionDeps {
  readonly config: ConsoleConfig;
  readonly target: Target;
  readonly settings: Settings;
  /** The values of the widget's form fields (`widgetContext.forms.all`). */
  readonly forms: Readonly<Record<string, unknown>>;
  readonly invoke: (functionName: string, event: unknown) => Promise<WidgetInvocation>;
  /** Stops a re-read that would outlast the widget's time. */
  readonly signal?: AbortSignal;
}

/**
 * The restore function's event for a dry run of a database's newest backup into `to` (absent:
 * the database itself). Never a `confirm`: without one the restore function cannot replace
 * anything, whatever else the event says; a real restore is only ever invoked by hand.
 */
export function restoreDryRunEvent(database: string, to: string | undefined): z.input<typeof functionRestoreEventSchema> {
  const event = { database, latest: true, dryRun: true, ...(to === undefined ? {} : { to }) };
  // The restore function's own schema: an event it would refuse is not sent.
  functionRestoreEventSchema.parse(event);
  return event;
}

/** Performs one button's action (already validated) and says what it did, in lines for the widget. */
export async function runConsoleAction(action: ConsoleAction, deps: ConsoleActionDeps): Promise<ConsoleResult> {
  const refused = (line: string): ConsoleResult => ({ ok: false, lines: [line] });
  if (action.action === 'health') {
    const answer = await deps.invoke(deps.config.healthFunction, {});
    if ('timedOut' in answer)
      return {
        ok: null,
        lines: [
          'The health check was started and is still running; its findings go to the metrics, and to the alert email when anything is wrong.',
        ],
      };
    if (answer.failed) return refused(`The health check failed: ${errorMessageOf(answer.payload)}`);
    const { status, findings } = (answer.payload ?? {}) as { status?: string; findings?: number };
    return {
      ok: status === 'healthy',
      lines: [
        `Health check: ${String(status)}, ${Number(findings)} finding(s)${status === 'healthy' ? '' : '; the alert email lists them'}.`,
      ],
    };
  }
  const db = deps.config.databases.find((d) => d.name === action.database);
  if (!db) return refused(`no database named "${action.database}" in this deployment; nothing was done`);
  if (action.action === 'verify') {
    try {
      const { backups, problems } = await listBackups(deps.target, { database: db.name });
      const backup = chooseBackup(backups, { file: action.file, database: db.name, where: deps.target.url }, problems);
      const result = await verifyBackup(deps.target, backup, deps.settings, deps.signal);
      return result.ok
        ? {
            ok: true,
            lines: [
              `${result.backupFile} verified: size, SHA-256 and content match its manifest (${bytesText(backup.manifest.size_bytes)}, ${durationText(result.durationMs)}).`,
            ],
          }
        : refused(`${result.backupFile} FAILED verification: ${result.problem}`);
    } catch (error) {
      if (deps.signal?.aborted)
        return refused(
          `${action.file} could not be re-read within the widget's time; nothing is known about it yet: the daily health check re-reads the newest backups`,
        );
      return refused(`verify ${action.file}: ${formatErrorLine(error, deploymentWording)}`);
    }
  }
  const typed = widgetDestinationSchema.safeParse(deps.forms[action.field] ?? '');
  if (!typed.success) return refused(`the destination ${typed.error.issues[0]?.message}; nothing was done`);
  const event = restoreDryRunEvent(db.name, typed.data);
  const answer = await deps.invoke(db.restoreFunction, event);
  if ('timedOut' in answer)
    return {
      ok: null,
      lines: [
        `The dry run of ${db.name} is still running in ${db.restoreFunction}; its result is in that function's log. Nothing will be changed.`,
      ],
    };
  if (answer.failed) return refused(`Dry run of ${db.name} refused: ${errorMessageOf(answer.payload)}`);
  const result = answer.payload as RestoreResult;
  const { backup, destination } = result.plan;
  return {
    ok: true,
    lines: [
      `Dry run of ${db.name}: the backup checks out; nothing was changed.`,
      `backup: ${backup.location} (${bytesText(backup.sizeBytes)}${backup.verified ? ', verified against its manifest' : ', no manifest'})`,
      `destination: ${destination.description}`,
      ...result.warnings.map((w) => `warning: ${w}`),
      'A real restore: invoke the restore function by hand with "confirm" set to the destination’s name.',
    ],
  };
}

/** The one line a failed invocation's payload holds (the Lambda runtime's `errorMessage`). */
function errorMessageOf(payload: unknown): string {
  const message = (payload as { errorMessage?: unknown } | null)?.errorMessage;
  return typeof message === 'string' ? (message.split('\n')[0]?.slice(0, 500) ?? '') : 'the function gave no reason';
}
