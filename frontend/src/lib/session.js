/**
 * The logged-in user, shared by the whole console through provide/inject.
 *
 * `load()` asks `auth/me` once at start; the CSRF token it returns is handed
 * to the API client.  `can(action)` is what templates use to leave out
 * buttons a role may not use.
 */

import { reactive } from 'vue'
import { canDo } from './roles.js'

export function createSession(api) {
  const session = reactive({
    /** The session ended on the server (a 401): forget it here too. */
    lost() {
      session.user = null
    },
    user: null,
    ready: false,
    can(action) {
      return canDo(session.user?.role, action)
    },
    async load() {
      try {
        const me = await api.get('auth/me')
        session.user = me
        api.setCsrf(me.csrf_token)
      } catch (exc) {
        if (exc.status !== 401) throw exc
        session.user = null
      } finally {
        session.ready = true
      }
      return session.user
    },
    async login(name, password) {
      const me = await api.post('auth/login', { name, password })
      if (me?.csrf_token) api.setCsrf(me.csrf_token)
      return session.load()
    },
    async logout() {
      try {
        await api.post('auth/logout')
      } finally {
        session.user = null
        api.setCsrf('')
      }
    },
  })
  return session
}
