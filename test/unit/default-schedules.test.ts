import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SCHEDULES, TIERS } from '../../shared/deployment/deployment-config.js';

/** The UTC offset of a zone at an instant, in minutes ("GMT+02:00" → 120). */
function offsetMinutes(zone: string, at: Date): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
    .formatToParts(at)
    .find((p) => p.type === 'timeZoneName')?.value;
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name ?? '');
  return match ? (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) : 0;
}

/** How many instants show this wall-clock time on this date in the zone: 0 in a spring gap, 2 in an autumn repeat. */
function occurrences(zone: string, date: string, hour: number, minute: number): number {
  const wall = Date.parse(`${date}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00Z`);
  const offsets = new Set([-36, -12, 0, 12, 36].map((h) => offsetMinutes(zone, new Date(wall + h * 3_600_000))));
  return [...offsets].filter((offset) => {
    const instant = new Date(wall - offset * 60_000);
    return offsetMinutes(zone, instant) === offset;
  }).length;
}

test('the default schedule times exist exactly once on every day of the year, in zones with daylight saving', () => {
  for (const zone of ['Europe/Berlin', 'Europe/London', 'America/New_York', 'America/Los_Angeles', 'Australia/Sydney', 'UTC']) {
    for (let day = 0; day < 365; day++) {
      const date = new Date(Date.UTC(2026, 0, 1 + day)).toISOString().slice(0, 10);
      for (const tier of TIERS) {
        const { hour, minute = 0 } = DEFAULT_SCHEDULES[tier];
        const count = occurrences(zone, date, hour, minute);
        assert.equal(
          count,
          1,
          `${tier} at ${hour}:${String(minute).padStart(2, '0')} on ${date} in ${zone} happens ${count} times`,
        );
      }
    }
  }
});
