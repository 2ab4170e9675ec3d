#!/usr/bin/env node
// Unit test of the chapter parser (web/src/chapters.js): node web/tests/chapters.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChapters, parseTimestamp, chapterAt } from '../src/chapters.js';

test('YouTube-style chapters: times in the description, first at 0:00', () => {
  const text = 'A tour of the harbour.\n\n0:00 Intro\n0:42 - The boats\n2:05 | Lunch\nThanks for watching!';
  assert.deepEqual(parseChapters(text), [
    { start: 0, title: 'Intro' },
    { start: 42, title: 'The boats' },
    { start: 125, title: 'Lunch' },
  ]);
});

test('hours, CRLF line ends, bullets and brackets', () => {
  const text = '- 00:00 Start\r\n* (12:30) Middle\r\n1:02:03 Part two\r\n[10:00:00] Late';
  assert.deepEqual(parseChapters(text).map((c) => c.start), [0, 750, 3723, 36000]);
  assert.equal(parseChapters(text)[2].title, 'Part two');
});

test('not starting at 0:00 gives no chapters', () => {
  assert.deepEqual(parseChapters('0:05 Intro\n0:30 Middle\n1:00 End'), []);
});

test('fewer than three gives no chapters', () => {
  assert.deepEqual(parseChapters('0:00 Intro\n0:30 End'), []);
});

test('out of order or repeated times give no chapters', () => {
  assert.deepEqual(parseChapters('0:00 A\n1:00 B\n0:30 C'), []);
  assert.deepEqual(parseChapters('0:00 A\n1:00 B\n1:00 C'), []);
});

test('times that are not times, and times without a title, are not chapter lines', () => {
  assert.equal(parseTimestamp('0:75'), null);
  assert.equal(parseTimestamp('1:60:00'), null);
  assert.equal(parseTimestamp('75:00'), 4500);
  // "0:60 B" is not a chapter line, so only two remain.
  assert.deepEqual(parseChapters('0:00 A\n0:60 B\n1:30 C'), []);
  assert.deepEqual(parseChapters('0:00 A\n0:20\n0:40 B\n1:00 C').map((c) => c.title), ['A', 'B', 'C']);
  // A time inside a sentence is not at the start of its line.
  assert.deepEqual(parseChapters('Starts at 0:00 sharp\n0:10 B\n0:20 C'), []);
});

test('chapters at or after the end of the video are dropped', () => {
  const text = '0:00 A\n0:10 B\n0:20 C\n0:40 D';
  assert.deepEqual(parseChapters(text, 30).map((c) => c.title), ['A', 'B', 'C']);
  assert.deepEqual(parseChapters(text, 15), []);
});

test('empty and missing descriptions', () => {
  assert.deepEqual(parseChapters(''), []);
  assert.deepEqual(parseChapters(null), []);
  assert.deepEqual(parseChapters(undefined), []);
});

test('chapterAt finds the chapter playing', () => {
  const ch = parseChapters('0:00 A\n0:10 B\n0:20 C');
  assert.equal(chapterAt(ch, 0), 0);
  assert.equal(chapterAt(ch, 9.9), 0);
  assert.equal(chapterAt(ch, 10), 1);
  assert.equal(chapterAt(ch, 99), 2);
  assert.equal(chapterAt([], 5), -1);
});
