import { createRouter, createWebHashHistory } from 'vue-router'
import LoginView from './views/LoginView.vue'
import RecordsView from './views/RecordsView.vue'

// The console's pages.  A page in the navigation names its label key in ``meta.nav``; the
// navigation bar lists those routes in this order (see navLinks), so adding a page is its
// view plus one entry here.  ``meta.can`` names the action (roles.js) a page needs: the
// navigation hides it from other roles and the guard sends them to the dashboard.
export const ROUTES = [
  { path: '/', redirect: '/dashboard' },
  { path: '/login', name: 'login', component: LoginView, meta: { public: true, title: 'nav.login' } },
  { path: '/dashboard', name: 'dashboard', component: () => import('./views/DashboardView.vue'),
    meta: { title: 'nav.dashboard', nav: 'nav.dashboard' } },
  { path: '/records', name: 'records', component: RecordsView, meta: { title: 'nav.records', nav: 'nav.records' } },
  { path: '/records/:id', name: 'record', component: () => import('./views/RecordView.vue'),
    meta: { title: 'nav.records' } },
  { path: '/runs', name: 'runs', component: () => import('./views/RunsView.vue'),
    meta: { title: 'nav.runs', nav: 'nav.runs' } },
  { path: '/runs/:id', name: 'run', component: () => import('./views/RunView.vue'), meta: { title: 'nav.runs' } },
  { path: '/config', name: 'config', component: () => import('./views/ConfigView.vue'),
    meta: { title: 'nav.config', nav: 'nav.config' } },
  { path: '/audit', name: 'audit', component: () => import('./views/AuditView.vue'),
    meta: { title: 'nav.audit', nav: 'nav.audit' } },
  { path: '/users', name: 'users', component: () => import('./views/UsersView.vue'),
    meta: { title: 'nav.users', nav: 'nav.users', can: 'users' } },
  { path: '/:rest(.*)*', redirect: '/dashboard' },
]

export function createConsoleRouter(session) {
  const router = createRouter({ history: createWebHashHistory(), routes: ROUTES })
  router.beforeEach(async (to) => {
    if (!session.ready) await session.load()
    if (!to.meta.public && !session.user) return { name: 'login', query: { next: to.fullPath } }
    if (to.name === 'login' && session.user) return { path: '/dashboard' }
    if (to.meta.can && !session.can(to.meta.can)) return { path: '/dashboard' }
    return true
  })
  return router
}
