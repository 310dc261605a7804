import { Argument, type Command, Option } from 'commander';
import { MISSING_ROLES_CHOICES, type MissingRolesChoice } from '../../shared/engines/destination.js';
// From the names module, not the config's: importing the config's parser would load it at every CLI start.
import { TIERS } from '../../shared/deployment/deployment-names.js';
import { action, withoutSecrets } from '../action.js';
import { writeJson, writeLines } from '../printable.js';

interface InvokeFlags {
  database: string;
  tier?: string;
  latest?: boolean;
  file?: string;
  path?: string;
  to?: string;
  confirm?: string;
  dryRun?: boolean;
  missingRoles?: MissingRolesChoice;
  stack: string;
  functionName?: string;
  logs?: boolean;
}

/** `dbbackup invoke backup|restore`: runs a deployed function and waits for its result. */
export function registerInvoke(program: Command): void {
  program
    .command('invoke')
    .description('invoke the deployed backup or restore function, wait, and print its result (or error) and log')
    .addArgument(new Argument('<function>', 'backup or restore').choices(['backup', 'restore']))
    .requiredOption('-d, --database <name>', 'the database, as named in the deployment config')
    .addOption(new Option('--tier <tier>', 'backup: the tier (storage class)').choices(TIERS).default('daily'))
    .option('--latest', 'restore: the newest backup')
    .option('--file <name>', 'restore: the backup with this file name')
    .option('--path <uri>', 'restore: any s3:// URI')
    .option('--to <url>', 'restore: another destination (default: the configured database)')
    .option('--confirm <name>', 'restore: the destination database name')
    .option('--dry-run', 'restore: verify and show what would be replaced')
    .addOption(
      new Option(
        '--missing-roles <choice>',
        'restore: roles the backup grants to that the server lacks (default: refuse)',
      ).choices(MISSING_ROLES_CHOICES),
    )
    .option('--stack <name>', 'the CloudFormation stack name', 'DbBackup')
    .option(
      '--function-name <name-or-arn>',
      'the function to invoke, instead of finding the one of --stack that serves --database',
    )
    .option('--logs', 'also print the tail of the function log on stderr')
    .action(
      action('invoke', async (which: 'backup' | 'restore', flags: InvokeFlags) => {
        const event =
          which === 'backup'
            ? { database: flags.database, tier: flags.tier }
            : {
                database: flags.database,
                latest: flags.latest,
                file: flags.file,
                path: flags.path,
                to: flags.to,
                confirm: flags.confirm,
                dryRun: flags.dryRun,
                missingRoles: flags.missingRoles,
              };
        // Loaded here, not at start-up: every other command would pay for the Lambda client.
        const { FunctionError, findDeployedFunction, invokeFunction } =
          await import('../../shared/deployment/invoke-function.js');
        const name = flags.functionName ?? (await findDeployedFunction(flags.stack, flags.database, which));
        const result = await invokeFunction(name, JSON.parse(JSON.stringify(event)));
        // The function's log and answer may quote the event, and so the --to URL this run sent.
        if (flags.logs || result.failed) {
          writeLines(
            process.stderr,
            `--- log of ${name} (last 4 KB) ---`,
            ...withoutSecrets(result.logTail).replace(/\n$/, '').split('\n'),
          );
        }
        if (result.failed) {
          const message = (result.payload as { errorMessage?: string })?.errorMessage ?? JSON.stringify(result.payload);
          throw new FunctionError(`${name} failed: ${message}`);
        }
        // Redacted as text (a secret can sit anywhere in the answer), then printed as JSON again.
        writeJson(process.stdout, JSON.parse(withoutSecrets(JSON.stringify(result.payload))) as unknown);
        return 0;
      }),
    );
}
