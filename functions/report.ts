import type { Handler } from 'aws-lambda';
import { sendAlert } from '../shared/notify/notifier.js';
import { readReport } from '../shared/report/read-report.js';
import { renderReportEmail } from '../shared/report/render-report-email.js';
import { openTarget } from '../shared/targets/open-target.js';
import { bucket, logger, notifierFor, readConfig, reportAlertFailure, settings } from './runtime.js';

/** How many days the weekly report covers. */
const REPORT_DAYS = 7;

/**
 * Emails the weekly report: the same report as `dbbackup report --days 7` over the deployment's
 * bucket, to the alert recipients. The schedule's event carries nothing this needs.
 */
export const handler: Handler<unknown, { sent: boolean }> = async (_event, context) => {
  logger.addContext(context);
  const config = await readConfig();
  const target = await openTarget(`s3://${bucket}`, { settings });
  const report = await readReport(target, { days: REPORT_DAYS });
  logger.info('report built', {
    databases: report.overall.databases,
    runs: report.overall.runs,
    failures: report.overall.failures,
    recommendations: report.recommendations.length,
    problems: report.problems.length,
  });
  const sent = await sendAlert(
    notifierFor(config),
    // The front end words the next step: the CLI command for this bucket.
    renderReportEmail(report, {
      moreDetail: `For the whole report with charts: dbbackup report --target s3://${bucket} --html report.html`,
    }),
    (m, fields) => logger.info(m, fields),
    reportAlertFailure,
  );
  return { sent };
};
