import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Handler } from 'aws-lambda';
import { DRILL_METRICS, HEALTH_METRICS } from '../shared/deployment/deployment-names.js';
import { healthEmail, healthFailureEmail, healthMetrics, runHealthCheck } from '../shared/deployment/run-health-check.js';
import { deploymentWording } from '../shared/deployment/deployment-wording.js';
import { formatErrorLine } from '../shared/errors.js';
import type { HealthReport } from '../shared/health/assess-health.js';
import { sendAlert } from '../shared/notify/notifier.js';
import { parseHealthConfig } from '../shared/deployment/deployment-config.js';
import { runtimeConfigReader } from '../shared/deployment/runtime-config.js';
import { bucket, logger, logStreamUrl, metrics, notifierFor, reportAlertFailure, settings } from './runtime.js';

/** Every database's name and schedules, from the health function's own config secret (see healthConfigSchema). */
const readConfig = runtimeConfigReader(process.env, undefined, parseHealthConfig);

/** Metrics that are ages (hours, days), not counts. */
const AGES: ReadonlySet<string> = new Set([HEALTH_METRICS.backupAge, DRILL_METRICS.daysWithoutPass]);

/** Stops the check this long before Lambda's time limit, to publish and email what it found so far. */
const TIME_MARGIN_MS = 60_000;

/**
 * The daily health check of every configured database's backups (any event; the schedule sends
 * `{}`): publishes each enabled tier's backup age and the re-read and anomaly counts, which the
 * age alarms read, and emails the report when anything is wrong (or on the configured weekday).
 */
export const handler: Handler<unknown, { status: string; findings: number }> = async (_event, context) => {
  logger.addContext(context);
  const config = await readConfig();
  const signal = AbortSignal.timeout(Math.max(1_000, context.getRemainingTimeInMillis() - TIME_MARGIN_MS));
  const logUrl = logStreamUrl(context.logGroupName, context.logStreamName);
  const send = (message: Parameters<typeof sendAlert>[1]) =>
    sendAlert(notifierFor(config), message, (m, fields) => logger.info(m, fields), reportAlertFailure);
  let report: HealthReport;
  try {
    report = await runHealthCheck(config, { bucket, settings, signal });
  } catch (error) {
    const reason = formatErrorLine(error, deploymentWording);
    logger.error('health check failed', { error: reason });
    await send(healthFailureEmail(reason, new Date(), logUrl));
    throw error;
  }
  for (const set of healthMetrics(report)) {
    metrics.addDimensions(set.dimensions);
    for (const [name, value] of Object.entries(set.values))
      metrics.addMetric(name, AGES.has(name) ? MetricUnit.NoUnit : MetricUnit.Count, value);
    metrics.publishStoredMetrics();
  }
  logger.info('health checked', { status: report.status, findings: report.findings.map((f) => f.message) });
  const message = healthEmail(report, config, new Date(), logUrl);
  if (message) await send(message);
  return { status: report.status, findings: report.findings.length };
};
