/** Small helpers shared by the list pages. */

/** Items of a list answer, whether it is a bare array or a page `{items}`. */
export function itemsOf(data) {
  if (Array.isArray(data)) return data
  if (Array.isArray(data?.items)) return data.items
  if (Array.isArray(data?.sites)) return data.sites
  return []
}

/** Per-repository copy results of a record, in a stable order. */
export function copies(record) {
  return Object.entries(record?.storage_providers || {})
    .map(([name, r]) => ({ name, ok: Boolean(r?.ok), error: r?.error || '', reason: r?.reason || '' }))
    .sort((a, b) => a.name.localeCompare(b.name))
}

/** Tags of a record (kept in its metadata). */
export function tagsOf(record) {
  const tags = record?.metadata?.tags
  return Array.isArray(tags) ? tags : []
}

/** Debounce a function (search boxes). */
export function debounce(fn, ms = 300) {
  let timer = null
  return (...args) => {
    clearTimeout(timer)
    timer = setTimeout(() => fn(...args), ms)
  }
}
