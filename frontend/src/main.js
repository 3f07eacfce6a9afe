import { createApp } from 'vue'
import App from './App.vue'
import { createApi } from './lib/api.js'
import { createConsoleI18n } from './lib/i18n.js'
import { createSession } from './lib/session.js'
import { createConsoleRouter } from './router.js'
import './style.css'

const api = createApi()
const session = createSession(api)
const i18n = createConsoleI18n()
const router = createConsoleRouter(session)

api.onUnauthorized(() => {
  session.lost()
  const current = router.currentRoute.value
  if (current.name !== 'login') router.push({ name: 'login', query: { next: current.fullPath } })
})

createApp(App)
  .provide('api', api)
  .provide('session', session)
  .use(i18n)
  .use(router)
  .mount('#app')
