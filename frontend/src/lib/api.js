/**
 * The console's one way to the REST API.
 *
 * Same-origin `fetch` with the session cookie; unsafe methods carry the
 * session's CSRF token in `X-CSRF-Token` (the token comes from login and
 * from `GET auth/me`).  Every failure becomes an {@link ApiError} holding the
 * API's JSON error (`{error, message, hint?, problems?}`); a 401 also calls
 * `onUnauthorized` so the app can return to the login page.
 */

import { apiRoot } from './base.js'

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`)
    this.status = status
    this.code = body?.error || 'error'
    this.hint = body?.hint || ''
    this.problems = Array.isArray(body?.problems) ? body.problems : []
  }
}

/** Query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams()
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== '') q.set(key, String(value))
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

export function createApi({ root = apiRoot(), fetchImpl = (...a) => globalThis.fetch(...a) } = {}) {
  const state = { csrf: '', onUnauthorized: () => {} }

  async function request(method, path, body) {
    const headers = { Accept: 'application/json' }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (!['GET', 'HEAD'].includes(method) && state.csrf) headers['X-CSRF-Token'] = state.csrf
    let response
    try {
      response = await fetchImpl(`${root}/${path}`, {
        method, headers, credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (exc) {
      throw new ApiError(0, { error: 'network', message: String(exc?.message || exc) })
    }
    const text = await response.text()
    let data = null
    try {
      data = text ? JSON.parse(text) : null
    } catch {
      data = { error: 'bad_response', message: text.slice(0, 200) }
    }
    if (!response.ok) {
      if (response.status === 401 && !path.startsWith('auth/')) state.onUnauthorized()
      throw new ApiError(response.status, data)
    }
    return data
  }

  return {
    root,
    state,
    get: (path, params) => request('GET', path + query(params)),
    post: (path, body = {}) => request('POST', path, body),
    put: (path, body = {}) => request('PUT', path, body),
    patch: (path, body = {}) => request('PATCH', path, body),
    del: (path) => request('DELETE', path),
    /** Absolute URL of an API path, for EventSource. */
    url: (path) => `${root}/${path}`,
    setCsrf(token) { state.csrf = token || '' },
    onUnauthorized(fn) { state.onUnauthorized = fn },
  }
}
