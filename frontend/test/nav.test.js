import assert from 'node:assert/strict'
import { test } from 'node:test'
import { navLinks } from '../src/lib/nav.js'

test('the navigation lists the routes that name a nav label, in route order', () => {
  const routes = [
    { path: '/', redirect: '/dashboard' },
    { path: '/login', meta: { public: true, title: 'nav.login' } },
    { path: '/dashboard', meta: { title: 'nav.dashboard', nav: 'nav.dashboard' } },
    { path: '/records/:id', meta: { title: 'nav.records' } },
    { path: '/audit', meta: { title: 'nav.audit', nav: 'nav.audit' } },
  ]
  assert.deepEqual(navLinks(routes), [
    { to: '/dashboard', label: 'nav.dashboard' },
    { to: '/audit', label: 'nav.audit' },
  ])
})

test('a route that needs an action is listed only for roles that may do it', () => {
  const routes = [
    { path: '/dashboard', meta: { nav: 'nav.dashboard' } },
    { path: '/users', meta: { nav: 'nav.users', can: 'users' } },
  ]
  assert.deepEqual(navLinks(routes, (action) => action !== 'users').map((l) => l.to), ['/dashboard'])
  assert.deepEqual(navLinks(routes, () => true).map((l) => l.to), ['/dashboard', '/users'])
})
