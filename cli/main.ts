import { Command, CommanderError } from 'commander';
import { toolVersion } from '../shared/tool-version.js';
import { withoutSecrets } from './action.js';
import { printable } from './printable.js';
import { registerBackup } from './commands/backup.js';
import { registerDemo } from './commands/demo.js';
import { registerHealth } from './commands/health.js';
import { registerDrill } from './commands/drill.js';
import { registerInfo } from './commands/info.js';
import { registerInvoke } from './commands/invoke.js';
import { registerList } from './commands/list.js';
import { registerReport } from './commands/report.js';
import { registerPrune } from './commands/prune.js';
import { registerRestore } from './commands/restore.js';
import { registerVerify } from './commands/verify.js';

// The SDK warns on every run under Node 20 that its 2027 releases need Node 22; on a CLI that
// promises one line on stderr per problem, that notice belongs in the README, not in every run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// A reader that went away (`dbbackup list --json | head -1`) is not a failure of the command: what
// it would not read is dropped, and the command still finishes (a backup still commits and cleans up).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

const program = new Command('dbbackup')
  .description('Verified, streaming backups of PostgreSQL and SQLite databases to Amazon S3 or a directory.')
  .version(toolVersion())
  .option('--debug', 'print stack traces on errors')
  .showHelpAfterError('(run with --help for usage)')
  // Commander quotes what it cannot parse (an unknown command may be a URL); set before the
  // commands are added, which inherit it.
  .configureOutput({ outputError: (text, write) => write(withoutSecrets(text)) })
  .addHelpText(
    'after',
    `
Exit codes: 0 success, 1 the operation failed, 2 bad usage or configuration, 3 an integrity check failed,
(health: 0 healthy, 1 warnings, 3 broken), 130 or 143 stopped by SIGINT (Ctrl-C) or SIGTERM, having cleaned up.
S3 settings come from the standard AWS variables: AWS_REGION, AWS_PROFILE or AWS_ACCESS_KEY_ID/…,
AWS_ENDPOINT_URL_S3 for S3-compatible servers. Run "dbbackup <command> --help" for a command's options.`,
  )
  .exitOverride()
  // Commander's own errors quote what was typed (an unknown option, a bad choice); subcommands inherit this.
  .configureOutput({ writeErr: (text) => process.stderr.write(text.split('\n').map(printable).join('\n')) });

registerBackup(program);
registerList(program);
registerVerify(program);
registerHealth(program);
registerRestore(program);
registerPrune(program);
registerDrill(program);
registerInvoke(program);
registerInfo(program);
registerReport(program);
registerDemo(program);

for (const command of program.commands) command.exitOverride();

/**
 * How long the process may stay after its command has ended. Every run ends: a request left
 * waiting out its timeouts on a server that stopped answering (an upload's abort, after the
 * command gave up on it) must not keep a finished command's process alive.
 */
const EXIT_WAIT_MS = 2_000;

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version exit 0; every other parse failure is bad usage: exit 2.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    throw error;
  }
} finally {
  setTimeout(() => process.exit(), EXIT_WAIT_MS).unref();
}
