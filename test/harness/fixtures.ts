import { newRunId, RUN_RECORD_VERSION, type RunRecord } from '../../shared/runs/run-record.js';

/** A SQLite database on EFS as a deployment config lists it (ids of the right shape, none real). */
export function sqliteOnEfs(name = 'app') {
  return {
    name,
    engine: 'sqlite' as const,
    path: `${name}/${name}.db`,
    efs: {
      fileSystemId: 'fs-12345678',
      accessPointId: 'fsap-0123456789abcdef0',
      vpcId: 'vpc-0aaaabbbbccccdddd',
      subnetIds: ['subnet-0aaaabbbbccccdddd'],
      securityGroupIds: ['sg-0aaaabbbbccccdddd'],
    },
  };
}

/**
 * A run record of a SQLite database as a run would write it, started at `started` and lasting
 * `durationMs`; a failed one carries `error`.
 */
export function runRecordOf(
  fields: Pick<RunRecord, 'database' | 'kind'> & {
    started: Date;
    result?: RunRecord['result'];
    error?: string;
    durationMs?: number;
    runId?: string;
  },
): RunRecord {
  const durationMs = fields.durationMs ?? 1000;
  const result = fields.result ?? 'succeeded';
  return {
    record_version: RUN_RECORD_VERSION,
    run_id: fields.runId ?? newRunId(),
    database: fields.database,
    engine: 'sqlite',
    kind: fields.kind,
    tier: null,
    result,
    error: result === 'failed' ? (fields.error ?? 'failed') : null,
    started_at: fields.started.toISOString(),
    ended_at: new Date(fields.started.getTime() + durationMs).toISOString(),
    duration_ms: durationMs,
    source_bytes: null,
    stored_bytes: null,
    compression_ratio: null,
    compression: null,
    backup_key: null,
    client_version: {},
    tool_version: 'test',
  };
}
