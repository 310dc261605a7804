import { type Command, Option } from 'commander';
import { openTarget } from '../shared/targets/open-target.js';
import type { Target } from '../shared/targets/target.js';
import { settings } from './cli-settings.js';

/** Flags every command that reads a target shares. */
export interface TargetFlags {
  target: string;
  s3Checksums?: 'when_supported' | 'when_required';
}

/** Adds --target and --s3-checksums to a command. */
export function targetOptions(command: Command): Command {
  return command
    .requiredOption('-t, --target <url>', 'where backups are: s3://bucket/prefix, file:///dir or a directory path')
    .addOption(
      new Option('--s3-checksums <mode>', 'SDK checksums (when_required for S3-compatible servers)').choices([
        'when_supported',
        'when_required',
      ]),
    );
}

/** Opens the target the flags name. */
export function openTargetFromFlags(flags: TargetFlags): Promise<Target> {
  return openTarget(flags.target, { checksums: flags.s3Checksums, settings });
}
