/** `<stack>-<database>-backup`: how the stack names a database's functions, and how `dbbackup invoke` finds them. */
export function functionName(stack: string, database: string, role: 'backup' | 'restore'): string {
  return `${stack}-${database}-${role}`.slice(0, 64);
}
