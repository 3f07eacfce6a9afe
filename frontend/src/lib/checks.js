/**
 * Client-side checks of configuration values, mirroring the server's parsers
 * (config/cron.py, config/units.py) so mistakes show next to the field before
 * saving.  The server validates again and stays the authority.
 * Each check returns '' when the value is fine, else a message key.
 */

const MACROS = ['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually']
const FIELDS = [
  { lo: 0, hi: 59, names: null },
  { lo: 0, hi: 23, names: null },
  { lo: 1, hi: 31, names: null },
  { lo: 1, hi: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { lo: 0, hi: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
]

function value(token, field) {
  if (/^\d+$/.test(token)) return Number(token)
  const i = field.names ? field.names.indexOf(token.toLowerCase()) : -1
  return i < 0 ? NaN : i + field.lo
}

function cronField(text, field) {
  for (const part of text.split(',')) {
    const [range, step] = part.split('/')
    if (step !== undefined && !/^[1-9]\d*$/.test(step)) return false
    if (range === '*') continue
    const ends = range.split('-')
    if (ends.length > 2) return false
    const nums = ends.map((e) => value(e, field))
    if (nums.some((n) => Number.isNaN(n) || n < field.lo || n > field.hi)) return false
    if (nums.length === 2 && nums[0] > nums[1]) return false
  }
  return true
}

/** A five-field crontab expression, a macro, or "off". */
export function checkCron(text) {
  const s = String(text ?? '').trim()
  if (!s) return ''
  if (s.toLowerCase() === 'off' || MACROS.includes(s.toLowerCase())) return ''
  const parts = s.split(/\s+/)
  if (parts.length !== 5) return 'check.cronFields'
  if (!parts.every((p, i) => cronField(p, FIELDS[i]))) return 'check.cronValue'
  if (parts[2] !== '*' && parts[4] !== '*') return 'check.cronBoth'
  return ''
}

const DURATION_UNITS = new Set(['s', 'sec', 'secs', 'second', 'seconds', 'm', 'min', 'mins', 'minute', 'minutes',
  'h', 'hr', 'hrs', 'hour', 'hours', 'd', 'day', 'days', 'w', 'week', 'weeks', 'mo', 'month', 'months',
  'y', 'year', 'years'])

/** "6h", "30d", "3 months", "1h30min"; `forever` allowed when asked. */
export function checkDuration(text, { forever = false } = {}) {
  const s = String(text ?? '').trim()
  if (!s) return ''
  if (forever && s.toLowerCase() === 'forever') return ''
  const re = /\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*,?/y
  let pos = 0
  let total = 0
  while (pos < s.length) {
    re.lastIndex = pos
    const m = re.exec(s)
    if (!m || re.lastIndex === pos || !DURATION_UNITS.has(m[2].toLowerCase())) return 'check.duration'
    total += Number(m[1])
    pos = re.lastIndex
  }
  return total > 0 ? '' : 'check.duration'
}

/** "500GB", "1.5TiB", a plain number of bytes. */
export function checkSize(text) {
  const s = String(text ?? '').trim()
  if (!s) return ''
  return /^\d+(\.\d+)?\s*(b|kb|mb|gb|tb|pb|k|m|g|t|p|kib|mib|gib|tib|pib)?$/i.test(s) ? '' : 'check.size'
}

/** Site, source, repository and channel names. */
export function checkName(text) {
  const s = String(text ?? '')
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(s) ? '' : 'check.name'
}

/** A whole number within bounds (empty is fine: the default applies). */
export function checkInt(text, lo, hi = Infinity) {
  if (text === '' || text === null || text === undefined) return ''
  const n = Number(text)
  return Number.isInteger(n) && n >= lo && n <= hi ? '' : 'check.integer'
}
