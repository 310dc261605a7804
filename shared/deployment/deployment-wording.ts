import { coreWording, type OptionName, type Wording } from '../errors.js';

/**
 * What the deployment sets for an option a core message may name, where a person can change
 * it: the backup's source and target come from the config and the stack, not from a request.
 */
const DEPLOYMENT_SETTINGS: Partial<Record<OptionName, string>> = {
  source: `the database's connection in dbbackup.config.json`,
  target: "the deployment's bucket",
  compression: '"compression" in dbbackup.config.json',
  storageClass: '"storageClass" in dbbackup.config.json',
  sse: '"bucket.encryption" in dbbackup.config.json',
  kmsKeyId: '"bucket.encryption" in dbbackup.config.json',
  keepDaily: '"retention.daily" in dbbackup.config.json',
  keepWeekly: '"retention.weekly" in dbbackup.config.json',
  keepMonthly: '"retention.monthly" in dbbackup.config.json',
  lockWaitSeconds: `the database's "lockWaitSeconds" in dbbackup.config.json`,
};

/**
 * A scheduled backup's words: its event names only the database and tier, so an option is
 * worded as the deployment setting that decides it.
 */
export const deploymentWording: Wording = {
  option: (name) => DEPLOYMENT_SETTINGS[name] ?? coreWording.option(name),
  setting: (name, value) => DEPLOYMENT_SETTINGS[name] ?? coreWording.setting(name, value),
  howToList: "list the deployment's bucket (with the dbbackup CLI's list command, or in the S3 console)",
};
