import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import type { DeploymentConfig } from '../shared/deployment/deployment-config.js';
import { runtimeConfigReader } from '../shared/deployment/runtime-config.js';
import { ALERT_FAILED_METRIC, ENVIRONMENT, METRIC_NAMESPACE, SERVICE_NAME } from '../shared/deployment/deployment-names.js';
import type { AlertOrigin } from '../shared/notify/alert.js';
import { SesNotifier } from '../shared/notify/ses-notifier.js';
import type { Deadline } from '../shared/pipeline/run-stop.js';
import { FUNCTION_TIME_MARGIN_MS } from '../shared/deployment/run-scheduled-backup.js';
import { readSettings } from '../shared/settings.js';

/** Reads an environment variable the stack sets; without it the cold start fails, naming it. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Environment variable ${name} is required`);
  return value;
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Built once per cold start (or task start) and shared by every invocation. */
export const logger = new Logger({ serviceName: SERVICE_NAME });
/** Publishes under the deployment's own namespace (set by the stack); `dbbackup` outside a deployment. */
export const metrics = new Metrics({
  namespace: process.env[ENVIRONMENT.metricNamespace] || METRIC_NAMESPACE,
  serviceName: SERVICE_NAME,
});
/** The config of the databases this function serves, read at every run (see runtimeConfigReader). */
export const readConfig: () => Promise<DeploymentConfig> = runtimeConfigReader(process.env);
export const bucket = requiredEnv(ENVIRONMENT.bucket);
/** Temp dir, client-program dirs, S3 endpoint: read once, passed to the core. */
export const settings = readSettings(process.env);
export const kmsKeyId = process.env[ENVIRONMENT.kmsKeyId] || undefined;

const notifiers = new Map<string, SesNotifier>();
/** The notifier for a config's alert settings, one per sender and recipients (their client is reused). */
export function notifierFor(config: Pick<DeploymentConfig, 'alerts'>): SesNotifier {
  const { sender, recipients } = config.alerts;
  const key = JSON.stringify([sender, recipients]);
  let notifier = notifiers.get(key);
  if (!notifier) notifiers.set(key, (notifier = new SesNotifier(sender, recipients)));
  return notifier;
}

/** A link to a log stream (a Lambda invocation's, or a backup task's) in the CloudWatch console. */
export function logStreamUrl(logGroupName: string, logStreamName: string): string {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  // The console's URL fragment escapes "/" as $252F (an encoded percent sign).
  const escape = (s: string) => encodeURIComponent(encodeURIComponent(s)).replace(/%/g, '$');
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#logsV2:log-groups/log-group/${escape(logGroupName)}/log-events/${escape(logStreamName)}`;
}

/**
 * A link to the log events of a log group that contain `text` (a request id), in the CloudWatch
 * console: a crashed or timed-out invocation's lines, wherever its stream is.
 */
export function logSearchUrl(logGroupName: string, text: string): string {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const escape = (s: string) => encodeURIComponent(encodeURIComponent(s)).replace(/%/g, '$');
  // The fragment's own "?" and "=" are escaped once ($3F, $3D); the pattern, a quoted term, twice.
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#logsV2:log-groups/log-group/${escape(logGroupName)}/log-events$3FfilterPattern$3D${escape(`"${text}"`)}`;
}

/** The stack, account and region an alert names: the account from an ARN of this deployment (the function's, the task's). */
export function alertOrigin(arn: string | undefined): AlertOrigin {
  return {
    stack: process.env[ENVIRONMENT.stackName] || undefined,
    account: arn?.split(':')[4] || undefined,
    region: process.env.AWS_REGION || undefined,
  };
}

/**
 * Reports an alert email that could not be sent: logged at ERROR and counted as AlertFailed (with
 * the service dimension only), which the stack's AlertsFailed alarm watches; a failed send must not
 * pass unnoticed, since it is the only message about a failed backup.
 */
export function reportAlertFailure(event: string, fields: Record<string, unknown>): void {
  logger.error(event, fields);
  const single = metrics.singleMetric();
  single.addMetric(ALERT_FAILED_METRIC, MetricUnit.Count, 1);
}

/**
 * When a run must have ended to finish cleanly: the invocation's time limit less
 * FUNCTION_TIME_MARGIN_MS, kept to clean up (abort an upload, release the source) and report.
 */
export function functionDeadline(context: { getRemainingTimeInMillis(): number }): Deadline {
  return {
    at: Date.now() + context.getRemainingTimeInMillis() - FUNCTION_TIME_MARGIN_MS,
    setBy: `the function's time limit, less ${FUNCTION_TIME_MARGIN_MS / 1000} s kept to clean up and report`,
  };
}
