/**
 * The dashboard's trend charts as Chart.js configurations.  Pure, so node tests can check
 * what the charts promise: straight segments, and a dedup series that one outlier cannot
 * flatten.
 */

/** Completed backups, oldest first: the points of every trend chart. */
export function trendRows(records) {
  return records.filter((r) => r.status === 'completed')
    .sort((a, b) => new Date(a.created_at) - new Date(b.created_at))
}

/**
 * The points of the dedup chart.  A pre-restore snapshot stores almost nothing new (its ratio
 * reaches 1000x and more), which would squash every other point against the axis, so the
 * series leaves pre-restore snapshots out; the chart says so under it.
 */
export function dedupRows(rows) {
  return rows.filter((r) => r.backup_type !== 'pre-restore')
}

/**
 * A filled line chart of `value(row)` over `rows`, labelled by `stamp(created_at)`.  Straight
 * segments (tension 0): a smoothed curve through a few points overshoots and shows values no
 * backup had, below zero included.
 */
export function lineChart({ label, rows, value, color, yTitle, stamp }) {
  return {
    type: 'line',
    data: {
      labels: rows.map((r) => stamp(r.created_at)),
      datasets: [{ label, data: rows.map(value), borderColor: color, backgroundColor: `${color}33`, fill: true,
        tension: 0, cubicInterpolationMode: 'default', pointRadius: 3, spanGaps: true }],
    },
    options: { plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, title: { display: true, text: yTitle } } } },
  }
}
