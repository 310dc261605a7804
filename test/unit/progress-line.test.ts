import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressLine } from '../../cli/progress-line.js';

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { written: string } {
  const stream = {
    isTTY,
    columns: 100,
    written: '',
    write(text: string) {
      stream.written += text;
      return true;
    },
  };
  return stream as unknown as NodeJS.WriteStream & { written: string };
}

test('progress on a terminal shows bytes, rate and elapsed time, with a bar when the total is known', () => {
  const stream = fakeStream(true);
  const line = new ProgressLine(stream);
  line.update({
    phase: 'streaming',
    sourceBytes: 50_000_000,
    storedBytes: 20_000_000,
    totalSourceBytes: 100_000_000,
    elapsedMs: 2000,
  });
  assert.ok(stream.written.startsWith('\r\u001b[K['), 'redraws the line in place');
  assert.match(stream.written, /\[#+\.+\]\s+50%\s+50\.0 MB read → 20\.0 MB stored\s+25\.0 MB\/s\s+2\.0 s/);
  line.update({
    phase: 'streaming',
    sourceBytes: 5_000_000,
    storedBytes: 1_000_000,
    databaseSizeBytes: 900_000_000,
    elapsedMs: 1000,
  });
  assert.match(stream.written, /5\.00 MB read → 1\.00 MB stored .*\(database 900 MB on disk\)/);
  line.clear();
  assert.ok(stream.written.endsWith('\r\x1b[K'));
});

test('nothing is drawn when stderr is not a terminal', () => {
  const stream = fakeStream(false);
  new ProgressLine(stream).update({ phase: 'streaming', sourceBytes: 1, storedBytes: 1, elapsedMs: 1 });
  assert.equal(stream.written, '');
});
