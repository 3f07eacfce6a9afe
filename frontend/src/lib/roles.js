/**
 * What each role may do, mirroring the API's rules (viewer < operator < admin).
 * The console hides what a role cannot do; the API refuses it anyway.
 */

const RANK = { viewer: 1, operator: 2, admin: 3 }

const NEEDS = {
  read: 'viewer',
  backup: 'operator',
  drill: 'operator',
  restore: 'admin',
  delete: 'admin',
  config: 'admin',
  users: 'admin',
}

/** True when `role` may perform `action` (one of the keys above). */
export function canDo(role, action) {
  const need = NEEDS[action]
  return Boolean(need && RANK[role] && RANK[role] >= RANK[need])
}
