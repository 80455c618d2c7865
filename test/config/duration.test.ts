import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../src/config/duration.js';

test('parses Go durations as oauth2-proxy does', () => {
  const cases: [string, number | undefined][] = [
    ['1h', 3_600_000],
    ['168h0m0s', 604_800_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['15m', 900_000],
    ['300ms', 300],
    ['0', 0],
    ['-0', 0],
    ['+0', 0],
    ['0s', 0],
    ['-0s', 0],
    ['-', undefined],
    ['+', undefined],
    ['2h45m30.5s', 9_930_500],
    ['', undefined],
    ['1', undefined],
    ['1d', undefined],
    ['h', undefined],
    ['1h 30m', undefined],
    ['abc', undefined],
  ];
  for (const [text, expected] of cases) assert.equal(parseDuration(text), expected, text);
});

test('formats milliseconds as Go durations', () => {
  assert.equal(formatDuration(604_800_000), '168h0m0s');
  assert.equal(formatDuration(900_000), '15m0s');
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(500), '500ms');
  assert.equal(parseDuration(formatDuration(5_400_000)), 5_400_000);
});
