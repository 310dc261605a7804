import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../errors.js';
import { type DeploymentConfig, parseRuntimeConfig } from './deployment-config.js';
import { ENVIRONMENT } from './deployment-names.js';

/**
 * Returns how a deployed function reads its config: from the config secret the stack names in
 * DBBACKUP_CONFIG_SECRET, read again at every run so that a changed recipient or schedule setting
 * applies without a new image or function version; or, run outside AWS (tests, a local run),
 * from DBBACKUP_CONFIG itself. Without either the cold start fails, naming both.
 */
export function runtimeConfigReader<C = DeploymentConfig>(
  env: NodeJS.ProcessEnv,
  client: () => SecretsManagerClient = () => new SecretsManagerClient({}),
  /** Validates what was read: the health function's config has a shape of its own. @default parseRuntimeConfig */
  parse: (json: unknown) => C = parseRuntimeConfig as (json: unknown) => C,
): () => Promise<C> {
  const inline = env[ENVIRONMENT.config];
  if (inline) {
    const config = parse(JSON.parse(inline));
    return async () => config;
  }
  const secretArn = env[ENVIRONMENT.configSecret];
  if (!secretArn) throw new Error(`Environment variable ${ENVIRONMENT.configSecret} (or ${ENVIRONMENT.config}) is required`);
  const secrets = client();
  return async () => {
    let text: string | undefined;
    try {
      text = (await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
    } catch (error) {
      throw new ConfigError(
        `cannot read the deployment config ${secretArn}: ${(error as Error).name}: ${(error as Error).message}`,
        {
          hint: 'check that the function can reach Secrets Manager (a VPC endpoint or NAT) and may read the secret',
          cause: error,
        },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text ?? '');
    } catch (cause) {
      throw new ConfigError(`the deployment config ${secretArn} is not JSON`, { hint: 'deploy the stack again', cause });
    }
    return parse(json);
  };
}
