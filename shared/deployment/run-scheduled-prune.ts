import { z } from 'zod';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { parsePruneRequest } from '../retention/prune-request.js';
import type { ManifestProblem } from '../catalog/list-backups.js';
import { executePrune, planPrune, type PruneResult } from '../retention/run-prune.js';
import type { Settings } from '../settings.js';
import { openTarget } from '../targets/open-target.js';
import { type DeploymentConfig, findDatabase, tierSettings } from './deployment-config.js';

/** What the prune schedule sends: `{ "database": "school" }`. */
export const pruneEventSchema = z.object({ database: z.string().min(1) }).strict();

/** What one scheduled prune did, for the log. */
export interface ScheduledPruneResult extends PruneResult {
  readonly database: string;
  readonly kept: number;
  /**
   * Manifests that could not be read or believed (damaged, dated in the future): kept with their
   * data, and returned so that the log says so; a scheduled prune has no one to warn otherwise.
   */
  readonly problems: ManifestProblem[];
}

/**
 * Prunes one database of a deployment by its config's retention (`retention.daily`, `weekly`,
 * `monthly`, defaults applied), days, weeks and months counted in the deployment's time zone; the
 * pre-restore, run-record and orphan settings are the prune's defaults.
 */
export async function runScheduledPrune(
  event: unknown,
  deps: { config: DeploymentConfig; bucket: string; settings: Settings; now?: Date },
): Promise<ScheduledPruneResult> {
  const { database } = parseOrConfigError(pruneEventSchema, event);
  const db = findDatabase(deps.config, database);
  const request = parsePruneRequest({
    database: db.name,
    keepDaily: tierSettings(db, 'daily').keep,
    keepWeekly: tierSettings(db, 'weekly').keep,
    keepMonthly: tierSettings(db, 'monthly').keep,
    timeZone: deps.config.timeZone,
  });
  const target = await openTarget(`s3://${deps.bucket}`, { settings: deps.settings });
  const plan = await planPrune(target, request, deps.now ?? new Date());
  const result = await executePrune(target, plan, deps.settings);
  return { database: db.name, kept: plan.keep.length, ...result, problems: plan.problems };
}
