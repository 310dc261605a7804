import { Command, CommanderError } from 'commander';
import { toolVersion } from '../shared/tool-version.js';
import { withoutSecrets } from './action.js';
import { printable } from './printable.js';

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

/**
 * Each command's module, in the order help lists them, loaded when it is needed: a command's
 * module brings in the code it runs (restore's, report's HTML, prune's planner), and loading all
 * eleven took about 0.08 s of every backup's fixed cost, for ten commands it does not run.
 */
const COMMANDS: Record<string, () => Promise<(program: Command) => void>> = {
  backup: async () => (await import('./commands/backup.js')).registerBackup,
  list: async () => (await import('./commands/list.js')).registerList,
  verify: async () => (await import('./commands/verify.js')).registerVerify,
  health: async () => (await import('./commands/health.js')).registerHealth,
  restore: async () => (await import('./commands/restore.js')).registerRestore,
  prune: async () => (await import('./commands/prune.js')).registerPrune,
  drill: async () => (await import('./commands/drill.js')).registerDrill,
  invoke: async () => (await import('./commands/invoke.js')).registerInvoke,
  info: async () => (await import('./commands/info.js')).registerInfo,
  report: async () => (await import('./commands/report.js')).registerReport,
  demo: async () => (await import('./commands/demo.js')).registerDemo,
};

/**
 * The command a run names, when its first word (after --debug) is one: only that command is then
 * registered. Anything else (no command, --help or --version first, `help`, a misspelt command)
 * registers them all, so that help lists every command and a typo gets its suggestion.
 */
function namedCommand(args: readonly string[]): string | undefined {
  const first = args.find((arg) => arg !== '--debug');
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? first : undefined;
}

const named = namedCommand(process.argv.slice(2));
const registers = await Promise.all((named ? [named] : Object.keys(COMMANDS)).map((name) => COMMANDS[name]?.()));
for (const register of registers) register?.(program);

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
