/**
 * The CLI's output edge. Everything it prints that came from data (manifest fields, object keys,
 * file names, database names, error messages quoting them) may hold characters a terminal acts
 * on: an escape sequence recolours or clears the screen, a carriage return or a newline forges a
 * line, a bidi override reorders what is shown. The core speaks data; here it becomes text.
 */

/**
 * What a terminal may act on rather than show: C0 controls, DEL, C1 controls (U+009B is CSI on
 * its own), the line and paragraph separators, and the bidi marks, embeddings, overrides and
 * isolates (the "Trojan Source" characters).
 */
// eslint-disable-next-line no-control-regex -- finding control characters is what it is for
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, less the C0 controls: JSON.stringify escapes those in strings, and its own are line breaks. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Makes one line safe to print: every character a terminal may act on becomes a visible escape
 * (`\n`, `\x1b`, `\u202e`); anything else, including a backslash, is left as it is.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0) as number;
    return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/**
 * Writes lines to a stream, each made printable: a newline inside a line's text is shown as
 * `\n`, so only the lines given are lines.
 */
export function writeLines(stream: NodeJS.WritableStream, ...lines: readonly string[]): void {
  stream.write(`${lines.map(printable).join('\n')}\n`);
}

/**
 * Writes a value as indented JSON. JSON.stringify escapes only the C0 controls; the others
 * above (C1, separators, bidi) are escaped too, as `\uXXXX`: they occur only inside strings,
 * and any JSON reader decodes the escape to the same value.
 */
export function writeJson(stream: NodeJS.WritableStream, value: unknown): void {
  const json = JSON.stringify(value, null, 2).replace(
    UNSAFE_IN_JSON,
    (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, '0')}`,
  );
  stream.write(`${json}\n`);
}
