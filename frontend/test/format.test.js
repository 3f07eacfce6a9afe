import assert from 'node:assert/strict'
import { test } from 'node:test'
import { apiRoot, consolePrefix } from '../src/lib/base.js'
import {
  DASH, formatBytes, formatDate, formatDuration, formatPercent, formatRatio, localInputToIso, msToLocalInput,
  progressFigures,
} from '../src/lib/format.js'
import { canDo } from '../src/lib/roles.js'

test('sizes are binary and unknown is a dash', () => {
  assert.equal(formatBytes(0), '0 B')
  assert.equal(formatBytes(1536), '1.50 KiB')
  assert.equal(formatBytes(200 * 1024 * 1024), '200 MiB')
  assert.equal(formatBytes(null), DASH)
})

test('durations pick a readable unit', () => {
  assert.equal(formatDuration(0.25), '250 ms')
  assert.equal(formatDuration(4.24), '4.2 s')
  assert.equal(formatDuration(185), '3 min 5 s')
  assert.equal(formatDuration(7440), '2 h 4 min')
  assert.equal(formatDuration(undefined), DASH)
})

test('ratios and percentages', () => {
  assert.equal(formatRatio(2.345), '2.35×')
  assert.equal(formatPercent(0.9876), '98.8 %')
  assert.equal(formatPercent(null), DASH)
})

test('dates are rendered in the given zone', () => {
  const iso = '2024-03-01T12:00:00+00:00'
  assert.match(formatDate(iso, 'en-GB', 'Asia/Shanghai'), /20:00:00/)
  assert.match(formatDate(iso, 'en-GB', 'UTC'), /12:00:00/)
  assert.equal(formatDate('not a date', 'en'), DASH)
})

test('datetime-local input becomes an absolute instant', () => {
  const iso = localInputToIso('2024-03-01T12:00')
  assert.equal(new Date(iso).getTime(), new Date(2024, 2, 1, 12, 0).getTime())
  assert.equal(localInputToIso(''), '')
})

test('an instant as a datetime-local value round-trips to the second', () => {
  const ms = new Date(2026, 11, 4, 9, 5, 7).getTime()
  assert.equal(msToLocalInput(ms), '2026-12-04T09:05:07')
  assert.equal(new Date(localInputToIso(msToLocalInput(ms))).getTime(), ms)
  assert.equal(msToLocalInput(null), '')
})

test('progress figures: fraction, rate and ETA', () => {
  const p = progressFigures({ bytes_done: 50, bytes_total: 200, elapsed: 5 })
  assert.equal(p.fraction, 0.25)
  assert.equal(p.rate, 10)
  assert.equal(p.eta, 15)
  assert.equal(progressFigures({ finished: true }).fraction, 1)
  assert.equal(progressFigures({}).fraction, null)
})

test('the API root follows the page prefix', () => {
  assert.equal(consolePrefix('/'), '/')
  assert.equal(consolePrefix('/admin/backups'), '/admin/backups/')
  assert.equal(consolePrefix('/admin/backups/index.html'), '/admin/backups/')
  const doc = { querySelector: () => null }
  assert.equal(apiRoot(doc, { pathname: '/admin/backups/' }), '/admin/backups/api/v1')
  const meta = { querySelector: () => ({ getAttribute: () => '/x/api/v1/' }) }
  assert.equal(apiRoot(meta, { pathname: '/' }), '/x/api/v1')
})

test('roles: viewer reads, operator backs up, admin restores', () => {
  assert.equal(canDo('viewer', 'backup'), false)
  assert.equal(canDo('operator', 'backup'), true)
  assert.equal(canDo('operator', 'restore'), false)
  assert.equal(canDo('admin', 'restore'), true)
  assert.equal(canDo('admin', 'delete'), true)
  assert.equal(canDo(undefined, 'read'), false)
})

import { checkCron, checkDuration, checkInt, checkName, checkSize } from '../src/lib/checks.js'

test('cron checks follow the server rules', () => {
  assert.equal(checkCron('0 */6 * * *'), '')
  assert.equal(checkCron('30 1 * * sun'), '')
  assert.equal(checkCron('@daily'), '')
  assert.equal(checkCron('off'), '')
  assert.equal(checkCron('0 2 * *'), 'check.cronFields')
  assert.equal(checkCron('61 2 * * *'), 'check.cronValue')
  assert.equal(checkCron('0 2 1 * 1'), 'check.cronBoth')
})

test('durations, sizes, names, integers', () => {
  assert.equal(checkDuration('1h30min'), '')
  assert.equal(checkDuration('3 months'), '')
  assert.equal(checkDuration('forever', { forever: true }), '')
  assert.equal(checkDuration('forever'), 'check.duration')
  assert.equal(checkDuration('10'), 'check.duration')
  assert.equal(checkDuration('5 lightyears'), 'check.duration')
  assert.equal(checkSize('500GB'), '')
  assert.equal(checkSize('1.5TiB'), '')
  assert.equal(checkSize('lots'), 'check.size')
  assert.equal(checkName('offsite-1'), '')
  assert.equal(checkName('-bad'), 'check.name')
  assert.equal(checkInt('3', 1), '')
  assert.equal(checkInt('0', 1), 'check.integer')
})
