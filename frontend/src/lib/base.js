/**
 * Where the console lives and where its API is.
 *
 * The console is served at `/` by `sitesnap serve` and under a prefix
 * (default `/admin/backups/`) by the Flask extension.  The built assets use
 * relative URLs and hash routing, so the page path is the prefix; the API is
 * `<prefix>api/v1`.  A server may state the API root explicitly in
 * `<meta name="sitesnap-api" content="/admin/backups/api/v1">`, which wins.
 */

/** The API root without a trailing slash, e.g. `/admin/backups/api/v1`. */
export function apiRoot(doc = globalThis.document, loc = globalThis.location) {
  const meta = doc?.querySelector?.('meta[name="sitesnap-api"]')
  const given = meta?.getAttribute('content')?.trim()
  if (given && !given.startsWith('{{')) return given.replace(/\/+$/, '')
  return consolePrefix(loc.pathname) + 'api/v1'
}

/** The directory the page was served from, always ending in `/`. */
export function consolePrefix(pathname) {
  const path = pathname || '/'
  if (path.endsWith('/')) return path
  const last = path.slice(path.lastIndexOf('/') + 1)
  // `/admin/backups/index.html` -> `/admin/backups/`; `/admin/backups` -> `/admin/backups/`
  return last.includes('.') ? path.slice(0, path.lastIndexOf('/') + 1) : path + '/'
}
