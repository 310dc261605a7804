import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../errors.js';
import type { DatabaseCredentials } from './database-url.js';

/**
 * Returns a function that reads database credentials from Secrets Manager once per secret and
 * process (a Lambda cold start), and never logs them.
 */
export function secretsManagerCredentials(
  client = new SecretsManagerClient({}),
): (secretArn: string) => Promise<DatabaseCredentials> {
  const cache = new Map<string, Promise<DatabaseCredentials>>();
  return (secretArn) => {
    let pending = cache.get(secretArn);
    if (!pending) {
      pending = read(client, secretArn);
      // A failed read is not cached: the next run tries again.
      pending.catch(() => cache.delete(secretArn));
      cache.set(secretArn, pending);
    }
    return pending;
  };
}

async function read(client: SecretsManagerClient, secretArn: string): Promise<DatabaseCredentials> {
  let text: string | undefined;
  try {
    text = (await client.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
  } catch (error) {
    throw new ConfigError(`cannot read secret ${secretArn}: ${(error as Error).name}: ${(error as Error).message}`, {
      hint: "check the secret's ARN and that the function's role may read it (and use its KMS key)",
      cause: error,
    });
  }
  try {
    const value = JSON.parse(text ?? '') as Partial<DatabaseCredentials>;
    return { username: String(value.username ?? ''), password: String(value.password ?? '') };
  } catch {
    // Never echo the secret's content, even in part.
    throw new ConfigError(`secret ${secretArn} is not JSON`, { hint: 'store {"username": "...", "password": "..."} in it' });
  }
}
