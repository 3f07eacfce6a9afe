/**
 * Runs started from this browser that are still being followed, kept in
 * localStorage so a reload (or a second tab) finds them again.
 */

const KEY = 'sitesnap.activeRuns'

function read(storage) {
  try {
    const value = JSON.parse(storage.getItem(KEY) || '[]')
    return Array.isArray(value) ? value.filter((x) => x && typeof x.id === 'string') : []
  } catch {
    return []
  }
}

export function activeRuns(storage = globalThis.localStorage) {
  return read(storage)
}

export function rememberRun(id, kind, storage = globalThis.localStorage) {
  const runs = read(storage).filter((r) => r.id !== id)
  runs.unshift({ id, kind, since: new Date().toISOString() })
  storage.setItem(KEY, JSON.stringify(runs.slice(0, 10)))
}

export function forgetRun(id, storage = globalThis.localStorage) {
  storage.setItem(KEY, JSON.stringify(read(storage).filter((r) => r.id !== id)))
}
