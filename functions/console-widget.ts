import { LambdaClient } from '@aws-sdk/client-lambda';
import type { Handler } from 'aws-lambda';
import { z } from 'zod';
import { consoleActionSchema, refusedAction } from '../shared/console/console-action.js';
import { type ConsoleResult, renderConsole } from '../shared/console/render-console.js';
import { invokeFunction } from '../shared/deployment/invoke-function.js';
import { deploymentWording } from '../shared/deployment/deployment-wording.js';
import { runtimeConfigReader } from '../shared/deployment/runtime-config.js';
import {
  type ConsoleConfig,
  gatherDeploymentView,
  parseConsoleConfig,
  runConsoleAction,
  type WidgetInvocation,
} from '../shared/deployment/run-console-widget.js';
import { formatErrorLine } from '../shared/errors.js';
import { openTarget } from '../shared/targets/open-target.js';
import { bucket, logger, settings } from './runtime.js';

/** Database names, schedules and the functions the buttons invoke, from the widget's own config secret. */
const readConfig = runtimeConfigReader(process.env, undefined, parseConsoleConfig);
const target = openTarget(`s3://${bucket}`, { settings });

/** Kept to gather and draw the view after an action, within the function's time limit. */
const VIEW_MARGIN_MS = 8_000;

/** What the dashboard sends: its context (form values among it), `describe` when asked, a button's parameters at the top. */
const widgetEventSchema = z
  .object({
    describe: z.boolean().optional(),
    widgetContext: z
      .object({ forms: z.object({ all: z.record(z.string(), z.unknown()).optional() }).optional() })
      .loose()
      .optional(),
  })
  .loose();

const DESCRIPTION = `## dbbackup console
Per database: the newest backups with size and age, their health (as the daily check judges it, without re-reading), the last restore drill.
Buttons: **Verify now** re-reads one backup; **Health now** runs the health check; **Restore dry-run** asks the database's restore function to check the newest backup and the destination, with \`dryRun\` and never \`confirm\`: nothing is changed. Read-only otherwise.`;

/**
 * The dashboard's console widget: draws the view of every configured database, and performs a
 * button's action first when the event carries one (see consoleActionSchema), showing its result
 * above the view. A request it does not know is refused in one line, and nothing is done.
 */
export const handler: Handler<unknown, string> = async (input, context) => {
  logger.addContext(context);
  const parsed = widgetEventSchema.safeParse(input);
  if (!parsed.success)
    return renderConsole(undefined, {
      endpoint: context.invokedFunctionArn,
      viewError: 'not a widget request; nothing was done',
    });
  const { describe, widgetContext, ...params } = parsed.data;
  if (describe) return DESCRIPTION;
  const endpoint = context.invokedFunctionArn;
  let config: ConsoleConfig;
  try {
    config = await readConfig();
  } catch (error) {
    const reason = formatErrorLine(error, deploymentWording);
    logger.error('console config unreadable', { error: reason });
    return renderConsole(undefined, {
      endpoint,
      viewError: `the widget's config could not be read, so nothing was done: ${reason}`,
    });
  }
  let result: ConsoleResult | undefined;
  if (Object.keys(params).length > 0) {
    const action = consoleActionSchema.safeParse(params);
    if (!action.success) {
      result = { ok: false, lines: [refusedAction(params, action.error)] };
      logger.warn('console action refused', { reason: result.lines[0] });
    } else {
      const timeoutMs = Math.max(1_000, context.getRemainingTimeInMillis() - VIEW_MARGIN_MS);
      logger.info('console action', {
        action: action.data.action,
        database: 'database' in action.data ? action.data.database : undefined,
      });
      result = await runConsoleAction(action.data, {
        config,
        target: await target,
        settings,
        forms: widgetContext?.forms?.all ?? {},
        invoke: (name, event) => invokeWithin(name, event, timeoutMs),
        signal: AbortSignal.timeout(timeoutMs),
      }).catch((error: unknown) => ({
        ok: false,
        lines: [`${action.data.action} failed: ${formatErrorLine(error, deploymentWording)}`],
      }));
      logger.info('console action done', { action: action.data.action, ok: result.ok, result: result.lines[0] });
    }
  }
  try {
    return renderConsole(await gatherDeploymentView(await target, config), { endpoint, result });
  } catch (error) {
    const reason = formatErrorLine(error, deploymentWording);
    logger.error('console view failed', { error: reason });
    return renderConsole(undefined, { endpoint, result, viewError: `the backups could not be listed: ${reason}` });
  }
};

/**
 * Invokes a function and waits at most `timeoutMs`; once only, since a retried request would start
 * a second health check or dry run. A function still running past it goes on: the widget says so.
 */
async function invokeWithin(name: string, event: unknown, timeoutMs: number): Promise<WidgetInvocation> {
  const client = new LambdaClient({ maxAttempts: 1, requestHandler: { requestTimeout: timeoutMs } });
  try {
    const { payload, failed } = await invokeFunction(name, event, client);
    return { payload, failed };
  } catch (error) {
    if (/Timeout|Abort/.test(String((error as { cause?: Error }).cause?.name))) return { timedOut: true };
    return { payload: { errorMessage: formatErrorLine(error, deploymentWording) }, failed: true };
  } finally {
    client.destroy();
  }
}
