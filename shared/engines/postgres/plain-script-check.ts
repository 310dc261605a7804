import { createReadStream } from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import { IntegrityError } from '../../errors.js';

/** The three lines every pg_dump plain script starts with. */
const HEADER = ['--', '-- PostgreSQL database dump', '--'];
/** Plain-format dumps end with this line; its absence means the dump was cut short. */
const PLAIN_DUMP_TRAILER = '-- PostgreSQL database dump complete';
/** pg_dump 15.14 and later fence the script with these two meta-commands, each a whole line. */
const RESTRICT_LINE = /^\\(restrict|unrestrict) [A-Za-z0-9]+$/;
/** The one COPY pg_dump writes: a table, its columns, from the script itself (masked: identifiers are `"`). */
const NAME = '(?:"|[a-z_\\u0080-\\u00ff][\\w$\\u0080-\\u00ff]*)';
const COPY_FROM_STDIN = new RegExp(`^copy ${NAME}(?:\\.${NAME})?(?:\\(${NAME}(?:,${NAME})*\\))? ?from stdin;$`);
/** The top-level SELECTs pg_dump writes: the search path, sequence values, large objects. */
const PG_DUMP_SELECT =
  /^select pg_catalog\.(?:set_config\('search_path', '[^'\\]*', false\)|(?:setval|lo_create|lo_open|lowrite|lo_close)\((?:'[^']*(?:''[^']*)*'|-?\d+|true|false|, ?)*\)) ?;$/i;
/** Statements that act on the server rather than this database: a database backup never holds them. */
const CLUSTER_LEVEL = [
  // A user mapping (postgres_fdw) belongs to the database: pg_dump writes it.
  /^(?:create|alter|drop) (?:role|user(?! mapping\b)|group|database|tablespace|system)\b/,
  /^(?:comment|security label(?: for (?:"|\S+))?) on (?:database|role|tablespace)\b/,
  /^(?:grant|revoke)\b.* on (?:database|tablespace|parameter)\b/,
];
/**
 * Client encodings in which a byte of a multibyte character can be a backslash: psql lexes those differently.
 * Every name the server takes for them, as it reads a name (lower case, letters and digits only).
 */
const CLIENT_ONLY_ENCODINGS =
  /^(?:sjis|mskanji|shiftjis|win932|windows932|shiftjis2004|big5|win950|windows950|gbk|cp936|win936|windows936|gb18030|uhc|cp949|win949|windows949|johab)$/;
/** The first words of every statement pg_dump writes in a plain script. */
const PG_DUMP_VERBS = new Set([
  'alter',
  'begin',
  'comment',
  'commit',
  'copy',
  'create',
  'drop',
  'grant',
  'insert',
  'refresh',
  'reset',
  'revoke',
  'security',
  'select',
  'set',
]);
/** A statement's masked text kept for the checks above; longer ones are checked by their start only. */
const STATEMENT_PREFIX = 256 * 1024;

// Sticky or global, with lastIndex set at each use: matched in place, without copying the line.
const STRING_STOP = /['\\]/g;
const COMMENT_STOP = /\/\*|\*\//g;
const LINE_END = /[\r\n]/g;
const DOLLAR_TAG = /\$([A-Za-z_\u0080-\u00ff][\w\u0080-\u00ff]*)?\$/y;
const WORD = /[A-Za-z_\u0080-\u00ff][\w$\u0080-\u00ff]*/y;
const NUMBER = /\d[\w$.\u0080-\u00ff]*/y;

type State =
  | { readonly in: 'code' }
  | { readonly in: 'string'; readonly escapes: boolean }
  | { readonly in: 'identifier' }
  | { readonly in: 'dollar'; readonly tag: string }
  | { readonly in: 'comment'; readonly depth: number }
  | { readonly in: 'copy' };

/**
 * Reads a plain SQL script as psql would, before psql ever sees it, and refuses what pg_dump does
 * not write: a backup is data, never a program. psql obeys a backslash anywhere outside a quoted
 * string, a comment or a COPY data block (`\!` runs a shell command, `\connect` reaches another
 * database, `\o`, `\copy` and `\w` write files, `\set` and `\gexec` change what runs next), so any
 * backslash there is refused except pg_dump's own `\restrict`/`\unrestrict` lines. Statements are held
 * to what pg_dump writes: its COPY only from the script (not from a program or a server file), its
 * SELECTs only, nothing that acts on roles, databases or the server.
 *
 * psql lexes a plain string by `standard_conforming_strings` as the server reports it at each line,
 * and a script can change that, so a plain string with a backslash before a quote (which the two
 * settings end in different places) is refused: with it gone, both settings read the same script.
 *
 * Feed it with `push` (any split, read as latin1 so that each byte is one character), then `end`;
 * each throws an `IntegrityError` naming the line.
 */
export class PlainScriptCheck {
  private state: State = { in: 'code' };
  private pending = '';
  private lineNo = 0;
  private statement = '';
  private outline = '';
  private closed = false;
  /** The lines (from 1) holding pg_dump's own `\restrict`/`\unrestrict`, for a restore that restricts psql itself. */
  readonly restrictLines: number[] = [];
  private parens = 0;
  private blocks = 0;
  /** The first letters of the statement's first words that psql notes (create, or, replace, function, procedure). */
  private words: string[] = [];

  push(text: string): void {
    const lines = (this.pending + text).split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  end(): void {
    if (this.pending !== '') this.line(this.pending);
    this.pending = '';
    if (this.lineNo < HEADER.length) this.refuse('the SQL script is not a pg_dump plain dump (its header is missing)');
    if (this.state.in === 'copy') this.refuse('the SQL dump is incomplete (a COPY data block has no end)');
    if (!this.closed) this.refuse('the SQL dump is incomplete (its closing line is missing)');
  }

  private line(raw: string): void {
    this.lineNo++;
    // psql reads a line up to a NUL byte and drops the rest of what it read with it (up to 1023 bytes):
    // it would not read what the check reads. pg_dump never writes one, in a COPY block either.
    if (raw.includes('\0')) this.refuse('the SQL script holds a NUL byte, which pg_dump never writes');
    // psql reads a line ending in CR LF as the line without them, in a COPY block too.
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (this.lineNo <= HEADER.length) {
      if (line !== HEADER[this.lineNo - 1]) this.refuse('the SQL script is not a pg_dump plain dump (its header is missing)');
      return;
    }
    if (this.closed) {
      // After pg_dump's closing line come only its comment dashes and \unrestrict.
      if (line === '' || line === '--') return;
      if (RESTRICT_LINE.test(line)) {
        this.restrictLines.push(this.lineNo);
        return;
      }
      this.refuse("the SQL script goes on after pg_dump's closing line");
    }
    if (this.state.in === 'copy') {
      if (line === '\\.') this.state = { in: 'code' };
      return;
    }
    if (this.state.in === 'code' && this.statement.trim() === '') {
      if (RESTRICT_LINE.test(line)) {
        this.restrictLines.push(this.lineNo);
        return;
      }
      if (line === PLAIN_DUMP_TRAILER) {
        this.closed = true;
        return;
      }
    }
    this.scan(`${line}\n`);
  }

  private scan(text: string): void {
    let i = 0;
    while (i < text.length) {
      const state = this.state;
      const c = text[i] ?? '';
      if (state.in === 'string') {
        STRING_STOP.lastIndex = i;
        const stop = STRING_STOP.exec(text)?.index ?? text.length;
        if (stop > i) {
          this.keep(text.slice(i, stop), true);
          i = stop;
          continue;
        }
        if (c === '\\' && state.escapes) {
          // Once the script has switched psql to SJIS, BIG5, GBK… (a SET, or any function calling
          // set_config), a backslash after a non-ASCII byte is part of that character for psql, not an
          // escape: psql would end the string at the next quote, the check would not.
          if (i > 0 && text.charCodeAt(i - 1) >= 0x80)
            this.refuse('the SQL script has a backslash after a non-ASCII byte in an E string, which psql may read two ways');
          this.keep(text.slice(i, i + 2), true);
          i += 2;
        } else if (c === '\\' && text[i + 1] === "'") {
          this.refuse('the SQL script has a string with a backslash before a quote, which psql may read two ways');
        } else if (c === "'" && text[i + 1] === "'") {
          this.keep("''", true);
          i += 2;
        } else {
          if (c === "'") this.state = { in: 'code' };
          this.keep(c, c !== "'");
          i++;
        }
        continue;
      }
      if (state.in === 'identifier') {
        const quote = text.indexOf('"', i);
        if (quote === -1) i = text.length;
        else if (quote > i) i = quote;
        else if (text[i + 1] === '"') i += 2;
        else {
          if (c === '"') this.state = { in: 'code' };
          i++;
        }
        continue;
      }
      if (state.in === 'dollar') {
        const close = `$${state.tag}$`;
        const at = text.indexOf(close, i);
        if (at === -1) i = text.length;
        else {
          this.state = { in: 'code' };
          i = at + close.length;
        }
        continue;
      }
      if (state.in === 'comment') {
        COMMENT_STOP.lastIndex = i;
        const stop = COMMENT_STOP.exec(text)?.index ?? text.length;
        if (stop > i) {
          i = stop;
          continue;
        }
        if (text.startsWith('/*', i)) {
          this.state = { in: 'comment', depth: state.depth + 1 };
          i += 2;
        } else if (text.startsWith('*/', i)) {
          this.state = state.depth === 1 ? { in: 'code' } : { in: 'comment', depth: state.depth - 1 };
          i += 2;
        } else i++;
        continue;
      }
      // Code: the only place psql looks for a backslash command.
      if (c === '\\') this.refuse(`the SQL script holds a psql command (${commandAt(text, i)}), which pg_dump never writes`);
      if (c === ':' && text[i + 1] === ':') {
        this.keep('::');
        i += 2;
        continue;
      }
      // psql replaces :NAME by its variable's value and reads that as script, backslashes included;
      // its own variables are all upper case, which pg_dump never writes unquoted.
      if (c === ':' && /[A-Z]/.test(text[i + 1] ?? ''))
        this.refuse('the SQL script uses a psql variable, which pg_dump never writes');
      if (c === '-' && text[i + 1] === '-') {
        // psql's comment ends at a CR as at a LF: what follows a CR inside a line is script to psql.
        LINE_END.lastIndex = i;
        i = LINE_END.exec(text)?.index ?? text.length;
        continue;
      }
      if (c === '/' && text[i + 1] === '*') {
        this.state = { in: 'comment', depth: 1 };
        i += 2;
        continue;
      }
      if (c === "'") {
        // E'…' takes backslash escapes whatever the setting; B'', X'', N'' and U&'' are plain strings.
        const before = text[i - 1] ?? '';
        const escapes = /[eE]/.test(before) && !/[\w$\u0080-\u00ff]/.test(text[i - 2] ?? '');
        this.state = { in: 'string', escapes };
        this.keep("'");
        i++;
        continue;
      }
      if (c === '"') {
        this.state = { in: 'identifier' };
        this.keep('"');
        i++;
        continue;
      }
      if (c === '$') {
        DOLLAR_TAG.lastIndex = i;
        const tag = DOLLAR_TAG.exec(text);
        if (tag) {
          this.state = { in: 'dollar', tag: tag[1] ?? '' };
          this.keep('$$');
          i += tag[0].length;
          continue;
        }
      }
      WORD.lastIndex = i;
      const word = WORD.exec(text);
      if (word) {
        // An identifier holds `$`: `a$b$` is a name, not the start of a dollar quote.
        this.word(word[0]);
        this.keep(word[0]);
        i += word[0].length;
        continue;
      }
      NUMBER.lastIndex = i;
      const number = NUMBER.exec(text);
      if (number) {
        // psql versions split `1end` differently (one token, or a number and a word that ends a block).
        if (!/^[\d_.]*(?:e\d*)?$/i.test(number[0]))
          this.refuse(`the SQL script runs a number into a word (${number[0]}), which pg_dump never writes`);
        this.keep(number[0]);
        i += number[0].length;
        continue;
      }
      if (c === '(') this.parens++;
      if (c === ')' && this.parens > 0) this.parens--;
      if (c === ';' && this.parens === 0 && this.blocks === 0) {
        this.keep(';');
        this.endStatement(text.slice(i + 1));
        i++;
        continue;
      }
      this.keep(c);
      i++;
    }
  }

  /**
   * Follows psql's own reckoning of where a statement ends: not at a semicolon inside parentheses, nor
   * inside the BEGIN ATOMIC … END body of CREATE [OR REPLACE] FUNCTION or PROCEDURE (psqlscan.l).
   */
  private word(text: string): void {
    const lower = text.toLowerCase();
    if (['create', 'function', 'procedure', 'or', 'replace'].includes(lower) && this.words.length < 4)
      this.words.push(lower[0] ?? '');
    else if (this.words.length < 4) this.words.push('');
    const [a, b, c, d] = this.words;
    const routine = a === 'c' && (b === 'f' || b === 'p' || (b === 'o' && c === 'r' && (d === 'f' || d === 'p')));
    if (!routine || this.parens !== 0) return;
    if (lower === 'begin') this.blocks++;
    else if (lower === 'case' && this.blocks >= 1) this.blocks++;
    else if (lower === 'end' && this.blocks > 0) this.blocks--;
  }

  /** Keeps the statement's text for its checks, and an outline without string contents for messages. */
  private keep(text: string, inString = false): void {
    if (this.statement.length < STATEMENT_PREFIX) this.statement += text;
    if (!inString && this.outline.length < 200) this.outline += text;
  }

  private endStatement(rest: string): void {
    const masked = this.statement.replace(/\s+/g, ' ').trim();
    this.statement = '';
    this.words = [];
    const lower = masked.toLowerCase();
    const verb = /^[a-z]+/.exec(lower)?.[0] ?? '';
    // Messages show the statement without its strings: a password in a user mapping stays out of them.
    const shown = this.outline.replace(/\s+/g, ' ').trim().slice(0, 60);
    this.outline = '';
    if (!PG_DUMP_VERBS.has(verb)) this.refuse(`the SQL script holds a statement pg_dump never writes (${shown})`);
    if (verb === 'copy') {
      if (!COPY_FROM_STDIN.test(lower.replace(/\s*([(),.;])\s*/g, '$1')))
        this.refuse(`the SQL script holds a COPY that pg_dump never writes (${shown})`);
      // psql reads the data from the next line: anything after the semicolon would run after the data.
      if (rest.trim() !== '') this.refuse('the SQL script has text after a COPY statement on its line');
      this.state = { in: 'copy' };
    }
    if (verb === 'select' && !PG_DUMP_SELECT.test(masked)) {
      this.refuse(`the SQL script holds a statement pg_dump never writes (${shown})`);
    }
    if (CLUSTER_LEVEL.some((r) => r.test(lower)) || (/^(?:grant|revoke)\b/.test(lower) && !/ on /.test(lower))) {
      this.refuse(`the SQL script acts on the server, not on a database (${shown})`);
    }
    // pg_dump creates a subscription without connecting (so disabled) and only changes its owner: one that
    // connects, or is enabled, reaches another server or database from the restored one.
    if (/^create subscription\b/.test(lower) && !/ with \(connect = false\b/.test(lower))
      this.refuse(`the SQL script creates a subscription that connects, which pg_dump never writes (${shown})`);
    if (/^alter subscription\b/.test(lower) && !/^alter subscription (?:"|\S+) owner to (?:"|\S+) ?;$/.test(lower))
      this.refuse(`the SQL script alters a subscription, which pg_dump never does (${shown})`);
    if (verb === 'reset' && /^reset (?:all|client_encoding|standard_conforming_strings)\b/.test(lower))
      this.refuse(`the SQL script resets a setting psql reads the script by (${shown})`);
    if (verb === 'set') {
      // `SET NAMES x` is `SET client_encoding = x`; LOCAL lasts as long as psql's one transaction.
      const setting = /^set (?:session |local )?(\w+|")(?: to | ?= ?| )(.*?) ?;$/.exec(lower);
      if (!setting) this.refuse(`the SQL script holds a SET pg_dump never writes (${shown})`);
      if (setting[1] === '"') this.refuse(`the SQL script sets a quoted setting name, which pg_dump never writes (${shown})`);
      if (setting[1] === 'standard_conforming_strings' && !/^'?on'?$/.test(setting[2] ?? ''))
        this.refuse('the SQL script turns standard_conforming_strings off, which pg_dump never does');
      const encoding = (setting[2] ?? '').replace(/[^a-z0-9]/g, '');
      if ((setting[1] === 'client_encoding' || setting[1] === 'names') && CLIENT_ONLY_ENCODINGS.test(encoding))
        this.refuse(
          `the SQL script sets client_encoding ${setting[2]}, which psql cannot check safely; dump with another encoding`,
        );
    }
  }

  private refuse(message: string): never {
    throw new IntegrityError(`${message} (line ${this.lineNo})`, {
      hint: 'a plain backup runs only as pg_dump wrote it, so none of it was run; make a new backup, or use the custom format',
    });
  }
}

/** The backslash command at `i`, for the message: `\!`, `\connect`, `\o`. */
function commandAt(text: string, i: number): string {
  return /^\\(?:[A-Za-z]+|.)/.exec(text.slice(i, i + 32))?.[0] ?? '\\';
}

/** Checks a whole script file as `PlainScriptCheck` does, streaming it; returns the lines of pg_dump's `\restrict`s. */
export async function checkPlainScriptFile(path: string): Promise<readonly number[]> {
  return checkPlainScript(createReadStream(path, { highWaterMark: 1 << 20 }));
}

/** Checks a whole script read from `input` (see `PlainScriptCheck`); resolves with its `\restrict` lines. */
export async function checkPlainScript(input: Readable): Promise<readonly number[]> {
  const check = new PlainScriptCheck();
  for await (const chunk of input) check.push((chunk as Buffer).toString('latin1'));
  check.end();
  return check.restrictLines;
}

/**
 * Passes a script on line by line, each only once `PlainScriptCheck` has accepted it, without pg_dump's
 * `\restrict` lines, and fails at the first line it refuses, which is not passed on. psql runs a
 * statement only at the end of the line that completes it, and a backslash command on the line that
 * holds it, so nothing the check would refuse ever reaches psql: what reached it before a refusal is
 * pg_dump's and ran inside psql's one transaction, which the refusal rolls back.
 */
export function checkedScript(): Transform {
  const check = new PlainScriptCheck();
  let pending: Buffer[] = [];
  const pass = (line: Buffer, kept: Buffer[]) => {
    const restricts = check.restrictLines.length;
    check.push(line.toString('latin1'));
    if (check.restrictLines.length === restricts) kept.push(line);
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        const kept: Buffer[] = [];
        let start = 0;
        for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) {
          const line = chunk.subarray(start, at + 1);
          pass(pending.length > 0 ? Buffer.concat([...pending, line]) : line, kept);
          pending = [];
          start = at + 1;
        }
        if (start < chunk.length) pending.push(chunk.subarray(start));
        callback(null, kept.length === 1 ? kept[0] : Buffer.concat(kept));
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        const last = Buffer.concat(pending);
        const restricts = check.restrictLines.length;
        if (last.length > 0) check.push(last.toString('latin1'));
        check.end();
        callback(null, check.restrictLines.length === restricts ? last : Buffer.alloc(0));
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/** Passes a script through without the given lines (numbered from 1). */
export function withoutLines(lines: readonly number[]): Transform {
  const drop = new Set(lines);
  let lineNo = 1;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const kept: Buffer[] = [];
      let start = 0;
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) {
        if (!drop.has(lineNo)) kept.push(chunk.subarray(start, at + 1));
        start = at + 1;
        lineNo++;
      }
      if (!drop.has(lineNo)) kept.push(chunk.subarray(start));
      callback(null, Buffer.concat(kept));
    },
  });
}
