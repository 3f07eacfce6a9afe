/**
 * Pure formatting of sizes, durations, ratios and dates for the console.
 *
 * Dates are shown in the viewer's time zone through `Intl`; every function
 * takes the locale explicitly so the language switch re-renders them.
 * Unknown values (`null`/`undefined`) render as an em dash, never as 0.
 */

export const DASH = '—'

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** Binary sizes: 1536 -> "1.5 KiB". */
export function formatBytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return DASH
  let value = Math.abs(n)
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit += 1
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2
  return `${n < 0 ? '-' : ''}${value.toFixed(digits)} ${UNITS[unit]}`
}

/** Bytes per second: "12.3 MiB/s". */
export function formatRate(bytesPerSecond) {
  if (!bytesPerSecond && bytesPerSecond !== 0) return DASH
  return `${formatBytes(bytesPerSecond)}/s`
}

/** Seconds as "850 ms", "42 s", "3 min 5 s", "2 h 4 min", "3 d 2 h". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return DASH
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`
  const s = Math.round(seconds)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d) return `${d} d ${h} h`
  if (h) return `${h} h ${m} min`
  return `${m} min ${s % 60} s`
}

/** A ratio such as dedup (logical / stored): 2.345 -> "2.35×". */
export function formatRatio(r) {
  if (r === null || r === undefined || Number.isNaN(r)) return DASH
  return `${r.toFixed(2)}×`
}

/** A share 0..1 as a percentage: 0.9876 -> "98.8 %". */
export function formatPercent(share, digits = 1) {
  if (share === null || share === undefined || Number.isNaN(share)) return DASH
  return `${(share * 100).toFixed(digits)} %`
}

/** An ISO timestamp in the viewer's zone: date and time, seconds included. */
export function formatDate(iso, locale, timeZone = undefined) {
  if (!iso) return DASH
  const d = iso instanceof Date ? iso : new Date(iso)
  if (Number.isNaN(d.getTime())) return DASH
  return new Intl.DateTimeFormat(locale, {
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone,
  }).format(d)
}

/** "5 minutes ago" / "5分钟前" through Intl.RelativeTimeFormat. */
export function formatAgo(iso, locale, now = Date.now()) {
  if (!iso) return DASH
  const t = new Date(iso).getTime()
  if (Number.isNaN(t)) return DASH
  const seconds = Math.round((t - now) / 1000)
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })
  const abs = Math.abs(seconds)
  if (abs < 60) return rtf.format(seconds, 'second')
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute')
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour')
  return rtf.format(Math.round(seconds / 86400), 'day')
}

/**
 * A `<input type="datetime-local">` value (local wall time) as an ISO string
 * with the viewer's offset, so the server compares instants, not wall times.
 */
export function localInputToIso(value) {
  if (!value) return ''
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? '' : d.toISOString()
}

/** The other way: an instant (ms since the epoch) as a `datetime-local` value in the viewer's zone, to the second. */
export function msToLocalInput(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return ''
  const d = new Date(ms)
  const p = (n) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** Progress numbers from a run's progress dict: fraction, rate, ETA. */
export function progressFigures(p) {
  const bytesDone = p?.bytes_done ?? 0
  const bytesTotal = p?.bytes_total ?? 0
  const elapsed = p?.elapsed ?? 0
  const rate = p?.rate ?? (elapsed > 0 ? bytesDone / elapsed : 0)
  let fraction = null
  if (p?.finished) fraction = 1
  else if (bytesTotal > 0) fraction = Math.min(1, bytesDone / bytesTotal)
  else if (p?.files_total > 0) fraction = Math.min(1, (p.files_done ?? 0) / p.files_total)
  let eta = p?.eta ?? null
  if (eta === null && rate > 0 && bytesTotal > bytesDone) eta = (bytesTotal - bytesDone) / rate
  return { fraction, rate, eta, bytesDone, bytesTotal, filesDone: p?.files_done ?? 0, filesTotal: p?.files_total ?? 0 }
}
