/**
 * Reads and rewrites the role references in the SQL pg_restore prints for an archive's privilege
 * entries (ACL, DEFAULT ACL) and row-level-security policies: `GRANT … TO r`, `REVOKE … FROM r`,
 * `ALTER DEFAULT PRIVILEGES FOR ROLE r …`, `SET SESSION AUTHORIZATION r` (a grant made by another
 * grantor) and `CREATE POLICY … TO r, s`. Statements are tokenized (quotes, dollar quotes and
 * comments respected), so a name such as `"to x"` or a policy's `USING (… FROM t)` is never a role.
 */

interface Token {
  readonly kind: 'word' | 'quoted' | 'string' | 'other';
  /** A word folded to lower case as the server folds it; a quoted name or a string unescaped. */
  readonly value: string;
  readonly start: number;
  readonly end: number;
  /** Parenthesis depth: role lists are at depth 0. */
  readonly depth: number;
}

interface Statement {
  /** The statement's text without its semicolon. */
  readonly text: string;
  readonly tokens: readonly Token[];
}

/** A list of roles in a statement: where it is, and the roles in it (undefined for PUBLIC, CURRENT_USER…). */
interface RoleList {
  readonly items: ReadonlyArray<{ readonly role: string | undefined; readonly start: number; readonly end: number }>;
}

/** What `withoutRoles` left out, for the restore's warning. */
export interface RemovedReferences {
  /** Statements dropped whole (a grant to, or by, only missing roles; a policy for only missing roles). */
  readonly dropped: readonly string[];
  /** Statements kept with the missing roles taken out of their lists. */
  readonly narrowed: readonly string[];
}

const NOT_A_ROLE = new Set(['public', 'current_user', 'session_user', 'current_role']);

/** Every role the statements name, PUBLIC and CURRENT_USER aside. */
export function rolesReferenced(sql: string): string[] {
  const roles = new Set<string>();
  for (const statement of splitStatements(sql)) {
    for (const list of roleLists(statement)) for (const item of list.items) if (item.role !== undefined) roles.add(item.role);
  }
  return [...roles].sort();
}

/**
 * The statements without what names a role in `missing`, so they run on a server without those
 * roles and never grant more than the original: a grant to a missing role, a REVOKE from one (it
 * holds nothing here) and default privileges for one are dropped; a grantee or policy list loses
 * the missing roles, and a policy left for nobody is dropped (it applied to those roles alone);
 * grants made by a missing grantor are dropped. Every other statement, every REVOKE from an existing
 * role or PUBLIC included, is kept as it is.
 */
export function withoutRoles(sql: string, missing: ReadonlySet<string>): { sql: string; removed: RemovedReferences } {
  const out: string[] = [];
  const dropped: string[] = [];
  const narrowed: string[] = [];
  let missingGrantor = false;
  for (const statement of splitStatements(sql)) {
    const words = statement.tokens.map((t) => (t.kind === 'word' ? t.value : ''));
    if (words[0] === 'set' && words[1] === 'session' && words[2] === 'authorization') {
      const grantor = statement.tokens[3];
      missingGrantor = grantor !== undefined && missing.has(grantor.value);
      if (missingGrantor) continue;
    } else if (words[0] === 'reset' && words[1] === 'session' && words[2] === 'authorization') {
      if (missingGrantor) {
        missingGrantor = false;
        continue;
      }
    } else if (missingGrantor && (words[0] === 'grant' || words[0] === 'revoke')) {
      dropped.push(oneLine(statement.text));
      continue;
    }
    let text = statement.text;
    let drop = false;
    // Rewritten from the last list back, so earlier offsets stay valid.
    for (const list of [...roleLists(statement)].reverse()) {
      const kept = list.items.filter((item) => item.role === undefined || !missing.has(item.role));
      if (kept.length === list.items.length) continue;
      if (kept.length === 0) {
        drop = true;
        break;
      }
      const first = list.items[0] as RoleList['items'][number];
      const last = list.items[list.items.length - 1] as RoleList['items'][number];
      text =
        text.slice(0, first.start) +
        kept.map((item) => statement.text.slice(item.start, item.end)).join(', ') +
        text.slice(last.end);
    }
    if (drop) {
      dropped.push(oneLine(statement.text));
      continue;
    }
    if (text !== statement.text) narrowed.push(oneLine(text));
    out.push(`${text};\n`);
  }
  return { sql: out.join(''), removed: { dropped, narrowed } };
}

/** The role lists of one statement: grantees, default privileges' target roles, a policy's roles, a grantor. */
function roleLists(statement: Statement): RoleList[] {
  const t = statement.tokens;
  const word = (i: number) => (t[i]?.kind === 'word' ? t[i]?.value : undefined);
  const lists: RoleList[] = [];
  if (word(0) === 'set' && word(1) === 'session' && word(2) === 'authorization' && t[3]) {
    lists.push(listFrom(t, 3));
  } else if (word(0) === 'alter' && word(1) === 'default' && word(2) === 'privileges') {
    if (word(3) === 'for' && (word(4) === 'role' || word(4) === 'user')) lists.push(listFrom(t, 5));
    const verb = t.findIndex(
      (tok, i) => i > 2 && tok.depth === 0 && tok.kind === 'word' && (tok.value === 'grant' || tok.value === 'revoke'),
    );
    if (verb >= 0) lists.push(...granteesOf(t, verb));
  } else if (word(0) === 'grant' || word(0) === 'revoke') {
    lists.push(...granteesOf(t, 0));
  } else if (word(0) === 'create' && word(1) === 'policy') {
    const to = t.findIndex((tok, i) => i > 2 && tok.depth === 0 && tok.kind === 'word' && tok.value === 'to');
    if (to >= 0) lists.push(listFrom(t, to + 1));
  }
  return lists;
}

/** The grantee list after the last top-level TO (GRANT) or FROM (REVOKE). */
function granteesOf(t: readonly Token[], verb: number): RoleList[] {
  const keyword = t[verb]?.value === 'grant' ? 'to' : 'from';
  let at = -1;
  for (let i = verb + 1; i < t.length; i++) {
    const tok = t[i] as Token;
    if (tok.depth === 0 && tok.kind === 'word' && tok.value === keyword) at = i;
  }
  return at >= 0 ? [listFrom(t, at + 1)] : [];
}

/** A comma-separated list of role specifications starting at token `from` (`GROUP r` allowed); it ends at the first item not followed by a comma. */
function listFrom(t: readonly Token[], from: number): RoleList {
  const items: Array<{ role: string | undefined; start: number; end: number }> = [];
  let i = from;
  while (i < t.length) {
    let tok = t[i] as Token;
    const start = tok.start;
    if (tok.kind === 'word' && tok.value === 'group' && t[i + 1] && t[i + 1]?.value !== ',') tok = t[++i] as Token;
    if (tok.kind === 'other') break;
    const role = tok.kind === 'word' && NOT_A_ROLE.has(tok.value) ? undefined : tok.value;
    items.push({ role, start, end: tok.end });
    i++;
    if (t[i]?.kind === 'other' && t[i]?.value === ',') i++;
    else break;
  }
  return { items };
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
}

/** Splits a script into statements at semicolons outside quotes, dollar quotes and comments. */
function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = [];
  let tokens: Token[] = [];
  let startOf = 0;
  let depth = 0;
  let i = 0;
  const push = (kind: Token['kind'], value: string, start: number, end: number) =>
    tokens.push({ kind, value, start: start - startOf, end: end - startOf, depth });
  while (i < sql.length) {
    const c = sql[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if ((c === '-' && sql[i + 1] === '-') || (c === '\\' && (i === 0 || sql[i - 1] === '\n'))) {
      // A comment, or a psql meta-command line (pg_restore prints \restrict and \unrestrict around a script).
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      let nest = 1;
      i += 2;
      while (i < sql.length && nest > 0) {
        const step = sql.startsWith('/*', i) ? 1 : sql.startsWith('*/', i) ? -1 : 0;
        nest += step;
        i += step === 0 ? 1 : 2;
      }
    } else if (c === "'") {
      const escapes = /[eE]/.test(sql[i - 1] ?? '') && !/[\w$]/.test(sql[i - 2] ?? '');
      const start = i;
      let value = '';
      i++;
      while (i < sql.length) {
        const d = sql[i] as string;
        if (escapes && d === '\\') {
          value += sql[i + 1] ?? '';
          i += 2;
        } else if (d === "'" && sql[i + 1] === "'") {
          value += "'";
          i += 2;
        } else if (d === "'") {
          i++;
          break;
        } else {
          value += d;
          i++;
        }
      }
      push('string', value, start, i);
    } else if (c === '"') {
      const start = i;
      let value = '';
      i++;
      while (i < sql.length) {
        if (sql[i] === '"' && sql[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (sql[i] === '"') {
          i++;
          break;
        } else {
          value += sql[i];
          i++;
        }
      }
      push('quoted', value, start, i);
    } else if (c === '$' && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(sql.slice(i, i + 64))) {
      const tag = (/^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64)) as RegExpExecArray)[0];
      const close = sql.indexOf(tag, i + tag.length);
      const end = close < 0 ? sql.length : close + tag.length;
      push('string', sql.slice(i + tag.length, close < 0 ? sql.length : close), i, end);
      i = end;
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const start = i;
      while (i < sql.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[i] as string)) i++;
      push('word', sql.slice(start, i).toLowerCase(), start, i);
    } else if (c === ';') {
      if (tokens.length > 0) statements.push({ text: sql.slice(startOf, i).trim() === '' ? '' : sql.slice(startOf, i), tokens });
      tokens = [];
      depth = 0;
      i++;
      startOf = i;
    } else {
      if (c === ')') depth = Math.max(0, depth - 1);
      push('other', c, i, i + 1);
      if (c === '(') depth++;
      i++;
    }
  }
  if (tokens.length > 0) statements.push({ text: sql.slice(startOf), tokens });
  // A statement's text starts at its first token: the comments pg_restore prints before it are left out.
  return statements.map((s) => {
    const offset = (s.tokens[0] as Token).start;
    return {
      text: s.text.slice(offset),
      tokens: s.tokens.map((t) => ({ ...t, start: t.start - offset, end: t.end - offset })),
    };
  });
}
