/**
 * The libpq connection parameters that hold secrets (as of PostgreSQL 18): the password, a
 * client key's passphrase, SCRAM keys and an OAuth client secret. None is ever shown. Only the
 * password reaches the client programs, by PGPASSWORD; libpq takes the others only as
 * connection parameters, which pg_dump could get only on its command line, so they are refused.
 */
export const LIBPQ_SECRET_PARAMETERS: readonly string[] = [
  'password',
  'sslpassword',
  'scram_client_key',
  'scram_server_key',
  'oauth_client_secret',
];
