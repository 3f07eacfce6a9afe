import assert from 'node:assert/strict'
import { test } from 'node:test'
import { dedupRows, lineChart, trendRows } from '../src/lib/charts.js'

const rec = (at, type, dedup, status = 'completed') => ({ created_at: at, backup_type: type, dedup_ratio: dedup, status })

test('trend charts are straight segments through completed backups, oldest first', () => {
  const rows = trendRows([rec('2026-12-02T00:00:00Z', 'full', 1.1), rec('2026-12-01T00:00:00Z', 'incremental', 3),
    rec('2026-12-03T00:00:00Z', 'full', 9, 'failed')])
  assert.deepEqual(rows.map((r) => r.dedup_ratio), [3, 1.1])
  const config = lineChart({ label: 'x', rows, value: (r) => r.dedup_ratio, color: '#000000', yTitle: '×',
    stamp: (iso) => iso.slice(0, 10) })
  assert.equal(config.data.datasets[0].tension, 0)
  assert.deepEqual(config.data.labels, ['2026-12-01', '2026-12-02'])
  assert.deepEqual(config.data.datasets[0].data, [3, 1.1])
  assert.equal(config.options.scales.y.beginAtZero, true)
})

test('a pre-restore snapshot does not flatten the dedup series', () => {
  const rows = trendRows([rec('2026-12-01T00:00:00Z', 'full', 1.2), rec('2026-12-01T01:00:00Z', 'pre-restore', 1670),
    rec('2026-12-01T02:00:00Z', 'incremental', 4.5)])
  const kept = dedupRows(rows)
  assert.deepEqual(kept.map((r) => r.dedup_ratio), [1.2, 4.5])
  assert.ok(Math.max(...kept.map((r) => r.dedup_ratio)) < 10)
  assert.equal(rows.length, 3, 'the other charts keep every snapshot')
})
